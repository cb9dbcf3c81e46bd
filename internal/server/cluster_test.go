package server_test

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

func status(t *testing.T, method, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("PRIVATE-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// refusedAfter revokes token through node a and asks node b until it refuses it,
// returning how long that took and how many requests it needed.
func refusedAfter(t *testing.T, a, b *keygatetest.Server, token string, bound time.Duration) (time.Duration, int) {
	t.Helper()
	if st := status(t, "DELETE", a.API+"/personal_access_tokens/self", token); st != 204 {
		t.Fatalf("revoke through node A = %d", st)
	}
	start := time.Now()
	for n := 1; ; n++ {
		if st := status(t, "GET", b.API+"/user", token); st == 401 {
			return time.Since(start), n
		}
		if time.Since(start) > bound {
			t.Fatalf("node B still accepts a token revoked through node A after %v", bound)
		}
	}
}

// TestTwoNodesRevocation: two servers on one database. A token revoked through node A is
// refused by node B: on SQLite (shared data dir) by its very next request; on PostgreSQL
// within 100 ms at p99 over many revocations (LISTEN/NOTIFY), and still after the
// notification connections are cut (direct reads until the listener is back).
func TestTwoNodesRevocation(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			pg := backend == "postgres"
			a := keygatetest.NewServerWith(t, keygatetest.Options{Postgres: pg})
			b := keygatetest.NewServerWith(t, keygatetest.Options{Join: a})
			n := 200
			if pg {
				n = 1000
			}
			if os.Getenv("KEYGATE_SHORT_CLUSTER") != "" {
				n = 50
			}
			u := a.User(t, "racer", false)
			tokens := make([]string, n)
			for i := range tokens {
				tokens[i] = a.Token(t, u.ID, "t", keygate.ScopeAPI)
				if st := status(t, "GET", b.API+"/user", tokens[i]); st != 200 { // cached on B
					t.Fatalf("token %d on node B = %d", i, st)
				}
			}
			lat := make([]time.Duration, 0, n)
			for _, tok := range tokens {
				d, tries := refusedAfter(t, a, b, tok, 2*time.Second)
				if !pg && tries != 1 {
					t.Fatalf("SQLite: node B needed %d requests to see a revocation, want the very next one", tries)
				}
				lat = append(lat, d)
			}
			slices.Sort(lat)
			p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
			t.Logf("%s: %d revocations through A, refused by B after p50 %v, p99 %v, max %v", backend, n, p50, p99, lat[len(lat)-1])
			if pg && p99 > 100*time.Millisecond {
				t.Errorf("p99 = %v, want ≤ 100 ms", p99)
			}
			if !pg {
				return
			}
			// Cut every listener connection of this database; node B must still refuse.
			db, err := sql.Open("pgx", a.DatabaseURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(context.Background(),
				`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'keygate-listener' AND pid <> pg_backend_pid()`); err != nil {
				t.Fatal(err)
			}
			// 20 samples: the median is held to the bound, every one to a second (a busy
			// machine may delay one reconnect); the p99 bound over 1000 is asserted above.
			var cut []time.Duration
			for i := range 20 {
				tok := a.Token(t, u.ID, "after-cut", keygate.ScopeAPI)
				if st := status(t, "GET", b.API+"/user", tok); st != 200 {
					t.Fatalf("token %d after the cut = %d", i, st)
				}
				d, _ := refusedAfter(t, a, b, tok, time.Second)
				cut = append(cut, d)
			}
			slices.Sort(cut)
			if cut[len(cut)/2] > 100*time.Millisecond {
				t.Errorf("after the listener cut: median refusal after %v, want ≤ 100 ms (all: %v)", cut[len(cut)/2], cut)
			}
		})
	}
}
