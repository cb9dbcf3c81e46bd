package githttp_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// TestJobTokensOverGit: gitlab-ci-token clones its own project, reaches another only
// through that project's allowlist (REST and Git alike), and pushes only where the
// project allows job-token pushes.
func TestJobTokensOverGit(t *testing.T) {
	w := newWorld(t)
	g := newGit(t)
	ctx := w.ctx()
	own := w.p["private"]
	other := w.project("other", keygate.Private, w.g["private"].ID)
	w.seed(g, own)
	w.seed(g, other)
	dev := authz.Subject{User: w.u["dev"]}
	res, err := w.srv.Service.ProjectAccess(ctx, dev, own)
	if err != nil {
		t.Fatal(err)
	}
	job, err := w.srv.Service.StartJob(ctx, dev, own, res, service.JobInput{})
	if err != nil {
		t.Fatal(err)
	}
	tok := job.Secret.Reveal()

	g.ok(t.TempDir(), "clone", "-q", remote(w.srv, "gitlab-ci-token", tok, own.FullPath()), "own")
	// Any other username is not a job login: 401.
	if out := g.fails(t.TempDir(), "clone", "-q", remote(w.srv, "oauth2", tok, own.FullPath()), "x"); !strings.Contains(out, "HTTP Basic: Access denied") {
		t.Errorf("job token with another username: %s", out)
	}
	// Another project is out of reach until it allows this one.
	out := g.fails(t.TempDir(), "clone", "-q", remote(w.srv, "gitlab-ci-token", tok, other.FullPath()), "o")
	want := "Authentication by CI/CD job token not allowed from " + own.Path + " to " + other.Path + "."
	if !strings.Contains(out, want) {
		t.Errorf("cross-project clone: %s; want %q", out, want)
	}
	branches := func(p int64) int {
		t.Helper()
		req, _ := http.NewRequest("GET", w.srv.API+"/projects/"+strconv.FormatInt(p, 10)+"/repository/branches", nil)
		req.Header.Set("JOB-TOKEN", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := branches(own.ID); st != 200 {
		t.Errorf("job token on its own branches = %d", st)
	}
	if st := branches(other.ID); st != 403 {
		t.Errorf("job token on another project's branches = %d, want 403", st)
	}
	if err := w.srv.Service.AllowProject(ctx, other, own); err != nil {
		t.Fatal(err)
	}
	g.ok(t.TempDir(), "clone", "-q", remote(w.srv, "gitlab-ci-token", tok, other.FullPath()), "o")
	if st := branches(other.ID); st != 200 {
		t.Errorf("allowlisted job token on branches = %d", st)
	}
	log, err := w.srv.Service.JobTokenAuthLog(ctx, other)
	if err != nil || len(log) != 1 || log[0].SourceProjectID != own.ID {
		t.Errorf("authentication log = %+v, %v", log, err)
	}

	// Push: refused until the project allows job-token pushes, and never to another
	// project.
	dir := g.workTree(map[string]string{"f.txt": "x"})
	g.ok(dir, "checkout", "-q", "-b", "feature")
	if out := g.fails(dir, "push", "-q", remote(w.srv, "gitlab-ci-token", tok, own.FullPath()), "feature"); !strings.Contains(out, authz.GitMsgAuthUpload) {
		t.Errorf("job push without the setting: %s", out)
	}
	if _, err := w.srv.Service.SetJobTokenScope(ctx, own, nil, new(true)); err != nil {
		t.Fatal(err)
	}
	g.ok(dir, "push", "-q", remote(w.srv, "gitlab-ci-token", tok, own.FullPath()), "feature")
	if out := g.fails(dir, "push", "-q", remote(w.srv, "gitlab-ci-token", tok, other.FullPath()), "feature"); !strings.Contains(out, authz.GitMsgAuthUpload) {
		t.Errorf("job push to another project: %s", out)
	}

	// A finished job's token is refused.
	if _, err := w.srv.Service.FinishJob(ctx, dev, own, res, job.Job.ID, keygate.JobSuccess); err != nil {
		t.Fatal(err)
	}
	if out := g.fails(t.TempDir(), "clone", "-q", remote(w.srv, "gitlab-ci-token", tok, own.FullPath()), "gone"); !strings.Contains(out, "HTTP Basic: Access denied") {
		t.Errorf("finished job clone: %s", out)
	}
}
