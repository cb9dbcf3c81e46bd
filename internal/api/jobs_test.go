package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

// startJob starts a job through the Keygate extension and returns its id and token.
func startJob(t *testing.T, srv *keygatetest.Server, token string, project int64, body string) (int64, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.API+"/projects/"+itoa(project)+"/keygate/jobs", strings.NewReader(body))
	req.Header.Set("PRIVATE-TOKEN", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("start job = %d %s", resp.StatusCode, b)
	}
	var out struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || !strings.HasPrefix(out.Token, "glcbt-") {
		t.Fatalf("start job body = %s", b)
	}
	return out.ID, out.Token
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestJobTokens(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	bob := srv.User(t, "bob", false)
	aliceTok := srv.Token(t, alice.ID, "a", keygate.ScopeAPI)
	ac := newClient(t, srv, aliceTok)
	a, _, err := ac.Projects.CreateProject(&gitlab.CreateProjectOptions{Path: gitlab.Ptr("svc-a")})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := ac.Projects.CreateProject(&gitlab.CreateProjectOptions{Path: gitlab.Ptr("svc-b")})
	if err != nil {
		t.Fatal(err)
	}

	// Only Developers start jobs; bob is no member (404 hides the project).
	req, _ := http.NewRequest("POST", srv.API+"/projects/"+itoa(a.ID)+"/keygate/jobs", nil)
	req.Header.Set("PRIVATE-TOKEN", srv.Token(t, bob.ID, "b", keygate.ScopeAPI))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 404 {
		t.Fatalf("bob starting a job = %v, %v; want 404", resp, err)
	}

	jobID, jobTok := startJob(t, srv, aliceTok, a.ID, `{"ref":"main","timeout":"10m"}`)
	jc, err := gitlab.NewJobClient(jobTok, gitlab.WithBaseURL(srv.API), gitlab.WithCustomRetryMax(0))
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := jc.Jobs.GetJobTokensJob(nil)
	if err != nil || j.ID != jobID || j.Status != "running" || j.User == nil || j.User.ID != alice.ID || j.Ref != "main" {
		t.Fatalf("GetJobTokensJob = %+v, %v", j, err)
	}
	// Other routes do not recognise a job token: 401, whatever header carries it.
	_, resp, _ := jc.Users.CurrentUser()
	wantStatus(t, resp, nil, 401)
	_, resp, _ = newClient(t, srv, jobTok).Users.CurrentUser()
	wantStatus(t, resp, nil, 401)
	_, resp, _ = jc.Projects.GetProject(a.ID, nil)
	wantStatus(t, resp, nil, 401)

	// Job token scope and allowlists (Maintainer routes).
	s, _, err := ac.JobTokenScope.GetProjectJobTokenAccessSettings(b.ID)
	if err != nil || !s.InboundEnabled {
		t.Fatalf("GetProjectJobTokenAccessSettings = %+v, %v", s, err)
	}
	resp, _ = ac.JobTokenScope.PatchProjectJobTokenAccessSettings(b.ID, &gitlab.PatchProjectJobTokenAccessSettingsOptions{Enabled: false})
	wantStatus(t, resp, nil, 400) // enforced instance-wide, as GitLab 18.0+
	item, resp, err := ac.JobTokenScope.AddProjectToJobScopeAllowList(b.ID, &gitlab.JobTokenInboundAllowOptions{TargetProjectID: gitlab.Ptr(a.ID)})
	if err != nil || item.SourceProjectID != b.ID || item.TargetProjectID != a.ID {
		t.Fatalf("AddProjectToJobScopeAllowList = %+v, %v", item, err)
	}
	wantStatus(t, resp, nil, 201)
	_, resp, _ = ac.JobTokenScope.AddProjectToJobScopeAllowList(b.ID, &gitlab.JobTokenInboundAllowOptions{TargetProjectID: gitlab.Ptr(a.ID)})
	wantStatus(t, resp, nil, 400)
	list, _, err := ac.JobTokenScope.GetProjectJobTokenInboundAllowList(b.ID, nil)
	if err != nil || len(list) != 2 || list[0].ID != b.ID || list[1].ID != a.ID {
		t.Fatalf("allowlist = %v, %v; want b itself then a", list, err)
	}
	if resp, err := ac.JobTokenScope.RemoveProjectFromJobScopeAllowList(b.ID, a.ID); err != nil || resp.StatusCode != 204 {
		t.Fatalf("RemoveProjectFromJobScopeAllowList = %v, %v", resp, err)
	}
	resp, _ = ac.JobTokenScope.RemoveProjectFromJobScopeAllowList(b.ID, a.ID)
	wantStatus(t, resp, nil, 400)
	resp, _ = ac.JobTokenScope.RemoveProjectFromJobScopeAllowList(b.ID, b.ID)
	wantStatus(t, resp, nil, 400)
	grp, _, err := ac.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("ci"), Path: gitlab.Ptr("ci")})
	if err != nil {
		t.Fatal(err)
	}
	gi, _, err := ac.JobTokenScope.AddGroupToJobTokenAllowlist(b.ID, &gitlab.AddGroupToJobTokenAllowlistOptions{TargetGroupID: gitlab.Ptr(grp.ID)})
	if err != nil || gi.TargetGroupID != grp.ID {
		t.Fatalf("AddGroupToJobTokenAllowlist = %+v, %v", gi, err)
	}
	if gs, _, err := ac.JobTokenScope.GetJobTokenAllowlistGroups(b.ID, nil); err != nil || len(gs) != 1 {
		t.Fatalf("GetJobTokenAllowlistGroups = %v, %v", gs, err)
	}
	if _, err := ac.JobTokenScope.RemoveGroupFromJobTokenAllowlist(b.ID, grp.ID); err != nil {
		t.Fatalf("RemoveGroupFromJobTokenAllowlist: %v", err)
	}
	// A Developer may not manage the scope: 403.
	if _, _, err := ac.ProjectMembers.AddProjectMember(b.ID, &gitlab.AddProjectMemberOptions{UserID: gitlab.Ptr(bob.ID), AccessLevel: gitlab.Ptr(gitlab.DeveloperPermissions)}); err != nil {
		t.Fatal(err)
	}
	_, resp, _ = newClient(t, srv, srv.Token(t, bob.ID, "b2", keygate.ScopeAPI)).JobTokenScope.GetProjectJobTokenAccessSettings(b.ID)
	wantStatus(t, resp, nil, 403)

	// Finishing the job kills its token.
	freq, _ := http.NewRequest("POST", srv.API+"/projects/"+itoa(a.ID)+"/keygate/jobs/"+itoa(jobID)+"/finish", nil)
	freq.Header.Set("PRIVATE-TOKEN", aliceTok)
	if resp, err := http.DefaultClient.Do(freq); err != nil || resp.StatusCode != 200 {
		t.Fatalf("finish = %v, %v", resp, err)
	}
	_, resp, _ = jc.Jobs.GetJobTokensJob(nil)
	wantStatus(t, resp, nil, 401)

	// A job past its timeout is refused too.
	_, tok2 := startJob(t, srv, aliceTok, a.ID, `{"timeout":"5m"}`)
	jc2, _ := gitlab.NewJobClient(tok2, gitlab.WithBaseURL(srv.API), gitlab.WithCustomRetryMax(0))
	if _, _, err := jc2.Jobs.GetJobTokensJob(nil); err != nil {
		t.Fatalf("fresh job: %v", err)
	}
	srv.Clock.Advance(5 * time.Minute)
	_, resp, _ = jc2.Jobs.GetJobTokensJob(nil)
	wantStatus(t, resp, nil, 401)
}
