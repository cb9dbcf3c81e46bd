-- Idempotent rotation (Keygate extension, DESIGN §1.1): one record per Idempotency-Key
-- answered by a rotate endpoint. The key, the presenting credential and the request are
-- kept only as keyed digests; the answer (it holds the successor's plaintext) only sealed
-- with AES-GCM under a key derived from the instance secret, and the row is deleted once
-- expires_at has passed. Same conventions as 0001: STRICT tables, timestamps as
-- fixed-width UTC TEXT.
CREATE TABLE idempotency_records (
	key_digest        BLOB    PRIMARY KEY,
	credential_digest BLOB    NOT NULL,
	request_digest    BLOB    NOT NULL,
	-- 0 while the request runs; the answer's status once it is stored.
	status            INTEGER NOT NULL DEFAULT 0,
	sealed_body       BLOB,
	created_at        TEXT    NOT NULL,
	expires_at        TEXT    NOT NULL
) STRICT;

-- For the purge of closed windows.
CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at);
