package githttp_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// granularPAT issues a fine-grained token for user through the service, as the create
// endpoint would.
func (w *world) granularPAT(user string, reqs ...service.GranularRequest) string {
	w.t.Helper()
	iss, err := w.srv.Service.CreatePersonalToken(w.ctx(), authz.SystemSubject(), w.u[user].ID, service.TokenInput{Name: "fine", Granular: reqs})
	if err != nil {
		w.t.Fatalf("granular token: %v", err)
	}
	return iss.Secret.Reveal()
}

// TestGranularGit clones and pushes with the real git binary and fine-grained tokens:
// download_code fetches, push_code pushes, each only on the projects the grant covers;
// a project outside the grant that the user cannot see answers Git's 404 text.
func TestGranularGit(t *testing.T) {
	w := newWorld(t)
	g := newGit(t)
	priv, intl := w.p["private"], w.p["internal"]
	w.seed(g, priv)
	w.seed(g, intl)
	sel := func(perms ...string) service.GranularRequest {
		return service.GranularRequest{Access: keygate.AccessSelectedMemberships, Permissions: perms, GroupIDs: []int64{w.g["private"].ID}}
	}
	download := w.granularPAT("dev", sel("download_code"))
	both := w.granularPAT("dev", sel("download_code", "push_code"))
	other := w.granularPAT("dev", sel("read_project"))
	samAll := w.granularPAT("sam", service.GranularRequest{Access: keygate.AccessAllMemberships, Permissions: []string{"download_code"}})

	dir := t.TempDir()
	g.ok(dir, "clone", "-q", remote(w.srv, "oauth2", download, priv.FullPath()), "fetched")
	if stderr := g.fails(dir, "clone", "-q", remote(w.srv, "oauth2", other, priv.FullPath()), "denied"); !strings.Contains(stderr, authz.GitMsgAuthDownload) {
		t.Errorf("clone without download_code: %q, want %q", stderr, authz.GitMsgAuthDownload)
	}
	// dev belongs only to the private group; the internal project is outside the grant
	// (a public one would be cloned anonymously: git sends credentials only after a 401).
	if stderr := g.fails(dir, "clone", "-q", remote(w.srv, "oauth2", download, intl.FullPath()), "outside"); !strings.Contains(stderr, authz.GitMsgAuthDownload) {
		t.Errorf("clone outside the grant: %q, want %q", stderr, authz.GitMsgAuthDownload)
	}
	// sam cannot see the private project at all: Git's not-found text, no existence leak.
	if stderr := g.fails(dir, "clone", "-q", remote(w.srv, "oauth2", samAll, priv.FullPath()), "hidden"); !strings.Contains(stderr, authz.GitMsgNotFound) {
		t.Errorf("clone of a hidden project: %q, want %q", stderr, authz.GitMsgNotFound)
	}

	work := g.workTree(map[string]string{"x.txt": "x\n"})
	g.ok(work, "fetch", "-q", remote(w.srv, "oauth2", both, priv.FullPath()), "main")
	g.ok(work, "reset", "-q", "--hard", "FETCH_HEAD")
	g.commit(work, map[string]string{"feature.txt": "f\n"}, "feature")
	if stderr := g.fails(work, "push", "-q", remote(w.srv, "oauth2", download, priv.FullPath()), "HEAD:refs/heads/feature"); !strings.Contains(stderr, authz.GitMsgAuthUpload) {
		t.Errorf("push without push_code: %q, want %q", stderr, authz.GitMsgAuthUpload)
	}
	g.ok(work, "push", "-q", remote(w.srv, "oauth2", both, priv.FullPath()), "HEAD:refs/heads/feature")
	// Both operations were recorded for suggestions, on the project.
	pr, err := w.srv.Service.Authenticate(w.ctx(), service.Credential{Token: both})
	if err != nil {
		t.Fatal(err)
	}
	uses, err := w.srv.Service.PermissionUses(w.ctx(), pr.Token.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, u := range uses {
		if u.BoundaryKind == "project" && u.BoundaryID == priv.ID {
			routes[u.Route] = true
		}
	}
	if !routes[authz.GitUseRoute(authz.GitFetch)] || !routes[authz.GitUseRoute(authz.GitPush)] {
		t.Errorf("recorded uses = %+v, want fetch and push on project %d", uses, priv.ID)
	}
	// The role still applies: push_code does not make a Developer a Maintainer on the
	// protected default branch.
	if stderr := g.fails(work, "push", "-q", remote(w.srv, "oauth2", both, priv.FullPath()), "HEAD:refs/heads/main"); !strings.Contains(stderr, authz.GitMsgPushProtected) {
		t.Errorf("push to the protected branch: %q, want %q", stderr, authz.GitMsgPushProtected)
	}
}

// TestGranularGitEnforced: once the top-level group enforces fine-grained tokens, a
// human's legacy token no longer clones below it, while a fine-grained one with
// download_code does, and a bot's legacy token is not held to the policy.
func TestGranularGitEnforced(t *testing.T) {
	w := newWorld(t)
	g := newGit(t)
	priv := w.p["private"]
	w.seed(g, priv)
	legacy := w.pat("dev", keygate.ScopeReadRepository)
	fine := w.granularPAT("dev", service.GranularRequest{Access: keygate.AccessSelectedMemberships, Permissions: []string{"download_code"}, ProjectIDs: []int64{priv.ID}})
	bot, _ := w.resourceToken(authz.KindProject, priv.ID, keygate.Reporter, keygate.ScopeReadRepository)
	on := true
	if _, err := w.srv.Service.UpdateGroup(w.ctx(), authz.SystemSubject(), w.g["private"], service.NamespaceInput{Granular: &service.GranularPolicyInput{Enforce: &on}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if stderr := g.fails(dir, "clone", "-q", remote(w.srv, "oauth2", legacy, priv.FullPath()), "legacy"); !strings.Contains(stderr, authz.GitMsgAuthDownload) {
		t.Errorf("legacy clone under the policy: %q, want %q", stderr, authz.GitMsgAuthDownload)
	}
	g.ok(dir, "clone", "-q", remote(w.srv, "oauth2", fine, priv.FullPath()), "fine")
	g.ok(dir, "clone", "-q", remote(w.srv, "oauth2", bot, priv.FullPath()), "bot")
}
