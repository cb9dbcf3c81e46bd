package forwardauth_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/forwardauth"
	"github.com/keygate/keygate/internal/keygatetest"
)

const openFile = "services:\n  - name: open\n    anonymous: true\ndefault: deny\n"
const closedFile = "services:\n  - name: closed\n    paths: [/nothing/]\ndefault: deny\n"

func TestReadFileNamesFileAndLines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gate.yaml")
	if err := os.WriteFile(path, []byte("services:\n  - name: a\n    colour: red\n    require:\n      min_access_level: 31\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := forwardauth.ReadFile(path)
	var fe forwardauth.FileError
	if !errors.As(err, &fe) {
		t.Fatalf("ReadFile = %v, want a FileError", err)
	}
	lines := fe.Lines()
	if len(lines) < 2 || !strings.HasPrefix(lines[0], path+":3: unknown key \"colour\"") || !strings.HasPrefix(lines[1], path+":5: ") {
		t.Errorf("Lines = %q", lines)
	}
	if _, err := forwardauth.ReadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("ReadFile(missing) = nil error")
	}
}

func TestLoadKeepsPolicyOnBadFile(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	logs := &keygatetest.SyncBuffer{}
	g := forwardauth.New(forwardauth.Config{Service: srv.Service, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	path := filepath.Join(t.TempDir(), "gate.yaml")
	if err := os.WriteFile(path, []byte(openFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Load(path); err != nil {
		t.Fatal(err)
	}
	before := g.Policy()
	if err := os.WriteFile(path, []byte("services:\n  - name: open\n    anonymus: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Load(path); err == nil {
		t.Fatal("Load(bad file) = nil error")
	}
	if g.Policy() != before {
		t.Error("a bad reload replaced the policy")
	}
	if !strings.Contains(logs.String(), "previous policy stays in force") || !strings.Contains(logs.String(), `unknown key \"anonymus\"`) {
		t.Errorf("log = %s, want the refusal with its error", logs.String())
	}
}

func TestWatchReloadsOnChange(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	logs := &keygatetest.SyncBuffer{}
	g := forwardauth.New(forwardauth.Config{Service: srv.Service, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	dir := t.TempDir()
	path := filepath.Join(dir, "gate.yaml")
	if err := os.WriteFile(path, []byte(openFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Load(path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Watch(ctx, path, 5*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s; log:\n%s", what, logs.String())
			}
			time.Sleep(5 * time.Millisecond) // the watcher polls the file; so does the test
		}
	}
	// Replaced by rename, as configuration management does.
	tmp := filepath.Join(dir, "gate.yaml.new")
	if err := os.WriteFile(tmp, []byte(closedFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitFor("reload", func() bool { return g.Policy().Services[0].Name == "closed" })
	good := g.Policy()
	// A bad edit is refused and logged; the policy in force stays.
	if err := os.WriteFile(path, []byte("services:\n  - name: x\n    require:\n      token_types: [robot]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("refusal logged", func() bool { return strings.Contains(logs.String(), `unknown token type \"robot\"`) })
	if g.Policy() != good {
		t.Error("a bad file replaced the policy")
	}
}
