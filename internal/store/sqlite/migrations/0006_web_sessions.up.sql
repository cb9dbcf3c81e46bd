-- Web UI sessions (issue 7). Only the SHA-256 digest of the session ID the cookie
-- carries is stored. A session dies with its user; expired rows are swept on sign-in.
-- Same conventions as 0001: STRICT tables, timestamps as fixed-width UTC TEXT.
CREATE TABLE web_sessions (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	session_digest BLOB    NOT NULL UNIQUE,
	user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at     TEXT    NOT NULL,
	expires_at     TEXT    NOT NULL,
	ip             TEXT    NOT NULL DEFAULT '',
	user_agent     TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX web_sessions_user_id ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
