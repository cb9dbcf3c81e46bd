package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildTestBinary builds keygate with the test clock.
func buildTestBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "keygate")
	if out, err := exec.Command("go", "build", "-tags", "testclock", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBin runs the binary and returns stdout, stderr and the exit status.
func runBin(t *testing.T, bin string, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatalf("%v: %v", args, err)
	return "", "", -1
}

// TestToolsBinary drives doctor, advise and connections as a user would: the real binary
// against a real `keygate serve` on a free port, on the test clock, with a rotation
// killed between the server's answer and the save.
func TestToolsBinary(t *testing.T) {
	bin := buildTestBinary(t)
	base, env, _, logs := startServe(t, bin, "")
	cfg := t.TempDir()
	env = append(env, "KEYGATE_CONFIG_DIR="+cfg)
	mint := func(name, scopes, expires string) string {
		t.Helper()
		out, errOut, code := runBin(t, bin, env, "", "admin", "token", "create", "--user", "root", "--name", name, "--scopes", scopes, "--expires-at", expires)
		if code != 0 {
			t.Fatalf("admin token create: %d %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	tok := mint("ci", "api", "2026-03-20") // 19 days left on the test clock

	// doctor: a warning (under 30 days) still exits 0; JSON for machines.
	out, errOut, code := runBin(t, bin, append(env, "KEYGATE_TOKEN="+tok), "", "doctor", "--url", base, "--format", "json")
	var rep struct {
		Status   string `json:"status"`
		ExitCode int    `json:"exit_code"`
		Token    struct {
			DaysLeft int `json:"days_left"`
		} `json:"token"`
		Checks []struct{ Name, Status, Finding string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Status != "warn" || rep.Token.DaysLeft != 19 {
		t.Fatalf("doctor = %d %s %s", code, out, errOut)
	}
	// No token at all: could not check (2). A revoked one via --token-file: a problem (1).
	if _, errOut, code := runBin(t, bin, env, "", "doctor", "--url", base); code != 2 || !strings.Contains(errOut, "KEYGATE_TOKEN") {
		t.Fatalf("doctor without a token = %d %s, want 2", code, errOut)
	}
	dead := mint("dead", "api", "2026-03-20")
	runBin(t, bin, env, "", "admin", "token", "revoke", tokenID(t, bin, env, "dead"))
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(dead+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, code := runBin(t, bin, env, "", "doctor", "--url", base, "--token-file", file); code != 1 || !strings.Contains(out, "revoked") || !strings.Contains(out, "fix:") {
		t.Fatalf("doctor with a revoked token = %d %s, want 1 with cause and fix", code, out)
	}

	// advise.
	out, _, code = runBin(t, bin, env, "", "advise", "--automation", "--scope-of-access", "group", "--needs", "git-push", "--format", "json")
	var adv struct{ Leaf, Type string }
	if code != 0 || json.Unmarshal([]byte(out), &adv) != nil || adv.Leaf != "group" {
		t.Fatalf("advise = %d %s", code, out)
	}

	// connections: add (token on stdin), list, check with a progress bar on stderr.
	if _, errOut, code := runBin(t, bin, env, tok+"\n", "connections", "add", "acme", "--url", base); code != 0 {
		t.Fatalf("connections add = %d %s", code, errOut)
	}
	out, _, _ = runBin(t, bin, env, "", "connections", "list", "--format", "json")
	var list []struct {
		Name, Owner, Type, Status string
		DaysLeft                  int  `json:"days_left"`
		Pending                   bool `json:"rotation_pending"`
		NeedsReauth               bool `json:"needs_reauth"`
	}
	if json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Owner != "root" || list[0].DaysLeft != 19 {
		t.Fatalf("connections list = %s", out)
	}
	out, errOut, code = runBin(t, bin, env, "", "connections", "check", "--format", "json")
	if code != 0 || !strings.Contains(out, `"status": "expiring"`) || !strings.Contains(errOut, "checking [") {
		t.Fatalf("connections check = %d %s / %s", code, out, errOut)
	}

	// rotate, killed after the server rotated: the next run recovers the same successor.
	_, errOut, code = runBin(t, bin, append(env, "KEYGATE_TEST_CRASH_AFTER_ROTATE=1"), "", "connections", "rotate", "--expiring-within", "30d")
	if code == 0 || !strings.Contains(errOut, "interrupted") {
		t.Fatalf("crashing rotate = %d %s, want a failure", code, errOut)
	}
	out, _, code = runBin(t, bin, env, "", "connections", "rotate", "--expiring-within", "30d", "--format", "json")
	if code != 0 || !strings.Contains(out, `"outcome": "recovered"`) {
		t.Fatalf("rotate after the crash = %d %s", code, out)
	}
	out, _, code = runBin(t, bin, env, "", "connections", "check", "--no-progress", "--expiring-within", "14d")
	if code != 0 || !strings.Contains(out, "healthy") {
		t.Fatalf("check after recovery = %d %s", code, out)
	}
	if _, errOut, code := runBin(t, bin, env, "", "connections", "remove", "acme"); code != 0 {
		t.Fatalf("remove = %d %s", code, errOut)
	}
	if _, _, code := runBin(t, bin, env, "", "connections", "remove", "acme"); code != 1 {
		t.Fatalf("remove of a missing connection = %d, want 1", code)
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("server log holds a token")
	}
}

// tokenID finds a token's ID by name through the admin CLI.
func tokenID(t *testing.T, bin string, env []string, name string) string {
	t.Helper()
	out, _, _ := runBin(t, bin, env, "", "admin", "token", "list", "--format", "json")
	var list []struct {
		ID   json.Number `json:"id"`
		Name string      `json:"name"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("token list: %v %s", err, out)
	}
	for _, x := range list {
		if x.Name == name {
			return x.ID.String()
		}
	}
	t.Fatalf("no token %s in %s", name, out)
	return ""
}

// TestToolsFlags: refusals before any request.
func TestToolsFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"doctor"}, "--url"},
		{[]string{"doctor", "--url", "http://x", "--min-role", "boss"}, "--min-role"},
		{[]string{"doctor", "--url", "http://x", "--format", "xml"}, "--format"},
		{[]string{"doctor", "--url", "http://x", "--token", "glpat-x"}, "unknown flag"},
		{[]string{"advise", "--automation", "--needs", "fly"}, "unknown need"},
		{[]string{"advise", "--automation", "--needs", "git-read", "--scope-of-access", "world"}, "scope-of-access"},
		{[]string{"connections", "add", "x", "--config-dir", t.TempDir()}, "--url"},
		{[]string{"connections", "rotate", "--expiring-within", "soon", "--config-dir", t.TempDir()}, "--expiring-within"},
		{[]string{"connections", "remove", "ghost", "--config-dir", t.TempDir()}, "no such connection"},
	}
	for _, c := range cases {
		_, _, err := runCLI(t, nil, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v = %v, want an error naming %s", c.args, err, c.want)
		}
	}
	// advise asks when given no flags.
	out, errOut, err := runCLI(t, nil, "y\nn\ninstance\napi-read\n", "advise")
	if err != nil || !strings.Contains(out, "service account") || !strings.Contains(errOut, "?") {
		t.Fatalf("advise by questions = %v\n%s\n%s", err, out, errOut)
	}
}
