package instance_test

import (
	"context"
	"os"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/service"
)

// TestOpenCreatesMissingRepositories: a project whose repository is missing (created
// before Keygate kept repositories, or lost) gets an empty one when the instance opens.
func TestOpenCreatesMissingRepositories(t *testing.T) {
	ctx := context.Background()
	cfg := instance.Config{DataDir: t.TempDir(), PasswordIterations: 1000}
	in, err := instance.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	name := "legacy"
	p, err := in.Service.CreateProject(ctx, authz.Subject{User: keygate.User{ID: 1, Username: "root", State: keygate.UserActive, Admin: true}}, service.NamespaceInput{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	dir := in.Repositories.Path(p.FullPath())
	if !in.Repositories.Exists(p.FullPath()) {
		t.Fatalf("CreateProject made no repository at %s", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}
	in, err = instance.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	if !in.Repositories.Exists(p.FullPath()) {
		t.Errorf("reopening did not recreate the repository of %s", p.FullPath())
	}
}
