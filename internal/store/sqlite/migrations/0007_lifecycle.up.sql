-- Token lifecycle: audit events, token fingerprints, expiry-notice claims, project and
-- group webhooks, and the outbox of mails and webhook deliveries. Same conventions as
-- 0001: STRICT tables, timestamps as fixed-width UTC TEXT, booleans INTEGER 0/1.

-- Audit events outlive what they name (users, tokens, projects): no foreign keys.
-- fingerprint is the unkeyed SHA-256 of the token (hex), never the token.
CREATE TABLE audit_events (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	event_name     TEXT    NOT NULL,
	author_id      INTEGER NOT NULL DEFAULT 0,
	author_name    TEXT    NOT NULL DEFAULT '',
	author_email   TEXT    NOT NULL DEFAULT '',
	entity_type    TEXT    NOT NULL,
	entity_id      INTEGER NOT NULL,
	entity_path    TEXT    NOT NULL DEFAULT '',
	target_id      INTEGER NOT NULL DEFAULT 0,
	target_type    TEXT    NOT NULL DEFAULT '',
	target_details TEXT    NOT NULL DEFAULT '',
	ip_address     TEXT    NOT NULL DEFAULT '',
	request_id     TEXT    NOT NULL DEFAULT '',
	fingerprint    TEXT    NOT NULL DEFAULT '',
	message        TEXT    NOT NULL DEFAULT '',
	created_at     TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_events_entity ON audit_events (entity_type, entity_id, id);
CREATE INDEX audit_events_fingerprint ON audit_events (fingerprint);
CREATE INDEX audit_events_created_at ON audit_events (created_at);

-- The audit fingerprint of each token issued since this migration, so that events about
-- a token known only by ID (revoked by ID, expired) still carry it.
CREATE TABLE token_fingerprints (
	token_id    INTEGER PRIMARY KEY REFERENCES personal_access_tokens (id) ON DELETE CASCADE,
	fingerprint TEXT    NOT NULL
) STRICT;

-- One row per token and expiry-notice threshold (60, 30, 7 days; 0 the expiry day).
-- Inserting it is the claim: the node whose INSERT wins sends the notice.
CREATE TABLE token_expiry_notices (
	token_id  INTEGER NOT NULL REFERENCES personal_access_tokens (id) ON DELETE CASCADE,
	threshold INTEGER NOT NULL,
	sent_at   TEXT    NOT NULL,
	PRIMARY KEY (token_id, threshold)
) STRICT;

-- Project and group webhooks. Exactly one of project_id and group_id is set.
CREATE TABLE web_hooks (
	id                           INTEGER PRIMARY KEY AUTOINCREMENT,
	project_id                   INTEGER REFERENCES projects (id) ON DELETE CASCADE,
	group_id                     INTEGER REFERENCES namespaces (id) ON DELETE CASCADE,
	url                          TEXT    NOT NULL,
	name                         TEXT    NOT NULL DEFAULT '',
	description                  TEXT    NOT NULL DEFAULT '',
	-- Sent as X-Gitlab-Token, so it must be recoverable: kept sealed (AES-256-GCM under
	-- a key derived from the instance secret), never as given.
	secret_token                 TEXT    NOT NULL DEFAULT '',
	resource_access_token_events INTEGER NOT NULL DEFAULT 0,
	push_events                  INTEGER NOT NULL DEFAULT 0,
	enable_ssl_verification      INTEGER NOT NULL DEFAULT 1,
	created_at                   TEXT    NOT NULL,
	CHECK ((project_id IS NULL) <> (group_id IS NULL))
) STRICT;

CREATE INDEX web_hooks_project_id ON web_hooks (project_id);
CREATE INDEX web_hooks_group_id ON web_hooks (group_id);

-- Mails and webhook deliveries waiting or done. A row is never deleted by a failure:
-- next_attempt_at moves forward with backoff until delivered_at is set.
CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	kind            TEXT    NOT NULL CHECK (kind IN ('mail', 'webhook')),
	user_id         INTEGER REFERENCES users (id) ON DELETE CASCADE,
	hook_id         INTEGER REFERENCES web_hooks (id) ON DELETE CASCADE,
	token_id        INTEGER NOT NULL DEFAULT 0,
	event           TEXT    NOT NULL,
	recipient       TEXT    NOT NULL DEFAULT '',
	subject         TEXT    NOT NULL DEFAULT '',
	body_text       TEXT    NOT NULL DEFAULT '',
	body_html       TEXT    NOT NULL DEFAULT '',
	created_at      TEXT    NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT,
	delivered_at    TEXT,
	response_status INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX outbox_due ON outbox (next_attempt_at);
CREATE INDEX outbox_user_id ON outbox (user_id, id);
CREATE INDEX outbox_hook_id ON outbox (hook_id, id);

-- Per-project and per-group lifecycle settings (GitLab's extended_*_expiry_webhooks_execute).
CREATE TABLE resource_lifecycle_settings (
	source_type               TEXT    NOT NULL,
	source_id                 INTEGER NOT NULL,
	extended_expiry_webhooks  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (source_type, source_id)
) STRICT;
