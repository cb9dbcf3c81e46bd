package githttp_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

const accessDenied = "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password. If a token was provided, it was either incorrect, expired, or improperly scoped. See http://keygate.test/help/topics/git/troubleshooting_git.md#error-on-git-fetch-http-basic-access-denied"

// TestPersonalTokenCloneFetchPush: a PAT works as the password with any username, and
// Git operations record the token's use as API calls do.
func TestPersonalTokenCloneFetchPush(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	w.seed(g, p)
	mia := w.pat("mia", keygate.ScopeWriteRepository)
	for _, user := range []string{"oauth2", "mia", "anything-at-all", ""} {
		t.Run("username "+user, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "c")
			g.ok("", "clone", "-q", remote(w.srv, user, mia, p.FullPath()), dir)
			if b, err := os.ReadFile(filepath.Join(dir, "README.md")); err != nil || string(b) != "# app\n" {
				t.Fatalf("cloned README.md = %q, %v", b, err)
			}
		})
	}
	// Push a change as mia (Maintainer: the protected default branch too), fetch it
	// from another clone.
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	url := remote(w.srv, "oauth2", mia, p.FullPath())
	g.ok("", "clone", "-q", url, a)
	g.ok("", "clone", "-q", url, b)
	sha := g.commit(a, map[string]string{"new.txt": "new\n"}, "Add new.txt")
	g.ok(a, "push", "-q", "origin", "main", "main:refs/heads/feature")
	g.ok(b, "fetch", "-q", "origin")
	if got := g.ok(b, "rev-parse", "origin/main", "origin/feature"); got != sha+"\n"+sha {
		t.Errorf("fetched origin/main, origin/feature = %q, want %s twice", got, sha)
	}

	if err := w.srv.Service.FlushUses(context.Background()); err != nil {
		t.Fatal(err)
	}
	pr, err := w.srv.Service.Authenticate(context.Background(), service.Credential{Token: mia})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := w.srv.Service.Token(context.Background(), authz.SystemSubject(), pr.Token.ID)
	if err != nil || tok.LastUsedAt == nil {
		t.Errorf("after Git use: last_used_at = %v, %v; want it recorded", tok.LastUsedAt, err)
	}
}

// TestProjectTokenLevels: a project access token acts with its bot's level: Guests see
// the private project but not its code, Reporters clone, Developers push branches but
// not the protected default branch, Maintainers push it.
func TestProjectTokenLevels(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	w.seed(g, p)
	for _, tc := range []struct {
		level               keygate.AccessLevel
		clone, branch, main string // "" succeeds, else the message git prints
	}{
		{keygate.Guest, authz.GitMsgDownload, authz.GitMsgPush, authz.GitMsgPush},
		{keygate.Reporter, "", authz.GitMsgPush, authz.GitMsgPush},
		{keygate.Developer, "", "", authz.GitMsgPushProtected},
		{keygate.Maintainer, "", "", ""},
	} {
		t.Run(tc.level.String(), func(t *testing.T) {
			tok, _ := w.resourceToken(authz.KindProject, p.ID, tc.level, keygate.ScopeAPI)
			url := remote(w.srv, "oauth2", tok, p.FullPath())
			dir := filepath.Join(t.TempDir(), "c")
			if tc.clone != "" {
				if stderr := g.fails("", "clone", "-q", url, dir); !strings.Contains(stderr, "remote: "+tc.clone) {
					t.Fatalf("clone as %s: stderr %q, want %q", tc.level, stderr, tc.clone)
				}
				return
			}
			g.ok("", "clone", "-q", url, dir)
			g.commit(dir, map[string]string{tc.level.String() + ".txt": "x\n"}, "As "+tc.level.String())
			check := func(refspec, want string) {
				t.Helper()
				_, stderr, err := g.run(dir, "push", "origin", refspec)
				switch {
				case want == "" && err != nil:
					t.Errorf("push %s as %s: %v\n%s", refspec, tc.level, err, stderr)
				case want != "" && (err == nil || !strings.Contains(stderr, want)):
					t.Errorf("push %s as %s: err %v, stderr %q; want a refusal with %q", refspec, tc.level, err, stderr, want)
				}
			}
			check("HEAD:refs/heads/"+strings.ToLower(tc.level.String()), tc.branch)
			check("HEAD:main", tc.main)
		})
	}
}

// TestGroupToken: a group access token reaches the group's projects at its level.
func TestGroupToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	w.seed(g, p)
	tok, _ := w.resourceToken(authz.KindGroup, w.g["private"].ID, keygate.Developer, keygate.ScopeWriteRepository)
	dir := filepath.Join(t.TempDir(), "c")
	g.ok("", "clone", "-q", remote(w.srv, "oauth2", tok, p.FullPath()), dir)
	g.commit(dir, map[string]string{"g.txt": "g\n"}, "From the group bot")
	g.ok(dir, "push", "-q", "origin", "HEAD:refs/heads/from-group")
	// Another private group's project is out of the bot's reach: GitLab refuses the bot
	// token while authenticating (401), not with a 404.
	other := w.project("secret", keygate.Private, w.g["internal"].ID)
	w.seed(g, other)
	status, body, hdr := get(t, w.srv.URL+"/"+other.FullPath()+".git/info/refs?service=git-upload-pack", "oauth2", tok)
	if status != 401 || body != accessDenied || hdr.Get("WWW-Authenticate") != `Basic realm="GitLab"` {
		t.Errorf("group bot on another group's project = %d %q %q, want 401 access denied", status, body, hdr.Get("WWW-Authenticate"))
	}
}

// TestAnonymous: public projects clone without credentials (with or without ".git");
// everything else asks for credentials, whether or not the project exists.
func TestAnonymous(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	w.seed(g, w.p["public"])
	dir := filepath.Join(t.TempDir(), "c")
	g.ok("", "clone", "-q", remote(w.srv, "", "", w.p["public"].FullPath()), dir)
	noSuffix := filepath.Join(t.TempDir(), "d")
	g.ok("", "clone", "-q", w.srv.URL+"/"+w.p["public"].FullPath(), noSuffix) // redirected to .git
	g.commit(dir, nil, "anonymous change")
	if stderr := g.fails(dir, "push", "origin", "HEAD:main"); !strings.Contains(stderr, "terminal prompts disabled") && !strings.Contains(stderr, "Authentication failed") {
		t.Errorf("anonymous push: %q, want git to ask for credentials", stderr)
	}
	for _, path := range []string{
		w.p["public"].FullPath() + ".git/info/refs?service=git-receive-pack",
		w.p["internal"].FullPath() + ".git/info/refs?service=git-upload-pack",
		w.p["private"].FullPath() + ".git/info/refs?service=git-upload-pack",
		"no/such.git/info/refs?service=git-upload-pack",
		w.p["public"].FullPath() + ".git/info/refs", // dumb protocol
	} {
		status, body, hdr := get(t, w.srv.URL+"/"+path, "", "")
		if status != 401 || body != accessDenied || hdr.Get("WWW-Authenticate") != `Basic realm="GitLab"` || hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("anonymous GET %s = %d %q %v, want 401 with GitLab's challenge", path, status, body, hdr)
		}
	}
}

// TestRefusals: each refusal with GitLab's status, headers and body, over raw HTTP and
// as the git client shows it.
func TestRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	w.seed(g, p)
	ctx := context.Background()
	expired := func() string {
		day := keygate.DateOf(w.srv.Clock.Now()).AddDays(1)
		iss, err := w.srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), w.u["dev"].ID, service.TokenInput{Name: "e", Scopes: keygate.Scopes{keygate.ScopeAPI}, ExpiresAt: &day})
		if err != nil {
			t.Fatal(err)
		}
		return iss.Secret.Reveal()
	}()
	revoked := w.pat("dev", keygate.ScopeAPI)
	pr, err := w.srv.Service.Authenticate(ctx, service.Credential{Token: revoked})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.srv.Service.Revoke(ctx, authz.SystemSubject(), pr.Token.ID); err != nil {
		t.Fatal(err)
	}
	w.srv.Clock.Advance(48 * time.Hour)
	otherProjectToken, _ := w.resourceToken(authz.KindProject, w.p["public"].ID, keygate.Maintainer, keygate.ScopeAPI)
	// A blocked owner's token fails authentication (401); a deactivated owner's passes it
	// and is refused with the reason, as GitLab's check_active_user! does.
	guestTok, reporterTok := w.pat("gus", keygate.ScopeAPI), w.pat("rep", keygate.ScopeAPI)
	blocked, deactivated := w.pat("olga", keygate.ScopeAPI), w.pat("mia", keygate.ScopeAPI)
	for user, action := range map[string]service.StateAction{"olga": service.ActionBlock, "mia": service.ActionDeactivate} {
		if _, err := w.srv.Service.SetUserState(ctx, authz.SystemSubject(), w.u[user].ID, action); err != nil {
			t.Fatal(err)
		}
	}
	deactivatedMsg := keygate.User{State: keygate.UserDeactivated}.APIBlockReason("http://keygate.test")
	fetch, push := "/info/refs?service=git-upload-pack", "/info/refs?service=git-receive-pack"
	repoPath := "/" + p.FullPath() + ".git"
	for _, tc := range []struct {
		name, user, password, path string
		status                     int
		body                       string
	}{
		{"garbage token", "oauth2", "glpat-nope", repoPath + fetch, 401, accessDenied},
		{"empty password", "oauth2", "", repoPath + fetch, 401, accessDenied},
		{"expired", "oauth2", expired, repoPath + fetch, 401, accessDenied},
		{"revoked", "oauth2", revoked, repoPath + fetch, 401, accessDenied},
		{"read_user scope", "oauth2", w.pat("dev", keygate.ScopeReadUser), repoPath + fetch, 403, authz.GitMsgAuthDownload},
		{"read_user scope on a missing project", "oauth2", w.pat("dev", keygate.ScopeReadUser), "/no/such.git" + fetch, 403, authz.GitMsgAuthDownload},
		{"read_repository pushes", "oauth2", w.pat("dev", keygate.ScopeReadRepository), repoPath + push, 403, authz.GitMsgAuthUpload},
		{"read_api pushes", "oauth2", w.pat("dev", keygate.ScopeReadAPI), repoPath + push, 403, authz.GitMsgAuthUpload},
		{"non-member", "sam", w.pat("sam", keygate.ScopeAPI), repoPath + fetch, 404, authz.GitMsgNotFound},
		{"missing project", "sam", w.pat("sam", keygate.ScopeAPI), "/no/such.git" + fetch, 404, authz.GitMsgNotFound},
		{"guest clones", "gus", guestTok, repoPath + fetch, 403, authz.GitMsgDownload},
		{"reporter pushes", "rep", reporterTok, repoPath + push, 403, authz.GitMsgPush},
		{"another project's token", "oauth2", otherProjectToken, repoPath + fetch, 401, accessDenied},
		{"blocked owner", "olga", blocked, repoPath + fetch, 401, accessDenied},
		{"deactivated owner", "mia", deactivated, repoPath + fetch, 403, deactivatedMsg},
		{"job token not recognised yet", "gitlab-ci-token", "glcbt-whatever", repoPath + fetch, 401, accessDenied},
		{"dumb protocol", "dev", w.pat("dev", keygate.ScopeAPI), repoPath + "/info/refs", 403, authz.GitMsgCommandNotAllowed},
		{"unknown service", "dev", w.pat("dev", keygate.ScopeAPI), repoPath + "/info/refs?service=git-upload-archive", 403, authz.GitMsgCommandNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := get(t, w.srv.URL+tc.path, tc.user, tc.password)
			if status != tc.status || body != tc.body || hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("GET %s = %d %q (%s), want %d %q", tc.path, status, body, hdr.Get("Content-Type"), tc.status, tc.body)
			}
			if (status == 401) != (hdr.Get("WWW-Authenticate") == `Basic realm="GitLab"`) {
				t.Errorf("GET %s = %d with WWW-Authenticate %q", tc.path, status, hdr.Get("WWW-Authenticate"))
			}
			if strings.Contains(body, tc.password) && tc.password != "" {
				t.Errorf("the answer repeats the password")
			}
		})
	}
	// As git shows them.
	for _, tc := range []struct {
		name, token, path, want string
	}{
		{"expired", expired, p.FullPath(), "Authentication failed"},
		{"wrong scope", w.pat("dev", keygate.ScopeReadUser), p.FullPath(), "remote: " + authz.GitMsgAuthDownload},
		{"hidden project", w.pat("sam", keygate.ScopeAPI), p.FullPath(), "remote: " + authz.GitMsgNotFound},
		{"low role", guestTok, p.FullPath(), "remote: " + authz.GitMsgDownload},
	} {
		t.Run("git "+tc.name, func(t *testing.T) {
			stderr := g.fails("", "clone", "-q", remote(w.srv, "oauth2", tc.token, tc.path), filepath.Join(t.TempDir(), "c"))
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("git clone: stderr %q, want %q", stderr, tc.want)
			}
		})
	}
	// HEAD of info/refs is refused before anything else, as GitLab does.
	req, _ := http.NewRequest("HEAD", w.srv.URL+repoPath+fetch, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("HEAD info/refs = %v, %v, want 403", resp, err)
	}
}

// TestProtectedBranches: GitLab's default branch protection, with its messages as git
// shows them ("remote: GitLab: …", "pre-receive hook declined").
func TestProtectedBranches(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	dev := remote(w.srv, "oauth2", w.pat("dev", keygate.ScopeAPI), p.FullPath())
	mia := remote(w.srv, "oauth2", w.pat("mia", keygate.ScopeAPI), p.FullPath())

	// A Developer cannot create the first branch of an empty repository.
	first := g.workTree(map[string]string{"a.txt": "a\n"})
	stderr := g.fails(first, "push", dev, "main")
	for _, want := range []string{
		"remote: GitLab: ", "remote: A default branch (e.g. main) does not yet exist for " + p.FullPath(),
		"remote:   http://keygate.test/" + p.FullPath() + "/-/project_members", "[remote rejected] main -> main (pre-receive hook declined)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("Developer's first push: stderr %q lacks %q", stderr, want)
		}
	}
	// A Maintainer can; the branch becomes the protected default.
	g.ok(first, "push", "-q", mia, "main")
	g.commit(first, nil, "second")
	stderr = g.fails(first, "push", dev, "HEAD:refs/heads/main2", "HEAD:main") // one refusal refuses all
	for _, want := range []string{"remote: GitLab: " + authz.GitMsgPushProtected, "[remote rejected] HEAD -> main (pre-receive hook declined)", "[remote rejected] HEAD -> main2 (pre-receive hook declined)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("Developer's push to main: stderr %q lacks %q", stderr, want)
		}
	}
	g.ok(first, "push", "-q", dev, "HEAD:refs/heads/topic")
	g.ok(first, "push", "-q", mia, "HEAD:main")
	// Nobody force-pushes or deletes the protected default branch; unprotected branches
	// take both.
	g.ok(first, "reset", "-q", "--hard", "HEAD~1")
	g.commit(first, map[string]string{"b.txt": "rewritten\n"}, "rewritten")
	stderr = g.fails(first, "push", "--force", mia, "HEAD:main")
	if !strings.Contains(stderr, "remote: GitLab: "+authz.GitMsgForcePush) || !strings.Contains(stderr, "(pre-receive hook declined)") {
		t.Errorf("Maintainer's force push to main: %q", stderr)
	}
	g.ok(first, "push", "-q", "--force", dev, "HEAD:refs/heads/topic")
	stderr = g.fails(first, "push", mia, ":main")
	if !strings.Contains(stderr, "remote: GitLab: "+authz.GitMsgDeleteDefault) {
		t.Errorf("Maintainer deleting main: %q", stderr)
	}
	g.ok(first, "push", "-q", dev, ":topic")
	heads := g.ok(first, "ls-remote", "--heads", mia)
	if !strings.Contains(heads, "refs/heads/main") || strings.Contains(heads, "topic") || strings.Contains(heads, "main2") {
		t.Errorf("branches after the refusals:\n%s", heads)
	}
}

// TestFirstPushSetsDefaultBranch: a first push without the default branch makes the
// pushed branch the default, as GitLab does.
func TestFirstPushSetsDefaultBranch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	dir := g.workTree(map[string]string{"a": "a"})
	g.ok(dir, "push", "-q", remote(w.srv, "oauth2", w.pat("mia", keygate.ScopeAPI), p.FullPath()), "main:develop")
	got, err := w.srv.Service.Project(context.Background(), p.FullPath())
	if err != nil || got.DefaultBranch != "develop" {
		t.Fatalf("default branch after the first push = %q, %v, want develop", got.DefaultBranch, err)
	}
	c := filepath.Join(t.TempDir(), "c")
	g.ok("", "clone", "-q", remote(w.srv, "oauth2", w.pat("rep", keygate.ScopeReadRepository), p.FullPath()), c)
	if b := g.ok(c, "symbolic-ref", "--short", "HEAD"); b != "develop" {
		t.Errorf("a clone checks out %q, want develop", b)
	}
}

// TestProtocolV2 talks protocol v2 through git http-backend (the Git-Protocol header is
// passed on).
func TestProtocolV2(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	w.seed(g, p)
	tok := w.pat("rep", keygate.ScopeReadRepository)
	out, stderr, err := g.runEnv("", []string{"GIT_TRACE_PACKET=1"}, "-c", "protocol.version=2", "ls-remote", remote(w.srv, "oauth2", tok, p.FullPath()))
	if err != nil || !strings.Contains(out, "refs/heads/main") || !strings.Contains(stderr, "< version 2") {
		t.Errorf("ls-remote with protocol v2: %v\n%s\n%s", err, out, stderr)
	}
	req, _ := http.NewRequest("GET", w.srv.URL+"/"+p.FullPath()+".git/info/refs?service=git-upload-pack", nil)
	req.SetBasicAuth("oauth2", tok)
	req.Header.Set("Git-Protocol", "version=2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("version 2")) || resp.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
		t.Errorf("info/refs with Git-Protocol: version=2 = %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// TestGzipRequestBodies: git compresses large fetch negotiations and git http-backend
// inflates them; a hand-made gzipped request works too.
func TestGzipRequestBodies(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	dir := w.seed(g, p)
	mainSHA := g.ok(dir, "rev-parse", "HEAD")
	// 300 branches make the want list of a clone well over git's 1 KB gzip threshold.
	var refspecs []string
	for i := range 300 {
		refspecs = append(refspecs, fmt.Sprintf("HEAD:refs/heads/b%03d", i))
		if i%50 == 0 {
			g.commit(dir, nil, fmt.Sprintf("c%d", i))
		}
	}
	mia := w.pat("mia", keygate.ScopeAPI)
	g.ok(dir, append([]string{"push", "-q", remote(w.srv, "oauth2", mia, p.FullPath())}, refspecs...)...)

	// A recording proxy shows what git sent.
	target, _ := url.Parse(w.srv.URL)
	var mu sync.Mutex
	var encodings []string
	proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			mu.Lock()
			encodings = append(encodings, r.Header.Get("Content-Encoding"))
			mu.Unlock()
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(rw, r)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	pu.User, pu.Path = url.UserPassword("oauth2", mia), "/"+p.FullPath()+".git"
	c := filepath.Join(t.TempDir(), "c")
	g.ok("", "-c", "protocol.version=0", "clone", "-q", "--mirror", pu.String(), c)
	mu.Lock()
	if !slices.Contains(encodings, "gzip") {
		t.Errorf("git sent POST bodies with encodings %q, want one gzipped", encodings)
	}
	mu.Unlock()
	if n := strings.Count(g.ok(c, "for-each-ref", "refs/heads/"), "\n") + 1; n != 301 {
		t.Errorf("mirror has %d branches, want 301", n)
	}

	// By hand: a protocol v0 negotiation for main, gzipped.
	var raw bytes.Buffer
	raw.WriteString(pkt("want " + mainSHA + " ofs-delta\n"))
	raw.WriteString("0000")
	raw.WriteString(pkt("done\n"))
	var zbody bytes.Buffer
	zw := gzip.NewWriter(&zbody)
	zw.Write(raw.Bytes())
	zw.Close()
	req, _ := http.NewRequest("POST", w.srv.URL+"/"+p.FullPath()+".git/git-upload-pack", &zbody)
	req.SetBasicAuth("oauth2", mia)
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("0008NAK\n")) || !bytes.Contains(body, []byte("PACK")) {
		t.Errorf("gzipped upload-pack = %d, body starts %q", resp.StatusCode, body[:min(len(body), 40)])
	}
}

// TestConcurrentPushes: pushes to different branches at once all land.
func TestConcurrentPushes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	base := w.seed(g, p)
	url := remote(w.srv, "oauth2", w.pat("dev", keygate.ScopeWriteRepository), p.FullPath())
	const n = 8
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = filepath.Join(t.TempDir(), "c")
		g.ok("", "clone", "-q", base, dirs[i])
		g.commit(dirs[i], map[string]string{fmt.Sprintf("f%d", i): strings.Repeat("x", 10_000*i)}, fmt.Sprintf("push %d", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, stderr, err := g.run(dirs[i], "push", "-q", url, fmt.Sprintf("HEAD:refs/heads/c%d", i)); err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, stderr)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d: %v", i, err)
		}
	}
	heads := g.ok("", "ls-remote", "--heads", url)
	for i := range n {
		if !strings.Contains(heads, fmt.Sprintf("refs/heads/c%d\n", i)) && !strings.HasSuffix(heads, fmt.Sprintf("refs/heads/c%d", i)) {
			t.Errorf("branch c%d missing after concurrent pushes:\n%s", i, heads)
		}
	}
}

// TestRepositoryFollowsProject: renaming a project or a group moves the repository,
// and deleting removes it.
func TestRepositoryFollowsProject(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	seeded := w.seed(g, p)
	g.ok(seeded, "push", "-q", remote(w.srv, "oauth2", w.pat("olga", keygate.ScopeAPI), p.FullPath()), "main:develop")
	ctx := context.Background()
	repos := w.srv.Inst.Repositories
	owner := w.owner()
	res, _ := w.srv.Service.ProjectAccess(ctx, owner, p)
	renamed := "renamed"
	p2, err := w.srv.Service.UpdateProject(ctx, owner, p, res, service.NamespaceInput{Path: &renamed})
	if err != nil {
		t.Fatal(err)
	}
	if repos.Exists(p.FullPath()) || !repos.Exists(p2.FullPath()) {
		t.Fatalf("after renaming %s to %s: old exists %v, new exists %v", p.FullPath(), p2.FullPath(), repos.Exists(p.FullPath()), repos.Exists(p2.FullPath()))
	}
	dev := "develop"
	p2, err = w.srv.Service.UpdateProject(ctx, owner, p2, res, service.NamespaceInput{DefaultBranch: &dev})
	if err != nil {
		t.Fatal(err)
	}
	if head := g.ok(repos.Path(p2.FullPath()), "symbolic-ref", "HEAD"); head != "refs/heads/develop" {
		t.Errorf("HEAD after changing the default branch = %q, want refs/heads/develop", head)
	}
	// A repository left on disk where a new project's would go refuses the project, as
	// GitLab's model validation does, and leaves no project behind.
	if err := repos.Create(ctx, w.g["public"].FullPath+"/taken", "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.srv.Service.CreateProject(ctx, owner, service.NamespaceInput{Name: strPtr("taken"), ParentID: w.g["public"].ID}); keygate.ErrorMessage(err) != "There is already a repository with that name on disk" {
		t.Errorf("CreateProject over a repository on disk = %v", err)
	}
	if _, err := w.srv.Service.Project(ctx, w.g["public"].FullPath+"/taken"); keygate.ErrorCode(err) != keygate.CodeNotFound {
		t.Errorf("the refused project exists: %v", err)
	}
	grp := w.g["private"]
	newPath := "moved-grp"
	g2, err := w.srv.Service.UpdateGroup(ctx, owner, grp, service.NamespaceInput{Path: &newPath})
	if err != nil {
		t.Fatal(err)
	}
	moved := g2.FullPath + "/" + p2.Path
	c := filepath.Join(t.TempDir(), "c")
	g.ok("", "clone", "-q", remote(w.srv, "oauth2", w.pat("rep", keygate.ScopeReadRepository), moved), c)
	if _, err := os.Stat(filepath.Join(c, "README.md")); err != nil {
		t.Errorf("clone after the group's rename: %v", err)
	}
	// A clash with a repository left on disk is GitLab's model error, and changes nothing.
	if err := repos.Create(ctx, g2.FullPath+"/clash", "main"); err != nil {
		t.Fatal(err)
	}
	clash := "clash"
	p3, _ := w.srv.Service.Project(ctx, moved)
	if _, err := w.srv.Service.UpdateProject(ctx, owner, p3, res, service.NamespaceInput{Path: &clash}); keygate.ErrorMessage(err) != "There is already a repository with that name on disk" {
		t.Errorf("rename onto a repository on disk = %v", err)
	}
	if !repos.Exists(moved) {
		t.Error("the refused rename moved the repository")
	}
	if err := w.srv.Service.DeleteProject(ctx, p3); err != nil {
		t.Fatal(err)
	}
	if repos.Exists(moved) {
		t.Error("the deleted project's repository is still there")
	}
	if err := w.srv.Service.DeleteGroup(ctx, g2); err != nil {
		t.Fatal(err)
	}
	if repos.Exists(g2.FullPath + "/clash") {
		t.Error("the deleted group's repositories are still there")
	}
	// A user's rename carries their personal projects' repositories.
	sam := w.u["sam"]
	name := "mine"
	mine, err := w.srv.Service.CreateProject(ctx, authz.Subject{User: sam}, service.NamespaceInput{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	newName := "samuel"
	if _, err := w.srv.Service.UpdateUser(ctx, authz.SystemSubject(), sam.ID, service.UserInput{Username: &newName}); err != nil {
		t.Fatal(err)
	}
	if repos.Exists(mine.FullPath()) || !repos.Exists("samuel/mine") {
		t.Errorf("after renaming sam: %s exists %v, samuel/mine exists %v", mine.FullPath(), repos.Exists(mine.FullPath()), repos.Exists("samuel/mine"))
	}
}

// TestPostgres runs clone, push and a rename (the repository moves inside a PostgreSQL
// transaction) on the PostgreSQL store.
func TestPostgres(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, keygatetest.Options{Postgres: true})
	g := newGit(t)
	p := w.p["private"]
	w.seed(g, p)
	dir := filepath.Join(t.TempDir(), "c")
	g.ok("", "clone", "-q", remote(w.srv, "oauth2", w.pat("dev", keygate.ScopeWriteRepository), p.FullPath()), dir)
	g.commit(dir, map[string]string{"pg": "pg\n"}, "on postgres")
	g.ok(dir, "push", "-q", "origin", "HEAD:refs/heads/pg")
	ctx := context.Background()
	res, err := w.srv.Service.ProjectAccess(ctx, w.owner(), p)
	if err != nil {
		t.Fatal(err)
	}
	path := "on-pg"
	p2, err := w.srv.Service.UpdateProject(ctx, w.owner(), p, res, service.NamespaceInput{Path: &path})
	if err != nil {
		t.Fatal(err)
	}
	heads := g.ok("", "ls-remote", "--heads", remote(w.srv, "oauth2", w.pat("rep", keygate.ScopeReadRepository), p2.FullPath()))
	if !strings.Contains(heads, "refs/heads/pg") || !strings.Contains(heads, "refs/heads/main") {
		t.Errorf("branches of the renamed project:\n%s", heads)
	}
}

func get(t *testing.T, u, user, password string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || password != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func strPtr(s string) *string { return &s }

func pkt(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
