package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/loadtest"
)

// TestMain lets this test binary be keygate loadtest's bare handler process, as the
// keygate binary is.
func TestMain(m *testing.M) {
	loadtest.ServeBareChild()
	os.Exit(m.Run())
}

// runCLI runs one command line in-process and returns stdout and stderr.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, getenv)
	return out.String(), errb.String(), err
}

var testEnv = map[string]string{"KEYGATE_PASSWORD_ITERATIONS": "1000"}

func TestAdminOnFreshDataDir(t *testing.T) {
	dir := t.TempDir()
	out, errOut, err := runCLI(t, testEnv, "", "admin", "token", "create", "--data-dir", dir,
		"--user", "root", "--name", "ci", "--scopes", "api,read_user", "--expires-at", time.Now().AddDate(0, 1, 0).Format("2006-01-02"))
	if err != nil {
		t.Fatalf("token create: %v (stderr %s)", err, errOut)
	}
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, "glpat-") || strings.Count(out, "\n") != 1 {
		t.Fatalf("stdout = %q, want exactly one glpat- token line", out)
	}
	if strings.Contains(errOut, tok) {
		t.Error("stderr contains the token")
	}
	for _, name := range []string{"secret", "initial_root_password"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, fi.Mode().Perm())
		}
	}
	pw, _ := os.ReadFile(filepath.Join(dir, "initial_root_password"))
	if strings.Contains(errOut, strings.TrimSpace(string(pw))) {
		t.Error("stderr prints root's password")
	}

	// user create with password from stdin, then list in both formats.
	out, errOut, err = runCLI(t, testEnv, "s3cret-password\n", "admin", "user", "create", "--data-dir", dir,
		"--username", "carol", "--email", "carol@example.com", "--name", "Carol", "--password-stdin", "--format", "json")
	if err != nil {
		t.Fatalf("user create: %v %s", err, errOut)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(out), &u); err != nil || u["username"] != "carol" || u["id"] != float64(2) {
		t.Fatalf("user create json = %s (%v)", out, err)
	}
	out, _, err = runCLI(t, testEnv, "", "admin", "user", "list", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "carol") || !strings.Contains(out, "root") || !strings.HasPrefix(out, "ID") {
		t.Fatalf("user list = %q, %v", out, err)
	}

	out, _, err = runCLI(t, testEnv, "", "admin", "token", "list", "--data-dir", dir, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("token list json = %s (%v)", out, err)
	}
	for _, k := range []string{"id", "name", "user_id", "scopes", "expires_at", "active", "revoked", "created_at", "last_used_at"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("token list item lacks %q: %v", k, list[0])
		}
	}
	if strings.Contains(out, tok) {
		t.Error("token list prints the token")
	}
	// Flags after positional arguments, as cobra parses them.
	if _, errOut, err := runCLI(t, testEnv, "", "admin", "token", "revoke", "1", "--data-dir", dir); err != nil {
		t.Fatalf("revoke: %v %s", err, errOut)
	}
	out, _, _ = runCLI(t, testEnv, "", "admin", "token", "list", "--data-dir", dir)
	if !strings.Contains(out, "revoked") {
		t.Errorf("table after revoke = %q", out)
	}
	// Errors: non-zero, nothing on stdout.
	for _, args := range [][]string{
		{"admin", "token", "create", "--data-dir", dir, "--user", "nobody", "--name", "x", "--scopes", "api"},
		{"admin", "token", "create", "--data-dir", dir, "--user", "root", "--name", "x", "--scopes", "everything"},
		{"admin", "token", "create", "--data-dir", dir, "--user", "root", "--name", "x", "--scopes", "api", "--expires-at", "tomorrow"},
		{"admin", "token", "revoke", "abc", "--data-dir", dir},
		{"admin", "token", "revoke", "999", "--data-dir", dir},
		{"admin", "user", "list", "--data-dir", dir, "--format", "xml"},
	} {
		out, _, err := runCLI(t, testEnv, "", args...)
		if err == nil || out != "" {
			t.Errorf("%v = stdout %q, err %v; want an error and no stdout", args, out, err)
		}
	}
}

// TestServeBinary builds the real binary (with the test clock), runs `keygate serve`, and
// uses `keygate admin` against the same data dir while it runs.
func TestServeBinary(t *testing.T) {
	onBothStores(t, serveBinary)
}

// onBothStores builds the binary once and runs fn on SQLite and on PostgreSQL (an empty
// dbURL is SQLite; the PostgreSQL run skips without KEYGATE_TEST_DATABASE_URL).
func onBothStores(t *testing.T, fn func(t *testing.T, bin, dbURL string)) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dbURL := ""
			if backend == "postgres" {
				dbURL = keygatetest.PostgresURL(t)
			}
			fn(t, bin, dbURL)
		})
	}
}

// buildBinary builds keygate with the test clock into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keygate")
	build := exec.Command("go", "build", "-tags", "testclock", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBinary runs `keygate serve` with env until it logs that it listens. The server is
// stopped with SIGINT at cleanup unless the test already ended it; exited is closed when
// the process is gone.
func startBinary(t *testing.T, bin string, env []string) (srv *exec.Cmd, logs *keygatetest.SyncBuffer, exited <-chan struct{}) {
	t.Helper()
	logs = &keygatetest.SyncBuffer{}
	srv = exec.Command(bin, "serve")
	srv.Env = env
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	gone := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			_, _ = logs.Write(append(sc.Bytes(), '\n'))
			if !signalled && strings.Contains(sc.Text(), "keygate listening") {
				close(ready)
				signalled = true
			}
		}
		_ = srv.Wait()
		close(gone)
	}()
	select {
	case <-ready:
	case <-gone:
		t.Fatalf("server exited before listening; log:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start; log:\n%s", logs.String())
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(os.Interrupt)
		select {
		case <-gone:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
			t.Error("server did not stop on SIGINT")
		}
	})
	return srv, logs, gone
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func serveBinary(t *testing.T, bin, dbURL string) {
	base, env, clockFile, logs := startServe(t, bin, dbURL)
	dir := filepath.Dir(clockFile)
	for _, p := range []string{"/-/health", "/-/readiness", "/-/metrics"} {
		resp, err := http.Get(base + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s = %v, %v", p, resp, err)
		}
		resp.Body.Close()
	}

	admin := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"admin"}, args...)...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("admin %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	tok := strings.TrimSpace(admin("token", "create", "--user", "root", "--name", "ci", "--scopes", "api,read_user", "--expires-at", "2026-03-10"))
	c, err := gitlab.NewClient(tok, gitlab.WithBaseURL(base+"/api/v4"), gitlab.WithCustomRetryMax(0))
	if err != nil {
		t.Fatal(err)
	}
	me, _, err := c.Users.CurrentUser()
	if err != nil || me.ID != 1 || me.Username != "root" {
		t.Fatalf("CurrentUser = %v, %v", me, err)
	}
	if !strings.HasPrefix(me.WebURL, "http://gitlab.test:8080/root") {
		t.Errorf("web_url = %q, want the external URL", me.WebURL)
	}
	// Revoked by another process: the very next request is refused.
	var list []map[string]any
	if err := json.Unmarshal([]byte(admin("token", "list", "--format", "json")), &list); err != nil || len(list) != 1 {
		t.Fatalf("token list: %v %v", list, err)
	}
	admin("token", "revoke", fmt.Sprint(list[0]["id"]))
	if dbURL == "" {
		// SQLite: PRAGMA data_version makes the very next request see it.
		if _, resp, _ := c.Users.CurrentUser(); resp == nil || resp.StatusCode != 401 {
			t.Fatalf("after CLI revoke: %v, want 401", resp)
		}
	} else {
		// PostgreSQL: LISTEN/NOTIFY, refused within the documented bound.
		revokedWithin(t, c, 100*time.Millisecond)
	}
	// The test clock moves the running server's time: a token expiring 2026-03-10 dies then.
	tok2 := strings.TrimSpace(admin("token", "create", "--user", "root", "--name", "ci2", "--scopes", "read_user", "--expires-at", "2026-03-10"))
	c2, _ := gitlab.NewClient(tok2, gitlab.WithBaseURL(base+"/api/v4"), gitlab.WithCustomRetryMax(0))
	if _, _, err := c2.Users.CurrentUser(); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	if err := os.WriteFile(clockFile, []byte("2026-03-10T00:00:00Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, resp, _ := c2.Users.CurrentUser(); resp == nil || resp.StatusCode != 401 {
		t.Fatalf("on the expiry day: %v, want 401", resp)
	}
	if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), tok2) {
		t.Error("server log contains a token")
	}
	pw, err := os.ReadFile(filepath.Join(dir, "data", "initial_root_password"))
	if err != nil {
		t.Fatalf("initial_root_password: %v", err)
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(pw))) {
		t.Error("server log contains root's password")
	}
}

// startServe runs `keygate serve` of bin on a free port with a test clock file (at
// 2026-03-01T10:00:00Z) until the test ends, and returns its base URL, the environment
// the server and admin commands share, the clock file and the server's log.
func startServe(t *testing.T, bin, dbURL string) (string, []string, string, *keygatetest.SyncBuffer) {
	t.Helper()
	dir := t.TempDir()
	addr := freePort(t)
	clockFile := filepath.Join(dir, "clock")
	if err := os.WriteFile(clockFile, []byte("2026-03-01T10:00:00Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "KEYGATE_DATA_DIR="+filepath.Join(dir, "data"), "KEYGATE_ADDR="+addr,
		"KEYGATE_DATABASE_URL="+dbURL, "KEYGATE_TEST_CLOCK_FILE="+clockFile, "KEYGATE_PASSWORD_ITERATIONS=1000",
		"KEYGATE_EXTERNAL_URL=http://gitlab.test:8080/")
	_, logs, _ := startBinary(t, bin, env)
	return "http://" + addr, env, clockFile, logs
}

// revokedWithin asks until the token is refused, failing after bound. It measures how
// long a NOTIFY takes to reach the server; there is no event to wait on from outside.
func revokedWithin(t *testing.T, c *gitlab.Client, bound time.Duration) {
	t.Helper()
	start := time.Now()
	for n := 1; ; n++ {
		_, resp, _ := c.Users.CurrentUser()
		if resp != nil && resp.StatusCode == 401 {
			t.Logf("refused after %v (%d requests)", time.Since(start), n)
			return
		}
		if time.Since(start) > bound {
			t.Fatalf("still accepted %v after the revocation (%d requests)", time.Since(start), n)
		}
	}
}

// inProcessServer is `keygate serve` run inside the test process.
type inProcessServer struct {
	Addr, Base string
	// Listening is the start-up log line; Logs all lines so far.
	Listening string
	Logs      *keygatetest.SyncBuffer
	stop      func() error
}

// startInProcess runs `keygate serve` with args and env on a free port until Stop or the
// end of the test.
func startInProcess(t *testing.T, env map[string]string, args ...string) *inProcessServer {
	t.Helper()
	srv := &inProcessServer{Addr: freePort(t), Logs: &keygatetest.SyncBuffer{}}
	srv.Base = "http://" + srv.Addr
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", srv.Addr, "--shutdown-timeout", "5s"}, args...),
			strings.NewReader(""), io.Discard, pw, func(k string) string { return env[k] })
		pw.Close()
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			_, _ = srv.Logs.Write(append(sc.Bytes(), '\n'))
			if !signalled && strings.Contains(sc.Text(), "keygate listening") {
				ready <- sc.Text()
				signalled = true
			}
		}
	}()
	select {
	case srv.Listening = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	var once sync.Once
	var stopErr error
	srv.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				stopErr = errors.New("server did not stop within 10 s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := srv.stop(); err != nil {
			t.Errorf("stop serve: %v", err)
		}
	})
	return srv
}

// Stop cancels serve as SIGTERM would and returns what it returned.
func (s *inProcessServer) Stop() error { return s.stop() }
