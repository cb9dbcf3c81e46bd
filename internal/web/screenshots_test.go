package web_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

// screenshots regenerates docs/screenshots/*.png:
//
//	go test ./internal/web -run TestScreenshots -screenshots
var screenshots = flag.Bool("screenshots", false, "write screenshots of the main pages to docs/screenshots")

// TestScreenshots drives the main pages in headless Chromium and saves full-page PNGs.
func TestScreenshots(t *testing.T) {
	if !*screenshots {
		t.Skip("screenshots are written only with -screenshots")
	}
	s := newScreenshotWorld(t)
	ctx := browser(t)
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) {
		t.Helper()
		png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, "sign-in page", chromedp.Navigate(s.URL+"/users/sign_in"), chromedp.WaitVisible(css("#user_login")))
	shot("sign_in")
	signInBrowser(t, ctx, s.URL, "root", testPassword)
	do(t, ctx, "dashboard", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(css("#projects-heading")))
	shot("dashboard")
	do(t, ctx, "service accounts", chromedp.Navigate(s.URL+"/groups/platform/-/settings/service_accounts"), chromedp.WaitVisible(css("#sa-name")))
	shot("service_accounts")
	pats := s.URL + "/-/user_settings/personal_access_tokens"
	do(t, ctx, "create a token",
		chromedp.Navigate(pats),
		chromedp.SendKeys(css("#token-name"), "release script"),
		chromedp.SendKeys(css("#token-description"), "Publishes tagged releases"),
		chromedp.Click(css("#scope-api")),
		clickLoad("button.primary"),
		chromedp.WaitVisible(css("#created-token")),
	)
	shot("personal_access_tokens_created")
	do(t, ctx, "tokens page", chromedp.Navigate(pats), chromedp.WaitVisible(css("#active-heading")))
	shot("personal_access_tokens")
	do(t, ctx, "a refused fine-grained form",
		chromedp.Navigate(pats),
		chromedp.SendKeys(css("#token-name"), "deploy"),
		chromedp.Click(css("#kind-granular")),
		chromedp.SetValue(css("#granular-access"), "selected_memberships"),
		chromedp.Click(css("#perm-read_project")),
		clickLoad("button.primary"),
		chromedp.WaitVisible(css("#granular_namespaces-error")),
	)
	shot("personal_access_tokens_granular_error")
	do(t, ctx, "token usage", chromedp.Navigate(pats+"/"+strconv.FormatInt(tokenID(t, s, 1, "read-only", true), 10)), chromedp.WaitVisible(css("#suggested-grant")))
	shot("personal_access_token_usage")
	do(t, ctx, "project tokens", chromedp.Navigate(s.URL+"/root/website/-/settings/access_tokens"), chromedp.WaitVisible(css("#token-role")))
	shot("project_access_tokens")
	do(t, ctx, "members", chromedp.Navigate(s.URL+"/root/website/-/project_members"), chromedp.WaitVisible(css("table")))
	shot("project_members")
	do(t, ctx, "inventory", chromedp.Navigate(s.URL+"/admin/credentials?state=all"), chromedp.WaitVisible(css("table")))
	shot("admin_credentials")
	do(t, ctx, "admin user", chromedp.Navigate(s.URL+"/admin/users/alice"), chromedp.WaitVisible(css("#active-heading")))
	shot("admin_user")
	do(t, ctx, "can i",
		chromedp.Navigate(s.URL+"/-/user_settings/can_i"),
		chromedp.SetValue(css("#ci-token"), strconv.FormatInt(tokenID(t, s, 1, "read-only", true), 10)),
		chromedp.SetValue(css("#ci-method"), "POST"),
		chromedp.SendKeys(css("#ci-path"), "/api/v4/projects"),
		clickLoad("form button.primary"),
		chromedp.WaitVisible(css("#answer")),
	)
	shot("can_i")
	do(t, ctx, "settings", chromedp.Navigate(s.URL+"/admin/application_settings/general"), chromedp.WaitVisible(css("#s-prefix")))
	shot("admin_settings")
	do(t, ctx, "revoke confirmation", chromedp.Navigate(s.URL+"/-/user_settings/personal_access_tokens/"+strconv.FormatInt(tokenID(t, s, 1, "release script", true), 10)+"/revoke"), chromedp.WaitVisible(css("#confirm")))
	shot("revoke_confirm")
}

// newScreenshotWorld is a server with a few users, tokens and a project to show.
func newScreenshotWorld(t *testing.T) *keygatetest.Server {
	s := keygatetest.NewServer(t)
	setPassword(t, s, 1, testPassword)
	alice := user(t, s, "alice", false)
	readOnly := s.Token(t, 1, "read-only", keygate.ScopeReadAPI, keygate.ScopeReadUser)
	s.Token(t, alice.ID, "laptop", keygate.ScopeAPI)
	s.Token(t, alice.ID, "ci-runner", keygate.ScopeReadRepository, keygate.ScopeWriteRepository)
	project(t, s, "website", alice, keygate.Developer)
	c := newClient(t, s)
	c.signIn("root", testPassword)
	const page = "/root/website/-/settings/access_tokens"
	c.post(page, page, map[string][]string{"name": {"deploy bot"}, "scopes": {"read_repository"}, "access_level": {"30"}})
	group(t, s, "platform", alice, keygate.Maintainer)
	const sa = "/groups/platform/-/settings/service_accounts"
	c.post(sa, sa, map[string][]string{"name": {"Release automation"}, "username": {"release-bot"}})
	const pats = "/-/user_settings/personal_access_tokens"
	c.post(pats, pats, map[string][]string{"name": {"website reader"}, "token_kind": {"granular"}, "granular_access": {"selected_memberships"},
		"granular_permissions": {"read_project", "download_code"}, "granular_projects": {"root/website"}, "granular_groups": {"platform"}})
	tokenStatus(t, s, readOnly, "/projects/root%2Fwebsite")
	tokenStatus(t, s, readOnly, "/projects/root%2Fwebsite/members")
	if err := s.Service.FlushUses(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}
