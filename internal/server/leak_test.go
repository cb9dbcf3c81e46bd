package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
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
	if strings.HasPrefix(path, "/-/") || strings.Contains(path, ".git/") || strings.HasPrefix(path, "/jwt/") || strings.HasPrefix(path, "/oauth/") {
		url = f.srv.URL + path
	}
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	switch {
	case token == "":
	case len(header) > 0 && header[0] == "Basic":
		req.SetBasicAuth("oauth2", token)
	case len(header) > 0 && header[0] == "Form": // the caller's token, a form body
		req.Header.Set("Authorization", "Bearer "+token)
	case len(header) > 0 && header[0] != "":
		req.Header.Set(header[0], token)
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	if len(header) > 0 && header[0] == "Form" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 1; i+1 < len(header); i += 2 { // extra headers as name, value pairs
		req.Header.Set(header[i], header[i+1])
	}
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
	if strings.HasPrefix(carries, "gl") { // a Keygate token (a registry JWT is not one)
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
// project, group, service-account and job tokens; rotation, idempotent replays, reuse,
// revocation; Git over HTTP; registry tokens; forward auth; introspection; lookup by
// value; leaked-token reports; audit events; the web UI's create-once page; expiry
// webhooks and mails; can-i and explained denials; bad credentials), then searches
// everything Keygate wrote (database file or tables, logs, metrics, mails, webhook
// deliveries) and every response body not meant to carry a token for every token it
// issued.
func TestNoPlaintextAtRest(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			mail := keygatetest.NewSMTP(t, nil)
			hooks := &syncBodies{}
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				hooks.add(fmt.Sprint(r.Header) + string(b))
			}))
			defer receiver.Close()
			srv := keygatetest.NewServerWith(t, keygatetest.Options{Postgres: backend == "postgres", Registry: true,
				GateFile: "../forwardauth/testdata/gate.yaml", SMTPURL: mail.URL()})
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

			// Idempotent rotation: the replay carries the successor again, nothing else does.
			idem := f.token(f.call("POST", "/users/"+uid+"/personal_access_tokens", root, `{"name":"idem","scopes":["api"]}`))
			f.call("POST", "/personal_access_tokens/self/rotate", idem, "", "", "Idempotency-Key", "leak-1")
			f.call("POST", "/personal_access_tokens/self/rotate", idem, "", "", "Idempotency-Key", "leak-1")
			// Registry tokens, forward auth, introspection, lookup by value, leak reports.
			reg := f.token(f.call("POST", "/users/"+uid+"/personal_access_tokens", root, `{"name":"reg","scopes":["read_registry","write_registry"]}`))
			f.call("GET", "/jwt/auth?service=container_registry&scope=repository:leak/app:pull,push", reg, "", "Basic")
			f.call("GET", "/jwt/auth?service=container_registry&scope=repository:leak/app:pull", "glpat-"+strings.Repeat("y", 30), "", "Basic")
			f.call("GET", "/-/gate", pat, "", "", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/x", "X-Forwarded-Host", "billing.internal")
			f.call("GET", "/-/gate", imp, "", "", "X-Original-Method", "GET", "X-Original-Uri", "/team/x")
			intro := f.token(f.call("POST", "/users/1/personal_access_tokens", root, `{"name":"intro","scopes":["introspect"]}`))
			f.call("POST", "/oauth/introspect", intro, "token="+imp, "Form")
			f.call("POST", "/oauth/introspect", intro, "token="+rot, "Form")
			f.call("POST", "/admin/token", root, `{"token":"`+imp+`"}`)
			leaked := f.token(f.call("POST", "/users/"+uid+"/personal_access_tokens", root, `{"name":"leaked","scopes":["api"]}`))
			f.call("POST", "/keygate/revocations", "", `{"tokens":["`+leaked+`","glpat-`+strings.Repeat("z", 30)+`"]}`)
			f.call("GET", "/audit_events", root, "")
			f.call("GET", "/keygate/notifications", pat, "")
			// The web UI: sign in, create a token (the one page meant to show it), list again.
			f.web("dora", "explorer-123")
			// Webhooks and mails at the 7-day threshold of the project's token family.
			f.call("PUT", "/application/settings", root, `{"allow_local_requests_from_web_hooks_and_services":true}`)
			if h := f.call("POST", "/projects/"+pid+"/hooks", root, `{"url":"`+receiver.URL+`","resource_access_token_events":true,"token":"hook-secret"}`); h["id"] == nil {
				t.Fatalf("create hook: %v", h)
			}
			soon := keygate.DateOf(srv.Clock.Now()).AddDays(30).String()
			f.call("POST", "/projects/"+pid+"/access_tokens", root, `{"name":"soon","scopes":["read_api"],"access_level":10,"expires_at":"`+soon+`"}`)
			srv.Clock.Advance(24 * 24 * time.Hour)
			if _, err := srv.Service.RunLifecycle(context.Background()); err != nil {
				t.Fatal(err)
			}
			f.call("GET", "/projects/"+pid+"/hooks", root, "")
			if err := srv.Service.FlushUses(context.Background()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(srv.URL + "/-/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			var mails strings.Builder
			for _, m := range mail.Messages() {
				mails.WriteString(m.Data)
			}
			if mails.Len() == 0 || hooks.String() == "" {
				t.Errorf("flows sent %d bytes of mail and %d of webhooks; want both", mails.Len(), len(hooks.String()))
			}
			haystacks := map[string]string{"log": srv.Logs(), "metrics": string(metrics), "mail": mails.String(), "webhooks": hooks.String()}
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
			if len(f.issued) != 19 {
				t.Fatalf("flows issued %d tokens, want 19 (a flow failed)", len(f.issued))
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

var (
	csrfRE    = regexp.MustCompile(`name="authenticity_token" value="([^"]+)"`)
	webTokRE  = regexp.MustCompile(`id="created-token" type="text" readonly value="([^"]+)"`)
	webTokens = "/-/user_settings/personal_access_tokens"
)

// web signs in through the UI, creates a token with its form and opens the list again.
func (f *leakFlow) web(login, password string) {
	f.t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := func(method, path string, form url.Values) (int, string) {
		f.t.Helper()
		req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(form.Encode()))
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", f.srv.URL)
		}
		resp, err := hc.Do(req)
		if err != nil {
			f.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	csrf := func(body string) string {
		m := csrfRE.FindStringSubmatch(body)
		if m == nil {
			f.t.Fatalf("no CSRF token in the page")
		}
		return html.UnescapeString(m[1])
	}
	_, body := page("GET", "/users/sign_in", nil)
	if st, b := page("POST", "/users/sign_in", url.Values{"user[login]": {login}, "user[password]": {password}, "authenticity_token": {csrf(body)}}); st != http.StatusSeeOther {
		f.t.Fatalf("web sign-in = %d %s", st, b)
	}
	_, body = page("GET", webTokens, nil)
	st, created := page("POST", webTokens, url.Values{"name": {"web"}, "scopes": {"read_api"}, "authenticity_token": {csrf(body)}})
	m := webTokRE.FindStringSubmatch(created)
	if m == nil {
		f.t.Fatalf("web create = %d, no token on the page", st)
	}
	tok := html.UnescapeString(m[1])
	f.issued = append(f.issued, tok)
	f.bodies = append(f.bodies, leakBody{what: "POST " + webTokens, body: created, carries: tok})
	_, again := page("GET", webTokens, nil)
	f.bodies = append(f.bodies, leakBody{what: "GET " + webTokens, body: again})
	f.call("GET", "/user", tok, "")
}

// syncBodies collects what a test receiver got.
type syncBodies struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBodies) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *syncBodies) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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
