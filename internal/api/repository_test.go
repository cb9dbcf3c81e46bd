package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// repoFixture is a private project in a group with a pushed history, a public one, and
// users of each role.
type repoFixture struct {
	srv                *keygatetest.Server
	priv, pub, empty   keygate.Project
	first, second      string
	owner, guest, stra keygate.User
}

func newRepoFixture(t *testing.T) *repoFixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	ctx := context.Background()
	srv := keygatetest.NewServer(t)
	f := &repoFixture{srv: srv, owner: srv.User(t, "olive", false), guest: srv.User(t, "gina", false), stra: srv.User(t, "stan", false)}
	sub := authz.Subject{User: f.owner}
	gname, priv, pub := "code", keygate.Private, keygate.Public
	g, err := srv.Service.CreateGroup(ctx, sub, service.NamespaceInput{Name: &gname, Path: &gname, Visibility: &pub})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, vis keygate.Visibility) keygate.Project {
		p, err := srv.Service.CreateProject(ctx, sub, service.NamespaceInput{Name: &name, Visibility: &vis, ParentID: g.ID})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.priv, f.pub, f.empty = mk("secret", priv), mk("open", pub), mk("empty", priv)
	src := sourceOf(t, srv.Service, authz.KindProject, f.priv.ID)
	if _, err := srv.Service.AddMember(ctx, authz.SystemSubject(), src, service.MemberInput{UserID: f.guest.ID, AccessLevel: keygate.Guest}); err != nil {
		t.Fatal(err)
	}
	tok := srv.Token(t, f.owner.ID, "push", keygate.ScopeWriteRepository)
	f.first, f.second = pushHistory(t, srv.URL+"/"+f.priv.FullPath()+".git", tok)
	pushHistory(t, srv.URL+"/"+f.pub.FullPath()+".git", tok)
	return f
}

// pushHistory pushes two commits on main and a merged branch "old" with the real git.
func pushHistory(t *testing.T, repoURL, token string) (first, second string) {
	t.Helper()
	dir, home := t.TempDir(), t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "credential.helper=", "-c", "core.fsync=none"}, args...)...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
			"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
			"GIT_AUTHOR_DATE=2026-06-01T10:00:00+02:00", "GIT_COMMITTER_DATE=2026-06-01T10:30:00+02:00"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("README.md", "# Hello\n", 0o644)
	write("docs/guide.md", "guide\n", 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "First commit")
	first = git("rev-parse", "HEAD")
	write("run.sh", "#!/bin/sh\necho hi\n", 0o755)
	write("docs/img/logo.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 0o644)
	write("bin/data", "\x00\x01\x02binary", 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "Second commit\n\nWith a body.")
	second = git("rev-parse", "HEAD")
	git("branch", "old", first)
	u := strings.Replace(repoURL, "://", "://oauth2:"+token+"@", 1)
	git("push", "-q", u, "main", "old")
	return first, second
}

func (f *repoFixture) client(t *testing.T, token string) *gitlab.Client {
	t.Helper()
	return newClient(t, f.srv, token)
}

// TestRepositoryAPIClientGo reads branches, tree and files with the official client.
func TestRepositoryAPIClientGo(t *testing.T) {
	t.Parallel()
	f := newRepoFixture(t)
	c := f.client(t, f.srv.Token(t, f.owner.ID, "read", keygate.ScopeReadAPI))
	pid := f.priv.FullPath()

	branches, resp, err := c.Branches.ListBranches(pid, &gitlab.ListBranchesOptions{})
	if err != nil {
		t.Fatalf("ListBranches: %v", err)
	}
	if len(branches) != 2 || resp.TotalItems != 2 {
		t.Fatalf("ListBranches = %d branches (X-Total %d), want 2", len(branches), resp.TotalItems)
	}
	main, old := branches[0], branches[1]
	if main.Name != "main" || !main.Default || !main.Protected || main.Merged || !main.CanPush || main.DevelopersCanPush ||
		main.WebURL != "http://keygate.test/"+pid+"/-/tree/main" {
		t.Errorf("main = %+v", main)
	}
	if old.Name != "old" || old.Default || old.Protected || !old.Merged || !old.CanPush {
		t.Errorf("old = %+v", old)
	}
	mc := main.Commit
	if mc.ID != f.second || mc.ShortID != f.second[:8] || mc.Title != "Second commit" || mc.Message != "Second commit\n\nWith a body.\n" ||
		mc.AuthorName != "Ada" || mc.AuthorEmail != "ada@example.com" || !reflect.DeepEqual(mc.ParentIDs, []string{f.first}) ||
		mc.CommittedDate == nil || mc.CommittedDate.UTC().Format("15:04") != "08:30" || mc.AuthoredDate.UTC().Format("15:04") != "08:00" ||
		mc.WebURL != "http://keygate.test/"+pid+"/-/commit/"+f.second {
		t.Errorf("main's commit = %+v", mc)
	}
	found, _, err := c.Branches.ListBranches(pid, &gitlab.ListBranchesOptions{Search: gitlab.Ptr("^ol")})
	if err != nil || len(found) != 1 || found[0].Name != "old" {
		t.Errorf("ListBranches(search ^ol) = %v, %v", found, err)
	}
	page, resp, err := c.Branches.ListBranches(pid, &gitlab.ListBranchesOptions{ListOptions: gitlab.ListOptions{Page: 2, PerPage: 1}})
	if err != nil || len(page) != 1 || page[0].Name != "old" || resp.PreviousPage != 1 {
		t.Errorf("ListBranches(page 2 of 1) = %v, %+v, %v", page, resp, err)
	}

	top, _, err := c.Repositories.ListTree(pid, &gitlab.ListTreeOptions{})
	if err != nil {
		t.Fatalf("ListTree: %v", err)
	}
	var got []string
	for _, n := range top {
		got = append(got, n.Type+" "+n.Mode+" "+n.Path)
	}
	if want := []string{"tree 040000 bin", "tree 040000 docs", "blob 100644 README.md", "blob 100755 run.sh"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListTree = %q, want %q", got, want)
	}
	deep, resp, err := c.Repositories.ListTree(pid, &gitlab.ListTreeOptions{Path: gitlab.Ptr("docs"), Recursive: gitlab.Ptr(true), Ref: gitlab.Ptr("main"), ListOptions: gitlab.ListOptions{PerPage: 2}})
	if err != nil || len(deep) != 2 || deep[0].Path != "docs/img" || deep[0].Name != "img" || resp.TotalItems != 3 {
		t.Errorf("ListTree(docs, recursive, per_page 2) = %+v, total %d, %v", deep, resp.TotalItems, err)
	}
	oldTree, _, err := c.Repositories.ListTree(pid, &gitlab.ListTreeOptions{Ref: gitlab.Ptr("old")})
	if err != nil || len(oldTree) != 2 {
		t.Errorf("ListTree(ref old) = %v, %v, want docs and README.md", oldTree, err)
	}

	files := f.client(t, f.srv.Token(t, f.owner.ID, "files", keygate.ScopeReadRepository))
	file, resp, err := files.RepositoryFiles.GetFile(pid, "docs/guide.md", &gitlab.GetFileOptions{Ref: gitlab.Ptr("main")})
	if err != nil {
		t.Fatalf("GetFile: %v", err)
	}
	content, _ := base64.StdEncoding.DecodeString(file.Content)
	if file.FileName != "guide.md" || file.FilePath != "docs/guide.md" || file.Size != 6 || file.Encoding != "base64" || string(content) != "guide\n" ||
		file.Ref != "main" || file.CommitID != f.second || file.LastCommitID != f.first || file.ExecuteFilemode ||
		file.SHA256 != fmt.Sprintf("%x", sha256.Sum256([]byte("guide\n"))) || len(file.BlobID) != 40 {
		t.Errorf("GetFile = %+v", file)
	}
	if resp.Header.Get("X-Gitlab-Last-Commit-Id") != f.first || resp.Header.Get("X-Gitlab-Content-Sha256") != file.SHA256 {
		t.Errorf("GetFile headers = %v", resp.Header)
	}
	script, _, err := files.RepositoryFiles.GetFile(pid, "run.sh", &gitlab.GetFileOptions{Ref: gitlab.Ptr(f.second[:12])})
	if err != nil || !script.ExecuteFilemode || script.Ref != f.second[:12] {
		t.Errorf("GetFile(run.sh at a short SHA) = %+v, %v", script, err)
	}
	raw, resp, err := files.RepositoryFiles.GetRawFile(pid, "README.md", &gitlab.GetRawFileOptions{Ref: gitlab.Ptr("main")})
	if err != nil || string(raw) != "# Hello\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("X-Gitlab-File-Name") != "README.md" {
		t.Errorf("GetRawFile(README.md) = %q, %v, %v", raw, resp.Header, err)
	}
	raw, resp, err = files.RepositoryFiles.GetRawFile(pid, "bin/data", nil) // ref defaults to the default branch
	if err != nil || string(raw) != "\x00\x01\x02binary" || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("GetRawFile(bin/data) = %q, %v, %v", raw, resp.Header, err)
	}
	// read_repository opens the files API only (spec §2.2).
	_, _, err = files.Branches.ListBranches(pid, nil)
	wantScope(t, err, "api read_api")
	_, _, err = files.Repositories.ListTree(pid, nil)
	wantScope(t, err, "api read_api")
	write := f.client(t, f.srv.Token(t, f.owner.ID, "write", keygate.ScopeWriteRepository))
	_, _, err = write.RepositoryFiles.GetFile(pid, "README.md", &gitlab.GetFileOptions{Ref: gitlab.Ptr("main")})
	wantScope(t, err, "read_repository api read_api")
}

func wantScope(t *testing.T, err error, scope string) {
	t.Helper()
	var er *gitlab.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 403 || !strings.Contains(er.Message, scope) {
		t.Errorf("err = %v, want 403 insufficient_scope %q", err, scope)
	}
}

// TestRepositoryAPIAnswers checks GitLab's statuses and bodies for the repository
// routes' refusals and errors.
func TestRepositoryAPIAnswers(t *testing.T) {
	t.Parallel()
	f := newRepoFixture(t)
	owner := f.srv.Token(t, f.owner.ID, "api", keygate.ScopeAPI)
	guest := f.srv.Token(t, f.guest.ID, "api", keygate.ScopeAPI)
	stranger := f.srv.Token(t, f.stra.ID, "api", keygate.ScopeAPI)
	id := func(p keygate.Project) string { return "/projects/" + strconv.FormatInt(p.ID, 10) }
	priv, pub, empty := id(f.priv), id(f.pub), id(f.empty)
	forbidden := `{"message":"403 Forbidden"}`
	for _, tc := range []struct {
		name, token, path string
		status            int
		body              string // exact JSON; "" checks only the status
	}{
		{"guest branches", guest, priv + "/repository/branches", 403, forbidden},
		{"guest tree", guest, priv + "/repository/tree", 403, forbidden},
		{"guest file", guest, priv + "/repository/files/README.md?ref=main", 403, forbidden},
		{"guest raw", guest, priv + "/repository/files/README.md/raw", 403, forbidden},
		{"stranger private", stranger, priv + "/repository/branches", 404, `{"message":"404 Project Not Found"}`},
		{"anonymous private", "", priv + "/repository/tree", 404, `{"message":"404 Project Not Found"}`},
		{"anonymous public branches", "", pub + "/repository/branches", 200, ""},
		{"anonymous public raw", "", pub + "/repository/files/docs%2Fguide.md/raw?ref=main", 200, ""},
		{"stranger public tree", stranger, pub + "/repository/tree?recursive=true", 200, ""},
		{"ref is missing", owner, priv + "/repository/files/README.md", 400, `{"error":"ref is missing"}`},
		{"ref is empty", owner, priv + "/repository/files/README.md?ref=", 400, `{"error":"ref is empty"}`},
		{"raw ref is empty", owner, priv + "/repository/files/README.md/raw?ref=", 400, `{"error":"ref is empty"}`},
		{"unknown ref", owner, priv + "/repository/files/README.md?ref=nope", 404, `{"message":"404 Commit Not Found"}`},
		{"missing file", owner, priv + "/repository/files/nope.txt?ref=main", 404, `{"message":"404 File Not Found"}`},
		{"directory is no file", owner, priv + "/repository/files/docs?ref=main", 404, `{"message":"404 File Not Found"}`},
		{"file at an old ref", owner, priv + "/repository/files/run.sh?ref=old", 404, `{"message":"404 File Not Found"}`},
		{"traversal", owner, priv + "/repository/files/docs%2F..%2F..%2Fetc?ref=main", 400, `{"error":"file_path should be a valid file path"}`},
		{"option-like ref", owner, priv + "/repository/files/README.md?ref=--output=x", 404, `{"message":"404 Commit Not Found"}`},
		{"tree of an unknown ref", owner, priv + "/repository/tree?ref=nope", 404, `{"message":"404 Tree Not Found"}`},
		{"tree of a missing path", owner, priv + "/repository/tree?path=nope", 404, `{"message":"404 Tree Not Found"}`},
		{"empty repository branches", owner, empty + "/repository/branches", 200, "[]"},
		{"empty repository tree", owner, empty + "/repository/tree", 404, `{"message":"404 Tree Not Found"}`},
		{"empty repository file", owner, empty + "/repository/files/README.md?ref=main", 404, `{"message":"404 Commit Not Found"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.srv.API+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("PRIVATE-TOKEN", tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || tc.body != "" && strings.TrimSpace(string(b)) != tc.body {
				t.Errorf("GET %s = %d %s, want %d %s", tc.path, resp.StatusCode, b, tc.status, tc.body)
			}
		})
	}
	// Asked to explain, a Guest's 403 says why.
	req, _ := http.NewRequest("GET", f.srv.API+priv+"/repository/tree", nil)
	req.Header.Set("PRIVATE-TOKEN", guest)
	req.Header.Set("X-Keygate-Explain", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "read_code") || !strings.Contains(string(b), "Reporter") {
		t.Errorf("explained guest tree = %d %s", resp.StatusCode, b)
	}
}
