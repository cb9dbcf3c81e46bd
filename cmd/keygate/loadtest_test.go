package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/loadtest"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// writeTokens writes tokens to a 0600 file and returns its path.
func writeTokens(t *testing.T, tokens []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(strings.Join(tokens, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadtestEndToEnd drives an in-process Keygate (the full HTTP stack on 127.0.0.1:0)
// with 50 tokens for about a second per target, plain and mixed, through the command.
func TestLoadtestEndToEnd(t *testing.T) {
	srv := keygatetest.NewServer(t)
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = srv.Token(t, 1, "load", keygate.ScopeAPI)
	}
	file := writeTokens(t, tokens)
	for _, mode := range []string{"verify", "mix"} {
		t.Run(mode, func(t *testing.T) {
			// The progress line comes once a second; the mixed run is shorter.
			args := []string{"loadtest", "--url", srv.URL, "--tokens-file", file, "--duration", "1100ms",
				"--connections", "4", "--format", "json"}
			if mode == "mix" {
				args = append(args, "--mix", "--duration", "600ms")
			}
			out, errOut, err := runCLI(t, testEnv, "", args...)
			if err != nil {
				t.Fatalf("loadtest: %v\nstderr: %s", err, errOut)
			}
			var rep loadtest.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
			}
			kg := rep.Keygate
			if kg.Requests == 0 || kg.Throughput <= 0 || kg.Errors != 0 || rep.Bare == nil || rep.Bare.Throughput <= 0 {
				t.Fatalf("report: keygate %+v, bare %+v; want throughput on both, no errors", kg, rep.Bare)
			}
			if rep.BareProcess != "own" {
				t.Errorf("bare_process = %q, want the bare handler in its own process by default", rep.BareProcess)
			}
			if rep.Ratio <= 0 || rep.Ratio > 10 || rep.RatioGoal != loadtest.RatioGoal || rep.Tokens != 50 || rep.Mode != mode {
				t.Errorf("ratio %v (goal %v), tokens %d, mode %q", rep.Ratio, rep.RatioGoal, rep.Tokens, rep.Mode)
			}
			if kg.Latency.P50 <= 0 || kg.Latency.P50 > kg.Latency.P90 || kg.Latency.P90 > kg.Latency.P99 || kg.Latency.P99 > kg.Latency.Max {
				t.Errorf("latency %+v is not ordered", kg.Latency)
			}
			if mode == "verify" && !strings.Contains(errOut, "req/s") {
				t.Errorf("stderr has no progress line: %q", errOut)
			}
			for _, tok := range tokens {
				if strings.Contains(out+errOut, tok) {
					t.Fatal("output contains a token")
				}
			}
			if mode == "mix" {
				if kg.Ops["create"].Requests == 0 || kg.Ops["revoke"].Requests == 0 {
					t.Errorf("mix ops = %+v, want creates and revokes", kg.Ops)
				}
				if rep.Cleanup == nil || rep.Cleanup.Failed != 0 {
					t.Errorf("clean-up = %+v", rep.Cleanup)
				}
				// Every token the run created is revoked: only the 50 (and root's test
				// token) stay active.
				ts, _, err := srv.Service.Tokens(context.Background(), srvAdmin(), storeActive())
				if err != nil || len(ts) != 51 {
					t.Errorf("active tokens after the mix = %d, %v; want 51", len(ts), err)
				}
			}
		})
	}

	// Text output names both targets and the ratio.
	out, _, err := runCLI(t, testEnv, "", "loadtest", "--url", srv.URL, "--tokens-file", file, "--duration", "200ms", "--connections", "2")
	if err != nil || !strings.Contains(out, "keygate") || !strings.Contains(out, "bare") || !strings.Contains(out, "ratio ") {
		t.Errorf("text output = %q, %v", out, err)
	}
}

func TestLoadtestFlags(t *testing.T) {
	file := writeTokens(t, []string{"glpat-notarealtokenxxxxxxxxxxxxxxxxxxxx"})
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("# comment\n\nnot-a-token\n"), 0o600)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no tokens", []string{}, "exactly one of --tokens-file and --create"},
		{"both sources", []string{"--tokens-file", file, "--create", "5", "--data-dir", t.TempDir()}, "exactly one"},
		{"create without instance", []string{"--create", "5"}, "--create needs --data-dir"},
		{"create too many", []string{"--create", "2000000", "--data-dir", t.TempDir()}, "--create must be"},
		{"remote url", []string{"--tokens-file", file, "--url", "http://192.0.2.7:8080"}, "loopback"},
		{"remote name", []string{"--tokens-file", file, "--url", "http://example.com"}, "loopback"},
		{"not http", []string{"--tokens-file", file, "--url", "file:///etc/passwd"}, "http://"},
		{"format", []string{"--tokens-file", file, "--format", "xml"}, "--format"},
		{"duration cap", []string{"--tokens-file", file, "--duration", "11m"}, "--duration"},
		{"no duration", []string{"--tokens-file", file, "--duration", "0s"}, "--duration"},
		{"connections", []string{"--tokens-file", file, "--connections", "0"}, "--connections"},
		{"mix and first-use", []string{"--tokens-file", file, "--mix", "--first-use"}, "--first-use"},
		{"weights shape", []string{"--tokens-file", file, "--mix", "--mix-weights", "90,10"}, "--mix-weights"},
		{"weights revoke only", []string{"--tokens-file", file, "--mix", "--mix-weights", "0,0,1"}, "needs creates"},
		{"weights not numbers", []string{"--tokens-file", file, "--mix", "--mix-weights", "a,b,c"}, "three integers"},
		{"negative sample", []string{"--tokens-file", file, "--sample", "-1"}, "--sample"},
		{"missing file", []string{"--tokens-file", filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"garbage line", []string{"--tokens-file", garbage}, "line 3: not a token"},
		{"empty file", []string{"--tokens-file", empty}, "holds no tokens"},
		{"token as argument", []string{"glpat-xyz"}, "unknown command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _, err := runCLI(t, testEnv, "", append([]string{"loadtest"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) || out != "" {
				t.Errorf("loadtest %v = stdout %q, err %v; want an error containing %q", c.args, out, err, c.want)
			}
		})
	}
}

// TestLoadtestCreate: --create makes root's tokens in the server's data dir and revokes
// them when the run ends.
func TestLoadtestCreate(t *testing.T) {
	srv := keygatetest.NewServer(t)
	out, errOut, err := runCLI(t, testEnv, "", "loadtest", "--url", srv.URL, "--create", "20", "--data-dir", srv.DataDir,
		"--duration", "200ms", "--connections", "2", "--bare=false", "--format", "json")
	if err != nil {
		t.Fatalf("loadtest --create: %v\n%s", err, errOut)
	}
	var rep loadtest.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Keygate.Requests == 0 || rep.Keygate.Errors != 0 || rep.Bare != nil || rep.Tokens != 20 {
		t.Fatalf("report %s (%v)", out, err)
	}
	ts, _, err := srv.Service.Tokens(context.Background(), srvAdmin(), storeActive())
	if err != nil || len(ts) != 1 { // root's test token only
		t.Errorf("active tokens after --create = %d, %v; want 1", len(ts), err)
	}
	if !strings.Contains(errOut, "revoked the 20 tokens") {
		t.Errorf("stderr = %q", errOut)
	}
}

func TestSeedCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "seeded")
	out, errOut, err := runCLI(t, testEnv, "", "admin", "seed", "--data-dir", dir, "--users", "5", "--tokens", "23",
		"--tokens-file", file, "--batch", "4", "--username-prefix", "bulk")
	if err != nil || out != "" {
		t.Fatalf("seed = stdout %q, %v\n%s", out, err, errOut)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file: %v, %v; want mode 0600", fi, err)
	}
	raw, _ := os.ReadFile(file)
	lines := strings.Fields(string(raw))
	if len(lines) != 23 {
		t.Fatalf("tokens file holds %d lines, want 23", len(lines))
	}
	for _, l := range lines {
		if strings.Contains(errOut, l) {
			t.Fatal("stderr contains a token")
		}
	}
	if !strings.Contains(errOut, "checkpointed") || !strings.Contains(errOut, "5 users (bulk-1 … bulk-5) and 23 tokens") {
		t.Errorf("stderr = %q", errOut)
	}
	// The tokens work, each as one of the seeded users; the database holds no plaintext.
	ctx := context.Background()
	in, err := instance.Open(ctx, instance.Config{DataDir: dir, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	owners := map[string]bool{}
	for _, l := range lines {
		p, err := in.Service.Authenticate(ctx, service.Credential{Token: l})
		if err != nil {
			t.Fatalf("seeded token refused: %v", err)
		}
		owners[p.User.Username] = true
	}
	if len(owners) != 5 || !owners["bulk-1"] || !owners["bulk-5"] {
		t.Errorf("owners = %v, want bulk-1 … bulk-5", owners)
	}
	db, _ := os.ReadFile(filepath.Join(dir, instance.DatabaseFile))
	for _, l := range lines {
		if strings.Contains(string(db), l) {
			t.Fatal("the database file holds a plaintext token")
		}
	}

	// The file is never overwritten; nothing to seed and a missing file are refused.
	for _, args := range [][]string{
		{"--tokens", "1", "--tokens-file", file},
		{"--tokens", "1"},
		{},
		{"--users", "-1"},
		{"--tokens", "1", "--tokens-file", filepath.Join(t.TempDir(), "f"), "--scopes", "everything"},
	} {
		out, _, err := runCLI(t, testEnv, "", append([]string{"admin", "seed", "--data-dir", dir}, args...)...)
		if err == nil || out != "" {
			t.Errorf("seed %v = %q, %v; want an error", args, out, err)
		}
	}
	if raw2, _ := os.ReadFile(file); string(raw2) != string(raw) {
		t.Error("a refused seed changed the tokens file")
	}
	// Root's tokens when there are no users; loadtest reads the file seed wrote.
	file2 := filepath.Join(t.TempDir(), "root-tokens")
	if _, errOut, err := runCLI(t, testEnv, "", "admin", "seed", "--data-dir", dir, "--tokens", "3", "--tokens-file", file2); err != nil {
		t.Fatalf("seed root tokens: %v %s", err, errOut)
	}
	raw, _ = os.ReadFile(file2)
	toks, err := parseTokens(strings.NewReader(string(raw)), "f")
	if err != nil || len(toks) != 3 {
		t.Fatalf("parseTokens = %d, %v", len(toks), err)
	}
	p, err := in.Service.Authenticate(ctx, service.Credential{Token: toks[0]})
	if err != nil || p.User.ID != 1 {
		t.Errorf("root seed token: %+v, %v", p.User.ID, errors.Unwrap(err))
	}
}

func srvAdmin() authz.Subject { return authz.SystemSubject() }

// storeActive selects every active token (no page limit).
func storeActive() store.TokenFilter { return store.TokenFilter{State: "active"} }

// TestLoadtestRevocation: two nodes on one database; the command revokes through one and
// measures the other's refusal (SQLite here: the very next request; PostgreSQL when the
// test database is configured).
func TestLoadtestRevocation(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			a := keygatetest.NewServerWith(t, keygatetest.Options{Postgres: pg})
			b := keygatetest.NewServerWith(t, keygatetest.Options{Join: a})
			tokens := make([]string, 30)
			for i := range tokens {
				tokens[i] = a.Token(t, 1, "rev", keygate.ScopeAPI)
			}
			out, errOut, err := runCLI(t, testEnv, "", "loadtest", "revocation", "--via", a.URL, "--url", b.URL,
				"--tokens-file", writeTokens(t, tokens), "--format", "json", "--bound", "2s")
			if err != nil {
				t.Fatalf("loadtest revocation: %v\n%s", err, errOut)
			}
			var rep loadtest.RevocationReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("stdout: %v\n%s", err, out)
			}
			if rep.Revocations != 30 || rep.Missed != 0 || !rep.Meets || rep.Requests < 30 {
				t.Fatalf("report = %+v", rep)
			}
			if !pg && rep.Requests != 30 {
				t.Errorf("SQLite: %d checks for 30 revocations, want the very next request to refuse", rep.Requests)
			}
			// 30 samples on a busy machine: the 100 ms bound at p99 over 1000 is asserted by
			// TestTwoNodesRevocation; here the command's plumbing is.
			// Spent tokens are refused up front: the command says so and fails.
			if _, _, err := runCLI(t, testEnv, "", "loadtest", "revocation", "--via", a.URL, "--url", b.URL,
				"--tokens-file", writeTokens(t, tokens[:1])); err == nil {
				t.Error("revocation with a revoked token succeeded")
			}
		})
	}
	if _, _, err := runCLI(t, testEnv, "", "loadtest", "revocation", "--via", "http://10.0.0.1", "--tokens-file", "x"); err == nil {
		t.Error("a non-loopback --via was accepted")
	}
}

// TestLoadtestNginxGate drives nginx + Keygate's /-/gate against nginx alone through the
// command, with the gate file docs/performance.md uses.
func TestLoadtestNginxGate(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
		t.Skip("nginx not installed: skipping the nginx load test")
	}
	srv := keygatetest.NewServerWith(t, keygatetest.Options{GateFile: "../../docs/gate-loadtest.yaml"})
	tokens := make([]string, 20)
	for i := range tokens {
		tokens[i] = srv.Token(t, 1, "load", keygate.ScopeReadUser)
	}
	file := writeTokens(t, tokens)
	out, errOut, err := runCLI(t, testEnv, "", "loadtest", "--nginx-gate", "--nginx", "/usr/sbin/nginx", "--url", srv.URL, "--tokens-file", file,
		"--duration", "600ms", "--rounds", "2", "--connections", "4", "--format", "json")
	if err != nil {
		t.Fatalf("loadtest --nginx-gate: %v\nstderr: %s", err, errOut)
	}
	var rep loadtest.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	if rep.Mode != "nginx-gate" || rep.RatioGoal != loadtest.NginxRatioGoal || rep.Keygate.Requests == 0 || rep.Keygate.Errors != 0 ||
		rep.Bare == nil || rep.Bare.Requests == 0 || rep.Ratio <= 0 {
		t.Fatalf("report = %+v", rep)
	}
	// A token the gate refuses makes the probe fail with guidance.
	bad := writeTokens(t, []string{srv.Token(t, 1, "k8s", keygate.ScopeK8sProxy)})
	_, _, err = runCLI(t, testEnv, "", "loadtest", "--nginx-gate", "--url", srv.URL, "--tokens-file", bad, "--duration", "200ms")
	if err == nil || !strings.Contains(err.Error(), "gate file") {
		t.Errorf("refused probe = %v, want an error naming the gate file", err)
	}
	if _, _, err := runCLI(t, testEnv, "", "loadtest", "--nginx-gate", "--mix", "--url", srv.URL, "--tokens-file", file); err == nil {
		t.Error("--nginx-gate --mix accepted")
	}
}
