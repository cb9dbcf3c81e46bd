package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/doctor"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
)

func issue(t *testing.T, srv *keygatetest.Server, uid int64, days int, scopes ...keygate.Scope) string {
	t.Helper()
	d := keygate.DateOf(srv.Clock.Now()).AddDays(days)
	iss, err := srv.Service.CreatePersonalToken(context.Background(), authz.SystemSubject(), uid,
		service.TokenInput{Name: "t", Scopes: scopes, ExpiresAt: &d})
	if err != nil {
		t.Fatal(err)
	}
	return iss.Secret.Reveal()
}

// fixture: group acme with private project acme/app; dev is its Developer, gus its
// Guest, out is no member.
type fixture struct {
	srv           *keygatetest.Server
	dev, gus, out keygate.User
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	return newFixtureOn(t, keygatetest.NewServer(t))
}

func newFixtureOn(t *testing.T, srv *keygatetest.Server) fixture {
	t.Helper()
	f := fixture{srv: srv, dev: srv.User(t, "dev", false), gus: srv.User(t, "gus", false), out: srv.User(t, "out", false)}
	var g, p struct{ ID int64 }
	srv.MustDo(t, srv.RootToken, "POST", "/groups", map[string]any{"name": "Acme", "path": "acme", "visibility": "private"}, 201, &g)
	srv.MustDo(t, srv.RootToken, "POST", "/projects", map[string]any{"name": "app", "namespace_id": g.ID, "visibility": "private"}, 201, &p)
	pid := strconv.FormatInt(p.ID, 10)
	srv.MustDo(t, srv.RootToken, "POST", "/projects/"+pid+"/members", map[string]any{"user_id": f.dev.ID, "access_level": 30}, 201, nil)
	srv.MustDo(t, srv.RootToken, "POST", "/projects/"+pid+"/members", map[string]any{"user_id": f.gus.ID, "access_level": 10}, 201, nil)
	return f
}

func (f fixture) run(t *testing.T, tok, project string, git bool) doctor.Report {
	t.Helper()
	return doctor.Run(context.Background(), doctor.Config{URL: f.srv.URL, Token: secret.Wrap(tok), Project: project, Git: git, Now: f.srv.Clock.Now})
}

func findCheck(r doctor.Report, name string) doctor.Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return doctor.Check{}
}

// TestDoctorFindings: every finding, end to end against a real server.
func TestDoctorFindings(t *testing.T) {
	needGit := func(t *testing.T) {
		if _, err := exec.LookPath("git"); err != nil {
			t.Skip("git not installed")
		}
	}
	f := newFixture(t)
	srv := f.srv
	good := issue(t, srv, f.dev.ID, 90, keygate.ScopeAPI)
	soon := issue(t, srv, f.dev.ID, 10, keygate.ScopeAPI)
	expired := issue(t, srv, f.dev.ID, 1, keygate.ScopeAPI)
	revoked := issue(t, srv, f.dev.ID, 90, keygate.ScopeAPI)
	srv.MustDo(t, revoked, "DELETE", "/personal_access_tokens/self", nil, 204, nil)
	gitOnly := issue(t, srv, f.dev.ID, 90, keygate.ScopeReadRepository)
	userOnly := issue(t, srv, f.dev.ID, 90, keygate.ScopeReadUser)
	guest := issue(t, srv, f.gus.ID, 90, keygate.ScopeAPI)
	outsider := issue(t, srv, f.out.ID, 90, keygate.ScopeAPI)
	srv.Clock.Advance(36 * time.Hour) // "expired" is past its date; every other has days left

	cases := []struct {
		name          string
		tok, project  string
		git           bool
		check, status string
		finding       string
		exit          int
		fix           string // a fragment of the fix
	}{
		{"healthy", good, "acme/app", false, "role", doctor.OK, "", 0, ""},
		{"healthy with git", good, "acme/app", true, "git", doctor.OK, "", 0, ""},
		{"expiring", soon, "", false, "expiry", doctor.Warn, doctor.FindingExpiring, 0, "rotate now"},
		{"expired", expired, "", false, "token", doctor.Fail, doctor.FindingExpired, 1, "create a new token"},
		{"revoked", revoked, "", false, "token", doctor.Fail, doctor.FindingRevoked, 1, "successor"},
		{"invalid", "glpat-nothing-like-a-token", "", false, "token", doctor.Fail, doctor.FindingInvalid, 1, "belongs to this instance"},
		{"missing scope for /user", gitOnly, "", false, "user", doctor.Fail, doctor.FindingMissingScope, 1, "read_user"},
		{"missing scope for the project", userOnly, "acme/app", false, "project", doctor.Fail, doctor.FindingMissingScope, 1, "read_api"},
		{"low role", guest, "acme/app", false, "role", doctor.Fail, doctor.FindingLowRole, 1, "Reporter"},
		{"hidden project", outsider, "acme/app", false, "project", doctor.Fail, doctor.FindingHiddenProject, 1, "full path"},
		{"wrong path", good, "acme/nope", false, "project", doctor.Fail, doctor.FindingHiddenProject, 1, "ask a Maintainer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.git {
				needGit(t)
			}
			r := f.run(t, c.tok, c.project, c.git)
			got := findCheck(r, c.check)
			if got.Status != c.status || got.Finding != c.finding || r.ExitCode != c.exit || !strings.Contains(got.Fix, c.fix) {
				t.Fatalf("check %s = %+v, exit %d; want %s %s exit %d fix ~%q\n%+v", c.check, got, r.ExitCode, c.status, c.finding, c.exit, c.fix, r.Checks)
			}
			if c.status == doctor.Fail && (got.Cause == "" || !strings.ContainsAny(got.Cause, "0123456789")) {
				t.Fatalf("failing check without a status-code cause: %+v", got)
			}
			var b bytes.Buffer
			if err := r.WriteText(&b); err != nil || (c.fix != "" && !strings.Contains(b.String(), c.fix)) {
				t.Fatalf("WriteText = %q", b.String())
			}
		})
	}

	t.Run("git refused", func(t *testing.T) {
		needGit(t)
		// A Reporter-less guest: the project is visible but Git refuses the clone.
		r := f.run(t, guest, "acme/app", true)
		got := findCheck(r, "git")
		if got.Status != doctor.Fail || got.Finding != doctor.FindingGitRefused || r.ExitCode != 1 || got.Cause == "" || got.Fix == "" {
			t.Fatalf("git check = %+v, exit %d; want git_refused", got, r.ExitCode)
		}
	})
	t.Run("git refused for a token without a Git scope", func(t *testing.T) {
		needGit(t)
		noGit := issue(t, srv, f.dev.ID, 90, keygate.ScopeReadUser, keygate.ScopeReadRegistry)
		r := f.run(t, noGit, "acme/app", true)
		got := findCheck(r, "git")
		if got.Finding != doctor.FindingGitRefused || !strings.Contains(got.Fix, "read_repository") {
			t.Fatalf("git check = %+v; want git_refused naming read_repository", got)
		}
	})
	t.Run("identity and type", func(t *testing.T) {
		r := f.run(t, good, "", false)
		if r.User == nil || r.User.Username != "dev" || r.Token == nil || r.Token.Type != "personal" || r.Token.DaysLeft == nil ||
			*r.Token.DaysLeft != 88 || !r.Keygate || !strings.HasSuffix(r.Version, "-keygate") {
			t.Fatalf("report = %+v token %+v", r, r.Token)
		}
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), good) {
			t.Fatal("the JSON report holds the token")
		}
	})
}

// TestDoctorCouldNotCheck: exit status 2 when the instance does not answer or is no
// GitLab API.
func TestDoctorCouldNotCheck(t *testing.T) {
	dead := httptest.NewServer(nil)
	url := dead.URL
	dead.Close()
	r := doctor.Run(context.Background(), doctor.Config{URL: url, Token: secret.Wrap("x")})
	if r.ExitCode != 2 || r.Checks[0].Finding != doctor.FindingUnreachable {
		t.Fatalf("dead server: %+v", r)
	}
	notAPI := httptest.NewServer(nil) // answers 404 everywhere
	t.Cleanup(notAPI.Close)
	r = doctor.Run(context.Background(), doctor.Config{URL: notAPI.URL, Token: secret.Wrap("x")})
	if r.ExitCode != 2 || r.Checks[0].Finding != doctor.FindingNotGitLab {
		t.Fatalf("not an API: %+v", r)
	}
	srv := keygatetest.NewServer(t)
	r = doctor.Run(context.Background(), doctor.Config{URL: srv.URL, Token: secret.Wrap("glcbt-abc")})
	if r.ExitCode != 2 || findCheck(r, "token").Finding != doctor.FindingJobToken {
		t.Fatalf("job token: %+v", r)
	}
	r = doctor.Run(context.Background(), doctor.Config{URL: "gitlab.example.com", Token: secret.Wrap("x")})
	if r.ExitCode != 2 {
		t.Fatalf("URL without scheme: %+v", r)
	}
}
