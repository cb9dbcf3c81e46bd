package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keygate/keygate/internal/store"
)

// Config is what a backend hands New.
type Config struct {
	// Read serves reads outside transactions. It may be the same pool as Write.
	Read *sql.DB
	// Write runs every transaction. SQLite gives a one-connection pool so that writers in
	// one process queue in Go rather than on the file lock.
	Write *sql.DB
	// Dialect encodes arguments and classifies errors.
	Dialect Dialect
	// MaxAttempts bounds how often InTx runs fn when the Dialect calls the failure
	// retryable; values below 1 mean 1.
	MaxAttempts int
	// Prepare prepares the fixed lookups (TokenByDigest, Token, User, ...) on Read.
	// SQLite wants it: parsing the statement costs more than running it. PostgreSQL
	// leaves it off: pgx keeps its own per-connection statement cache, and a database/sql
	// statement over a pgxpool would be re-prepared on every borrowed connection.
	Prepare bool
	// Committed, if set, is called after a transaction that moved the Marker committed,
	// with the revision it wrote; PostgreSQL uses it so that a process sees its own
	// writes in Marker without waiting for its notification to come back.
	Committed func(seq int64)
}

// DB implements everything of store.Store except Marker, Ping and Close, which are
// backend-specific.
type DB struct {
	reader
	write     *sql.DB
	attempts  int
	committed func(seq int64)
}

// New returns a DB over the pools of c. The backend keeps ownership of the pools and
// closes them after Close.
func New(ctx context.Context, c Config) (*DB, error) {
	db := &DB{
		reader:    newReader(c.Read, c.Dialect),
		write:     c.Write,
		attempts:  max(c.MaxAttempts, 1),
		committed: c.Committed,
	}
	if c.Prepare {
		if err := db.reader.prepare(ctx, c.Read); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// Close releases the prepared statements; the pools stay open.
func (db *DB) Close() error { return db.reader.closeStmts() }

// RevisionQuery reads the Marker's value.
const RevisionQuery = "SELECT seq FROM revision WHERE id = 1"

// bumpQuery moves the Marker. It runs once per transaction, last, so the revision row lock
// is held only from there to commit.
const bumpQuery = "UPDATE revision SET seq = seq + 1 WHERE id = 1 RETURNING seq"

// InTx runs fn in one transaction on the write pool, committing when fn returns nil and
// re-running it (up to Config.MaxAttempts times) when the failure is retryable.
func (db *DB) InTx(ctx context.Context, fn func(store.Tx) error) error {
	return db.inTx(ctx, func(t *txn) error { return fn(t) })
}

// InTxMarker is InTx reporting the Marker value the commit wrote (0: none).
func (db *DB) InTxMarker(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	return db.inTxSeq(ctx, func(t *txn) error { return fn(t) })
}

func (db *DB) inTx(ctx context.Context, fn func(*txn) error) error {
	_, err := db.inTxSeq(ctx, fn)
	return err
}

func (db *DB) inTxSeq(ctx context.Context, fn func(*txn) error) (int64, error) {
	for attempt := 1; ; attempt++ {
		seq, err := db.once(ctx, fn)
		if err == nil {
			if seq != 0 && db.committed != nil {
				db.committed(seq)
			}
			return seq, nil
		}
		if attempt >= db.attempts || !db.d.Retryable(err) || ctx.Err() != nil {
			return 0, err
		}
		if err := backoff(ctx, attempt); err != nil {
			return 0, err
		}
	}
}

// backoff waits a little, more each attempt and jittered, so that two transactions that
// just collided do not collide again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1<<min(attempt, 6)) * time.Millisecond
	d = d/2 + rand.N(d/2+1)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// once runs fn in one transaction and returns the revision it wrote (0: it did not move
// the Marker).
func (db *DB) once(ctx context.Context, fn func(*txn) error) (seq int64, err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: begin: %w", db.d.Classify(err))
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback() // the error that made us give up is the one to report
		}
	}()
	t := &txn{reader: db.reader.over(tx), tx: tx}
	if err := fn(t); err != nil {
		return 0, err
	}
	if t.moved {
		if err := tx.QueryRowContext(ctx, bumpQuery).Scan(&seq); err != nil {
			return 0, fmt.Errorf("store: move marker: %w", db.d.Classify(err))
		}
		if err := db.d.MarkerMoved(ctx, tx, seq); err != nil {
			return 0, fmt.Errorf("store: move marker: %w", db.d.Classify(err))
		}
	}
	done = true
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: commit: %w", db.d.Classify(err))
	}
	return seq, nil
}

// RecordUses writes last-used times and addresses in one transaction. It does not move
// the Marker: nothing it writes takes access away. Uses of tokens that no longer exist
// are skipped: the token_last_used_ips insert selects from the token row, so a missing
// token inserts nothing.
func (db *DB) RecordUses(ctx context.Context, uses []store.Use) error {
	if len(uses) == 0 {
		return nil
	}
	d := db.d
	touch := d.Rebind(`UPDATE personal_access_tokens SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
	upsertIP := d.Rebind(`INSERT INTO token_last_used_ips (token_id, ip, used_at)
		SELECT id, ?, ? FROM personal_access_tokens WHERE id = ?
		ON CONFLICT (token_id, ip) DO UPDATE SET used_at = CASE
			WHEN excluded.used_at > token_last_used_ips.used_at THEN excluded.used_at
			ELSE token_last_used_ips.used_at END`)
	trimIPs := d.Rebind(`DELETE FROM token_last_used_ips WHERE token_id = ? AND ip NOT IN (
		SELECT ip FROM token_last_used_ips WHERE token_id = ?
		ORDER BY used_at DESC, ip LIMIT ?)`)
	return db.inTx(ctx, func(t *txn) error {
		st, err := t.prepare(ctx, touch, upsertIP, trimIPs)
		if err != nil {
			return err
		}
		defer closeAll(st)
		for _, u := range uses {
			at := Normalize(u.At)
			if _, err := st[0].ExecContext(ctx,
				d.Time(at), u.TokenID, d.Time(at.Add(-store.LastUsedInterval))); err != nil {
				return fmt.Errorf("store: record use of token %d: %w", u.TokenID, d.Classify(err))
			}
			if u.IP == "" {
				continue
			}
			res, err := st[1].ExecContext(ctx, u.IP, d.Time(at), u.TokenID)
			if err != nil {
				return fmt.Errorf("store: record address of token %d: %w", u.TokenID, d.Classify(err))
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // no such token
			}
			if _, err := st[2].ExecContext(ctx, u.TokenID, u.TokenID, store.MaxLastUsedIPs); err != nil {
				return fmt.Errorf("store: trim addresses of token %d: %w", u.TokenID, d.Classify(err))
			}
		}
		return nil
	})
}

// querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// notFound wraps store.ErrNotFound with what was looked up.
func notFound(what string, key any) error {
	return fmt.Errorf("%s %v: %w", what, key, store.ErrNotFound)
}

// isNoRows reports whether err is database/sql's "no rows".
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
