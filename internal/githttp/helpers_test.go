package githttp_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// gitClient runs the real git binary as a user's machine would, but with a home of its
// own, so the machine's git configuration and credential helpers never interfere.
type gitClient struct {
	t   testing.TB
	env []string
}

func newGit(t testing.TB) *gitClient {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	home := t.TempDir()
	return &gitClient{t: t, env: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=", "LC_ALL=C",
		// The test machine's disk need not make the clients' copies durable.
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=core.fsync", "GIT_CONFIG_VALUE_0=none",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
	}}
}

// run executes git in dir and returns stdout, stderr and the error.
func (g *gitClient) run(dir string, args ...string) (string, string, error) {
	g.t.Helper()
	return g.runEnv(dir, nil, args...)
}

func (g *gitClient) runEnv(dir string, env []string, args ...string) (string, string, error) {
	g.t.Helper()
	full := append([]string{"-c", "credential.helper=", "-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false"}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), g.env...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// ok runs git and fails the test if it fails.
func (g *gitClient) ok(dir string, args ...string) string {
	g.t.Helper()
	out, stderr, err := g.run(dir, args...)
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(out)
}

// fails runs git, expecting it to fail, and returns its stderr.
func (g *gitClient) fails(dir string, args ...string) string {
	g.t.Helper()
	_, stderr, err := g.run(dir, args...)
	if err == nil {
		g.t.Fatalf("git %s succeeded, want a refusal", strings.Join(args, " "))
	}
	return stderr
}

// workTree makes a local repository with one commit on main.
func (g *gitClient) workTree(files map[string]string) string {
	g.t.Helper()
	dir := g.t.TempDir()
	g.ok(dir, "init", "-q")
	g.commit(dir, files, "Initial commit")
	return dir
}

// commit writes files and commits them.
func (g *gitClient) commit(dir string, files map[string]string, msg string) string {
	g.t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	g.ok(dir, "add", "-A")
	g.ok(dir, "commit", "-q", "--allow-empty", "-m", msg)
	return g.ok(dir, "rev-parse", "HEAD")
}

// remote is the clone URL of a project path with credentials in it ("" user: none).
func remote(srv *keygatetest.Server, user, password, path string) string {
	u, err := url.Parse(srv.URL)
	if err != nil {
		panic(err)
	}
	if user != "" || password != "" {
		u.User = url.UserPassword(user, password)
	}
	u.Path = "/" + path + ".git"
	return u.String()
}

// world is a small fixture: a private, an internal and a public group with a project
// each, owned by olga; dev is a Developer and gus a Guest of the private group; sam
// belongs to nothing.
type world struct {
	t   testing.TB
	srv *keygatetest.Server
	u   map[string]keygate.User
	g   map[string]keygate.Group
	p   map[string]keygate.Project
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldWith(t, keygatetest.Options{})
}

func newWorldWith(t testing.TB, o keygatetest.Options) *world {
	t.Helper()
	srv := keygatetest.NewServerWith(t, o)
	w := &world{t: t, srv: srv, u: map[string]keygate.User{}, g: map[string]keygate.Group{}, p: map[string]keygate.Project{}}
	for _, name := range []string{"olga", "mia", "dev", "rep", "gus", "sam"} {
		w.u[name] = srv.User(t, name, false)
	}
	for _, v := range []keygate.Visibility{keygate.Private, keygate.Internal, keygate.Public} {
		g := w.group(string(v)+"-grp", v)
		w.g[string(v)] = g
		w.p[string(v)] = w.project("app", v, g.ID)
	}
	for name, level := range map[string]keygate.AccessLevel{"mia": keygate.Maintainer, "dev": keygate.Developer, "rep": keygate.Reporter, "gus": keygate.Guest} {
		w.member(authz.KindGroup, w.g["private"].ID, w.u[name].ID, level)
	}
	return w
}

func (w *world) ctx() context.Context { return context.Background() }

func (w *world) owner() authz.Subject { return authz.Subject{User: w.u["olga"]} }

func (w *world) group(path string, vis keygate.Visibility) keygate.Group {
	w.t.Helper()
	g, err := w.srv.Service.CreateGroup(w.ctx(), w.owner(), service.NamespaceInput{Name: &path, Path: &path, Visibility: &vis})
	if err != nil {
		w.t.Fatalf("CreateGroup(%s): %v", path, err)
	}
	return g
}

func (w *world) project(name string, vis keygate.Visibility, ns int64) keygate.Project {
	w.t.Helper()
	p, err := w.srv.Service.CreateProject(w.ctx(), w.owner(), service.NamespaceInput{Name: &name, Visibility: &vis, ParentID: ns})
	if err != nil {
		w.t.Fatalf("CreateProject(%s): %v", name, err)
	}
	return p
}

func (w *world) source(kind authz.ResourceKind, id int64) service.Source {
	w.t.Helper()
	sys, ref := authz.SystemSubject(), strconv.FormatInt(id, 10)
	var src service.Source
	var err error
	if kind == authz.KindGroup {
		var g keygate.Group
		if g, err = w.srv.Service.Group(w.ctx(), ref); err == nil {
			var res authz.Resource
			if res, err = w.srv.Service.GroupAccess(w.ctx(), sys, g); err == nil {
				src, err = w.srv.Service.GroupSource(w.ctx(), g, res)
			}
		}
	} else {
		var p keygate.Project
		if p, err = w.srv.Service.Project(w.ctx(), ref); err == nil {
			var res authz.Resource
			if res, err = w.srv.Service.ProjectAccess(w.ctx(), sys, p); err == nil {
				src, err = w.srv.Service.ProjectSource(w.ctx(), p, res)
			}
		}
	}
	if err != nil {
		w.t.Fatalf("source %s %d: %v", kind, id, err)
	}
	return src
}

func (w *world) member(kind authz.ResourceKind, id, uid int64, level keygate.AccessLevel) {
	w.t.Helper()
	if _, err := w.srv.Service.AddMember(w.ctx(), authz.SystemSubject(), w.source(kind, id), service.MemberInput{UserID: uid, AccessLevel: level}); err != nil {
		w.t.Fatalf("AddMember: %v", err)
	}
}

// pat issues a personal access token.
func (w *world) pat(user string, scopes ...keygate.Scope) string {
	w.t.Helper()
	return w.srv.Token(w.t, w.u[user].ID, user+"-"+string(scopes[0]), scopes...)
}

// resourceToken issues a project or group access token (and its bot).
func (w *world) resourceToken(kind authz.ResourceKind, id int64, level keygate.AccessLevel, scopes ...keygate.Scope) (string, int64) {
	w.t.Helper()
	rt, err := w.srv.Service.CreateResourceToken(w.ctx(), authz.SystemSubject(), w.source(kind, id), service.ResourceTokenInput{
		TokenInput: service.TokenInput{Name: "tok-" + level.String(), Scopes: scopes}, AccessLevel: level,
	})
	if err != nil {
		w.t.Fatalf("CreateResourceToken: %v", err)
	}
	return rt.Secret.Reveal(), rt.Token.ID
}

// seed pushes an initial commit to a project as its owner (a Maintainer may create the
// first branch) and returns the work tree.
func (w *world) seed(g *gitClient, p keygate.Project) string {
	w.t.Helper()
	owner := w.pat("olga", keygate.ScopeAPI)
	dir := g.workTree(map[string]string{"README.md": "# " + p.Name + "\n"})
	g.ok(dir, "push", "-q", remote(w.srv, "oauth2", owner, p.FullPath()), "main")
	return dir
}
