-- CI jobs and their tokens' settings: the job-token scope of a project, its inbound
-- allowlists of projects and groups, and the log of which other projects' job tokens
-- reached it. Same conventions as 0001: STRICT tables, timestamps as fixed-width UTC
-- TEXT, booleans INTEGER 0/1.

-- A job acts for its user in its project while it runs; its token dies with the job,
-- the project or the user. The timeout is whole seconds from started_at.
CREATE TABLE jobs (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	project_id      INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	ref             TEXT    NOT NULL DEFAULT '',
	name            TEXT    NOT NULL DEFAULT '',
	status          TEXT    NOT NULL CHECK (status IN ('running', 'success', 'failed', 'canceled')),
	created_at      TEXT    NOT NULL,
	started_at      TEXT    NOT NULL,
	finished_at     TEXT,
	timeout_seconds INTEGER NOT NULL CHECK (timeout_seconds >= 0),
	-- The keyed digest, never the token. UNIQUE gives the verification lookup its index.
	token_digest    BLOB    NOT NULL UNIQUE
) STRICT;

CREATE INDEX jobs_project_id ON jobs (project_id);
-- For the cascade when a user is deleted.
CREATE INDEX jobs_user_id ON jobs (user_id);

-- A project without a row has GitLab's defaults: inbound limited, no pushes.
CREATE TABLE job_token_scopes (
	project_id      INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
	inbound_enabled INTEGER NOT NULL DEFAULT 1,
	push_allowed    INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The projects whose job tokens may reach project_id. The second index serves the
-- cascade when an allowed project is deleted.
CREATE TABLE job_token_project_allowlist (
	project_id         INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	allowed_project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	created_at         TEXT    NOT NULL,
	PRIMARY KEY (project_id, allowed_project_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX job_token_project_allowlist_allowed ON job_token_project_allowlist (allowed_project_id);

-- The groups whose projects' job tokens may reach project_id.
CREATE TABLE job_token_group_allowlist (
	project_id       INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	allowed_group_id INTEGER NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
	created_at       TEXT    NOT NULL,
	PRIMARY KEY (project_id, allowed_group_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX job_token_group_allowlist_allowed ON job_token_group_allowlist (allowed_group_id);

-- Which other projects' job tokens reached project_id: when last, and how often.
CREATE TABLE job_token_auth_log (
	project_id        INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	source_project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	last_at           TEXT    NOT NULL,
	count             INTEGER NOT NULL,
	PRIMARY KEY (project_id, source_project_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX job_token_auth_log_source ON job_token_auth_log (source_project_id);
