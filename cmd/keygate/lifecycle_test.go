package main

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

// TestAdminInventoryAndLifecycle: `admin token list --expiring-within 30d` in JSON and
// CSV, and `admin lifecycle run` sending the notices due (once) over --smtp-url.
func TestAdminInventoryAndLifecycle(t *testing.T) {
	dir := t.TempDir()
	today := keygate.DateOf(time.Now())
	create := func(name string, days int) string {
		out, errOut, err := runCLI(t, testEnv, "", "admin", "token", "create", "--data-dir", dir, "--user", "root",
			"--name", name, "--scopes", "api,read_user", "--expires-at", today.AddDays(days).String())
		if err != nil {
			t.Fatalf("token create: %v %s", err, errOut)
		}
		return strings.TrimSpace(out)
	}
	soon := create("soon", 10)
	create("later", 50)

	out, errOut, err := runCLI(t, testEnv, "", "admin", "token", "list", "--data-dir", dir, "--expiring-within", "30d", "--format", "json")
	if err != nil {
		t.Fatalf("list json: %v %s", err, errOut)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		t.Fatalf("list json output %q: %v", out, err)
	}
	if len(items) != 1 || items[0]["name"] != "soon" || items[0]["token_type"] != "personal" ||
		items[0]["owner_username"] != "root" || items[0]["expires_at"] != today.AddDays(10).String() {
		t.Fatalf("expiring within 30d = %v, want only soon", items)
	}
	for _, k := range []string{"id", "user_id", "scopes", "last_used_at", "last_used_ips", "active", "revoked"} {
		if _, ok := items[0][k]; !ok {
			t.Errorf("json token lacks %s", k)
		}
	}
	if strings.Contains(out, soon) {
		t.Fatal("the inventory prints a token")
	}
	out, _, err = runCLI(t, testEnv, "", "admin", "token", "list", "--data-dir", dir, "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "id" || rows[1][1] != "soon" || rows[2][1] != "later" || rows[1][5] != "api read_user" {
		t.Fatalf("csv = %q, %v", out, err)
	}
	for _, bad := range [][]string{{"--expiring-within", "soon"}, {"--format", "xml"}} {
		if _, _, err := runCLI(t, testEnv, "", append([]string{"admin", "token", "list", "--data-dir", dir}, bad...)...); err == nil {
			t.Errorf("token list %v succeeded, want an error", bad)
		}
	}

	smtp := keygatetest.NewSMTP(t, nil)
	for range 2 {
		if _, errOut, err := runCLI(t, testEnv, "", "admin", "lifecycle", "run", "--data-dir", dir, "--smtp-url", smtp.URL()); err != nil {
			t.Fatalf("lifecycle run: %v %s", err, errOut)
		}
	}
	var subjects []string
	for _, m := range smtp.Messages() {
		for _, line := range strings.Split(m.Data, "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				subjects = append(subjects, s)
			}
		}
	}
	joined := strings.Join(subjects, "|")
	if strings.Count(joined, "will expire in 30 days") != 1 || strings.Count(joined, "will expire in 60 days") != 1 {
		t.Errorf("subjects = %v, want one 30-day and one 60-day notice", subjects)
	}
}

func TestParseWithin(t *testing.T) {
	cases := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"30d", 30, false}, {"0d", 0, false}, {"72h", 3, false}, {"1h", 0, false},
		{"d", 0, true}, {"-1d", 0, true}, {"-5h", 0, true}, {"soon", 0, true}, {"", 0, true},
	}
	for _, c := range cases {
		got, err := parseWithin(c.in)
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("parseWithin(%q) = %d, %v, want %d (error %v)", c.in, got, err, c.want, c.wantErr)
		}
	}
}

func FuzzParseWithin(f *testing.F) {
	for _, s := range []string{"30d", "72h", "d", "-1d", "soon", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parseWithin(s); err == nil && n < 0 {
			t.Errorf("parseWithin(%q) = %d, want a non-negative day count", s, n)
		}
	})
}
