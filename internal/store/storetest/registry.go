package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// testProjectRegistryAccess: a project's container registry access level defaults to
// enabled, is stored as given on create, changes with UpdateProject and is read by every
// project query (by ID, by path, in lists).
func testProjectRegistryAccess(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	ns := createNamespace(t, s, newGroup("reg", "Reg", 0, keygate.Public))
	def := createProject(t, s, newProject(ns.ID, "default", "Default", keygate.Public))
	priv := newProject(ns.ID, "private", "Private", keygate.Public)
	priv.ContainerRegistryAccessLevel = keygate.RegistryPrivate
	priv = createProject(t, s, priv)
	for _, c := range []struct {
		id   int64
		want keygate.RegistryAccessLevel
	}{{def.ID, keygate.RegistryEnabled}, {priv.ID, keygate.RegistryPrivate}} {
		if got, err := s.Project(ctx, c.id); err != nil || got.ContainerRegistryAccessLevel != c.want {
			t.Errorf("Project(%d).ContainerRegistryAccessLevel = %q, %v, want %q", c.id, got.ContainerRegistryAccessLevel, err, c.want)
		}
	}
	def.ContainerRegistryAccessLevel = keygate.RegistryDisabled
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateProject(ctx, def) })
	if got, err := s.ProjectByPath(ctx, "reg/default"); err != nil || got.ContainerRegistryAccessLevel != keygate.RegistryDisabled {
		t.Errorf("ProjectByPath(reg/default) after disabling = %q, %v, want disabled", got.ContainerRegistryAccessLevel, err)
	}
	ps, _, err := s.Projects(ctx, store.ProjectFilter{Page: store.Page{Number: 1, Size: 10}, OrderBy: "id", Sort: "asc"})
	if err != nil || len(ps) != 2 || ps[0].ContainerRegistryAccessLevel != keygate.RegistryDisabled || ps[1].ContainerRegistryAccessLevel != keygate.RegistryPrivate {
		t.Errorf("Projects() registry levels = %+v, %v, want disabled, private", ps, err)
	}
	// Unset reads as GitLab's default on update too.
	def.ContainerRegistryAccessLevel = ""
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateProject(ctx, def) })
	if got, err := s.Project(ctx, def.ID); err != nil || got.ContainerRegistryAccessLevel != keygate.RegistryEnabled {
		t.Errorf("Project(%d) after update with no level = %q, %v, want enabled", def.ID, got.ContainerRegistryAccessLevel, err)
	}
}

// testProjectByLongestPath: of the candidate paths of a container repository name, the
// longest that is a project wins, matched case-insensitively; none is ErrNotFound.
func testProjectByLongestPath(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	top := createNamespace(t, s, newGroup("top", "Top", 0, keygate.Public))
	app := createProject(t, s, newProject(top.ID, "app", "App", keygate.Public))
	sub := createNamespace(t, s, newGroup("app", "App group", top.ID, keygate.Public)) // top/app is also a group
	web := createProject(t, s, newProject(sub.ID, "web", "Web", keygate.Public))
	for _, c := range []struct {
		paths []string
		want  int64
	}{
		{[]string{"top/app/web", "top/app"}, web.ID},
		{[]string{"TOP/App/Web", "top/app"}, web.ID},
		{[]string{"top/app/api", "top/app"}, app.ID},
		{[]string{"top/app/web/x/y", "top/app/web/x", "top/app/web"}, web.ID},
		{[]string{"top/app"}, app.ID},
		{[]string{"top/nope/x", "top/nope"}, 0},
		{[]string{"top", "/app", "top/"}, 0},
		{nil, 0},
	} {
		got, err := s.ProjectByLongestPath(ctx, c.paths)
		switch {
		case c.want == 0 && !errors.Is(err, store.ErrNotFound):
			t.Errorf("ProjectByLongestPath(%q) = %d, %v, want ErrNotFound", c.paths, got.ID, err)
		case c.want != 0 && (err != nil || got.ID != c.want || got.Namespace.ID == 0):
			t.Errorf("ProjectByLongestPath(%q) = %d, %v, want %d with its namespace", c.paths, got.ID, err, c.want)
		}
	}
	if _, err := s.ProjectByLongestPath(ctx, []string{"a/b", "a/c", "a/d", "a/e"}); err == nil {
		t.Error("ProjectByLongestPath(4 paths) = nil error, want a refusal above MaxPathCandidates")
	}
}
