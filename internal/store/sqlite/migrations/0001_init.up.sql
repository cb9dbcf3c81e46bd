-- Users, personal access tokens and their last-used addresses, instance settings, and
-- the revision row behind Store.Marker.
--
-- Types: STRICT tables, so a mis-encoded argument fails instead of being stored in the
-- wrong form. Timestamps are TEXT in the fixed-width UTC form 2006-01-02T15:04:05.000000Z
-- (text order is time order); dates are TEXT YYYY-MM-DD; booleans INTEGER 0/1.

CREATE TABLE users (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	username         TEXT    NOT NULL,
	name             TEXT    NOT NULL DEFAULT '',
	email            TEXT    NOT NULL,
	state            TEXT    NOT NULL DEFAULT 'active',
	user_type        TEXT    NOT NULL DEFAULT 'human',
	admin            INTEGER NOT NULL DEFAULT 0,
	external         INTEGER NOT NULL DEFAULT 0,
	password_hash    TEXT    NOT NULL DEFAULT '',
	bio              TEXT    NOT NULL DEFAULT '',
	location         TEXT    NOT NULL DEFAULT '',
	public_email     TEXT    NOT NULL DEFAULT '',
	website_url      TEXT    NOT NULL DEFAULT '',
	organization     TEXT    NOT NULL DEFAULT '',
	job_title        TEXT    NOT NULL DEFAULT '',
	pronouns         TEXT    NOT NULL DEFAULT '',
	note             TEXT    NOT NULL DEFAULT '',
	projects_limit   INTEGER NOT NULL DEFAULT 0,
	can_create_group INTEGER NOT NULL DEFAULT 0,
	private_profile  INTEGER NOT NULL DEFAULT 0,
	created_at       TEXT    NOT NULL,
	updated_at       TEXT    NOT NULL,
	confirmed_at     TEXT,
	last_activity_on TEXT
) STRICT;

-- GitLab treats usernames and emails case-insensitively.
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE personal_access_tokens (
	id                                INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id                           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name                              TEXT    NOT NULL,
	description                       TEXT    NOT NULL DEFAULT '',
	scopes                            TEXT    NOT NULL DEFAULT '',
	impersonation                     INTEGER NOT NULL DEFAULT 0,
	revoked                           INTEGER NOT NULL DEFAULT 0,
	expires_at                        TEXT,
	created_at                        TEXT    NOT NULL,
	updated_at                        TEXT    NOT NULL,
	last_used_at                      TEXT,
	previous_personal_access_token_id INTEGER REFERENCES personal_access_tokens (id) ON DELETE SET NULL,
	-- The keyed digest, never the token. UNIQUE gives the verification lookup its index.
	token_digest                      BLOB    NOT NULL UNIQUE
) STRICT;

CREATE INDEX personal_access_tokens_user_id ON personal_access_tokens (user_id);
CREATE INDEX personal_access_tokens_previous_id ON personal_access_tokens (previous_personal_access_token_id);
CREATE INDEX personal_access_tokens_expires_at ON personal_access_tokens (expires_at);

CREATE TABLE token_last_used_ips (
	token_id INTEGER NOT NULL REFERENCES personal_access_tokens (id) ON DELETE CASCADE,
	ip       TEXT    NOT NULL,
	used_at  TEXT    NOT NULL,
	PRIMARY KEY (token_id, ip)
) STRICT, WITHOUT ROWID;

-- One row: the settings as JSON, so adding a setting needs no migration.
CREATE TABLE settings (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	data TEXT    NOT NULL
) STRICT;

-- One row: incremented by every write that can take access away (Store.Marker).
CREATE TABLE revision (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	seq INTEGER NOT NULL
) STRICT;
INSERT INTO revision (id, seq) VALUES (1, 0);
