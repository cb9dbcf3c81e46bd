package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygatetest"
)

// TestNoPlaintextAtRest runs a full token flow, then searches everything Keygate wrote
// (database file or tables, logs, metrics) for every token it issued.
func TestNoPlaintextAtRest(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			srv := keygatetest.NewServerWith(t, keygatetest.Options{Postgres: backend == "postgres"})
			issued := []string{srv.RootToken}
			call := func(method, path, token, body string) map[string]any {
				t.Helper()
				req, _ := http.NewRequest(method, srv.API+path, strings.NewReader(body))
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				var out map[string]any
				_ = json.Unmarshal(b, &out)
				if tok, ok := out["token"].(string); ok {
					issued = append(issued, tok)
				}
				return out
			}
			u := call("POST", "/users", srv.RootToken, `{"username":"dora","email":"dora@example.com","name":"Dora","password":"explorer-123"}`)
			id := int64(u["id"].(float64))
			pat := call("POST", "/users/"+itoa(id)+"/personal_access_tokens", srv.RootToken, `{"name":"d","scopes":["api"]}`)["token"].(string)
			call("GET", "/user?private_token="+pat, "", "") // a token in the query string must not reach the log
			call("GET", "/user", pat, "")
			rot := call("POST", "/personal_access_tokens/self/rotate", pat, `{}`)["token"].(string)
			call("GET", "/user", pat, "")                                // reuse of a rotated-away token
			call("POST", "/personal_access_tokens/self/rotate", pat, "") // reuse on a rotate path
			call("DELETE", "/personal_access_tokens/self", rot, "")
			if err := srv.Service.FlushUses(context.Background()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(srv.URL + "/-/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			haystacks := map[string]string{"log": srv.Logs(), "metrics": string(metrics)}
			if backend == "sqlite" {
				for _, name := range []string{"keygate.db", "keygate.db-wal"} {
					b, err := os.ReadFile(filepath.Join(srv.DataDir, name))
					if err == nil {
						haystacks[name] = string(b)
					}
				}
			} else {
				haystacks["tables"] = dumpPostgres(t, srv.DatabaseURL)
			}
			if !strings.Contains(srv.Logs(), `"route":"GET /api/v4/user"`) || !strings.Contains(srv.Logs(), `"token_id":"`) {
				t.Error("the access log lacks the route pattern or the token ID")
			}
			if len(issued) < 3 {
				t.Fatalf("flow issued %d tokens, want at least 3", len(issued))
			}
			for where, hay := range haystacks {
				for _, tok := range issued {
					body := tok[len("glpat-") : len(tok)-7] // the random part alone
					if strings.Contains(hay, tok) || strings.Contains(hay, body) {
						t.Errorf("%s contains an issued token", where)
					}
				}
			}
		})
	}
}

func itoa(n int64) string { return jsonInt(n) }

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// dumpPostgres renders every row of every table in the test's schema as text.
func dumpPostgres(t *testing.T, url string) string {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var sb strings.Builder
	for _, tbl := range tables {
		r, err := db.Query(`SELECT t::text FROM "` + tbl + `" t`)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var line string
			_ = r.Scan(&line)
			sb.WriteString(line + "\n")
		}
		r.Close()
	}
	if len(tables) == 0 {
		t.Fatal("no tables found in the test schema")
	}
	return sb.String()
}
