package gate_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/gate"
	"github.com/keygate/keygate/internal/keygatetest"
	kgservice "github.com/keygate/keygate/internal/service"
)

// service is a Go service behind the middleware: it answers with the identity it got.
func service(t *testing.T, g *gate.Gate, p gate.Policy) *httptest.Server {
	t.Helper()
	h := g.Middleware(p)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := gate.IdentityFrom(r.Context())
		if alt, _ := gate.FromContext(r.Context()); alt.TokenID != id.TokenID {
			http.Error(w, "accessors disagree", 500)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": ok, "user": id.Username, "type": id.TokenType, "scopes": id.Scopes, "token_id": id.TokenID})
	}))
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

// newGate points a Gate at srv, on srv's clock (token expiry dates are on it).
func newGate(t *testing.T, srv *keygatetest.Server, token string, cfg gate.Config) *gate.Gate {
	t.Helper()
	cfg.URL, cfg.Token = srv.URL, token
	if cfg.Now == nil {
		cfg.Now = srv.Clock.Now
	}
	g, err := gate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// waitConnected polls until the revocation stream is up (a real server's goroutine).
func waitConnected(t *testing.T, g *gate.Gate) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !g.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("revocation stream did not connect")
		}
		time.Sleep(5 * time.Millisecond) // polling another goroutine's state, with a deadline
	}
}

func call(t *testing.T, base, tok string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/x", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body, resp.Header
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	g := newGate(t, srv, w.Tokens["introspect"], gate.Config{})
	waitConnected(t, g)
	api := service(t, g, gate.Policy{ScopesAny: []string{"api", "read_api"}, TokenTypes: []string{"personal", "project", "job"}})
	cases := []struct {
		name, tok string
		status    int
		user      string
	}{
		{"personal", w.Tokens["dev"], 200, "dev"},
		{"read_api", w.Tokens["dev_read_api"], 200, "dev"},
		{"no token", "", 401, ""},
		{"unknown", "glpat-nope", 401, ""},
		{"expired", w.Tokens["expired"], 401, ""},
		{"revoked", w.Tokens["revoked"], 401, ""},
		{"missing scope", w.Tokens["dev_k8s"], 403, ""},
		{"type refused", w.Tokens["group"], 403, ""},
		{"job has no scopes", w.Tokens["job"], 403, ""},
	}
	for _, tc := range cases {
		status, body, h := call(t, api.URL, tc.tok)
		if status != tc.status {
			t.Errorf("%s: status = %d %v, want %d", tc.name, status, body, tc.status)
			continue
		}
		switch status {
		case 200:
			if body["ok"] != true || body["user"] != tc.user {
				t.Errorf("%s: identity = %v, want %s", tc.name, body, tc.user)
			}
		case 401:
			if v := h.Values("WWW-Authenticate"); len(v) != 2 || v[0] != `Bearer realm="keygate"` || v[1] != `Basic realm="keygate"` {
				t.Errorf("%s: WWW-Authenticate = %q", tc.name, v)
			}
		case 403:
			if body["message"] != "403 Forbidden" || body["keygate_explanation"] == nil {
				t.Errorf("%s: 403 body = %v", tc.name, body)
			}
		}
	}
	anon := service(t, g, gate.Policy{Anonymous: true})
	if status, body, _ := call(t, anon.URL, ""); status != 200 || body["ok"] != false {
		t.Errorf("anonymous = %d %v, want 200 without identity", status, body)
	}
	if status, _, _ := call(t, anon.URL, "glpat-nope"); status != 401 {
		t.Errorf("anonymous policy with a bad token = %d, want 401", status)
	}
}

// TestRevocationReachesServiceWithinOneSecond measures, in a running service, how long a
// revocation through Keygate's API takes to be refused by the middleware.
func TestRevocationReachesServiceWithinOneSecond(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	g := newGate(t, srv, w.Tokens["introspect"], gate.Config{CacheTTL: time.Hour})
	waitConnected(t, g)
	api := service(t, g, gate.Policy{})
	for range 3 {
		if status, _, _ := call(t, api.URL, w.Tokens["dev"]); status != 200 {
			t.Fatalf("before = %d", status)
		}
	}
	if g.CacheLen() != 1 {
		t.Fatalf("CacheLen = %d, want 1 (answers are cached)", g.CacheLen())
	}
	req, _ := http.NewRequest("DELETE", srv.API+"/personal_access_tokens/self", nil)
	req.Header.Set("Private-Token", w.Tokens["dev"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("revoke = %v %v", resp, err)
	}
	resp.Body.Close()
	t.Logf("cache after revoke: %d", g.CacheLen())
	start := time.Now()
	n := 0
	for {
		n++
		status, _, _ := call(t, api.URL, w.Tokens["dev"])
		if status == 401 {
			break
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("revoked token still accepted after %v (%d requests)", d, n)
		}
	}
	t.Logf("revocation refused by the service after %v (%d requests)", time.Since(start), n)
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	g := newGate(t, srv, w.Tokens["introspect"], gate.Config{CacheSize: 3})
	waitConnected(t, g)
	ctx := context.Background()
	for i := range 10 {
		tok := srv.Token(t, w.Users["dev"].ID, "t"+string(rune('a'+i)), "api")
		if _, err := g.Check(ctx, tok); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if n := g.CacheLen(); n > 3 {
			t.Fatalf("CacheLen = %d after %d tokens, want at most 3", n, i+1)
		}
	}
	if g.CacheLen() != 3 {
		t.Errorf("CacheLen = %d, want 3 (full)", g.CacheLen())
	}
}

// counting counts the introspection requests a Gate makes.
type counting struct{ n atomic.Int64 }

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/oauth/introspect" {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	now := srv.Clock.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	rt := &counting{}
	g := newGate(t, srv, w.Tokens["introspect"], gate.Config{CacheTTL: 10 * time.Second, Now: clock, HTTPClient: &http.Client{Transport: rt}})
	waitConnected(t, g)
	ctx := context.Background()
	for range 5 {
		if _, err := g.Check(ctx, w.Tokens["dev"]); err != nil {
			t.Fatal(err)
		}
	}
	if n := rt.n.Load(); n != 1 {
		t.Fatalf("introspections for 5 checks within the TTL = %d, want 1", n)
	}
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	if _, err := g.Check(ctx, w.Tokens["dev"]); err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 2 {
		t.Errorf("introspections after the TTL = %d, want 2 (asked again)", n)
	}
	// Never past the token's own expiry, whatever the TTL.
	g2 := newGate(t, srv, w.Tokens["introspect"], gate.Config{CacheTTL: 365 * 24 * time.Hour, Now: clock, HTTPClient: &http.Client{Transport: rt}})
	waitConnected(t, g2)
	id, err := g2.Check(ctx, w.Tokens["dev"])
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = id.ExpiresAt
	mu.Unlock()
	before := rt.n.Load()
	_, _ = g2.Check(ctx, w.Tokens["dev"])
	if rt.n.Load() != before+1 {
		t.Error("an answer was reused past the token's expiry")
	}
}

func TestKeygateDownFailsClosed(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	g := newGate(t, srv, w.Tokens["introspect"], gate.Config{CacheTTL: time.Hour, Timeout: time.Second})
	waitConnected(t, g)
	api := service(t, g, gate.Policy{})
	if status, _, _ := call(t, api.URL, w.Tokens["dev"]); status != 200 {
		t.Fatalf("before = %d", status)
	}
	srv.HTTP.CloseClientConnections()
	srv.HTTP.Close()
	deadline := time.Now().Add(5 * time.Second)
	for g.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("the gate did not notice Keygate going down")
		}
		time.Sleep(5 * time.Millisecond) // polling another goroutine's state, with a deadline
	}
	status, body, _ := call(t, api.URL, w.Tokens["dev"])
	if status != 503 || !strings.Contains(body["message"].(string), "503 Service Unavailable") {
		t.Fatalf("Keygate down = %d %v, want 503 (even for a token cached before)", status, body)
	}
	if status, _, _ := call(t, api.URL, ""); status != 401 {
		t.Errorf("no token with Keygate down = %d, want 401 (nothing to ask)", status)
	}
}

func TestMiddlewareOwnTokenRefused(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	// A token without introspect: Keygate refuses the middleware itself; callers get 503.
	g := newGate(t, srv, w.Tokens["root"], gate.Config{})
	api := service(t, g, gate.Policy{})
	if status, _, _ := call(t, api.URL, w.Tokens["dev"]); status != 503 {
		t.Errorf("middleware without introspect = %d, want 503", status)
	}
	if g.Connected() {
		t.Error("the stream connected with a token lacking introspect")
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, cfg := range []gate.Config{{URL: "", Token: "x"}, {URL: "ftp://k", Token: "x"}, {URL: "http://k"}} {
		if g, err := gate.New(cfg); err == nil {
			_ = g.Close()
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}

func TestCredential(t *testing.T) {
	t.Parallel()
	cases := map[string]string{"Private-Token": "a", "Job-Token": "b", "Authorization": "Bearer c"}
	want := map[string]string{"Private-Token": "a", "Job-Token": "b", "Authorization": "c"}
	for h, v := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(h, v)
		if got := gate.Credential(r); got != want[h] {
			t.Errorf("Credential(%s: %s) = %q, want %q", h, v, got, want[h])
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth("user", "tok")
	if got := gate.Credential(r); got != "tok" {
		t.Errorf("Credential(basic) = %q, want tok", got)
	}
}

// TestFineGrainedIdentity: the identity of a fine-grained token carries its grant, as
// introspection reports it; a scope policy refuses it (its one scope is "granular").
func TestFineGrainedIdentity(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	w := keygatetest.NewGateWorld(t, srv)
	g := newGate(t, srv, w.Tokens["introspect"], gate.Config{})
	fine := w.FineToken(t, "dev",
		kgservice.GranularRequest{Access: keygate.AccessSelectedMemberships, Permissions: []string{"read_project"}, GroupIDs: []int64{w.Acme.ID}},
		kgservice.GranularRequest{Access: keygate.AccessUser, Permissions: []string{"read_user"}})
	id, err := g.Check(context.Background(), fine)
	if err != nil {
		t.Fatal(err)
	}
	want := []gate.GranularScope{
		{Access: "selected_memberships", Permissions: []string{"read_project"}, GroupID: w.Acme.ID},
		{Access: "user", Permissions: []string{"read_user"}},
	}
	if !id.Granular || !slices.Equal(id.Scopes, []string{"granular"}) || !slices.EqualFunc(id.GranularScopes, want, func(a, b gate.GranularScope) bool {
		return a.Access == b.Access && a.ProjectID == b.ProjectID && a.GroupID == b.GroupID && slices.Equal(a.Permissions, b.Permissions)
	}) {
		t.Errorf("fine-grained identity = %+v, want granular with %+v", id, want)
	}
	legacy, err := g.Check(context.Background(), w.Tokens["dev"])
	if err != nil || legacy.Granular || legacy.GranularScopes != nil {
		t.Errorf("legacy identity = %+v, %v, want no grant", legacy, err)
	}
	waitConnected(t, g)
	if status, body, _ := call(t, service(t, g, gate.Policy{ScopesAny: []string{"api"}}).URL, fine); status != 403 {
		t.Errorf("fine-grained token under a scope policy = %d %v, want 403", status, body)
	}
}
