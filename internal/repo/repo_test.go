package repo_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/repo"
)

func newDisk(t *testing.T) *repo.Disk {
	t.Helper()
	d, err := repo.New(filepath.Join(t.TempDir(), "repositories"), "")
	if err != nil {
		t.Fatalf("repo.New: %v", err)
	}
	return d
}

// gitIn runs git in dir with a clean, fixed identity and configuration.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_AUTHOR_DATE=2026-06-15T12:00:00+02:00", "GIT_COMMITTER_DATE=2026-06-15T12:00:00+02:00")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// populate pushes two commits on main and a branch into the repository at bare.
func populate(t *testing.T, bare string) (first, second string) {
	t.Helper()
	wt := t.TempDir()
	gitIn(t, wt, "init", "-q", "-b", "main")
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(wt, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "hello\n", 0o644)
	write("docs/guide.md", "guide\n", 0o644)
	gitIn(t, wt, "add", ".")
	gitIn(t, wt, "commit", "-q", "-m", "First\n\nBody.\n\nSigned-off-by: Ada <ada@example.com>")
	first = gitIn(t, wt, "rev-parse", "HEAD")
	write("run.sh", "#!/bin/sh\n", 0o755)
	write("docs/deep/x.txt", "x\n", 0o644)
	gitIn(t, wt, "add", ".")
	gitIn(t, wt, "commit", "-q", "-m", "Second")
	second = gitIn(t, wt, "rev-parse", "HEAD")
	gitIn(t, wt, "branch", "old", first)
	gitIn(t, wt, "push", "-q", bare, "main", "old")
	return first, second
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	d := newDisk(t)
	if err := d.Create(ctx, "g/sub/p", "trunk"); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !d.Exists("g/sub/p") {
		t.Fatal("Exists after Create = false")
	}
	if head := gitIn(t, d.Path("g/sub/p"), "symbolic-ref", "HEAD"); head != "refs/heads/trunk" {
		t.Errorf("HEAD = %q, want refs/heads/trunk", head)
	}
	if err := d.Create(ctx, "g/sub/p", "main"); !errors.Is(err, repo.ErrExists) {
		t.Errorf("Create twice = %v, want ErrExists", err)
	}
	for _, bad := range []string{"", "../x", "g/../x", "g/x.git", "g//x", ".tmp/x", "g/-x"} {
		if err := d.Create(ctx, bad, "main"); !errors.Is(err, repo.ErrInvalidPath) {
			t.Errorf("Create(%q) = %v, want ErrInvalidPath", bad, err)
		}
	}
	if err := d.Move(ctx, "g/sub/p", "g/sub/q"); err != nil {
		t.Fatalf("Move: %v", err)
	}
	if d.Exists("g/sub/p") || !d.Exists("g/sub/q") {
		t.Fatal("Move did not move")
	}
	if err := d.Move(ctx, "g/sub/p", "g/sub/q"); err != nil {
		t.Errorf("Move again = %v, want nil (idempotent)", err)
	}
	if err := d.Create(ctx, "g/sub/r", "main"); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(ctx, "g/sub/q", "g/sub/r"); !errors.Is(err, repo.ErrExists) {
		t.Errorf("Move onto a repository = %v, want ErrExists", err)
	}
	if err := d.MoveNamespace(ctx, "g/sub", "h/renamed"); err != nil {
		t.Fatalf("MoveNamespace: %v", err)
	}
	if !d.Exists("h/renamed/q") || !d.Exists("h/renamed/r") {
		t.Fatal("MoveNamespace did not carry the repositories")
	}
	if err := d.MoveNamespace(ctx, "nothing/here", "nothing/there"); err != nil {
		t.Errorf("MoveNamespace of a namespace without repositories = %v, want nil", err)
	}
	if err := d.SetDefaultBranch(ctx, "h/renamed/q", "dev"); err != nil {
		t.Fatal(err)
	}
	if head := gitIn(t, d.Path("h/renamed/q"), "symbolic-ref", "HEAD"); head != "refs/heads/dev" {
		t.Errorf("HEAD after SetDefaultBranch = %q", head)
	}
	if err := d.SetDefaultBranch(ctx, "h/renamed/q", "--evil"); err == nil {
		t.Error("SetDefaultBranch(--evil) = nil, want an error")
	}
	if err := d.Remove(ctx, "h/renamed/q"); err != nil || d.Exists("h/renamed/q") {
		t.Fatalf("Remove = %v, exists %v", err, d.Exists("h/renamed/q"))
	}
	if err := d.Remove(ctx, "h/renamed/q"); err != nil {
		t.Errorf("Remove again = %v, want nil", err)
	}
	if err := d.RemoveNamespace(ctx, "h"); err != nil || d.Exists("h/renamed/r") {
		t.Fatalf("RemoveNamespace = %v, exists %v", err, d.Exists("h/renamed/r"))
	}
	left, _ := os.ReadDir(filepath.Join(d.Root(), ".tmp"))
	if len(left) != 0 {
		t.Errorf("temporary directory keeps %d entries", len(left))
	}
}

func TestReads(t *testing.T) {
	ctx := context.Background()
	d := newDisk(t)
	if err := d.Create(ctx, "g/p", "main"); err != nil {
		t.Fatal(err)
	}
	if has, err := d.HasBranches(ctx, "g/p"); err != nil || has {
		t.Fatalf("HasBranches(empty) = %v, %v", has, err)
	}
	if _, err := d.ResolveCommit(ctx, "g/p", "main"); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("ResolveCommit in an empty repository = %v, want ErrNotFound", err)
	}
	first, second := populate(t, d.Path("g/p"))
	if has, _ := d.HasBranches(ctx, "g/p"); !has {
		t.Fatal("HasBranches after a push = false")
	}

	branches, err := d.Branches(ctx, "g/p")
	if err != nil || len(branches) != 2 {
		t.Fatalf("Branches = %v, %v", branches, err)
	}
	mainB, old := branches[0], branches[1]
	if mainB.Name != "main" || old.Name != "old" || mainB.Commit.ID != second || old.Commit.ID != first {
		t.Fatalf("Branches = %+v", branches)
	}
	c := old.Commit
	wantTime := time.Date(2026, 6, 15, 12, 0, 0, 0, time.FixedZone("", 2*3600))
	if c.AuthorName != "Ada" || c.AuthorEmail != "ada@example.com" || c.CommitterEmail != "ada@example.com" ||
		!c.AuthoredAt.Equal(wantTime) || c.CommittedAt.Format(time.RFC3339) != "2026-06-15T12:00:00+02:00" ||
		c.Title() != "First" || !strings.HasPrefix(c.Message, "First\n\nBody.\n") || len(c.ParentIDs) != 0 {
		t.Errorf("first commit = %+v", c)
	}
	if !reflect.DeepEqual(c.Trailers, [][2]string{{"Signed-off-by", "Ada <ada@example.com>"}}) {
		t.Errorf("Trailers = %v", c.Trailers)
	}
	if !reflect.DeepEqual(mainB.Commit.ParentIDs, []string{first}) {
		t.Errorf("second commit parents = %v, want [%s]", mainB.Commit.ParentIDs, first)
	}
	merged, err := d.MergedInto(ctx, "g/p", "main")
	if err != nil || !merged["old"] || !merged["main"] {
		t.Errorf("MergedInto(main) = %v, %v", merged, err)
	}
	if m, err := d.MergedInto(ctx, "g/p", "nope"); err != nil || len(m) != 0 {
		t.Errorf("MergedInto(nope) = %v, %v, want none", m, err)
	}

	for _, tc := range []struct{ rev, want string }{{"main", second}, {"old", first}, {first[:10], first}, {"main~1", first}} {
		if got, err := d.ResolveCommit(ctx, "g/p", tc.rev); err != nil || got != tc.want {
			t.Errorf("ResolveCommit(%q) = %q, %v, want %q", tc.rev, got, err, tc.want)
		}
	}
	for _, rev := range []string{"nope", "--all", "main:README.md", ""} {
		if _, err := d.ResolveCommit(ctx, "g/p", rev); !errors.Is(err, repo.ErrNotFound) {
			t.Errorf("ResolveCommit(%q) = %v, want ErrNotFound", rev, err)
		}
	}

	names := func(es []repo.TreeEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Type+":"+e.Path)
		}
		return out
	}
	top, err := d.Tree(ctx, "g/p", second, "", false)
	if err != nil || !reflect.DeepEqual(names(top), []string{"tree:docs", "blob:README.md", "blob:run.sh"}) {
		t.Errorf("Tree(root) = %v, %v", names(top), err)
	}
	if top[0].Mode != "040000" || top[2].Mode != "100755" || top[1].Name != "README.md" || len(top[1].ID) != 40 {
		t.Errorf("Tree(root) entries = %+v", top)
	}
	all, err := d.Tree(ctx, "g/p", second, "", true)
	if err != nil || !reflect.DeepEqual(names(all), []string{"tree:docs", "tree:docs/deep", "blob:README.md", "blob:docs/deep/x.txt", "blob:docs/guide.md", "blob:run.sh"}) {
		t.Errorf("Tree(recursive) = %v, %v", names(all), err)
	}
	sub, err := d.Tree(ctx, "g/p", second, "/docs/", false)
	if err != nil || !reflect.DeepEqual(names(sub), []string{"tree:docs/deep", "blob:docs/guide.md"}) || sub[0].Name != "deep" {
		t.Errorf("Tree(docs) = %+v, %v", sub, err)
	}
	for _, dir := range []string{"nope", "README.md"} {
		if _, err := d.Tree(ctx, "g/p", second, dir, false); !errors.Is(err, repo.ErrNotFound) {
			t.Errorf("Tree(%q) = %v, want ErrNotFound", dir, err)
		}
	}

	e, err := d.Stat(ctx, "g/p", second, "docs/guide.md")
	if err != nil || e.Type != "blob" || e.Size != 6 || e.Mode != "100644" {
		t.Errorf("Stat(docs/guide.md) = %+v, %v", e, err)
	}
	if e, err := d.Stat(ctx, "g/p", second, "docs"); err != nil || e.Type != "tree" {
		t.Errorf("Stat(docs) = %+v, %v", e, err)
	}
	for _, f := range []string{"nope", "docs/nope", "*.md"} {
		if _, err := d.Stat(ctx, "g/p", second, f); !errors.Is(err, repo.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", f, err)
		}
	}
	if last, err := d.LastCommit(ctx, "g/p", second, "README.md"); err != nil || last != first {
		t.Errorf("LastCommit(README.md) = %q, %v, want %s", last, err, first)
	}
	rc, err := d.Open(ctx, "g/p", e.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "guide\n" {
		t.Errorf("Open = %q", b)
	}
	if _, err := d.Branches(ctx, "g/none"); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("Branches of a missing repository = %v, want ErrNotFound", err)
	}
}

func TestBackendEnv(t *testing.T) {
	d := newDisk(t)
	env := strings.Join(d.BackendEnv([]string{"refs/heads/main"}), "\n")
	for _, want := range []string{"GIT_CONFIG_GLOBAL=" + os.DevNull, "GIT_CONFIG_NOSYSTEM=1", "KEYGATE_FORCE_PUSH_PROTECTED=refs/heads/main", "=core.hooksPath\n"} {
		if !strings.Contains(env+"\n", want) {
			t.Errorf("BackendEnv lacks %q:\n%s", want, env)
		}
	}
	st, err := os.Stat(filepath.Join(d.Root(), ".keygate", "hooks", "pre-receive"))
	if err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("pre-receive hook: %v, mode %v", err, st.Mode())
	}
}
