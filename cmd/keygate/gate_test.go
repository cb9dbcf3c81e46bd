package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeGateFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGateCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeGateFile(t, good, "services:\n  - name: api\n    paths: [/api/]\n    require:\n      scopes_any: [api]\ndefault: deny\n")
	out, errOut, err := runCLI(t, testEnv, "", "gate", "check", good)
	if err != nil || !strings.Contains(out, "is ok: 1 service(s), default deny") || errOut != "" {
		t.Fatalf("gate check good = %q %q %v", out, errOut, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeGateFile(t, bad, "services:\n  - name: api\n    hots: [x]\n    require:\n      member_of: acme\n      min_access_level: 33\n      token_types: [robot]\n")
	out, errOut, err = runCLI(t, testEnv, "", "gate", "check", bad)
	if err == nil {
		t.Fatal("gate check bad = nil error, want exit 1")
	}
	for _, want := range []string{bad + `:3: unknown key "hots"`, bad + ":6: min_access_level", bad + `:7: unknown token type "robot"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr = %q, want %q", errOut, want)
		}
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing for a bad file", out)
	}
	perms := filepath.Join(dir, "perms.yaml")
	writeGateFile(t, perms, "services:\n  - name: api\n    require:\n      member_of: acme\n      permissions:\n        - read_project\n        - read_everything\n")
	if _, errOut, err = runCLI(t, testEnv, "", "gate", "check", perms); err == nil || !strings.Contains(errOut, perms+`:7: unknown permission "read_everything"`) {
		t.Errorf("gate check unknown permission = %q %v, want the error on line 7", errOut, err)
	}
	yaml := filepath.Join(dir, "yaml.yaml")
	writeGateFile(t, yaml, "services:\n  - name: a\n    paths: a: b\n")
	if _, errOut, err = runCLI(t, testEnv, "", "gate", "check", yaml); err == nil || !strings.Contains(errOut, yaml+":3: invalid YAML") {
		t.Errorf("gate check bad YAML = %q %v", errOut, err)
	}
	if _, _, err = runCLI(t, testEnv, "", "gate", "check", filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("gate check missing file = nil error")
	}
}

// TestServeGateFile: serve loads the gate file, reloads it when it changes and on
// SIGHUP, refuses a bad one keeping the policy in force, and does not start on a bad one.
func TestServeGateFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gate.yaml")
	writeGateFile(t, file, "services:\n  - name: open\n    anonymous: true\n")
	if _, _, err := runCLI(t, testEnv, "", "serve", "--addr", freePort(t), "--data-dir", t.TempDir(), "--gate-file", filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("serve with a missing gate file started")
	}
	env := map[string]string{"KEYGATE_PASSWORD_ITERATIONS": "1000", "KEYGATE_GATE_FILE": file}
	srv := startInProcess(t, env, "--data-dir", t.TempDir())
	addr := srv.Addr
	gateStatus := func() int {
		resp, err := http.Get("http://" + addr + "/-/gate")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	count := func(s string) int { return strings.Count(srv.Logs.String(), s) }
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s; log:\n%s", what, srv.Logs.String())
			}
			time.Sleep(10 * time.Millisecond) // a real server reloading a file; polled with a deadline
		}
	}
	if s := gateStatus(); s != 200 {
		t.Fatalf("anonymous service = %d, want 200", s)
	}
	// A bad edit: refused, logged, the open policy stays.
	writeGateFile(t, file, "services:\n  - name: open\n    anonymus: true\n")
	waitFor("bad file refused", func() bool { return count("gate file refused") >= 1 })
	if s := gateStatus(); s != 200 {
		t.Errorf("after a bad reload = %d, want 200 (old policy)", s)
	}
	// SIGHUP reloads too (here the same bad file: refused once more).
	n := count("gate file refused")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("SIGHUP reload", func() bool { return count("gate file refused") > n })
	// A good edit takes effect.
	writeGateFile(t, file, "services:\n  - name: closed\n    paths: [/nothing/]\n")
	waitFor("good file reloaded", func() bool { return gateStatus() == 403 })
}
