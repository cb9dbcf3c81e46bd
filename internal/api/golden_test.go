package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenCase is one raw HTTP exchange whose status, WWW-Authenticate and body must match
// testdata/<name>.golden.json byte for byte.
type goldenCase struct {
	name    string
	method  string
	path    string
	token   string // sent as PRIVATE-TOKEN unless header is set
	header  map[string]string
	body    string
	ctype   string
	mutates bool // a success that changes state; refusals must change nothing
}

type goldenResult struct {
	Status          int             `json:"status"`
	WWWAuthenticate string          `json:"www_authenticate,omitempty"`
	ContentType     string          `json:"content_type"`
	Body            json.RawMessage `json:"body"`
}

// snapshot is everything a refused request must leave unchanged: users, tokens (uses
// aside), settings, namespaces, projects and memberships.
func snapshot(t *testing.T, srv *keygatetest.Server) any {
	t.Helper()
	ctx := context.Background()
	users, _, err := srv.Service.Users(ctx, store.UserFilter{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, _, err := srv.Service.Tokens(ctx, authz.SystemSubject(), store.TokenFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range tokens {
		tokens[i].LastUsedAt, tokens[i].LastUsedIPs = nil, nil // uses are not changes
	}
	settings, err := srv.Service.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := srv.Inst.Store
	namespaces, _, err := st.Namespaces(ctx, store.NamespaceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	projects, _, err := st.Projects(ctx, store.ProjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	members, err := st.Members(ctx, store.MemberFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return []any{users, tokens, settings, namespaces, projects, members}
}

func TestGoldenErrors(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	alice := srv.User(t, "alice", false)
	readAPI := srv.Token(t, alice.ID, "ra", keygate.ScopeReadAPI)
	readUser := srv.Token(t, alice.ID, "ru", keygate.ScopeReadUser)
	selfRotate := srv.Token(t, alice.ID, "sr", keygate.ScopeSelfRotate)
	aliceAPI := srv.Token(t, alice.ID, "aa", keygate.ScopeAPI)
	expired := srv.Token(t, alice.ID, "exp", keygate.ScopeAPI)
	revoked := srv.Token(t, alice.ID, "rev", keygate.ScopeAPI)
	blockedUser := srv.User(t, "mallory", false)
	blocked := srv.Token(t, blockedUser.ID, "bl", keygate.ScopeReadUser)
	if _, err := srv.Service.SetUserState(ctx, authz.SystemSubject(), blockedUser.ID, "block"); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{revoked} {
		p, err := srv.Service.Authenticate(ctx, serviceCred(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Service.Revoke(ctx, authz.SystemSubject(), p.Token.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Token expiring tomorrow: moving the clock two days makes it expired.
	p, _ := srv.Service.Authenticate(ctx, serviceCred(expired))
	expiredID := p.Token.ID

	big := `{"name":"` + strings.Repeat("x", 1<<20+10) + `","scopes":["api"]}`
	cases := []goldenCase{
		{name: "no_token", method: "GET", path: "/user"},
		{name: "garbage_token", method: "GET", path: "/user", token: "not-a-token"},
		{name: "unknown_token", method: "GET", path: "/user", token: forged()},
		{name: "bearer_unknown", method: "GET", path: "/user", header: map[string]string{"Authorization": "Bearer " + forged()}},
		{name: "revoked_token", method: "GET", path: "/user", token: revoked},
		{name: "read_api_post", method: "POST", path: "/user/personal_access_tokens", token: readAPI, body: `{"name":"x","scopes":["k8s_proxy"]}`},
		{name: "read_user_on_token_list", method: "GET", path: "/personal_access_tokens", token: readUser},
		{name: "read_user_self_rotate", method: "POST", path: "/personal_access_tokens/self/rotate", token: readUser},
		{name: "self_rotate_on_id_rotate", method: "POST", path: "/personal_access_tokens/1/rotate", token: selfRotate},
		{name: "blocked_user", method: "GET", path: "/user", token: blocked},
		{name: "unknown_route", method: "GET", path: "/merge_requests", token: aliceAPI},
		{name: "malformed_json", method: "POST", path: "/user/personal_access_tokens", token: aliceAPI, body: `{"name":`, ctype: "application/json"},
		{name: "unknown_scope", method: "POST", path: "/users/2/personal_access_tokens", token: srv.RootToken, body: `{"name":"x","scopes":["api","root_everything"]}`},
		{name: "missing_name", method: "POST", path: "/users/2/personal_access_tokens", token: srv.RootToken, body: `{"scopes":["api"]}`},
		{name: "missing_scopes", method: "POST", path: "/users/2/personal_access_tokens", token: srv.RootToken, body: `{"name":"x"}`},
		{name: "expires_too_late", method: "POST", path: "/users/2/personal_access_tokens", token: srv.RootToken, body: `{"name":"x","scopes":["api"],"expires_at":"2027-06-16"}`},
		{name: "expires_in_past", method: "POST", path: "/users/2/personal_access_tokens", token: srv.RootToken, body: `{"name":"x","scopes":["api"],"expires_at":"2026-06-15"}`},
		{name: "expires_not_a_date", method: "POST", path: "/users/2/personal_access_tokens", token: srv.RootToken, body: `{"name":"x","scopes":["api"],"expires_at":"soon"}`},
		{name: "body_too_large", method: "POST", path: "/users/2/personal_access_tokens", token: srv.RootToken, body: big},
		{name: "sudo_not_admin", method: "GET", path: "/user", token: aliceAPI, header: map[string]string{"Sudo": "root"}},
		{name: "sudo_without_scope", method: "GET", path: "/user", token: srv.Token(t, 1, "nosudo", keygate.ScopeAPI), header: map[string]string{"Sudo": "alice"}},
		{name: "sudo_unknown_user", method: "GET", path: "/user", token: srv.RootToken, header: map[string]string{"Sudo": "nobody"}},
		{name: "admin_missing_token", method: "GET", path: "/personal_access_tokens/999", token: srv.RootToken},
		{name: "user_missing_token", method: "GET", path: "/personal_access_tokens/999", token: aliceAPI},
		{name: "revoke_missing_token", method: "DELETE", path: "/personal_access_tokens/999", token: aliceAPI},
		{name: "revoke_others_token", method: "DELETE", path: "/personal_access_tokens/1", token: aliceAPI},
		{name: "rotate_others_token", method: "POST", path: "/personal_access_tokens/1/rotate", token: aliceAPI},
		{name: "rotate_admin_missing", method: "POST", path: "/personal_access_tokens/999/rotate", token: srv.RootToken},
		{name: "non_admin_create_user", method: "POST", path: "/users", token: aliceAPI, body: `{"email":"e@example.com","username":"e","name":"E","password":"12345678xx"}`},
		{name: "create_user_taken_username", method: "POST", path: "/users", token: srv.RootToken, body: `{"email":"new@example.com","username":"ALICE","name":"E","password":"12345678xx"}`},
		{name: "create_user_short_password", method: "POST", path: "/users", token: srv.RootToken, body: `{"email":"new@example.com","username":"newbie","name":"E","password":"short"}`},
		{name: "create_user_missing_email", method: "POST", path: "/users", token: srv.RootToken, body: `{"username":"newbie","name":"E"}`},
		{name: "missing_user", method: "GET", path: "/users/999", token: aliceAPI},
		{name: "token_for_missing_user", method: "POST", path: "/users/999/personal_access_tokens", token: srv.RootToken, body: `{"name":"x","scopes":["api"]}`},
		{name: "non_admin_token_for_other", method: "POST", path: "/users/1/personal_access_tokens", token: aliceAPI, body: `{"name":"x","scopes":["api"]}`},
		{name: "list_others_tokens", method: "GET", path: "/personal_access_tokens?user_id=1", token: aliceAPI},
		{name: "list_bad_user_id", method: "GET", path: "/personal_access_tokens?user_id=abc", token: aliceAPI},
		{name: "settings_non_admin", method: "GET", path: "/application/settings", token: aliceAPI},
		{name: "settings_bad_lifetime", method: "PUT", path: "/application/settings", token: srv.RootToken, body: `{"max_personal_access_token_lifetime":401}`},
		{name: "version", method: "GET", path: "/version", token: readUser},
		{name: "form_body_create", method: "POST", path: "/users/2/personal_access_tokens", token: srv.RootToken, body: "name=form&scopes[]=read_api&scopes[]=read_user&expires_at=2026-12-01", ctype: "application/x-www-form-urlencoded", mutates: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, srv)
			got := doGolden(t, srv, c)
			if !c.mutates {
				if after := snapshot(t, srv); !reflect.DeepEqual(before, after) {
					t.Errorf("%s %s changed state:\nbefore %+v\nafter  %+v", c.method, c.path, before, after)
				}
			}
			checkGolden(t, c.name, got)
		})
	}

	srv.Clock.Set(keygatetest.Start.AddDate(0, 0, 31)) // past the 30-day test tokens
	t.Run("expired_token", func(t *testing.T) {
		checkGolden(t, "expired_token", doGolden(t, srv, goldenCase{method: "GET", path: "/user", token: expired}))
	})
	if err := srv.Service.Revoke(ctx, authz.SystemSubject(), expiredID); err != nil {
		t.Fatal(err)
	}
	t.Run("expired_and_revoked_reports_expired", func(t *testing.T) {
		checkGolden(t, "expired_token", doGolden(t, srv, goldenCase{method: "GET", path: "/user", token: expired}))
	})
}

func doGolden(t *testing.T, srv *keygatetest.Server, c goldenCase) goldenResult {
	t.Helper()
	req, err := http.NewRequest(c.method, srv.API+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("PRIVATE-TOKEN", c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if c.body != "" {
		ct := c.ctype
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := json.RawMessage(bytes.TrimSpace(b))
	if len(body) == 0 {
		body = json.RawMessage("null")
	}
	return goldenResult{Status: resp.StatusCode, WWWAuthenticate: resp.Header.Get("WWW-Authenticate"), ContentType: resp.Header.Get("Content-Type"), Body: body}
}

func checkGolden(t *testing.T, name string, got goldenResult) {
	t.Helper()
	var norm any
	if err := json.Unmarshal(got.Body, &norm); err != nil {
		t.Fatalf("body is not JSON: %s", got.Body)
	}
	norm = scrub(norm)
	nb, _ := json.Marshal(norm)
	got.Body = nb
	out, _ := json.MarshalIndent(got, "", "  ")
	out = append(out, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if string(want) != string(out) {
		t.Errorf("%s mismatch:\ngot  %s\nwant %s", name, out, want)
	}
}

// scrub replaces values that differ per run (ids of fresh rows, secrets, times).
func scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch k {
			case "token", "created_at", "revision", "request_id":
				x[k] = "<" + k + ">"
			default:
				x[k] = scrub(val)
			}
		}
	case []any:
		for i := range x {
			x[i] = scrub(x[i])
		}
	}
	return v
}

func forged() string {
	// A well-formed token no store knows (checksum valid).
	return mustGenerate()
}
