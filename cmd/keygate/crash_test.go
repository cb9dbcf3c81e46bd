package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashLosesNothing kills `keygate serve` with SIGKILL while 8 clients create and
// rotate personal and project access tokens, restarts it on the same data, and checks
// that every token whose create or rotate was answered 2xx works (or, once rotated away
// with a 2xx, is refused), and that `keygate admin fsck` finds no orphan bot and no
// half-rotated chain.
func TestCrashLosesNothing(t *testing.T) {
	onBothStores(t, crashRun)
}

// issued is one token a client was handed with a 2xx.
type issued struct {
	id       int64
	token    string
	project  int64 // 0: a personal token
	replaced bool  // a later rotate of it was answered 2xx
	unsure   bool  // a rotate of it got no answer: it may have committed
}

type crashClient struct {
	base, admin string
	http        *http.Client
}

// call sends one request; status 0 means no answer (the server died under it).
func (c *crashClient) call(method, path, token string, body any) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("PRIVATE-TOKEN", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func crashRun(t *testing.T, bin, dbURL string) {
	dir := t.TempDir()
	addr := freePort(t)
	env := append(os.Environ(), "KEYGATE_DATA_DIR="+filepath.Join(dir, "data"), "KEYGATE_ADDR="+addr,
		"KEYGATE_DATABASE_URL="+dbURL, "KEYGATE_PASSWORD_ITERATIONS=1000")
	admin := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"admin"}, args...)...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			err = fmt.Errorf("%w: %s%s", err, out.String(), errb.String())
		}
		return out.String(), err
	}
	exp := time.Now().UTC().AddDate(0, 6, 0).Format(time.DateOnly)
	rootTok, err := admin("token", "create", "--user", "root", "--name", "crash", "--scopes", "api", "--expires-at", exp)
	if err != nil {
		t.Fatal(err)
	}
	srv, _, exited := startBinary(t, bin, env)
	c := &crashClient{base: "http://" + addr + "/api/v4", admin: strings.TrimSpace(rootTok),
		http: &http.Client{Timeout: 30 * time.Second}}
	st, g := c.call("POST", "/groups", c.admin, map[string]any{"name": "crash", "path": "crash"})
	if st != 201 {
		t.Fatalf("create group = %d %v", st, g)
	}
	st, p := c.call("POST", "/projects", c.admin, map[string]any{"name": "app", "namespace_id": g["id"]})
	if st != 201 {
		t.Fatalf("create project = %d %v", st, p)
	}
	project := int64(p["id"].(float64))

	var (
		mu     sync.Mutex
		ledger []*issued
		oks    atomic.Int64
		wg     sync.WaitGroup
	)
	const killAfter = 120 // successful writes before the SIGKILL
	create := func(proj int64, i int) *issued {
		path, body := "/users/1/personal_access_tokens", map[string]any{"name": fmt.Sprint("p", i), "scopes": []string{"read_user"}, "expires_at": exp}
		if proj != 0 {
			path = fmt.Sprintf("/projects/%d/access_tokens", proj)
			body = map[string]any{"name": fmt.Sprint("b", i), "scopes": []string{"read_api"}, "access_level": 30, "expires_at": exp}
		}
		st, out := c.call("POST", path, c.admin, body)
		if st != 201 {
			return nil
		}
		return &issued{id: int64(out["id"].(float64)), token: out["token"].(string), project: proj}
	}
	rotate := func(prev *issued) (*issued, int) {
		path := fmt.Sprintf("/personal_access_tokens/%d/rotate", prev.id)
		if prev.project != 0 {
			path = fmt.Sprintf("/projects/%d/access_tokens/%d/rotate", prev.project, prev.id)
		}
		st, out := c.call("POST", path, c.admin, nil)
		if st != 200 {
			return nil, st
		}
		return &issued{id: int64(out["id"].(float64)), token: out["token"].(string), project: prev.project}, st
	}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []*issued
			for i := 0; ; i++ {
				var got *issued
				switch {
				case i%3 == 2 && len(mine) > 0:
					prev := mine[len(mine)-1]
					var st int
					got, st = rotate(prev)
					mu.Lock()
					prev.replaced = got != nil
					prev.unsure = st == 0
					mu.Unlock()
				default:
					proj := int64(0)
					if (w+i)%2 == 0 {
						proj = project
					}
					got = create(proj, w*10000+i)
				}
				if got == nil {
					select {
					case <-exited:
						return // the server is gone: stop
					default:
						continue
					}
				}
				mine = append(mine, got)
				mu.Lock()
				ledger = append(ledger, got)
				mu.Unlock()
				if oks.Add(1) == killAfter {
					_ = srv.Process.Signal(syscall.SIGKILL)
				}
			}
		}()
	}
	// The writers must reach the kill: a server that stops answering (a deadlock, a pool
	// exhausted by nested transactions) fails here instead of at the test timeout.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = srv.Process.Signal(syscall.SIGQUIT) // its goroutine dump goes to the log
		t.Fatalf("writes stalled at %d answered (want %d before the kill)", oks.Load(), killAfter)
	}
	<-exited
	t.Logf("killed after %d answered writes", oks.Load())

	if out, err := admin("fsck"); err != nil {
		t.Fatalf("fsck after the crash: %v\n%s", err, out)
	}
	startBinary(t, bin, env)
	for _, is := range ledger {
		if is.unsure {
			continue
		}
		st, _ := c.call("GET", "/personal_access_tokens/self", is.token, nil)
		want := 200
		if is.replaced {
			want = 401
		}
		if st != want {
			t.Errorf("token %d (project %d, replaced %v) after restart = %d, want %d", is.id, is.project, is.replaced, st, want)
		}
	}
}
