package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/store"
)

// The idempotency records are single statements on the write pool: each is its own
// transaction, and none moves the Marker. Digests stay out of error strings.

// IdempotencyRecord returns the record of keyDigest.
func (db *DB) IdempotencyRecord(ctx context.Context, keyDigest []byte) (store.IdempotencyRecord, error) {
	q := db.d.Rebind(`SELECT key_digest, credential_digest, request_digest, status, sealed_body,
		created_at, expires_at FROM idempotency_records WHERE key_digest = ?`)
	var r store.IdempotencyRecord
	err := db.write.QueryRowContext(ctx, q, keyDigest).Scan(&r.KeyDigest, &r.CredentialDigest,
		&r.RequestDigest, &r.Status, &r.SealedBody, timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt})
	if isNoRows(err) {
		return store.IdempotencyRecord{}, notFound("idempotency record", "(redacted)")
	}
	if err != nil {
		return store.IdempotencyRecord{}, fmt.Errorf("store: idempotency record: %w", db.d.Classify(err))
	}
	return r, nil
}

// CreateIdempotencyRecord stores r unanswered; the primary key makes two racing
// requests with one key agree on a single owner.
func (db *DB) CreateIdempotencyRecord(ctx context.Context, r store.IdempotencyRecord) error {
	if len(r.KeyDigest) == 0 || len(r.CredentialDigest) == 0 || len(r.RequestDigest) == 0 {
		return errors.New("store: create idempotency record: empty digest")
	}
	q := db.d.Rebind(`INSERT INTO idempotency_records (key_digest, credential_digest,
		request_digest, status, created_at, expires_at) VALUES (?, ?, ?, 0, ?, ?)`)
	_, err := db.write.ExecContext(ctx, q, r.KeyDigest, r.CredentialDigest, r.RequestDigest,
		db.d.Time(Normalize(r.CreatedAt)), db.d.Time(Normalize(r.ExpiresAt)))
	if err != nil {
		return fmt.Errorf("store: create idempotency record: %w", db.d.Classify(err))
	}
	return nil
}

// CompleteIdempotencyRecord stores the answer of an unanswered record.
func (db *DB) CompleteIdempotencyRecord(ctx context.Context, keyDigest []byte, status int, sealedBody []byte) error {
	return completeIdempotency(ctx, db.d, db.exec, keyDigest, status, sealedBody)
}

// CompleteIdempotencyRecord stores the answer inside the transaction, so that it commits
// with the rotation it answers.
func (t *txn) CompleteIdempotencyRecord(ctx context.Context, keyDigest []byte, status int, sealedBody []byte) error {
	return completeIdempotency(ctx, t.d, func(ctx context.Context, q string, args ...any) (int64, error) {
		res, err := t.tx.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, t.d.Classify(err)
		}
		return res.RowsAffected()
	}, keyDigest, status, sealedBody)
}

func completeIdempotency(ctx context.Context, d Dialect, exec func(context.Context, string, ...any) (int64, error), keyDigest []byte, status int, sealedBody []byte) error {
	if status <= 0 {
		return fmt.Errorf("store: complete idempotency record: status %d", status)
	}
	q := d.Rebind(`UPDATE idempotency_records SET status = ?, sealed_body = ?
		WHERE key_digest = ? AND status = 0`)
	n, err := exec(ctx, q, status, sealedBody, keyDigest)
	if err != nil {
		return fmt.Errorf("store: complete idempotency record: %w", err)
	}
	if n == 0 {
		return notFound("unanswered idempotency record", "(redacted)")
	}
	return nil
}

// DeleteIdempotencyRecord removes a record.
func (db *DB) DeleteIdempotencyRecord(ctx context.Context, keyDigest []byte) error {
	n, err := db.exec(ctx, db.d.Rebind(`DELETE FROM idempotency_records WHERE key_digest = ?`), keyDigest)
	if err != nil {
		return fmt.Errorf("store: delete idempotency record: %w", err)
	}
	if n == 0 {
		return notFound("idempotency record", "(redacted)")
	}
	return nil
}

// PurgeIdempotencyRecords deletes the records whose window closed at or before now.
func (db *DB) PurgeIdempotencyRecords(ctx context.Context, now time.Time) (int, error) {
	n, err := db.exec(ctx, db.d.Rebind(`DELETE FROM idempotency_records WHERE expires_at <= ?`),
		db.d.Time(Normalize(now)))
	if err != nil {
		return 0, fmt.Errorf("store: purge idempotency records: %w", err)
	}
	return int(n), nil
}

// exec runs one statement on the write pool and returns the rows it touched.
func (db *DB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := db.write.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, db.d.Classify(err)
	}
	return res.RowsAffected()
}
