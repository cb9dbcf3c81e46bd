package server_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

// tcpProxy forwards connections to a target until cut: then it drops every open
// connection and refuses new ones until restored, as a failed database host would.
type tcpProxy struct {
	l      net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { l.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, up)
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (p *tcpProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *tcpProxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *tcpProxy) restore() { p.down.Store(false) }

// TestDatabaseOutage: PostgreSQL connections cut under load. Requests fail fast with 503
// (not 500, not a hang), /-/readiness turns 503, and the server recovers by itself when
// the database is back, without a restart.
func TestDatabaseOutage(t *testing.T) {
	base := keygatetest.PostgresURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.l.Addr().String()
	s := keygatetest.NewServerWith(t, keygatetest.Options{DatabaseURL: u.String()})
	tok := s.Token(t, 1, "outage", keygate.ScopeAPI)
	if st := status(t, "GET", s.API+"/user", tok); st != 200 {
		t.Fatalf("before the outage: GET /user = %d", st)
	}

	// Load runs through the whole outage: every answer must be a 200 or a 503.
	stopLoad := make(chan struct{})
	var loadWG sync.WaitGroup
	var answers sync.Map // status → count
	for range 4 {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				req, _ := http.NewRequest("GET", s.API+"/user", nil)
				req.Header.Set("PRIVATE-TOKEN", tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				n, _ := answers.LoadOrStore(resp.StatusCode, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}()
	}
	defer func() {
		close(stopLoad)
		loadWG.Wait()
		answers.Range(func(k, v any) bool {
			t.Logf("load during the outage: %d × %d", v.(*atomic.Int64).Load(), k)
			if k != 200 && k != 503 {
				t.Errorf("load got status %d; want only 200 and 503", k)
			}
			return true
		})
	}()

	proxy.cut()
	// The cut is seen when the listener's connection breaks; until then a cached answer
	// may still be given. After that, every request is a fast 503.
	deadline := time.Now().Add(5 * time.Second)
	for status(t, "GET", s.API+"/user", tok) != 503 {
		if time.Now().After(deadline) {
			t.Fatal("GET /user never answered 503 while the database was cut")
		}
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v4/user"},
		{"GET", "/api/v4/personal_access_tokens"},
		{"POST", "/api/v4/user/personal_access_tokens"},
		{"GET", "/-/readiness"},
	} {
		start := time.Now()
		req, _ := http.NewRequest(c.method, s.URL+c.path, nil)
		req.Header.Set("PRIVATE-TOKEN", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Errorf("%s %s during the outage = %d, want 503", c.method, c.path, resp.StatusCode)
		}
		if c.path != "/-/readiness" && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", c.method, c.path)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("%s %s took %v during the outage, want a fast failure", c.method, c.path, d)
		}
	}
	if st := status(t, "GET", s.URL+"/-/health", ""); st != 200 {
		t.Errorf("/-/health during the outage = %d, want 200 (the process serves)", st)
	}

	proxy.restore()
	deadline = time.Now().Add(15 * time.Second)
	for status(t, "GET", s.URL+"/-/readiness", "") != 200 || status(t, "GET", s.API+"/user", tok) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the server did not recover within 15 s of the database's return")
		}
	}
	fresh := s.Token(t, 1, "after", keygate.ScopeAPI)
	if st := status(t, "GET", s.API+"/user", fresh); st != 200 {
		t.Errorf("a token made after the outage = %d", st)
	}
	if st := status(t, "DELETE", s.API+"/personal_access_tokens/self", fresh); st != 204 {
		t.Errorf("revoke after the outage = %d", st)
	}
	if st := status(t, "GET", s.API+"/user", fresh); st != 401 {
		t.Errorf("revoked token after the outage = %d, want 401", st)
	}
}
