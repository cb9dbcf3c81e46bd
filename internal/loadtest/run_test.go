package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKeygate answers the three routes the load uses, tracking tokens: GET /user
// accepts the given tokens and any created, not yet revoked one; POST creates; DELETE
// self revokes.
type fakeKeygate struct {
	mu      sync.Mutex
	valid   map[string]bool
	seen    map[string]int
	created int
	live    map[string]bool
}

func newFake(t *testing.T, tokens ...string) (*fakeKeygate, *url.URL) {
	t.Helper()
	f := &fakeKeygate{valid: map[string]bool{}, seen: map[string]int{}, live: map[string]bool{}}
	for _, tok := range tokens {
		f.valid[tok] = true
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	u, err := CheckURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return f, u
}

func (f *fakeKeygate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := r.Header.Get("PRIVATE-TOKEN")
	switch {
	case r.Method == "GET" && r.URL.Path == "/-/health":
		w.Write([]byte("GitLab OK"))
	case r.Method == "GET" && r.URL.Path == pathUser && (f.valid[tok] || f.live[tok]):
		f.seen[tok]++
		w.Write([]byte(`{"id":1,"username":"root"}`))
	case r.Method == "POST" && r.URL.Path == pathCreate && f.valid[tok]:
		f.created++
		nt := fmt.Sprintf("created-%d", f.created)
		f.live[nt] = true
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"id":%d,"token":%q}`, f.created, nt)
	case r.Method == "DELETE" && r.URL.Path == pathSelf && f.live[tok]:
		delete(f.live, tok)
		w.WriteHeader(204)
	default:
		w.WriteHeader(401)
		w.Write([]byte(`{"message":"401 Unauthorized"}`))
	}
}

func TestRunVerify(t *testing.T) {
	tokens := []string{"a", "b", "c", "d", "e"}
	f, u := newFake(t, tokens...)
	rep, err := Run(context.Background(), Config{URL: u, Tokens: tokens, Connections: 3, Duration: 200 * time.Millisecond, Bare: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keygate.Requests == 0 || rep.Keygate.Errors != 0 || rep.Bare == nil || rep.Bare.Requests == 0 || rep.Ratio <= 0 {
		t.Fatalf("report = %+v, want requests on both sides, no errors, a ratio", rep)
	}
	if rep.Keygate.Statuses["200"] != rep.Keygate.Requests || rep.Mode != "verify" {
		t.Errorf("statuses = %v, mode %q", rep.Keygate.Statuses, rep.Mode)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tok := range tokens {
		if f.seen[tok] == 0 {
			t.Errorf("token %q never presented; seen %v", tok, f.seen)
		}
	}
}

func TestRunCountsErrors(t *testing.T) {
	_, u := newFake(t, "good")
	rep, err := Run(context.Background(), Config{URL: u, Tokens: []string{"good", "unknown"}, Connections: 2, Duration: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keygate.Errors == 0 || rep.Keygate.Statuses["401"] != rep.Keygate.Errors || !strings.Contains(rep.Keygate.FirstError, "401") {
		t.Fatalf("errors %d, statuses %v, first %q; want the 401s counted", rep.Keygate.Errors, rep.Keygate.Statuses, rep.Keygate.FirstError)
	}
	if rep.Bare != nil {
		t.Error("bare result without Bare")
	}
	// A probe refused stops the run before any load.
	if _, err := Run(context.Background(), Config{URL: u, Tokens: []string{"unknown"}, Connections: 1, Duration: time.Second}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Run with a refused first token = %v, want the probe's 401", err)
	}
}

func TestRunFirstUse(t *testing.T) {
	tokens := make([]string, 101)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("t%d", i)
	}
	f, u := newFake(t, tokens...)
	rep, err := Run(context.Background(), Config{URL: u, Tokens: tokens, Connections: 4, Duration: 10 * time.Second, Once: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keygate.Requests != 100 || rep.Tokens != 100 || rep.Mode != "first-use" {
		t.Fatalf("requests %d, tokens %d, mode %q; want each of the 100 measured tokens once", rep.Keygate.Requests, rep.Tokens, rep.Mode)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tok := range tokens {
		if f.seen[tok] != 1 {
			t.Fatalf("token %s presented %d times, want once (t0 by the probe only)", tok, f.seen[tok])
		}
	}
}

func TestRunMix(t *testing.T) {
	f, u := newFake(t, "p1", "p2", "p3")
	rep, err := Run(context.Background(), Config{URL: u, Tokens: []string{"p1", "p2", "p3"}, Connections: 4,
		Duration: 300 * time.Millisecond, Mix: StandardMix(), Bare: true, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	kg := rep.Keygate
	if kg.Errors != 0 || rep.Bare.Errors != 0 {
		t.Fatalf("errors keygate %d (%s), bare %d (%s)", kg.Errors, kg.FirstError, rep.Bare.Errors, rep.Bare.FirstError)
	}
	v, c, r := kg.Ops["verify"].Requests, kg.Ops["create"].Requests, kg.Ops["revoke"].Requests
	if c == 0 || r == 0 || v < 8*c || c < 5*r {
		t.Errorf("ops verify %d, create %d, revoke %d; want about 90:9:1", v, c, r)
	}
	if rep.Cleanup == nil || rep.Cleanup.Failed != 0 || int64(rep.Cleanup.Revoked) != c-r {
		t.Errorf("clean-up = %+v, want the %d created and unrevoked tokens revoked", rep.Cleanup, c-r)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.live) != 0 || int64(f.created) != c {
		t.Errorf("server: %d tokens still live, %d created; want 0 and %d", len(f.live), f.created, c)
	}
	if rep.Rounds != 2 || rep.Mode != "mix" {
		t.Errorf("rounds %d, mode %q", rep.Rounds, rep.Mode)
	}
}

func TestConfigValidate(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	far, _ := url.Parse("http://192.0.2.1:80")
	ok := Config{URL: u, Tokens: []string{"a", "b"}, Connections: 1, Duration: time.Second}
	cases := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"valid", func(*Config) {}, true},
		{"no url", func(c *Config) { c.URL = nil }, false},
		{"not loopback", func(c *Config) { c.URL = far }, false},
		{"no tokens", func(c *Config) { c.Tokens = nil }, false},
		{"zero connections", func(c *Config) { c.Connections = 0 }, false},
		{"too many connections", func(c *Config) { c.Connections = MaxConnections + 1 }, false},
		{"zero duration", func(c *Config) { c.Duration = 0 }, false},
		{"over the cap", func(c *Config) { c.Duration = MaxDuration + time.Second }, false},
		{"at the cap", func(c *Config) { c.Duration = MaxDuration }, true},
		{"first-use mix", func(c *Config) { c.Once, c.Mix = true, StandardMix() }, false},
		{"first-use one token", func(c *Config) { c.Once, c.Tokens = true, []string{"a"} }, false},
		{"first-use rounds", func(c *Config) { c.Once, c.Rounds = true, 2 }, false},
		{"rounds too short", func(c *Config) { c.Rounds = 20 }, false},
		{"rounds", func(c *Config) { c.Rounds = 5 }, true},
		{"bad mix", func(c *Config) { c.Mix = Mix{Verify: 1, Revoke: 1} }, false},
	}
	for _, tc := range cases {
		c := ok
		tc.edit(&c)
		if err := c.validate(); (err == nil) != tc.ok {
			t.Errorf("%s: validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	c := ok
	c.URL = far
	if _, err := Run(context.Background(), c); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Run on %s = %v, want ErrNotLoopback", far, err)
	}
}
