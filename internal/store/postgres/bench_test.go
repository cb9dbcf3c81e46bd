package postgres

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store/sqlstore"
	"github.com/keygate/keygate/internal/store/storetest"
)

func benchStore(b *testing.B) seedStore {
	url := testSchema(b, testDatabase(b), schemaName(randomHex(b), b.Name()))
	return seedStore{openTest(b, url)}
}

func BenchmarkTokenByDigest10k(b *testing.B) {
	storetest.BenchmarkTokenByDigest(b, benchStore(b), 10_000)
}

func BenchmarkTokenByDigest1M(b *testing.B) {
	if os.Getenv("KEYGATE_BENCH_1M") != "1" {
		b.Skip("KEYGATE_BENCH_1M not set to 1: skipping the 1M-token benchmark")
	}
	storetest.BenchmarkTokenByDigest(b, benchStore(b), 1_000_000)
}

func BenchmarkMarker(b *testing.B) {
	storetest.BenchmarkMarker(b, benchStore(b))
}

// seedStore adds storetest.Seeder: the tokens go in with COPY, the users with one
// multi-row INSERT, then ANALYZE so the planner knows the table's size.
type seedStore struct{ *Store }

func (s seedStore) Seed(ctx context.Context, users, tokens int, token func(owner int64, i int) keygate.Token) error {
	created := sqlstore.Normalize(token(0, 0).CreatedAt)
	owners := make([]int64, 0, users)
	rows, err := s.pool.Query(ctx, `INSERT INTO users (username, email, created_at, updated_at)
		SELECT 'seed' || i, 'seed' || i || '@example.com', $1, $1 FROM generate_series(1, $2) AS i
		RETURNING id`, created, users)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		owners = append(owners, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(owners) != users {
		return fmt.Errorf("seeded %d users, want %d", len(owners), users)
	}
	i := 0
	_, err = s.pool.CopyFrom(ctx, pgx.Identifier{"personal_access_tokens"},
		[]string{"user_id", "name", "scopes", "expires_at", "created_at", "updated_at", "last_used_at", "token_digest"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == tokens {
				return nil, nil
			}
			t := token(owners[i%users], i)
			i++
			at := sqlstore.Normalize(t.CreatedAt)
			var expires any
			if t.ExpiresAt != nil {
				expires = t.ExpiresAt.Start()
			}
			return []any{t.UserID, t.Name, t.Scopes.String(), expires, at, at, at, t.Digest}, nil
		}))
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, "ANALYZE personal_access_tokens")
	return err
}

func BenchmarkMaxAccess10k(b *testing.B) {
	storetest.BenchmarkMaxAccess(b, benchStore(b), 10_000)
}

func BenchmarkMaxAccess100k(b *testing.B) {
	storetest.BenchmarkMaxAccess(b, benchStore(b), 100_000)
}

// SeedMembers implements storetest.MemberSeeder: the users in one multi-row INSERT, the
// memberships with COPY, then ANALYZE.
func (s seedStore) SeedMembers(ctx context.Context, users, members int, member func(ids []int64, i int) keygate.Member) error {
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]int64, 0, users)
	rows, err := s.pool.Query(ctx, `INSERT INTO users (username, email, created_at, updated_at)
		SELECT 'member' || i, 'member' || i || '@example.com', $1, $1 FROM generate_series(1, $2) AS i
		ORDER BY i RETURNING id`, created, users)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(ids) != users {
		return fmt.Errorf("seeded %d users, want %d", len(ids), users)
	}
	i := 0
	_, err = s.pool.CopyFrom(ctx, pgx.Identifier{"members"},
		[]string{"source_type", "source_id", "user_id", "access_level", "expires_at", "created_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == members {
				return nil, nil
			}
			m := member(ids, i)
			i++
			var expires any
			if m.ExpiresAt != nil {
				expires = m.ExpiresAt.Start()
			}
			return []any{string(m.SourceType), m.SourceID, m.UserID, int32(m.AccessLevel), expires,
				sqlstore.Normalize(m.CreatedAt)}, nil
		}))
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, "ANALYZE users, namespaces, projects, members")
	return err
}
