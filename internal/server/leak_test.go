package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygatetest"
)

// leakFlow drives requests and remembers every token issued and every response body.
type leakFlow struct {
	t      *testing.T
	srv    *keygatetest.Server
	issued []string
	bodies []leakBody
}

type leakBody struct {
	what, body string
	carries    string // the token this answer is meant to carry ("" for none)
}

// call sends one request; header "Basic" sends the token as a Git-style password.
func (f *leakFlow) call(method, path, token, body string, header ...string) map[string]any {
	f.t.Helper()
	url := f.srv.API + path
	if strings.HasPrefix(path, "/-/") || strings.Contains(path, ".git/") {
		url = f.srv.URL + path
	}
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	switch {
	case token == "":
	case len(header) > 0 && header[0] == "Basic":
		req.SetBasicAuth("oauth2", token)
	case len(header) > 0:
		req.Header.Set(header[0], token)
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Keygate-Explain", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	carries, _ := out["token"].(string)
	if carries != "" {
		f.issued = append(f.issued, carries)
	}
	f.bodies = append(f.bodies, leakBody{what: method + " " + path, body: string(b) + fmt.Sprint(resp.Header), carries: carries})
	return out
}

func (f *leakFlow) id(m map[string]any) string {
	f.t.Helper()
	v, ok := m["id"].(float64)
	if !ok {
		f.t.Fatalf("no id in %v", m)
	}
	return itoa(int64(v))
}

func (f *leakFlow) token(m map[string]any) string {
	f.t.Helper()
	v, ok := m["token"].(string)
	if !ok {
		f.t.Fatalf("no token in %v", m)
	}
	return v
}

// TestNoPlaintextAtRest runs every token flow Keygate has (personal, impersonation,
// project, group, service-account and job tokens; rotation, reuse, revocation; Git over
// HTTP; can-i and explained denials; bad credentials), then searches everything Keygate
// wrote (database file or tables, logs, metrics) and every response body not meant to
// carry a token for every token it issued.
func TestNoPlaintextAtRest(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			srv := keygatetest.NewServerWith(t, keygatetest.Options{Postgres: backend == "postgres"})
			f := &leakFlow{t: t, srv: srv, issued: []string{srv.RootToken}}
			root := srv.RootToken
			u := f.call("POST", "/users", root, `{"username":"dora","email":"dora@example.com","name":"Dora","password":"explorer-123"}`)
			uid := f.id(u)
			pat := f.token(f.call("POST", "/users/"+uid+"/personal_access_tokens", root, `{"name":"d","scopes":["api"]}`))
			f.call("GET", "/user?private_token="+pat, "", "") // a token in the query string must not reach the log
			f.call("GET", "/user", pat, "")
			f.call("GET", "/user", pat, "", "PRIVATE-TOKEN")
			f.call("GET", "/personal_access_tokens/self", pat, "")
			f.call("GET", "/personal_access_tokens", pat, "")
			rot := f.token(f.call("POST", "/personal_access_tokens/self/rotate", pat, `{}`))
			f.call("GET", "/user", pat, "")                                // reuse of a rotated-away token
			f.call("POST", "/personal_access_tokens/self/rotate", pat, "") // reuse on a rotate path
			f.call("DELETE", "/personal_access_tokens/self", rot, "")
			imp := f.token(f.call("POST", "/users/"+uid+"/impersonation_tokens", root, `{"name":"imp","scopes":["read_api"]}`))
			f.call("GET", "/user", imp, "")
			f.call("GET", "/users/"+uid+"/impersonation_tokens", root, "")

			g := f.call("POST", "/groups", root, `{"name":"leak","path":"leak"}`)
			gid := f.id(g)
			p := f.call("POST", "/projects", root, `{"name":"app","namespace_id":`+gid+`}`)
			pid := f.id(p)
			ptok := f.call("POST", "/projects/"+pid+"/access_tokens", root, `{"name":"bot","scopes":["api"],"access_level":30}`)
			f.call("GET", "/projects/"+pid, f.token(ptok), "")
			f.call("GET", "/projects/"+pid+"/access_tokens", root, "")
			f.call("GET", "/projects/"+pid+"/access_tokens/self", f.token(ptok), "")
			prot := f.call("POST", "/projects/"+pid+"/access_tokens/"+f.id(ptok)+"/rotate", root, "")
			f.call("DELETE", "/projects/"+pid+"/access_tokens/"+f.id(prot), root, "")
			gtok := f.call("POST", "/groups/"+gid+"/access_tokens", root, `{"name":"gbot","scopes":["api"],"access_level":40}`)
			f.call("GET", "/groups/"+gid, f.token(gtok), "")
			f.call("POST", "/groups/"+gid+"/access_tokens/self/rotate", f.token(gtok), "")
			sa := f.call("POST", "/groups/"+gid+"/service_accounts", root, `{"name":"robot"}`)
			satok := f.call("POST", "/groups/"+gid+"/service_accounts/"+f.id(sa)+"/personal_access_tokens", root, `{"name":"sa","scopes":["api"]}`)
			f.call("GET", "/user", f.token(satok), "")
			f.call("POST", "/groups/"+gid+"/service_accounts/"+f.id(sa)+"/personal_access_tokens/"+f.id(satok)+"/rotate", root, "")

			job := f.call("POST", "/projects/"+pid+"/keygate/jobs", root, `{}`)
			jt := f.token(job)
			f.call("GET", "/job", jt, "", "JOB-TOKEN")
			f.call("GET", "/leak/app.git/info/refs?service=git-upload-pack", jt, "", "Basic")
			f.call("POST", "/projects/"+pid+"/keygate/jobs/"+f.id(job)+"/finish", root, `{"status":"success"}`)
			f.call("GET", "/job", jt, "", "JOB-TOKEN") // a finished job's token
			f.call("GET", "/leak/app.git/info/refs?service=git-upload-pack", root, "", "Basic")
			f.call("GET", "/leak/app.git/info/refs?service=git-receive-pack", imp, "", "Basic")

			f.call("GET", "/keygate/can_i?method=DELETE&path=/api/v4/projects/"+pid, imp, "")
			f.call("DELETE", "/projects/"+pid, imp, "") // an explained denial
			f.call("GET", "/user", "glpat-"+strings.Repeat("x", 30), "")
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
			if len(f.issued) != 11 {
				t.Fatalf("flows issued %d tokens, want 11 (a flow failed)", len(f.issued))
			}
			for _, tok := range f.issued {
				needles := []string{tok, secretPart(tok)}
				for where, hay := range haystacks {
					for _, n := range needles {
						if strings.Contains(hay, n) {
							t.Errorf("%s contains an issued token", where)
						}
					}
				}
				for _, b := range f.bodies {
					if b.carries == tok {
						continue
					}
					for _, n := range needles {
						if strings.Contains(b.body, n) {
							t.Errorf("the answer to %s contains a token it is not meant to carry", b.what)
						}
					}
				}
			}
		})
	}
}

// secretPart is a token's random part alone: without its prefix and checksum.
func secretPart(tok string) string {
	_, rest, _ := strings.Cut(tok, "-")
	return rest[:len(rest)-7]
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
