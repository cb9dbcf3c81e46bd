package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keygate/keygate/internal/store"
	"github.com/keygate/keygate/internal/store/storetest"
)

// testDatabase is the server the tests use; each test works in a schema of its own.
func testDatabase(t testing.TB) string {
	t.Helper()
	u := os.Getenv("KEYGATE_TEST_DATABASE_URL")
	if u == "" {
		t.Skip("KEYGATE_TEST_DATABASE_URL not set: skipping PostgreSQL store tests")
	}
	return u
}

func TestStore(t *testing.T) {
	base := testDatabase(t)
	run := randomHex(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, testSchema(t, base, schemaName(run, t.Name())))
	})
}

func randomHex(t testing.TB) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// schemaName is one schema per test name within this run, so that a second open in the
// same test reaches the same database (storetest.Run's contract) and concurrent runs of
// the suite do not meet.
func schemaName(run, testName string) string {
	h := fnv.New64a()
	h.Write([]byte(testName))
	return "t_" + run + "_" + strconv.FormatUint(h.Sum64(), 36)
}

// testSchema creates schema in the database at base unless it exists, drops it when the
// test that created it ends, and returns base's URL with search_path set to it.
func testSchema(t testing.TB, base, schema string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to KEYGATE_TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P06": // duplicate_schema: a second open
	case err != nil:
		t.Fatalf("CREATE SCHEMA %s: %v", schema, err)
	default:
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, base)
			if err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
				return
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
				t.Errorf("DROP SCHEMA %s: %v", schema, err)
			}
		})
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("KEYGATE_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openTest(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}
