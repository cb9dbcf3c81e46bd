package connection_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/connection"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
)

// token issues a personal token of user uid expiring in days (0: never).
func token(t *testing.T, srv *keygatetest.Server, uid int64, name string, days int, scopes ...keygate.Scope) string {
	t.Helper()
	in := service.TokenInput{Name: name, Scopes: scopes}
	if days > 0 {
		d := keygate.DateOf(srv.Clock.Now()).AddDays(days)
		in.ExpiresAt = &d
	}
	iss, err := srv.Service.CreatePersonalToken(context.Background(), authz.SystemSubject(), uid, in)
	if err != nil {
		t.Fatalf("CreatePersonalToken: %v", err)
	}
	return iss.Secret.Reveal()
}

func openRegistry(t *testing.T, srv *keygatetest.Server, dir string, hook func(string) error) *connection.Registry {
	t.Helper()
	r, err := connection.Open(context.Background(), connection.Config{Dir: dir, Now: srv.Clock.Now, AfterRotate: hook})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// gitlabProxy stands for GitLab in front of a Keygate server: /version answers a GitLab
// version, and the Idempotency-Key header never arrives.
func gitlabProxy(t *testing.T, srv *keygatetest.Server) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(srv.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	inner := rp.Director
	rp.Director = func(r *http.Request) {
		inner(r)
		r.Header.Del("Idempotency-Key")
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path == "/api/v4/version" && resp.StatusCode == 200 {
			b := []byte(`{"version":"17.5.0-ee","revision":"abc"}`)
			resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		}
		return nil
	}
	p := httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

func selfStatus(t *testing.T, srv *keygatetest.Server, tok string) int {
	t.Helper()
	st, _ := srv.Do(t, tok, "GET", "/personal_access_tokens/self", nil)
	return st
}

func TestAddListRemove(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	u := srv.User(t, "ivy", false)
	tok := token(t, srv, u.ID, "ci", 60, keygate.ScopeAPI)
	dir := filepath.Join(t.TempDir(), "cfg")
	r := openRegistry(t, srv, dir, nil)

	c, err := r.Add(ctx, connection.AddInput{Name: "acme", URL: srv.URL + "/", Token: secret.Wrap(tok + "\n")})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if c.Owner != "ivy" || c.Type != "personal" || c.Server != connection.ServerKeygate || c.Status != connection.Healthy ||
		c.DaysLeft == nil || *c.DaysLeft != 60 || strings.Join(c.Scopes, ",") != "api" || c.URL != srv.URL {
		t.Fatalf("Add = %+v", c)
	}
	if _, err := r.Add(ctx, connection.AddInput{Name: "acme", URL: srv.URL, Token: secret.Wrap(tok)}); !errors.Is(err, connection.ErrExists) {
		t.Fatalf("Add(same name) = %v, want ErrExists", err)
	}
	for _, in := range []connection.AddInput{
		{Name: "bad name", URL: srv.URL, Token: secret.Wrap(tok)},
		{Name: "x", URL: "ftp://host", Token: secret.Wrap(tok)},
		{Name: "x", URL: srv.URL, Token: secret.Wrap("  ")},
		{Name: "x", URL: srv.URL, Token: secret.Wrap("glpat-not-a-token")},
	} {
		if _, err := r.Add(ctx, in); err == nil {
			t.Errorf("Add(%s, %s) = nil error", in.Name, in.URL)
		}
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "acme" || list[0].Owner != "ivy" || list[0].LastCheckAt == nil {
		t.Fatalf("List = %+v, %v; want acme alone", list, err)
	}
	// At rest: no plaintext token anywhere in the directory; the key file is 0600.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(tok)) {
			t.Errorf("%s holds the plaintext token", p)
		}
		return nil
	})
	if st, err := os.Stat(filepath.Join(dir, connection.KeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v, want 0600", err, st.Mode().Perm())
	}
	if err := r.Remove(ctx, "acme"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := r.Remove(ctx, "acme"); !errors.Is(err, connection.ErrNotFound) {
		t.Fatalf("Remove(again) = %v, want ErrNotFound", err)
	}
	if list, _ := r.List(ctx); len(list) != 0 {
		t.Fatalf("List after Remove = %+v", list)
	}
}

// TestKeyFileRefused: a key file others can read is refused; a different key cannot open
// the stored tokens.
func TestKeyFileRefused(t *testing.T) {
	srv := keygatetest.NewServer(t)
	dir := t.TempDir()
	r := openRegistry(t, srv, dir, nil)
	if _, err := r.Add(context.Background(), connection.AddInput{Name: "a", URL: srv.URL, Token: secret.Wrap(srv.RootToken)}); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, connection.KeyFile)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := connection.Open(context.Background(), connection.Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("Open with a 0644 key file = %v, want a refusal naming 0600", err)
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r2 := openRegistry(t, srv, dir, nil)
	got, err := r2.Check(context.Background(), 0, nil)
	if err != nil || got[0].Status != connection.Unreachable || !strings.Contains(got[0].Detail, "key file") {
		t.Fatalf("Check with another key = %+v, %v; want the token unopenable", got, err)
	}
}

// TestCheck classifies every kind of connection, in parallel, with progress.
func TestCheck(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	u := srv.User(t, "ops", false)
	r := openRegistry(t, srv, t.TempDir(), nil)
	down := gitlabProxy(t, srv)
	add := func(name, url, tok string, required ...string) {
		t.Helper()
		if _, err := r.Add(ctx, connection.AddInput{Name: name, URL: url, Token: secret.Wrap(tok), RequiredScopes: required}); err != nil {
			t.Fatalf("Add(%s): %v", name, err)
		}
	}
	add("healthy", srv.URL, token(t, srv, u.ID, "h", 90, keygate.ScopeAPI))
	add("never", srv.URL, token(t, srv, u.ID, "n", 0, keygate.ScopeReadAPI))
	add("expiring", srv.URL, token(t, srv, u.ID, "e", 10, keygate.ScopeAPI))
	add("expired", srv.URL, token(t, srv, u.ID, "x", 2, keygate.ScopeAPI))
	rev := token(t, srv, u.ID, "r", 90, keygate.ScopeAPI)
	add("revoked", srv.URL, rev)
	add("scope", srv.URL, token(t, srv, u.ID, "s", 90, keygate.ScopeReadAPI), "read_api", "write_repository")
	add("unreachable", down.URL, token(t, srv, u.ID, "u", 90, keygate.ScopeAPI))
	add("gitlab", down.URL+"/api/v4", token(t, srv, u.ID, "g", 90, keygate.ScopeAPI))

	srv.MustDo(t, rev, "DELETE", "/personal_access_tokens/self", nil, 204, nil)
	srv.Clock.Advance(3 * 24 * time.Hour)
	got, err := r.Check(ctx, 14*24*time.Hour, nil, "gitlab")
	if err != nil || got[0].Status != connection.Healthy || got[0].Server != connection.ServerGitLab {
		t.Fatalf("Check(gitlab) = %+v, %v; want healthy on a GitLab server", got, err)
	}
	down.Close()

	var calls []int
	got, err = r.Check(ctx, 14*24*time.Hour, func(done, total int) {
		if total != 8 {
			t.Errorf("progress total = %d, want 8", total)
		}
		calls = append(calls, done)
	})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	want := map[string]string{
		"healthy": connection.Healthy, "never": connection.Healthy, "expiring": connection.Expiring,
		"expired": connection.Expired, "revoked": connection.Revoked, "scope": connection.InsufficientScope,
		"unreachable": connection.Unreachable, "gitlab": connection.Unreachable,
	}
	for _, c := range got {
		if c.Status != want[c.Name] || c.Detail == "" || c.LastCheckAt == nil {
			t.Errorf("Check: %s = %s (%s), want %s", c.Name, c.Status, c.Detail, want[c.Name])
		}
	}
	if len(calls) != 8 || calls[7] != 8 {
		t.Errorf("progress calls = %v, want 1..8", calls)
	}
	// The outcome is saved: list shows it.
	list, _ := r.List(ctx, "expiring")
	if list[0].Status != connection.Expiring || list[0].DaysLeft == nil || *list[0].DaysLeft != 7 {
		t.Fatalf("List(expiring) = %+v", list[0])
	}
}

// TestRotate: due connections rotate through their self endpoints (personal and project
// bot), the successor is saved and works, the predecessor is revoked; others are not due.
func TestRotate(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	u := srv.User(t, "rot", false)
	r := openRegistry(t, srv, t.TempDir(), nil)
	old := token(t, srv, u.ID, "due", 10, keygate.ScopeSelfRotate, keygate.ScopeReadAPI)
	var g, p struct{ ID int64 }
	srv.MustDo(t, srv.RootToken, "POST", "/groups", map[string]any{"name": "Acme", "path": "acme"}, 201, &g)
	srv.MustDo(t, srv.RootToken, "POST", "/projects", map[string]any{"name": "app", "namespace_id": g.ID}, 201, &p)
	exp := keygate.DateOf(srv.Clock.Now()).AddDays(5).String()
	var bot struct{ Token string }
	srv.MustDo(t, srv.RootToken, "POST", "/projects/"+strconv.FormatInt(p.ID, 10)+"/access_tokens",
		map[string]any{"name": "bot", "scopes": []string{"api"}, "access_level": 30, "expires_at": exp}, 201, &bot)
	for name, tok := range map[string]string{"due": old, "bot": bot.Token, "later": token(t, srv, u.ID, "later", 60, keygate.ScopeAPI)} {
		if _, err := r.Add(ctx, connection.AddInput{Name: name, URL: srv.URL, Token: secret.Wrap(tok)}); err != nil {
			t.Fatalf("Add(%s): %v", name, err)
		}
	}
	res, err := r.Rotate(ctx, 14*24*time.Hour)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	want := map[string]string{"bot": connection.Rotated, "due": connection.Rotated, "later": connection.NotDue}
	for _, x := range res {
		if x.Outcome != want[x.Name] {
			t.Errorf("Rotate: %s = %s (%s), want %s", x.Name, x.Outcome, x.Detail, want[x.Name])
		}
	}
	if selfStatus(t, srv, old) != 401 || selfStatus(t, srv, bot.Token) != 401 {
		t.Fatal("predecessors still work after rotation")
	}
	// The successors keep their predecessors' lifetimes (5 and 10 days).
	got, err := r.Check(ctx, 24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		if c.Status != connection.Healthy || c.RotationPending {
			t.Errorf("after rotation %s = %s (%s), want healthy", c.Name, c.Status, c.Detail)
		}
	}
	if got[0].Type != "project" || got[1].ExpiresAt == nil || *got[1].ExpiresAt != keygate.DateOf(srv.Clock.Now()).AddDays(10).String() {
		t.Errorf("after rotation: bot %+v, due %+v (want the bot typed project, due keeping its 10-day lifetime)", got[0], got[1])
	}
}

// TestRotateCrashKeygate: the process dies after Keygate rotated and before the
// successor was saved. The next run repeats the rotation with the same Idempotency-Key
// and the old token, gets the same successor, and the family stays alive.
func TestRotateCrashKeygate(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	u := srv.User(t, "kim", false)
	old := token(t, srv, u.ID, "due", 5, keygate.ScopeAPI)
	dir := t.TempDir()
	crash := openRegistry(t, srv, dir, func(string) error { return errors.New("killed") })
	if _, err := crash.Add(ctx, connection.AddInput{Name: "k", URL: srv.URL, Token: secret.Wrap(old)}); err != nil {
		t.Fatal(err)
	}
	if _, err := crash.Rotate(ctx, 14*24*time.Hour); !errors.Is(err, connection.ErrCrashed) {
		t.Fatalf("Rotate with a crash = %v, want ErrCrashed", err)
	}
	_ = crash.Close()
	if selfStatus(t, srv, old) != 401 {
		t.Fatal("the server did not rotate before the crash")
	}
	r := openRegistry(t, srv, dir, nil)
	list, _ := r.List(ctx)
	if !list[0].RotationPending {
		t.Fatalf("after the crash the intent is not recorded: %+v", list[0])
	}
	res, err := r.Rotate(ctx, 14*24*time.Hour)
	if err != nil || len(res) != 1 || res[0].Outcome != connection.Recovered {
		t.Fatalf("Rotate after the crash = %+v, %v; want recovered", res, err)
	}
	got, err := r.Check(ctx, 24*time.Hour, nil)
	if err != nil || got[0].Status != connection.Healthy || got[0].RotationPending || got[0].TokenID != res[0].TokenID {
		t.Fatalf("after recovery = %+v, %v; want healthy with token %d", got, err, res[0].TokenID)
	}
	var active []struct{ ID int64 }
	srv.MustDo(t, srv.RootToken, "GET", "/personal_access_tokens?user_id="+strconv.FormatInt(u.ID, 10)+"&state=active", nil, 200, &active)
	if len(active) != 1 || active[0].ID != res[0].TokenID {
		t.Fatalf("active tokens of kim = %+v, want only the one successor %d", active, res[0].TokenID)
	}
}

// TestRotateCrashGitLab: against GitLab (no Idempotency-Key), a crash after the rotation
// loses the successor; the next run finds the intent and the old token dead, and flags
// the connection for re-authorization; add --replace clears the flag.
func TestRotateCrashGitLab(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	gl := gitlabProxy(t, srv)
	u := srv.User(t, "gil", false)
	old := token(t, srv, u.ID, "due", 5, keygate.ScopeAPI)
	dir := t.TempDir()
	crash := openRegistry(t, srv, dir, func(string) error { return errors.New("killed") })
	if _, err := crash.Add(ctx, connection.AddInput{Name: "g", URL: gl.URL, Token: secret.Wrap(old)}); err != nil {
		t.Fatal(err)
	}
	if _, err := crash.Rotate(ctx, 14*24*time.Hour); !errors.Is(err, connection.ErrCrashed) {
		t.Fatalf("Rotate with a crash = %v, want ErrCrashed", err)
	}
	_ = crash.Close()
	r := openRegistry(t, srv, dir, nil)
	res, err := r.Rotate(ctx, 14*24*time.Hour)
	if err != nil || res[0].Outcome != connection.Reauth || !strings.Contains(res[0].Detail, "--replace") {
		t.Fatalf("Rotate after the crash = %+v, %v; want needs_reauth", res, err)
	}
	got, _ := r.Check(ctx, 0, nil)
	if !got[0].NeedsReauth || got[0].Status != connection.Revoked || !strings.Contains(got[0].Detail, "re-authorize") {
		t.Fatalf("Check after a lost successor = %+v", got[0])
	}
	if res, _ := r.Rotate(ctx, 14*24*time.Hour); res[0].Outcome != connection.Reauth {
		t.Fatalf("Rotate of a flagged connection = %+v, want needs_reauth", res[0])
	}
	fresh := token(t, srv, u.ID, "fresh", 90, keygate.ScopeAPI)
	if _, err := r.Add(ctx, connection.AddInput{Name: "g", URL: gl.URL, Token: secret.Wrap(fresh), Replace: true}); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Check(ctx, 0, nil)
	if got[0].NeedsReauth || got[0].Status != connection.Healthy {
		t.Fatalf("after re-authorization = %+v", got[0])
	}
}

// TestRotateGitLabInterruptedBeforeSend: the intent was written but the request never
// left (crash before sending): against GitLab the old token still works, so the next run
// rotates normally.
func TestRotateGitLabNoCrash(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	gl := gitlabProxy(t, srv)
	u := srv.User(t, "gus", false)
	r := openRegistry(t, srv, t.TempDir(), nil)
	if _, err := r.Add(ctx, connection.AddInput{Name: "g", URL: gl.URL, Token: secret.Wrap(token(t, srv, u.ID, "due", 5, keygate.ScopeAPI))}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Rotate(ctx, 14*24*time.Hour)
	if err != nil || res[0].Outcome != connection.Rotated {
		t.Fatalf("Rotate via GitLab = %+v, %v", res, err)
	}
}

func TestParseWithin(t *testing.T) {
	for in, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "0d": 0, "36h": 36 * time.Hour} {
		if got, err := connection.ParseWithin(in); err != nil || got != want {
			t.Errorf("ParseWithin(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1.5d", "two weeks", "-3h"} {
		if _, err := connection.ParseWithin(in); err == nil {
			t.Errorf("ParseWithin(%q) = nil error", in)
		}
	}
}

func FuzzParseWithin(f *testing.F) {
	for _, s := range []string{"14d", "36h", "-1d", "1.5d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := connection.ParseWithin(s); err == nil && d < 0 {
			t.Fatalf("ParseWithin(%q) = %v, negative", s, d)
		}
	})
}
