-- Idempotent rotation (Keygate extension, DESIGN §1.1): one record per Idempotency-Key
-- answered by a rotate endpoint. Same logical shape as the SQLite schema; timestamps are
-- timestamptz, digests and the sealed answer bytea.
CREATE TABLE idempotency_records (
	key_digest        BYTEA       PRIMARY KEY,
	credential_digest BYTEA       NOT NULL,
	request_digest    BYTEA       NOT NULL,
	-- 0 while the request runs; the answer's status once it is stored.
	status            INTEGER     NOT NULL DEFAULT 0,
	sealed_body       BYTEA,
	created_at        TIMESTAMPTZ NOT NULL,
	expires_at        TIMESTAMPTZ NOT NULL
);

-- For the purge of closed windows.
CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at);
