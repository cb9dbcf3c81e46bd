-- Fine-grained tokens. Same logical shape as the SQLite schema: granular scopes as JSON
-- on the token row (one indexed lookup verifies), the top-level group policy on the
-- namespace, and aggregated permission use per token, day, route and boundary.
ALTER TABLE personal_access_tokens ADD COLUMN granular BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE personal_access_tokens ADD COLUMN granular_scopes TEXT NOT NULL DEFAULT '';

ALTER TABLE namespaces ADD COLUMN enforce_granular_tokens BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE namespaces ADD COLUMN granular_tokens_enforced_after DATE;

CREATE TABLE token_permission_uses (
	token_id      BIGINT      NOT NULL REFERENCES personal_access_tokens (id) ON DELETE CASCADE,
	day           DATE        NOT NULL,
	route         TEXT        NOT NULL,
	boundary_kind TEXT        NOT NULL,
	boundary_id   BIGINT      NOT NULL,
	uses          BIGINT      NOT NULL,
	last_used_at  TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (token_id, day, route, boundary_kind, boundary_id)
);

CREATE INDEX token_permission_uses_day ON token_permission_uses (day);
