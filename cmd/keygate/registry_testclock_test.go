//go:build testclock

package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRegistryTestClock: the JWT's times come from the test clock file, and the
// lifetime from container_registry_token_expire_delay, end to end on `keygate serve`.
func TestServeRegistryTestClock(t *testing.T) {
	dir := t.TempDir()
	clockFile := filepath.Join(dir, "clock")
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if err := os.WriteFile(clockFile, []byte(now.Format(time.RFC3339)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KEYGATE_PASSWORD_ITERATIONS": "1000", "KEYGATE_TEST_CLOCK_FILE": clockFile}
	base := startInProcess(t, env, "--data-dir", filepath.Join(dir, "data"), "--registry-url", "registry.test").Base
	tok, _, err := runCLI(t, env, "", "admin", "token", "create", "--data-dir", filepath.Join(dir, "data"), "--user", "root", "--name", "r",
		"--scopes", "api", "--expires-at", "2026-04-01")
	if err != nil {
		t.Fatal(err)
	}
	tok = strings.TrimSpace(tok)
	claims := func() (iat, exp int64) {
		t.Helper()
		st, body := jwtAuth(t, base, "root", tok, "service=container_registry&scope=registry:catalog:*")
		var ans struct{ Token string }
		if err := json.Unmarshal([]byte(body), &ans); st != 200 || err != nil {
			t.Fatalf("/jwt/auth = %d %s", st, body)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(ans.Token, ".")[1])
		var c struct{ Iat, Exp int64 }
		_ = json.Unmarshal(raw, &c)
		return c.Iat, c.Exp
	}
	if iat, exp := claims(); iat != now.Unix() || exp != now.Unix()+300 {
		t.Errorf("iat %d exp %d, want %d and 5 minutes later", iat, exp, now.Unix())
	}
	req, _ := http.NewRequest("PUT", base+"/api/v4/application/settings?container_registry_token_expire_delay=30", nil)
	req.Header.Set("PRIVATE-TOKEN", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT settings: %v %v", err, resp)
	}
	resp.Body.Close()
	later := now.Add(2 * time.Hour)
	if err := os.WriteFile(clockFile, []byte(later.Format(time.RFC3339)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if iat, exp := claims(); iat != later.Unix() || exp != later.Unix()+1800 {
		t.Errorf("after the setting and two hours: iat %d exp %d, want %d and 30 minutes later", iat, exp, later.Unix())
	}
}
