package api_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// introspect posts token to base's /oauth/introspect with the caller's headers.
func introspect(t *testing.T, base string, header map[string]string, form url.Values) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/oauth/introspect", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body, strings.TrimSpace(string(raw))
}

func bearerHeader(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

func TestIntrospectActive(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	caller := bearerHeader(w.Tokens["introspect"])
	cases := []struct {
		name, token, tokenType, kgType, scope, username string
	}{
		{"personal", w.Tokens["dev"], "personal_access_token", "personal", "api", "dev"},
		{"read_api", w.Tokens["dev_read_api"], "personal_access_token", "personal", "read_api", "dev"},
		{"impersonation", w.Tokens["impersonation"], "impersonation_token", "impersonation", "api", "dev"},
		{"project", w.Tokens["project"], "project_access_token", "project", "api", ""},
		{"group", w.Tokens["group"], "group_access_token", "group", "api", ""},
		{"service account", w.Tokens["service_account"], "personal_access_token", "service_account", "api", ""},
		{"job", w.Tokens["job"], "ci_job_token", "job", "", "dev"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, raw := introspect(t, srv.URL, caller, url.Values{"token": {tc.token}, "token_type_hint": {"access_token"}})
			if status != 200 || body["active"] != true {
				t.Fatalf("introspect = %d %s, want active", status, raw)
			}
			if body["token_type"] != tc.tokenType || body["keygate_token_type"] != tc.kgType || body["scope"] != tc.scope {
				t.Errorf("introspect = %s, want token_type %s, keygate_token_type %s, scope %q", raw, tc.tokenType, tc.kgType, tc.scope)
			}
			if tc.username != "" && body["username"] != tc.username {
				t.Errorf("username = %v, want %s", body["username"], tc.username)
			}
			for _, f := range []string{"sub", "exp", "iat", "keygate_token_id"} {
				if _, ok := body[f]; !ok {
					t.Errorf("introspect lacks %s: %s", f, raw)
				}
			}
		})
	}
	// The personal token in detail: sub is the user ID, exp the start of the expiry date.
	_, body, _ := introspect(t, srv.URL, caller, url.Values{"token": {w.Tokens["dev"]}})
	p, err := srv.Service.Authenticate(context.Background(), service.Credential{Token: w.Tokens["dev"]})
	if err != nil {
		t.Fatal(err)
	}
	if body["sub"] != jsonID(w.Users["dev"].ID) {
		t.Errorf("sub = %v, want %d", body["sub"], w.Users["dev"].ID)
	}
	if body["exp"] != float64(p.Token.ExpiresAt.Start().Unix()) || body["iat"] != float64(p.Token.CreatedAt.Unix()) ||
		body["keygate_token_id"] != float64(p.Token.ID) {
		t.Errorf("introspect = %v, want exp %d iat %d id %d", body, p.Token.ExpiresAt.Start().Unix(), p.Token.CreatedAt.Unix(), p.Token.ID)
	}
}

// TestIntrospectFineGrained: a fine-grained token reports its stored scope "granular"
// and its grant in keygate_granular_scopes, in the shape of token objects'
// granular_scopes; a legacy token has no such field.
func TestIntrospectFineGrained(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	caller := bearerHeader(w.Tokens["introspect"])
	fine := w.FineToken(t, "dev",
		service.GranularRequest{Access: keygate.AccessSelectedMemberships, Permissions: []string{"read_project", "read_member"}, GroupIDs: []int64{w.Acme.ID}, ProjectIDs: []int64{w.Ledger.ID}},
		service.GranularRequest{Access: keygate.AccessUser, Permissions: []string{"read_user", "read_personal_access_token"}})
	status, body, raw := introspect(t, srv.URL, caller, url.Values{"token": {fine}})
	if status != 200 || body["active"] != true || body["scope"] != "granular" || body["username"] != "dev" ||
		body["token_type"] != "personal_access_token" || body["keygate_token_type"] != "personal" {
		t.Fatalf("introspect fine-grained = %d %s, want active, scope granular, dev's personal token", status, raw)
	}
	// The grant exactly as the token's own object lists it.
	req, _ := http.NewRequest("GET", srv.API+"/personal_access_tokens/self", nil)
	req.Header.Set("Private-Token", fine)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var self struct {
		GranularScopes json.RawMessage `json:"granular_scopes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&self); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET self = %d %v", resp.StatusCode, err)
	}
	got, _ := json.Marshal(body["keygate_granular_scopes"])
	var want any
	_ = json.Unmarshal(self.GranularScopes, &want)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("keygate_granular_scopes = %s, want the token object's %s", got, wantJSON)
	}
	wantGrant := `[{"access":"selected_memberships","group_id":null,"permissions":["read_project","read_member"],"project_id":` + jsonID(w.Ledger.ID) + `},` +
		`{"access":"selected_memberships","group_id":` + jsonID(w.Acme.ID) + `,"permissions":["read_project","read_member"],"project_id":null},` +
		`{"access":"user","group_id":null,"permissions":["read_user","read_personal_access_token"],"project_id":null}]`
	if string(got) != wantGrant {
		t.Errorf("keygate_granular_scopes = %s, want %s", got, wantGrant)
	}
	if _, body, raw := introspect(t, srv.URL, caller, url.Values{"token": {w.Tokens["dev"]}}); body["keygate_granular_scopes"] != nil || strings.Contains(raw, "granular") {
		t.Errorf("legacy token introspection = %s, want no grant", raw)
	}
}

func jsonID(id int64) string { b, _ := json.Marshal(id); return string(b) }

func TestIntrospectInactive(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	ctx := context.Background()
	blocked := srv.User(t, "blocky", false)
	blockedTok := srv.Token(t, blocked.ID, "b", keygate.ScopeAPI)
	if _, err := srv.Service.SetUserState(ctx, authz.SystemSubject(), blocked.ID, service.ActionBlock); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"unknown": mustGenerate(), "malformed": "glpat-nope", "garbage": "not a token at all",
		"expired": w.Tokens["expired"], "revoked": w.Tokens["revoked"], "blocked owner": blockedTok,
		"unknown job token": "glcbt-" + strings.Repeat("x", 30),
	}
	caller := bearerHeader(w.Tokens["introspect"])
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			status, _, raw := introspect(t, srv.URL, caller, url.Values{"token": {tok}})
			if status != 200 || raw != `{"active":false}` {
				t.Errorf("introspect(%s) = %d %s, want exactly {\"active\":false}", name, status, raw)
			}
		})
	}
	// A finished job's token is inactive.
	src, err := srv.Service.Project(ctx, "acme/billing/ledger")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := srv.Service.ProjectAccess(ctx, authz.SystemSubject(), src)
	jp, err := srv.Service.AuthenticateJob(ctx, w.Tokens["job"], "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Service.FinishJob(ctx, authz.SystemSubject(), src, res, jp.Job.ID, keygate.JobSuccess); err != nil {
		t.Fatal(err)
	}
	if _, _, raw := introspect(t, srv.URL, caller, url.Values{"token": {w.Tokens["job"]}}); raw != `{"active":false}` {
		t.Errorf("finished job = %s, want inactive", raw)
	}
	// Introspection never counts toward the caller's failed-authentication ban.
	if srv.Service.CheckBanned("127.0.0.1") != nil {
		t.Error("introspecting bad tokens banned the caller")
	}
}

func TestIntrospectCaller(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	form := url.Values{"token": {w.Tokens["dev"]}}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("gateway:"+w.Tokens["introspect"]))
	cases := []struct {
		name   string
		header map[string]string
		status int
		body   string
	}{
		{"no caller token", nil, 401, `{"message":"401 Unauthorized"}`},
		{"bad caller token", bearerHeader("glpat-nope"), 401, `{"message":"401 Unauthorized"}`},
		{"revoked caller token", bearerHeader(w.Tokens["revoked"]), 401, `"error":"invalid_token"`},
		{"api scope is not enough", bearerHeader(w.Tokens["root"]), 401, `"scope":"introspect"`},
		{"sudo does not imply introspect", map[string]string{"Private-Token": srv.RootToken, "Sudo": "dev"}, 401, `"error":"insufficient_scope"`},
		{"private-token header", map[string]string{"Private-Token": w.Tokens["introspect"]}, 200, `"active":true`},
		{"basic client credentials", map[string]string{"Authorization": basic}, 200, `"active":true`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, raw := introspect(t, srv.URL, tc.header, form)
			if status != tc.status || !strings.Contains(raw, tc.body) {
				t.Errorf("introspect = %d %s, want %d with %s", status, raw, tc.status, tc.body)
			}
			if status != 200 && strings.Contains(raw, "active") {
				t.Errorf("a refused caller learned about the token: %s", raw)
			}
		})
	}
	// The RFC 6750 challenge names the missing scope.
	req0, _ := http.NewRequest("POST", srv.URL+"/oauth/introspect", strings.NewReader(form.Encode()))
	req0.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req0.Header.Set("Authorization", "Bearer "+w.Tokens["root"])
	resp0, err := http.DefaultClient.Do(req0)
	if err != nil {
		t.Fatal(err)
	}
	resp0.Body.Close()
	if got := resp0.Header.Get("WWW-Authenticate"); got != `Bearer realm="keygate", error="insufficient_scope", scope="introspect"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	// Bad requests: 400 and nothing learned.
	caller := bearerHeader(w.Tokens["introspect"])
	if status, _, raw := introspect(t, srv.URL, caller, url.Values{}); status != 400 || !strings.Contains(raw, "invalid_request") {
		t.Errorf("no token field = %d %s, want 400 invalid_request", status, raw)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/oauth/introspect", strings.NewReader(`{"token":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.Tokens["introspect"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("JSON body = %d, want 400", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/oauth/introspect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 && resp.StatusCode != 405 {
		t.Errorf("GET /oauth/introspect = %d, want 404 or 405", resp.StatusCode)
	}
}

func TestIntrospectRateLimited(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	h := api.New(api.Config{Service: srv.Service, IntrospectLimit: service.RateLimit{Requests: 3, Window: time.Minute}}).IntrospectHandler()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	form := url.Values{"token": {w.Tokens["dev"]}}
	other := srv.Token(t, 1, "introspect-2", keygate.ScopeIntrospect)
	for i := range 3 {
		if status, _, raw := introspect(t, hs.URL, bearerHeader(w.Tokens["introspect"]), form); status != 200 {
			t.Fatalf("request %d = %d %s", i, status, raw)
		}
	}
	req, _ := http.NewRequest("POST", hs.URL+"/oauth/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+w.Tokens["introspect"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the budget = %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Per caller: another token still has its budget; the window reopens on the clock.
	if status, _, _ := introspect(t, hs.URL, bearerHeader(other), form); status != 200 {
		t.Errorf("other caller = %d, want 200", status)
	}
	srv.Clock.Advance(time.Minute)
	if status, _, _ := introspect(t, hs.URL, bearerHeader(w.Tokens["introspect"]), form); status != 200 {
		t.Errorf("after the window = %d, want 200", status)
	}
}

func TestIntrospectScopeOnlyFromAdmins(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	post := func(tok, path, body string) (int, string) {
		req, _ := http.NewRequest("POST", srv.API+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Private-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	body := `{"name":"gw","scopes":["introspect"],"expires_at":"2026-07-30"}`
	if status, raw := post(w.Tokens["dev"], "/user/personal_access_tokens", body); status != 400 {
		t.Errorf("self-created introspect token = %d %s, want 400", status, raw)
	}
	owner := srv.Token(t, w.Users["owner"].ID, "owner-api", keygate.ScopeAPI)
	if status, raw := post(owner, "/groups/"+jsonID(w.Billing.ID)+"/access_tokens", body); status != 400 {
		t.Errorf("group owner's introspect bot = %d %s, want 400", status, raw)
	}
	sa, err := srv.Service.CreateServiceAccount(context.Background(), authz.SystemSubject(), w.Acme.ID, service.ServiceAccountInput{})
	if err != nil {
		t.Fatal(err)
	}
	if status, raw := post(owner, "/groups/"+jsonID(w.Acme.ID)+"/service_accounts/"+jsonID(sa.ID)+"/personal_access_tokens", body); status != 400 {
		t.Errorf("group owner's introspect service-account token = %d %s, want 400", status, raw)
	}
	// The service refuses any non-admin actor, whatever the transport.
	_, err = srv.Service.CreatePersonalToken(context.Background(), authz.Subject{User: w.Users["dev"]}, w.Users["dev"].ID,
		service.TokenInput{Name: "x", Scopes: keygate.Scopes{keygate.ScopeIntrospect}})
	if keygate.ErrorCode(err) != keygate.CodeInvalid || !strings.Contains(err.Error(), "administrator") {
		t.Errorf("CreatePersonalToken(introspect) by a user = %v, want invalid", err)
	}
	// An administrator grants it to anyone, typically a service account.
	if status, raw := post(srv.RootToken, "/users/"+jsonID(sa.ID)+"/personal_access_tokens", body); status != 201 || !strings.Contains(raw, `"introspect"`) {
		t.Errorf("admin-created introspect token = %d %s, want 201", status, raw)
	}
}

func TestRevocationStream(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	get := func(tok string) *http.Response {
		req, _ := http.NewRequest("GET", srv.API+"/keygate/revocations/stream", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := get(w.Tokens["root"]); resp.StatusCode != 403 {
		t.Errorf("stream with an api token = %d, want 403", resp.StatusCode)
		resp.Body.Close()
	} else {
		resp.Body.Close()
	}
	resp := get(w.Tokens["introspect"])
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
		close(events)
	}()
	next := func() string {
		select {
		case ev := <-events:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5 s")
			return ""
		}
	}
	if ev := next(); ev != "ready" {
		t.Fatalf("first event = %q, want ready", ev)
	}
	start := time.Now()
	if err := srv.Service.Revoke(context.Background(), authz.SystemSubject(), w.TokenIDs["dev"]); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev != "revocation" {
		t.Fatalf("after a revocation = %q, want revocation", ev)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("revocation event after %v, want within 1 s", d)
	}
	// The stream's own token revoked: it ends.
	if err := srv.Service.Revoke(context.Background(), authz.SystemSubject(), w.TokenIDs["introspect"]); err != nil {
		t.Fatal(err)
	}
	for ev := range events {
		if ev != "revocation" {
			t.Errorf("unexpected event %q", ev)
		}
	}
}
