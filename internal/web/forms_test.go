package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// wantFieldError checks that a page refused a form with msg beside the field.
func wantFieldError(t *testing.T, p response, status int, field, msg string) {
	t.Helper()
	if p.status != status {
		t.Errorf("status %d, want %d", p.status, status)
	}
	want := `id="` + field + `-error">` + html.EscapeString(msg)
	if field == "" {
		want = `id="form-error">` + html.EscapeString(msg)
	}
	if !strings.Contains(p.body, want) {
		t.Errorf("page lacks %q beside %q:\n%s", msg, field, excerpt(p.body))
	}
}

func excerpt(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if len(body) > 2500 {
		body = body[:2500]
	}
	return body
}

func tokenCount(t *testing.T, s *keygatetest.Server, userID int64, state string) int {
	t.Helper()
	_, n, err := s.Service.Tokens(context.Background(), authz.SystemSubject(), store.TokenFilter{UserID: userID, State: state, Page: store.Page{Number: 1, Size: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSecurityHeaders(t *testing.T) {
	s := keygatetest.NewServer(t)
	user(t, s, "alice", false)
	anon := newClient(t, s)
	signed := newClient(t, s)
	signed.signIn("alice", testPassword)
	for _, c := range []struct {
		name string
		c    *client
		path string
	}{
		{"root signed out", anon, "/"},
		{"sign-in page", anon, "/users/sign_in"},
		{"dashboard", signed, "/"},
		{"tokens page", signed, "/-/user_settings/personal_access_tokens"},
		{"hidden admin page", signed, "/admin/credentials"},
		{"missing project page", signed, "/nope/nope/-/project_members"},
		{"stylesheet", anon, "/assets/keygate.css"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.c.get(c.path)
			if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("GET %s: CSP %q", c.path, csp)
			}
			if got := p.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", c.path, got)
			}
		})
	}
	if p := anon.get("/"); p.status != http.StatusFound || p.header.Get("Location") != "/users/sign_in" {
		t.Errorf("GET / signed out = %d to %q, want 302 to /users/sign_in", p.status, p.header.Get("Location"))
	}
	if p := signed.get("/-/user_settings/personal_access_tokens"); p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("tokens page Cache-Control %q, want no-store", p.header.Get("Cache-Control"))
	}
}

// TestRoutesKeepTheirOwners: the UI does not shadow the API, health or unknown paths.
func TestRoutesKeepTheirOwners(t *testing.T) {
	s := keygatetest.NewServer(t)
	c := newClient(t, s)
	for path, want := range map[string]string{
		"/api/v4/nope":      `{"error":"404 Not Found"}`,
		"/-/health":         "GitLab OK",
		"/some/where":       `{"error":"404 Not Found"}`,
		"/some/where/-/odd": `{"error":"404 Not Found"}`,
		"/api/v4/version":   `"message":"401 Unauthorized"`,
	} {
		if p := c.get(path); !strings.Contains(p.body, want) {
			t.Errorf("GET %s = %d %q, want %q", path, p.status, p.body, want)
		}
	}
	project(t, s, "web", keygate.User{}, 0)
	if p := c.get("/root/web.git/info/refs?service=git-upload-pack"); p.status != http.StatusUnauthorized || strings.Contains(p.body, "<html") {
		t.Errorf("Git path = %d %q, want Git's 401", p.status, p.body)
	}
}

func TestSignInErrors(t *testing.T) {
	s := keygatetest.NewServer(t)
	user(t, s, "alice", false)
	blocked := user(t, s, "blocked", false)
	if _, err := s.Service.SetUserState(context.Background(), authz.SystemSubject(), blocked.ID, service.ActionBlock); err != nil {
		t.Fatal(err)
	}
	s.User(t, "nopass", false)
	cases := []struct {
		name, login, pw string
		status          int
		field, msg      string
	}{
		{"blank login", "", "x", 422, "login", "Login can't be blank"},
		{"blank password", "alice", "", 422, "password", "Password can't be blank"},
		{"wrong password", "alice", "wrong-password", 401, "login", service.MsgInvalidLogin},
		{"unknown user", "nobody", testPassword, 401, "login", service.MsgInvalidLogin},
		{"user without a password", "nopass", testPassword, 401, "login", service.MsgInvalidLogin},
		{"blocked user", "blocked", testPassword, 401, "login", service.MsgAccountBlocked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := newClient(t, s)
			p := cl.post("/users/sign_in", "/users/sign_in", url.Values{"login": {c.login}, "password": {c.pw}})
			wantFieldError(t, p, c.status, c.field, c.msg)
			if cl.cookie("_keygate_session") != "" {
				t.Error("a refused sign-in set a session cookie")
			}
		})
	}
	t.Run("missing CSRF token", func(t *testing.T) {
		cl := newClient(t, s)
		p := cl.do("POST", "/users/sign_in", url.Values{"login": {"alice"}, "password": {testPassword}})
		wantFieldError(t, p, 422, "", "Invalid authenticity token: reload the page and sign in again.")
		if cl.cookie("_keygate_session") != "" {
			t.Error("sign-in without a CSRF token set a session")
		}
	})
	t.Run("redirect stays on the site", func(t *testing.T) {
		cl := newClient(t, s)
		for _, to := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
			p := cl.post("/users/sign_in", "/users/sign_in", url.Values{"login": {"alice"}, "password": {testPassword}, "redirect_to": {to}})
			if loc := p.header.Get("Location"); loc != "/" {
				t.Errorf("redirect_to %q: Location %q, want /", to, loc)
			}
			cl = newClient(t, s)
		}
		p := cl.post("/users/sign_in", "/users/sign_in", url.Values{"login": {"alice@example.com"}, "password": {testPassword}, "redirect_to": {"/-/user_settings/password/edit"}})
		if loc := p.header.Get("Location"); loc != "/-/user_settings/password/edit" {
			t.Errorf("sign in by email with a local redirect: %d to %q", p.status, loc)
		}
	})
}

// TestSignInLock: ten wrong passwords lock the account for ten minutes (GitLab's
// default), the right password included; the lock runs out on the service clock.
func TestSignInLock(t *testing.T) {
	s := keygatetest.NewServer(t)
	user(t, s, "alice", false)
	cl := newClient(t, s)
	for i := range service.SignInMaxAttempts {
		login := "alice"
		if i%2 == 1 {
			login = "Alice@example.com" // the e-mail counts towards the same account
		}
		cl.post("/users/sign_in", "/users/sign_in", url.Values{"login": {login}, "password": {"wrong"}})
	}
	p := cl.post("/users/sign_in", "/users/sign_in", url.Values{"login": {"alice"}, "password": {testPassword}})
	wantFieldError(t, p, 401, "login", service.MsgAccountLocked)
	s.Clock.Advance(service.SignInLockTime)
	cl.signIn("alice", testPassword)
}

// TestSignInBan: failed sign-ins feed the per-address ban the API uses.
func TestSignInBan(t *testing.T) {
	s := keygatetest.NewServerWith(t, keygatetest.Options{Ban: &service.BanConfig{MaxRetry: 3, FindTime: time.Minute, BanTime: time.Hour}})
	user(t, s, "alice", false)
	cl := newClient(t, s)
	for _, login := range []string{"a", "b", "c"} {
		cl.post("/users/sign_in", "/users/sign_in", url.Values{"login": {login}, "password": {"wrong"}})
	}
	p := cl.post("/users/sign_in", "/users/sign_in", url.Values{"login": {"alice"}, "password": {testPassword}})
	wantFieldError(t, p, 429, "login", "Too many failed sign-in attempts from your address. Try again in 60 minutes.")
}

// TestSignInEndsPresentedSession: a live session ID present at sign-in (a planted one)
// is ended, and the browser gets a new ID.
func TestSignInEndsPresentedSession(t *testing.T) {
	s := keygatetest.NewServer(t)
	user(t, s, "alice", false)
	user(t, s, "mallory", false)
	mallory := newClient(t, s)
	mallory.signIn("mallory", testPassword)
	planted := mallory.cookie("_keygate_session")

	victim := newClient(t, s)
	tok := victim.csrf("/users/sign_in")
	p := victim.do("POST", "/users/sign_in", url.Values{"login": {"alice"}, "password": {testPassword}, "authenticity_token": {tok}},
		"Cookie", "_keygate_session="+planted+"; _keygate_sign_in="+tok)
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign in = %d", p.status)
	}
	var fresh *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "_keygate_session" {
			fresh = c
		}
	}
	if fresh == nil || fresh.Value == planted || !fresh.HttpOnly || fresh.SameSite != http.SameSiteLaxMode || fresh.Secure {
		t.Fatalf("session cookie %+v: want a new HttpOnly SameSite=Lax ID (not Secure over HTTP)", fresh)
	}
	if p := mallory.get("/"); p.status != http.StatusFound {
		t.Errorf("the planted session after the victim's sign-in = %d, want 302 (ended)", p.status)
	}
	https := newClient(t, s)
	tok = https.csrf("/users/sign_in")
	p = https.do("POST", "/users/sign_in", url.Values{"login": {"alice"}, "password": {testPassword}, "authenticity_token": {tok}},
		"Cookie", "_keygate_sign_in="+tok, "X-Forwarded-Proto", "https")
	if !strings.Contains(p.header.Get("Set-Cookie"), "Secure") {
		t.Errorf("behind HTTPS the session cookie is not Secure: %q", p.header.Get("Set-Cookie"))
	}
}

func TestSignOutAndBlockEndSessions(t *testing.T) {
	s := keygatetest.NewServer(t)
	alice := user(t, s, "alice", false)
	c := newClient(t, s)
	c.signIn("alice", testPassword)
	if p := c.do("POST", "/users/sign_out", url.Values{"authenticity_token": {"wrong"}}); p.status != 422 {
		t.Errorf("sign out with a wrong CSRF token = %d, want 422", p.status)
	}
	if p := c.get("/"); p.status != 200 {
		t.Fatalf("still signed in after a refused sign-out: %d", p.status)
	}
	old := c.cookie("_keygate_session")
	p := c.post("/", "/users/sign_out", url.Values{})
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign out = %d", p.status)
	}
	replay := newClient(t, s)
	if p := replay.do("GET", "/", nil, "Cookie", "_keygate_session="+old); p.status != http.StatusFound {
		t.Errorf("the signed-out session ID still works: %d", p.status)
	}

	c.signIn("alice", testPassword)
	if _, err := s.Service.SetUserState(context.Background(), authz.SystemSubject(), alice.ID, service.ActionBlock); err != nil {
		t.Fatal(err)
	}
	if p := c.get("/-/user_settings/personal_access_tokens"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/users/sign_in") {
		t.Errorf("a blocked user's session = %d %q, want the sign-in redirect", p.status, p.header.Get("Location"))
	}
	if p := c.do("POST", "/-/user_settings/personal_access_tokens", url.Values{"name": {"x"}, "scopes": {"api"}}); p.status != http.StatusUnauthorized {
		t.Errorf("a form without a session = %d, want 401", p.status)
	}
	if n := tokenCount(t, s, alice.ID, ""); n != 0 {
		t.Errorf("%d tokens after refused forms, want 0", n)
	}
}

func TestPasswordChange(t *testing.T) {
	s := keygatetest.NewServer(t)
	user(t, s, "alice", false)
	c := newClient(t, s)
	c.signIn("alice", testPassword)
	other := newClient(t, s)
	other.signIn("alice", testPassword)
	const page = "/-/user_settings/password/edit"
	for _, tc := range []struct {
		name, cur, pw, confirm, field, msg string
	}{
		{"wrong current password", "nope", "new password 1", "new password 1", "current_password", service.MsgBadCurrentPass},
		{"too short", testPassword, "short", "short", "password", "Password is too short (minimum is 8 characters)"},
		{"confirmation differs", testPassword, "new password 1", "new password 2", "password_confirmation", "Password confirmation doesn't match Password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.post(page, "/-/user_settings/password", url.Values{"current_password": {tc.cur}, "password": {tc.pw}, "password_confirmation": {tc.confirm}})
			wantFieldError(t, p, 422, tc.field, tc.msg)
		})
	}
	if p := other.get("/"); p.status != 200 {
		t.Fatal("a refused password change ended a session")
	}
	p := c.post(page, "/-/user_settings/password", url.Values{"current_password": {testPassword}, "password": {"new password 1"}, "password_confirmation": {"new password 1"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("change password = %d\n%s", p.status, excerpt(p.body))
	}
	if p := c.get(page + "?notice=password_updated"); p.status != 200 || !strings.Contains(p.body, "Password was successfully updated.") {
		t.Errorf("this browser after the change: %d", p.status)
	}
	if p := other.get("/"); p.status != http.StatusFound {
		t.Errorf("another session after the change = %d, want ended", p.status)
	}
	newClient(t, s).signIn("alice", "new password 1")
}

func TestPersonalTokenFormErrors(t *testing.T) {
	s := keygatetest.NewServer(t)
	alice := user(t, s, "alice", false)
	c := newClient(t, s)
	c.signIn("alice", testPassword)
	const pats = "/-/user_settings/personal_access_tokens"
	today := keygate.DateOf(s.Clock.Now())
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		msg   string
	}{
		{"blank name", url.Values{"name": {" "}, "scopes": {"api"}}, "name", "Name can't be blank"},
		{"no scopes", url.Values{"name": {"x"}}, "scopes", "Select at least one scope"},
		{"unknown scope", url.Values{"name": {"x"}, "scopes": {"everything"}}, "scopes", `Scope "everything" cannot be given to this token`},
		{"admin scope", url.Values{"name": {"x"}, "scopes": {"sudo"}}, "scopes", `Scope "sudo" cannot be given to this token`},
		{"not a date", url.Values{"name": {"x"}, "scopes": {"api"}, "expires_at": {"next week"}}, "expires_at", "Expiration date must be a date such as 2026-07-31"},
		{"date today", url.Values{"name": {"x"}, "scopes": {"api"}, "expires_at": {today.String()}}, "expires_at", service.MsgExpiryInPast},
		{"beyond the maximum", url.Values{"name": {"x"}, "scopes": {"api"}, "expires_at": {today.AddDays(366).String()}}, "expires_at", "Expires at must be before " + today.AddDays(365).String()},
		{"description too long", url.Values{"name": {"x"}, "scopes": {"api"}, "description": {strings.Repeat("d", 256)}}, "description", "Description is too long (maximum is 255 characters)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.post(pats, pats, tc.form)
			wantFieldError(t, p, 422, tc.field, tc.msg)
			if strings.Contains(p.body, `id="created-token"`) {
				t.Error("a refused form shows a token")
			}
		})
	}
	if n := tokenCount(t, s, alice.ID, ""); n != 0 {
		t.Fatalf("%d tokens after refused forms, want 0", n)
	}
	if p := c.do("POST", pats, url.Values{"name": {"x"}, "scopes": {"api"}}); p.status != 422 || tokenCount(t, s, alice.ID, "") != 0 {
		t.Errorf("create without a CSRF token = %d", p.status)
	}

	p := c.post(pats, pats, url.Values{"name": {"ok"}, "scopes": {"api"}, "expires_at": {""}})
	if p.status != 201 || createdToken(p.body) == "" || p.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create = %d, Cache-Control %q", p.status, p.header.Get("Cache-Control"))
	}
	if !strings.Contains(p.body, today.AddDays(365).String()+" (expires in 365 days)") {
		t.Error("an empty expiry did not get the policy maximum")
	}
	id := tokenID(t, s, alice.ID, "ok", true)
	path := pats + "/" + strconv.FormatInt(id, 10)
	if p := c.do("POST", path+"/revoke", url.Values{"authenticity_token": {"x"}}); p.status != 422 || tokenCount(t, s, alice.ID, "active") != 1 {
		t.Errorf("revoke without the CSRF token = %d", p.status)
	}
	// Someone else's token, and ids that are none.
	bobTok := s.Token(t, user(t, s, "bob", false).ID, "bob", keygate.ScopeAPI)
	bobID := tokenID(t, s, 3, "bob", true)
	for _, bad := range []string{strconv.FormatInt(bobID, 10), "999", "abc", "-1"} {
		if p := c.get(pats + "/" + bad + "/revoke"); p.status != 404 {
			t.Errorf("GET revoke of %s = %d, want 404", bad, p.status)
		}
		if p := c.post(pats, pats+"/"+bad+"/rotate", url.Values{}); p.status != 404 {
			t.Errorf("POST rotate of %s = %d, want 404", bad, p.status)
		}
	}
	if apiStatus(t, s, bobTok) != 200 {
		t.Error("bob's token stopped working")
	}
	if p := c.post(pats, path+"/revoke", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("revoke = %d", p.status)
	}
	p = c.post(pats, path+"/rotate", url.Values{})
	wantFieldError(t, p, 422, "", "Token already revoked")
}

func TestResourceTokenFormErrors(t *testing.T) {
	s := keygatetest.NewServer(t)
	maint := user(t, s, "maint", false)
	dev := user(t, s, "dev", false)
	user(t, s, "stranger", false)
	pid := project(t, s, "web", maint, keygate.Maintainer)
	if st := apiJSON(t, s, "POST", "/projects/"+strconv.FormatInt(pid, 10)+"/members", map[string]any{"user_id": dev.ID, "access_level": 30}, nil); st != 201 {
		t.Fatal(st)
	}
	const page = "/root/web/-/settings/access_tokens"
	for _, who := range []string{"dev", "stranger"} {
		c := newClient(t, s)
		c.signIn(who, testPassword)
		if p := c.get(page); p.status != 404 {
			t.Errorf("%s on the project tokens page = %d, want 404", who, p.status)
		}
	}
	c := newClient(t, s)
	c.signIn("maint", testPassword)
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		msg   string
	}{
		{"role above own", url.Values{"name": {"x"}, "scopes": {"api"}, "access_level": {"50"}}, "access_level", "Choose one of the roles offered: a token's role cannot be above your own"},
		{"unknown role", url.Values{"name": {"x"}, "scopes": {"api"}, "access_level": {"owner"}}, "access_level", "Choose one of the roles offered: a token's role cannot be above your own"},
		{"read_user", url.Values{"name": {"x"}, "scopes": {"read_user"}}, "scopes", `Scope "read_user" cannot be given to this token`},
		{"no scopes", url.Values{"name": {"x"}, "access_level": {"30"}}, "scopes", "Select at least one scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFieldError(t, c.post(page, page, tc.form), 422, tc.field, tc.msg)
		})
	}
	p := c.post(page, page, url.Values{"name": {"ci"}, "scopes": {"read_api"}})
	if p.status != 201 || !strings.Contains(p.body, "Maintainer") {
		t.Fatalf("create with the default role = %d", p.status)
	}
	tok := createdToken(p.body)
	members := c.get("/root/web/-/project_members")
	if !strings.Contains(members.body, `<span class="badge bot">Bot</span>`) {
		t.Error("members page does not mark the bot")
	}
	ts, _, _ := s.Service.Tokens(context.Background(), authz.SystemSubject(), store.TokenFilter{OwnerType: keygate.UserProjectBot, Page: store.Page{Number: 1, Size: 10}})
	if len(ts) != 1 {
		t.Fatalf("%d project tokens, want 1", len(ts))
	}
	base := page + "/" + strconv.FormatInt(ts[0].ID, 10)
	if p := c.post(page, base+"/rotate", url.Values{}); p.status != 200 || createdToken(p.body) == "" {
		t.Fatalf("rotate = %d", p.status)
	}
	if tokenStatus(t, s, tok, "/projects/"+strconv.FormatInt(pid, 10)) != 401 {
		t.Error("the rotated-away project token still works")
	}
}

func TestGroupPagesAndServiceAccounts(t *testing.T) {
	s := keygatetest.NewServer(t)
	owner := user(t, s, "owner", false)
	maint := user(t, s, "maint", false)
	gid := group(t, s, "team", owner, keygate.Owner)
	if st := apiJSON(t, s, "POST", "/groups/"+strconv.FormatInt(gid, 10)+"/members", map[string]any{"user_id": maint.ID, "access_level": 40}, nil); st != 201 {
		t.Fatal(st)
	}
	m := newClient(t, s)
	m.signIn("maint", testPassword)
	for _, path := range []string{"/groups/team/-/settings/access_tokens", "/groups/team/-/settings/service_accounts", "/groups/nope/-/group_members"} {
		if p := m.get(path); p.status != 404 {
			t.Errorf("maintainer GET %s = %d, want 404", path, p.status)
		}
	}
	if p := m.get("/groups/team/-/group_members"); p.status != 200 || !strings.Contains(p.body, "@owner") {
		t.Errorf("group members for a maintainer = %d", p.status)
	}
	c := newClient(t, s)
	c.signIn("owner", testPassword)
	const sa = "/groups/team/-/settings/service_accounts"
	if p := c.post(sa, sa, url.Values{"username": {"bad name!"}}); p.status != 422 || !strings.Contains(p.body, `id="username-error"`) {
		t.Errorf("bad username = %d", p.status)
	}
	if p := c.post(sa, sa, url.Values{"name": {"Deployer"}, "username": {"deployer"}}); p.status != http.StatusSeeOther {
		t.Fatalf("create service account = %d\n%s", p.status, excerpt(p.body))
	}
	// The account's e-mail follows its username, and the service checks it first.
	wantFieldError(t, c.post(sa, sa, url.Values{"username": {"deployer"}}), 422, "email", "Email has already been taken")
	acct, err := s.Service.UserByUsername(context.Background(), "deployer")
	if err != nil {
		t.Fatal(err)
	}
	toks := sa + "/" + strconv.FormatInt(acct.ID, 10) + "/tokens"
	wantFieldError(t, c.post(toks, toks, url.Values{"name": {"x"}}), 422, "scopes", "Select at least one scope")
	p := c.post(toks, toks, url.Values{"name": {"deploy"}, "scopes": {"read_user"}})
	if p.status != 201 || apiStatus(t, s, createdToken(p.body)) != 200 {
		t.Fatalf("service account token = %d", p.status)
	}
	if p := c.get(sa + "/" + strconv.FormatInt(owner.ID, 10) + "/tokens"); p.status != 404 {
		t.Errorf("a human's tokens under service accounts = %d, want 404", p.status)
	}
	if p := c.get("/groups/team/-/settings/access_tokens"); p.status != 200 || !strings.Contains(p.body, `value="50"`) {
		t.Errorf("owner's group token form = %d, want Owner among the roles", p.status)
	}
}

func TestAdminForms(t *testing.T) {
	s := keygatetest.NewServer(t)
	setPassword(t, s, 1, testPassword)
	alice := user(t, s, "alice", false)
	a := newClient(t, s)
	a.signIn("alice", testPassword)
	for _, path := range []string{"/admin", "/admin/users", "/admin/users/root", "/admin/credentials", "/admin/application_settings/general"} {
		if p := a.get(path); p.status != 404 {
			t.Errorf("non-admin GET %s = %d, want 404", path, p.status)
		}
	}
	if p := a.do("POST", "/admin/users", url.Values{"username": {"x"}, "authenticity_token": {a.csrf("/")}}); p.status != 404 {
		t.Errorf("non-admin POST /admin/users = %d, want 404", p.status)
	}
	c := newClient(t, s)
	c.signIn("root", testPassword)
	const users = "/admin/users"
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		msg   string
	}{
		{"blank username", url.Values{"name": {"N"}, "email": {"n@example.com"}}, "username", "Username can't be blank"},
		{"taken username", url.Values{"username": {"alice"}, "name": {"N"}, "email": {"n@example.com"}}, "username", "Username has already been taken"},
		{"bad email", url.Values{"username": {"newbie"}, "name": {"N"}, "email": {"nope"}}, "email", "Email is invalid"},
		{"short password", url.Values{"username": {"newbie"}, "name": {"N"}, "email": {"n@example.com"}, "password": {"short"}}, "password", "Password is too short (minimum is 8 characters)"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantFieldError(t, c.post(users, users, tc.form), 422, tc.field, tc.msg) })
	}
	if p := c.post(users, users, url.Values{"username": {"newbie"}, "name": {"Newbie"}, "email": {"newbie@example.com"}, "password": {"newbie password"}}); p.status != http.StatusSeeOther {
		t.Fatalf("create user = %d", p.status)
	}
	newClient(t, s).signIn("newbie", "newbie password")

	const au = "/admin/users/alice"
	wantFieldError(t, c.post(au, au+"/password", url.Values{"password": {"short"}}), 422, "password", "Password is too short (minimum is 8 characters)")
	wantFieldError(t, c.post(au, "/admin/users/root/block", url.Values{}), 422, "", "The API initiating user cannot be blocked by the API")
	p := c.post(au, au+"/impersonation_tokens", url.Values{"name": {"imp"}, "scopes": {"read_user"}})
	imp := createdToken(p.body)
	if p.status != 201 || apiStatus(t, s, imp) != 200 {
		t.Fatalf("impersonation token = %d", p.status)
	}
	if strings.Contains(a.get("/-/user_settings/personal_access_tokens").body, ">imp<") { // the name cell, not the permission catalogue
		t.Error("the impersonation token is listed among alice's own tokens")
	}
	if p := c.post(au, au+"/block", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("block = %d", p.status)
	}
	if p := a.get("/"); p.status != http.StatusFound {
		t.Errorf("alice's session after the block = %d, want ended", p.status)
	}
	if p := c.post(au, au+"/unblock", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("unblock = %d", p.status)
	}

	const inv = "/admin/credentials"
	for _, tc := range []struct{ query, field, msg string }{
		{"?type=ssh", "type", "Choose one of the listed token types"},
		{"?owner=ghost", "owner", "No user with username ghost"},
		{"?expiring_within=-1", "expiring_within", "Expiring within must be a number of days from 0 to 3650"},
		{"?state=gone", "state", "Choose active, inactive or all"},
		{"?page=0", "page", "Page must be a positive number"},
	} {
		wantFieldError(t, c.get(inv+tc.query), 422, tc.field, tc.msg)
	}
	s.Token(t, alice.ID, "soon", keygate.ScopeAPI) // expires in 30 days
	if p := c.get(inv + "?type=impersonation"); !strings.Contains(p.body, ">imp<") || strings.Contains(p.body, ">soon<") {
		t.Error("type=impersonation does not select impersonation tokens only")
	}
	if p := c.get(inv + "?expiring_within=29"); strings.Contains(p.body, ">soon<") {
		t.Error("expiring_within=29 lists a token expiring in 30 days")
	}
	if p := c.get(inv + "?expiring_within=30&owner=alice"); !strings.Contains(p.body, ">soon<") {
		t.Error("expiring_within=30 misses a token expiring in 30 days")
	}
	id := tokenID(t, s, alice.ID, "imp", true)
	if p := c.do("POST", inv+"/"+strconv.FormatInt(id, 10)+"/revoke", url.Values{}); p.status != 422 || apiStatus(t, s, imp) != 200 {
		t.Errorf("inventory revoke without CSRF = %d", p.status)
	}
	if p := c.post(inv, inv+"/"+strconv.FormatInt(id, 10)+"/revoke", url.Values{}); p.status != http.StatusSeeOther || apiStatus(t, s, imp) != 401 {
		t.Errorf("inventory revoke = %d", p.status)
	}
	if p := c.get(inv + "?state=inactive"); !strings.Contains(p.body, ">imp<") {
		t.Error("state=inactive does not list the revoked token")
	}

	const st = "/admin/application_settings/general"
	base := url.Values{"personal_access_token_prefix": {"glpat-"}, "require_personal_access_token_expiry": {"1"}, "impersonation_enabled": {"1"}, "inactive_resource_access_tokens_delete_after_days": {"30"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range base {
			f[kk] = vv
		}
		f.Set(k, v)
		return f
	}
	wantFieldError(t, c.post(st, st, with("max_personal_access_token_lifetime", "400")), 422, "max_personal_access_token_lifetime", "Maximum allowable lifetime must be a number of days from 1 to 365, or empty for 365")
	wantFieldError(t, c.post(st, st, with("inactive_resource_access_tokens_delete_after_days", "soon")), 422, "inactive_resource_access_tokens_delete_after_days", "Days must be a whole number, 0 to keep inactive tokens' bots")
	p = c.post(st, st, with("personal_access_token_prefix", "bad prefix!"))
	if p.status != 422 || !strings.Contains(p.body, `id="personal_access_token_prefix-error"`) {
		t.Errorf("bad prefix = %d", p.status)
	}
	if got, _ := s.Service.Settings(context.Background()); got.MaxPersonalAccessTokenLifetime != 0 || got.PersonalAccessTokenPrefix != "glpat-" {
		t.Fatalf("refused settings changed something: %+v", got)
	}
	if p := c.post(st, st, with("max_personal_access_token_lifetime", "90")); p.status != http.StatusSeeOther {
		t.Fatalf("save settings = %d\n%s", p.status, excerpt(p.body))
	}
	if got, _ := s.Service.Settings(context.Background()); got.MaxPersonalAccessTokenLifetime != 90 {
		t.Errorf("max lifetime %d, want 90", got.MaxPersonalAccessTokenLifetime)
	}
}

func TestCanIForm(t *testing.T) {
	s := keygatetest.NewServer(t)
	alice := user(t, s, "alice", false)
	s.Token(t, alice.ID, "reader", keygate.ScopeReadUser)
	s.Token(t, user(t, s, "bob", false).ID, "bobs", keygate.ScopeAPI)
	c := newClient(t, s)
	c.signIn("alice", testPassword)
	const page = "/-/user_settings/can_i"
	id := strconv.FormatInt(tokenID(t, s, alice.ID, "reader", true), 10)
	bobID := strconv.FormatInt(tokenID(t, s, 3, "bobs", true), 10)
	wantFieldError(t, c.post(page, page, url.Values{"method": {"GET"}, "path": {"/user"}}), 422, "token_id", "Choose one of your active tokens")
	wantFieldError(t, c.post(page, page, url.Values{"token_id": {id}, "method": {"TRACE"}, "path": {"/user"}}), 422, "method", "Choose a method from the list")
	wantFieldError(t, c.post(page, page, url.Values{"token_id": {id}, "method": {"GET"}, "path": {" "}}), 422, "path", "Path can't be blank")
	wantFieldError(t, c.post(page, page, url.Values{"token_id": {bobID}, "method": {"GET"}, "path": {"/user"}}), 422, "token_id", "Token not found")
	wantFieldError(t, c.post(page, page, url.Values{"token_id": {id}, "method": {"GET"}, "path": {"user"}}), 422, "path", "Path must be a path such as /api/v4/projects/1")

	p := c.post(page, page, url.Values{"token_id": {id}, "method": {"GET"}, "path": {"/api/v4/user"}})
	if p.status != 200 || !strings.Contains(p.body, "<h2>Allowed</h2>") || !strings.Contains(p.body, "GET /api/v4/user") {
		t.Errorf("GET /user with read_user: %d\n%s", p.status, excerpt(p.body))
	}
	p = c.post(page, page, url.Values{"token_id": {id}, "method": {"POST"}, "path": {"/projects"}})
	if !strings.Contains(p.body, "Refused (403)") || !strings.Contains(p.body, "do not include any of") {
		t.Errorf("POST /projects with read_user:\n%s", excerpt(p.body))
	}
	if err := s.Service.Revoke(context.Background(), authz.SystemSubject(), tokenID(t, s, alice.ID, "reader", true)); err != nil {
		t.Fatal(err)
	}
	wantFieldError(t, c.post(page, page, url.Values{"token_id": {id}, "method": {"GET"}, "path": {"/user"}}), 422, "token_id", "The token was revoked: it can do nothing")
}

// TestSessionLifetimeAndReactivation: sessions end after a week on the service clock; a
// deactivated user who signs in is active again (GitLab).
func TestSessionLifetimeAndReactivation(t *testing.T) {
	s := keygatetest.NewServer(t)
	alice := user(t, s, "alice", false)
	c := newClient(t, s)
	c.signIn("alice", testPassword)
	s.Clock.Advance(service.SessionLifetime - time.Second)
	if p := c.get("/"); p.status != 200 {
		t.Fatalf("session just before its end = %d", p.status)
	}
	s.Clock.Advance(time.Second)
	if p := c.get("/"); p.status != http.StatusFound {
		t.Fatalf("session after a week = %d, want 302 to sign in", p.status)
	}
	if _, err := s.Service.SetUserState(context.Background(), authz.SystemSubject(), alice.ID, service.ActionDeactivate); err != nil {
		t.Fatal(err)
	}
	c.signIn("alice", testPassword)
	if u, _ := s.Service.User(context.Background(), alice.ID); u.State != keygate.UserActive {
		t.Errorf("state after sign-in %q, want active", u.State)
	}
}

// TestCrossOriginRefused: an unsafe request marked cross-site by the browser, or from
// another Origin, is refused before the handler runs, valid CSRF token or not.
func TestCrossOriginRefused(t *testing.T) {
	s := keygatetest.NewServer(t)
	alice := user(t, s, "alice", false)
	c := newClient(t, s)
	c.signIn("alice", testPassword)
	const pats = "/-/user_settings/personal_access_tokens"
	tok := c.csrf(pats)
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "http://evil.example"}} {
		p := c.do("POST", pats, url.Values{"name": {"x"}, "scopes": {"api"}, "authenticity_token": {tok}}, hdr...)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "Cross-origin request refused") {
			t.Errorf("POST with %s: %s = %d, want 403", hdr[0], hdr[1], p.status)
		}
	}
	if n := tokenCount(t, s, alice.ID, ""); n != 0 {
		t.Errorf("%d tokens after cross-origin posts, want 0", n)
	}
	if p := c.do("POST", pats, url.Values{"name": {"x"}, "scopes": {"api"}, "authenticity_token": {tok}}, "Sec-Fetch-Site", "same-origin"); p.status != 201 {
		t.Errorf("same-origin POST = %d, want 201", p.status)
	}
}

// TestSessionsAcrossNodes: a session made on one node works on another (the store holds
// it), and signing out on the second ends it on the first.
func TestSessionsAcrossNodes(t *testing.T) {
	a := keygatetest.NewServer(t)
	b := keygatetest.NewServerWith(t, keygatetest.Options{Join: a})
	user(t, a, "alice", false)
	c := newClient(t, a)
	c.signIn("alice", testPassword)
	onB := &client{t: t, base: b.URL, hc: c.hc} // cookies are per host, not per port
	if p := onB.get("/-/user_settings/personal_access_tokens"); p.status != 200 {
		t.Fatalf("node B with node A's session = %d, want 200", p.status)
	}
	sid := c.cookie("_keygate_session")
	if p := onB.post("/", "/users/sign_out", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out on node B = %d", p.status)
	}
	if p := newClient(t, a).do("GET", "/", nil, "Cookie", "_keygate_session="+sid); p.status != http.StatusFound {
		t.Errorf("node A with the session signed out on node B = %d, want 302", p.status)
	}
}

// TestRootInitialPassword: root signs in with the password of first start.
func TestRootInitialPassword(t *testing.T) {
	s := keygatetest.NewServer(t)
	pw, err := os.ReadFile(filepath.Join(s.DataDir, instance.RootPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s)
	c.signIn("root", strings.TrimSpace(string(pw)))
	if p := c.get("/admin/credentials"); p.status != 200 {
		t.Errorf("root's inventory = %d, want 200", p.status)
	}
}

// TestNoSecretsAtRest: a token made in the UI, the session ID and the password reach
// neither the logs nor the database files.
func TestNoSecretsAtRest(t *testing.T) {
	s := keygatetest.NewServer(t)
	user(t, s, "alice", false)
	c := newClient(t, s)
	c.signIn("alice", testPassword)
	const pats = "/-/user_settings/personal_access_tokens"
	tok := createdToken(c.post(pats, pats, url.Values{"name": {"x"}, "scopes": {"api"}}).body)
	if tok == "" {
		t.Fatal("no token created")
	}
	if err := s.Service.FlushUses(context.Background()); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"token": tok, "session ID": c.cookie("_keygate_session"), "password": testPassword}
	files, _ := filepath.Glob(filepath.Join(s.DataDir, "keygate.db*"))
	if len(files) == 0 {
		t.Fatal("no database files to search")
	}
	for what, v := range secrets {
		if strings.Contains(s.Logs(), v) {
			t.Errorf("the %s is in the logs", what)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), v) {
				t.Errorf("the %s is in %s", what, filepath.Base(f))
			}
		}
	}
}

// TestDashboardLinks: the dashboard links only the pages the user's role opens.
func TestDashboardLinks(t *testing.T) {
	s := keygatetest.NewServer(t)
	dev := user(t, s, "dev", false)
	project(t, s, "web", dev, keygate.Developer)
	c := newClient(t, s)
	c.signIn("dev", testPassword)
	p := c.get("/")
	if !strings.Contains(p.body, `href="/root/web/-/project_members"`) || strings.Contains(p.body, `href="/root/web/-/settings/access_tokens"`) {
		t.Errorf("a Developer's dashboard: want the members link and no tokens link\n%s", excerpt(p.body))
	}
}
