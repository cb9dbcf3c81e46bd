package main

import (
	"context"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/service"
)

// TestAdminJob: `keygate admin job start` prints only a job token that authenticates
// while the job runs; `finish` ends it.
func TestAdminJob(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	in, err := instance.Open(ctx, instance.Config{DataDir: dir, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	root, _ := in.Service.User(ctx, 1)
	path := "app"
	if _, err := in.Service.CreateProject(ctx, authz.Subject{User: root}, service.NamespaceInput{Path: &path}); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, testEnv, "", "admin", "job", "start", "--data-dir", dir, "--project", "root/app", "--user", "root", "--timeout", "5m")
	if err != nil {
		t.Fatalf("job start: %v %s", err, errOut)
	}
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, "glcbt-") || strings.Count(out, "\n") != 1 || strings.Contains(errOut, tok) {
		t.Fatalf("job start stdout = %q, stderr %q", out, errOut)
	}
	check := func() error {
		in, err := instance.Open(ctx, instance.Config{DataDir: dir, PasswordIterations: 1000})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close(ctx)
		_, err = in.Service.AuthenticateJob(ctx, tok, "")
		return err
	}
	if err := check(); err != nil {
		t.Fatalf("job token refused while running: %v", err)
	}
	if _, errOut, err := runCLI(t, testEnv, "", "admin", "job", "finish", "1", "--data-dir", dir); err != nil {
		t.Fatalf("job finish: %v %s", err, errOut)
	}
	if err := check(); err == nil {
		t.Fatal("job token still works after finish")
	}
	if _, _, err := runCLI(t, testEnv, "", "admin", "job", "start", "--data-dir", dir, "--project", "nope/x", "--user", "root"); err == nil {
		t.Error("job start on a missing project succeeded")
	}
}
