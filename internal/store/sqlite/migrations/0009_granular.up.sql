-- Fine-grained tokens. A token's granular scopes live on its own row (JSON), so the
-- verification lookup stays one query on the digest index. The top-level group policy
-- "fine-grained tokens only" sits on the namespace. Permission use is aggregated per
-- token, day, route and boundary (counts, not a request log), written off the request
-- path and pruned by age.
ALTER TABLE personal_access_tokens ADD COLUMN granular INTEGER NOT NULL DEFAULT 0;
ALTER TABLE personal_access_tokens ADD COLUMN granular_scopes TEXT NOT NULL DEFAULT '';

ALTER TABLE namespaces ADD COLUMN enforce_granular_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE namespaces ADD COLUMN granular_tokens_enforced_after TEXT;

CREATE TABLE token_permission_uses (
	token_id      INTEGER NOT NULL REFERENCES personal_access_tokens (id) ON DELETE CASCADE,
	day           TEXT    NOT NULL,
	route         TEXT    NOT NULL,
	boundary_kind TEXT    NOT NULL,
	boundary_id   INTEGER NOT NULL,
	uses          INTEGER NOT NULL,
	last_used_at  TEXT    NOT NULL,
	PRIMARY KEY (token_id, day, route, boundary_kind, boundary_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX token_permission_uses_day ON token_permission_uses (day);
