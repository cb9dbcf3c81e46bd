package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store/sqlstore"
	"github.com/keygate/keygate/internal/store/storetest"
)

func BenchmarkTokenByDigest10k(b *testing.B) {
	storetest.BenchmarkTokenByDigest(b, seedStore{openTest(b, filepath.Join(b.TempDir(), "bench.db"))}, 10_000)
}

func BenchmarkTokenByDigest1M(b *testing.B) {
	if os.Getenv("KEYGATE_BENCH_1M") != "1" {
		b.Skip("KEYGATE_BENCH_1M not set to 1: skipping the 1M-token benchmark")
	}
	storetest.BenchmarkTokenByDigest(b, seedStore{openTest(b, filepath.Join(b.TempDir(), "bench.db"))}, 1_000_000)
}

func BenchmarkMarker(b *testing.B) {
	storetest.BenchmarkMarker(b, openTest(b, filepath.Join(b.TempDir(), "bench.db")))
}

// seedStore adds storetest.Seeder: one transaction of prepared inserts, which loads a
// million tokens in seconds where a transaction per batch of CreateToken takes minutes.
type seedStore struct{ *Store }

func (s seedStore) Seed(ctx context.Context, users, tokens int, token func(owner int64, i int) keygate.Token) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	d := dialect{}
	ts := func(t keygate.Token) any { return d.Time(sqlstore.Normalize(t.CreatedAt)) }
	insUser, err := tx.PrepareContext(ctx, `INSERT INTO users (username, email, created_at, updated_at)
		VALUES (?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return err
	}
	owners := make([]int64, users)
	for i := range owners {
		now := d.Time(sqlstore.Normalize(token(0, 0).CreatedAt))
		name := fmt.Sprintf("seed%07d", i)
		if err := insUser.QueryRowContext(ctx, name, name+"@example.com", now, now).Scan(&owners[i]); err != nil {
			return err
		}
	}
	insToken, err := tx.PrepareContext(ctx, `INSERT INTO personal_access_tokens (user_id, name, scopes,
		expires_at, created_at, updated_at, last_used_at, token_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	for i := range tokens {
		t := token(owners[i%users], i)
		var expires any
		if t.ExpiresAt != nil {
			expires = d.Date(*t.ExpiresAt)
		}
		if _, err := insToken.ExecContext(ctx, t.UserID, t.Name, t.Scopes.String(), expires,
			ts(t), ts(t), ts(t), t.Digest); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func BenchmarkMaxAccess10k(b *testing.B) {
	storetest.BenchmarkMaxAccess(b, seedStore{openTest(b, filepath.Join(b.TempDir(), "bench.db"))}, 10_000)
}

func BenchmarkMaxAccess100k(b *testing.B) {
	storetest.BenchmarkMaxAccess(b, seedStore{openTest(b, filepath.Join(b.TempDir(), "bench.db"))}, 100_000)
}

// SeedMembers implements storetest.MemberSeeder: one transaction of prepared inserts.
func (s seedStore) SeedMembers(ctx context.Context, users, members int, member func(ids []int64, i int) keygate.Member) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	d := dialect{}
	now := d.Time(sqlstore.Normalize(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)))
	insUser, err := tx.PrepareContext(ctx, `INSERT INTO users (username, email, created_at, updated_at)
		VALUES (?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return err
	}
	ids := make([]int64, users)
	for i := range ids {
		name := fmt.Sprintf("member%07d", i)
		if err := insUser.QueryRowContext(ctx, name, name+"@example.com", now, now).Scan(&ids[i]); err != nil {
			return err
		}
	}
	insMember, err := tx.PrepareContext(ctx, `INSERT INTO members (source_type, source_id, user_id,
		access_level, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	for i := range members {
		m := member(ids, i)
		var expires any
		if m.ExpiresAt != nil {
			expires = d.Date(*m.ExpiresAt)
		}
		if _, err := insMember.ExecContext(ctx, string(m.SourceType), m.SourceID, m.UserID,
			int(m.AccessLevel), expires, d.Time(sqlstore.Normalize(m.CreatedAt))); err != nil {
			return err
		}
	}
	// No ANALYZE, as in production: this driver's SQLite has STAT4, with which statistics
	// make it re-plan a prepared statement on every new parameter value (measured: 35 →
	// 280 µs per MaxAccess).
	return tx.Commit()
}
