package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/store"
)

// browser starts headless Debian Chromium with a fresh profile; the test is skipped when
// chromium is not installed (CI installs it).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed: skipping browser test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelCtx := chromedp.NewContext(actx)
	// The first call starts the browser and must have no deadline (it would end the
	// browser); later actions run under the test's bound.
	if err := chromedp.Do(bctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// do runs browser steps and fails the test with the page's text on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v (at %s)\n%s", what, err, loc, body)
	}
}

// get runs one browser action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// clickLoad clicks and waits for the page it leads to.
func clickLoad(sel string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))(ctx, tg)
		return chromedp.Void{}, err
	}
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// signInBrowser signs in through the form.
func signInBrowser(t *testing.T, ctx context.Context, base, login, pw string) {
	t.Helper()
	do(t, ctx, "sign in as "+login,
		chromedp.Navigate(base+"/users/sign_in"),
		chromedp.WaitVisible(css("#user_login")),
		chromedp.SendKeys(css("#user_login"), login),
		chromedp.SendKeys(css("#user_password"), pw),
		clickLoad("#sign-in"),
		chromedp.WaitVisible(css("form.signout")),
	)
}

// tokenIDs lists a user's token IDs by name through the service (the browser shows no IDs).
func tokenID(t *testing.T, s *keygatetest.Server, userID int64, name string, active bool) int64 {
	t.Helper()
	state := "inactive"
	if active {
		state = "active"
	}
	ts, _, err := s.Service.Tokens(context.Background(), authz.SystemSubject(), store.TokenFilter{UserID: userID, State: state, Page: store.Page{Number: 1, Size: 100}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		if tk.Name == name {
			return tk.ID
		}
	}
	t.Fatalf("no %s token %q of user %d", state, name, userID)
	return 0
}

func present(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	return get(t, ctx, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel))) > 0
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return get(t, ctx, "text of "+sel, chromedp.Text(css(sel)))
}

// TestBrowserPersonalToken: sign in, create a token, read it once and use it, reload and
// find it gone, rotate (old refused, new works), revoke (refused).
func TestBrowserPersonalToken(t *testing.T) {
	s := keygatetest.NewServer(t)
	ctx := browser(t)
	alice := user(t, s, "alice", false)
	signInBrowser(t, ctx, s.URL, "alice", testPassword)

	pats := s.URL + "/-/user_settings/personal_access_tokens"
	do(t, ctx, "open the tokens page", chromedp.Navigate(pats), chromedp.WaitVisible(css("#token-name")))
	defExpiry := get(t, ctx, "default expiry", chromedp.AttributeValue(css("#token-expires"), "value")).Value
	maxExpiry := get(t, ctx, "max expiry", chromedp.AttributeValue(css("#token-expires"), "max")).Value
	today := keygate.DateOf(s.Clock.Now())
	if defExpiry != today.AddDays(30).String() || maxExpiry != today.AddDays(365).String() {
		t.Errorf("expiry default %s, max %s; want %s and %s", defExpiry, maxExpiry, today.AddDays(30), today.AddDays(365))
	}
	do(t, ctx, "create a token",
		chromedp.SendKeys(css("#token-name"), "laptop"),
		chromedp.Click(css("#scope-read_user")),
		clickLoad("button.primary"),
		chromedp.WaitVisible(css("#created-token")),
	)
	tok := get(t, ctx, "read the token", chromedp.Value(css("#created-token")))
	if !strings.HasPrefix(tok, "glpat-") {
		t.Fatalf("shown token %q, want a glpat- token", tok)
	}
	do(t, ctx, "copy button", chromedp.Click(css("#copy-token")))
	if copied := get(t, ctx, "copy button answers", chromedp.Poll[bool](`document.getElementById("copy-token").textContent === "Copied"`, chromedp.WithPollingTimeout(10*time.Second))); !copied {
		t.Error("the copy button did not copy")
	}
	if st := apiStatus(t, s, tok); st != 200 {
		t.Fatalf("GET /user with the new token = %d, want 200", st)
	}
	do(t, ctx, "reload", chromedp.Navigate(pats), chromedp.WaitVisible(css("#active-heading")))
	html := get(t, ctx, "page html", chromedp.OuterHTML(css("html")))
	if strings.Contains(html, tok) || present(t, ctx, "#created-token") {
		t.Fatal("the token is shown again after a reload")
	}
	if !strings.Contains(html, "laptop") {
		t.Fatal("the active table does not list the new token")
	}

	id := tokenID(t, s, alice.ID, "laptop", true)
	do(t, ctx, "rotate",
		clickLoad(fmt.Sprintf(`a[href="/-/user_settings/personal_access_tokens/%d/rotate"]`, id)),
		clickLoad("#confirm"),
		chromedp.WaitVisible(css("#created-token")),
	)
	rotated := get(t, ctx, "read the rotated token", chromedp.Value(css("#created-token")))
	if rotated == tok || apiStatus(t, s, tok) != 401 || apiStatus(t, s, rotated) != 200 {
		t.Fatalf("after rotation: old %d (want 401), new %d (want 200)", apiStatus(t, s, tok), apiStatus(t, s, rotated))
	}
	nid := tokenID(t, s, alice.ID, "laptop", true)
	do(t, ctx, "revoke",
		chromedp.Navigate(pats),
		clickLoad(fmt.Sprintf(`a[href="/-/user_settings/personal_access_tokens/%d/revoke"]`, nid)),
		clickLoad("#confirm"),
		chromedp.WaitVisible(css(".notice")),
	)
	if st := apiStatus(t, s, rotated); st != 401 {
		t.Fatalf("GET /user with the revoked token = %d, want 401", st)
	}
	if inactive := text(t, ctx, "#inactive-heading"); !strings.Contains(inactive, "(2)") {
		t.Errorf("inactive heading %q, want both laptop tokens", inactive)
	}
}

// TestBrowserProjectToken: a Maintainer creates a project token with a role no higher
// than their own; it works on the project and its bot shows on the members page.
func TestBrowserProjectToken(t *testing.T) {
	s := keygatetest.NewServer(t)
	ctx := browser(t)
	bob := user(t, s, "bob", false)
	pid := project(t, s, "web", bob, keygate.Maintainer)
	signInBrowser(t, ctx, s.URL, "bob", testPassword)

	do(t, ctx, "open the project tokens page", chromedp.Navigate(s.URL+"/root/web/-/settings/access_tokens"), chromedp.WaitVisible(css("#token-role")))
	options := get(t, ctx, "role options", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#token-role option")).map(o => o.value)`))
	if strings.Join(options, ",") != "10,20,30,40" {
		t.Fatalf("role options %v, want Guest..Maintainer (10,20,30,40) for a Maintainer", options)
	}
	do(t, ctx, "create a Developer token",
		chromedp.SendKeys(css("#token-name"), "deploy"),
		chromedp.SetValue(css("#token-role"), "30"),
		chromedp.Click(css("#scope-read_api")),
		clickLoad("button.primary"),
		chromedp.WaitVisible(css("#created-token")),
	)
	tok := get(t, ctx, "read the token", chromedp.Value(css("#created-token")))
	if st := tokenStatus(t, s, tok, "/projects/"+strconv.FormatInt(pid, 10)); st != 200 {
		t.Fatalf("GET the project with its token = %d, want 200", st)
	}
	do(t, ctx, "reload", chromedp.Navigate(s.URL+"/root/web/-/settings/access_tokens"))
	if table := text(t, ctx, "table"); !strings.Contains(table, "deploy") || !strings.Contains(table, "Developer") {
		t.Errorf("token table %q, want deploy with role Developer", table)
	}
	do(t, ctx, "members page", chromedp.Navigate(s.URL+"/root/web/-/project_members"))
	if row := text(t, ctx, "table"); !strings.Contains(row, "deploy") || !strings.Contains(row, "Bot") {
		t.Errorf("members table %q, want the deploy bot marked Bot", row)
	}

	// A fine-grained personal token on this project, from the form: it reads the
	// project, and the members list (a permission it was not given) is refused.
	pats := s.URL + "/-/user_settings/personal_access_tokens"
	do(t, ctx, "create a fine-grained token",
		chromedp.Navigate(pats),
		chromedp.WaitVisible(css("#kind-granular")),
		chromedp.SendKeys(css("#token-name"), "reader"),
		chromedp.Click(css("#kind-granular")),
		chromedp.SetValue(css("#granular-access"), "selected_memberships"),
		chromedp.Click(css("#perm-read_project")),
		chromedp.SendKeys(css("#granular-projects"), "root/web"),
		clickLoad("button.primary"),
		chromedp.WaitVisible(css("#created-token")),
	)
	fine := get(t, ctx, "read the fine-grained token", chromedp.Value(css("#created-token")))
	if st := tokenStatus(t, s, fine, "/projects/"+strconv.FormatInt(pid, 10)); st != 200 {
		t.Fatalf("GET the project with the fine-grained token = %d, want 200", st)
	}
	st, body := tokenBody(t, s, fine, "/projects/"+strconv.FormatInt(pid, 10)+"/members")
	if st != 403 || !strings.Contains(body, `"error":"insufficient_granular_scope"`) || !strings.Contains(body, "[Member: Read]") {
		t.Fatalf("GET the members with the fine-grained token = %d %s, want 403 insufficient_granular_scope", st, body)
	}
	do(t, ctx, "reload", chromedp.Navigate(pats), chromedp.WaitVisible(css("#active-heading")))
	if table := text(t, ctx, "table"); !strings.Contains(table, "selected_memberships on project root/web: read_project") {
		t.Errorf("token table %q, want the reader token's grant", table)
	}
}

// TestBrowserAdminInventoryRevoke: root revokes alice's token from the credentials
// inventory; the API refuses it.
func TestBrowserAdminInventoryRevoke(t *testing.T) {
	s := keygatetest.NewServer(t)
	ctx := browser(t)
	alice := user(t, s, "alice", false)
	tok := s.Token(t, alice.ID, "alice-cli", keygate.ScopeReadUser)
	setPassword(t, s, 1, testPassword)
	signInBrowser(t, ctx, s.URL, "root", testPassword)
	id := tokenID(t, s, alice.ID, "alice-cli", true)
	do(t, ctx, "filter the inventory",
		chromedp.Navigate(s.URL+"/admin/credentials"),
		chromedp.WaitVisible(css("#f-owner")),
		chromedp.SendKeys(css("#f-owner"), "alice"),
		clickLoad("form.filters button"),
		chromedp.WaitVisible(css(fmt.Sprintf("#revoke-%d", id))),
	)
	if table := text(t, ctx, "table"); strings.Contains(table, "root-test") || !strings.Contains(table, "alice-cli") {
		t.Fatalf("inventory filtered by owner alice shows %q", table)
	}
	do(t, ctx, "revoke from the inventory",
		clickLoad(fmt.Sprintf("#revoke-%d", id)),
		clickLoad("#confirm"),
		chromedp.WaitVisible(css(".notice")),
	)
	if st := apiStatus(t, s, tok); st != 401 {
		t.Fatalf("GET /user with the token revoked from the inventory = %d, want 401", st)
	}
}

// TestBrowserCSRFAndFixation: a session ID planted before sign-in is not the signed-in
// session; a form posted from another site, and one whose CSRF token was tampered with,
// change nothing.
func TestBrowserCSRFAndFixation(t *testing.T) {
	s := keygatetest.NewServer(t)
	ctx := browser(t)
	alice := user(t, s, "alice", false)

	// Fixation: an ID the attacker chose is planted in the victim's browser before she
	// signs in (sessions exist only after sign-in, so there is no pre-sign-in ID to steal;
	// planting a live session of one's own is refused in TestSignInEndsPresentedSession).
	planted := "attacker-chosen-session-id-0123456789abcdef"
	do(t, ctx, "plant a session cookie",
		chromedp.Navigate(s.URL+"/users/sign_in"),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: "_keygate_session", Value: planted, URL: s.URL + "/", HTTPOnly: ptrTo(true)})
			return err
		}),
	)
	signInBrowser(t, ctx, s.URL, "alice", testPassword)
	cookies := get(t, ctx, "cookies", func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{})
	})
	var got string
	for _, c := range cookies.Cookies {
		if c.Name == "_keygate_session" {
			got = c.Value
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("session cookie HttpOnly %v SameSite %q, want HttpOnly and Lax", c.HTTPOnly, c.SameSite)
			}
		}
	}
	if got == "" || got == planted {
		t.Fatalf("session after sign-in %q: want a new ID, not the planted %q", got, planted)
	}
	mc := newClient(t, s)
	if p := mc.do("GET", "/-/user_settings/personal_access_tokens", nil, "Cookie", "_keygate_session="+planted); p.status != http.StatusSeeOther {
		t.Fatalf("the planted session ID after the victim's sign-in: %d, want the sign-in redirect", p.status)
	}
	if who := text(t, ctx, ".who"); who != "alice" {
		t.Fatalf("signed in as %q, want alice", who)
	}

	count := func() int {
		ts, _, err := s.Service.Tokens(context.Background(), authz.SystemSubject(), store.TokenFilter{UserID: alice.ID, Page: store.Page{Number: 1, Size: 100}})
		if err != nil {
			t.Fatal(err)
		}
		return len(ts)
	}
	// Cross-site: a page elsewhere posts a create form to Keygate in alice's browser.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!DOCTYPE html><form id="f" method="post" action="%s/-/user_settings/personal_access_tokens">
<input name="name" value="stolen"><input name="scopes" value="api"><input name="authenticity_token" value="guess">
<button id="go">go</button></form>`, s.URL)
	}))
	t.Cleanup(evil.Close)
	do(t, ctx, "cross-site form",
		chromedp.Navigate(strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)),
		clickLoad("#go"),
	)
	if body := text(t, ctx, "main"); !strings.Contains(body, "Cross-origin request refused") || count() != 0 {
		t.Fatalf("cross-site post: page %q, %d tokens; want the refusal and none", body, count())
	}
	// Same site, tampered token.
	do(t, ctx, "tampered CSRF token",
		chromedp.Navigate(s.URL+"/-/user_settings/personal_access_tokens"),
		chromedp.SendKeys(css("#token-name"), "forged"),
		chromedp.Click(css("#scope-api")),
		chromedp.SetValue(css(`form.tokenform input[name="authenticity_token"]`), "forged"),
		clickLoad("button.primary"),
	)
	if body := text(t, ctx, "main"); !strings.Contains(body, "Invalid authenticity token") || count() != 0 {
		t.Fatalf("tampered CSRF token: page %q, %d tokens; want the refusal and none", body, count())
	}
}

func ptrTo[T any](v T) *T { return &v }
