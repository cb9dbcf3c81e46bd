package api_test

import (
	"fmt"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keygate/keygate/internal/keygatetest"
)

// TestHooksCRUD: project and group hooks as GitLab's API, the secret token never shown
// back, URLs validated, local destinations refused unless allowed, and denials.
func TestHooksCRUD(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	dev := srv.User(t, "dev", false)
	aliceTok := srv.Token(t, alice.ID, "a", "api")
	devTok := srv.Token(t, dev.ID, "d", "api")
	var p, g struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/projects", aliceTok, `{"name":"app"}`, 201, &p)
	hitJSON(t, srv, "POST", "/groups", aliceTok, `{"name":"Team","path":"team"}`, 201, &g)
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/members", p.ID), aliceTok, fmt.Sprintf(`{"user_id":%d,"access_level":30}`, dev.ID), 201, nil)

	for _, base := range []string{fmt.Sprintf("/projects/%d", p.ID), fmt.Sprintf("/groups/%d", g.ID)} {
		t.Run(strings.Split(base, "/")[1], func(t *testing.T) {
			for _, c := range []struct{ url, want string }{
				{"ftp://example.com/x", "is blocked: Only allowed schemes are http, https"},
				{"not a url", "is blocked: URI is invalid"},
				{"http://127.0.0.1:9/x", "is blocked: Requests to localhost are not allowed"},
				{"http://localhost/x", "is blocked: Requests to localhost are not allowed"},
				{"http://10.1.2.3/x", "is blocked: Requests to the local network are not allowed"},
				{"http://[::1]/x", "is blocked: Requests to localhost are not allowed"},
				{"http://192.168.0.4/x", "is blocked: Requests to the local network are not allowed"},
			} {
				st, _, b := hit(t, srv, "POST", base+"/hooks", aliceTok, fmt.Sprintf(`{"url":%q}`, c.url))
				if st != 400 || !strings.Contains(string(b), c.want) {
					t.Errorf("POST hook %q = %d %s, want 400 %q", c.url, st, b, c.want)
				}
			}
			if st, _, b := hit(t, srv, "POST", base+"/hooks", aliceTok, `{}`); st != 400 || !strings.Contains(string(b), "url is missing") {
				t.Errorf("POST hook without url = %d %s", st, b)
			}
			var hs []hookBody
			hitJSON(t, srv, "GET", base+"/hooks", aliceTok, "", 200, &hs)
			if len(hs) != 0 {
				t.Fatalf("refused hooks were stored: %+v", hs)
			}
			var h hookBody
			hitJSON(t, srv, "POST", base+"/hooks", aliceTok, `{"url":"https://203.0.113.7/hook","token":"s3cret","resource_access_token_events":true,"name":"ci"}`, 201, &h)
			if h.URL != "https://203.0.113.7/hook" || !h.ResourceAccessTokenEvents || !h.PushEvents || h.Name != "ci" {
				t.Errorf("created hook = %+v", h)
			}
			_, _, raw := hit(t, srv, "GET", fmt.Sprintf("%s/hooks/%d", base, h.ID), aliceTok, "")
			if strings.Contains(string(raw), "s3cret") {
				t.Error("the hook's secret token is shown back")
			}
			hitJSON(t, srv, "PUT", fmt.Sprintf("%s/hooks/%d", base, h.ID), aliceTok, `{"push_events":false}`, 200, &h)
			if h.PushEvents || !h.ResourceAccessTokenEvents {
				t.Errorf("edited hook = %+v", h)
			}
			if st, _, _ := hit(t, srv, "PUT", fmt.Sprintf("%s/hooks/%d", base, h.ID), aliceTok, `{"url":"http://10.0.0.1/"}`); st != 400 {
				t.Errorf("edit to a local URL = %d, want 400", st)
			}
			if st, _, _ := hit(t, srv, "GET", fmt.Sprintf("%s/hooks/%d", base, h.ID+1000), aliceTok, ""); st != 404 {
				t.Errorf("missing hook = %d, want 404", st)
			}
			// A Developer (project) or a non-member (group, which is private) is refused.
			if st, _, _ := hit(t, srv, "GET", base+"/hooks", devTok, ""); st != 403 && st != 404 {
				t.Errorf("developer GET hooks = %d, want 403 or 404", st)
			}
			hitJSON(t, srv, "DELETE", fmt.Sprintf("%s/hooks/%d", base, h.ID), aliceTok, "", 204, nil)
			if st, _, _ := hit(t, srv, "DELETE", fmt.Sprintf("%s/hooks/%d", base, h.ID), aliceTok, ""); st != 404 {
				t.Errorf("second delete = %d, want 404", st)
			}
		})
	}
	// Another project's hook is not reachable through this one.
	var other struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/projects", aliceTok, `{"name":"other"}`, 201, &other)
	var oh hookBody
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/hooks", other.ID), aliceTok, `{"url":"https://203.0.113.8/"}`, 201, &oh)
	if st, _, _ := hit(t, srv, "GET", fmt.Sprintf("/projects/%d/hooks/%d", p.ID, oh.ID), aliceTok, ""); st != 404 {
		t.Errorf("hook of another project = %d, want 404", st)
	}
	// With local requests allowed, loopback is accepted.
	hitJSON(t, srv, "PUT", "/application/settings", srv.RootToken, `{"allow_local_requests_from_web_hooks_and_services":true}`, 200, nil)
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/hooks", p.ID), aliceTok, `{"url":"http://127.0.0.1:9/x"}`, 201, nil)
}

type hookBody struct {
	ID                        int64  `json:"id"`
	URL                       string `json:"url"`
	Name                      string `json:"name"`
	PushEvents                bool   `json:"push_events"`
	ResourceAccessTokenEvents bool   `json:"resource_access_token_events"`
}

// TestLastUsedEverywhere: last_used_at and the last five addresses show in every token
// API: personal, impersonation, project tokens and the admin lookup.
func TestLastUsedEverywhere(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	aliceTok := srv.Token(t, alice.ID, "a", "api")
	var p struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/projects", aliceTok, `{"name":"app"}`, 201, &p)
	var pt, imp tokenBody
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/access_tokens", p.ID), aliceTok, `{"name":"p","scopes":["api"]}`, 201, &pt)
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/impersonation_tokens", alice.ID), srv.RootToken, `{"name":"i","scopes":["api"]}`, 201, &imp)
	for _, tok := range []string{aliceTok, pt.Token, imp.Token} {
		hitJSON(t, srv, "GET", "/personal_access_tokens/self", tok, "", 200, nil)
	}
	if err := srv.Service.FlushUses(t.Context()); err != nil {
		t.Fatal(err)
	}
	check := func(what string, tb tokenBody) {
		t.Helper()
		if tb.LastUsedAt == nil || len(tb.LastUsedIPs) != 1 || tb.LastUsedIPs[0] != "127.0.0.1" {
			t.Errorf("%s: last_used_at %v last_used_ips %v, want set and [127.0.0.1]", what, tb.LastUsedAt, tb.LastUsedIPs)
		}
	}
	var got tokenBody
	hitJSON(t, srv, "GET", "/personal_access_tokens/self", aliceTok, "", 200, &got)
	check("personal self", got)
	hitJSON(t, srv, "GET", fmt.Sprintf("/projects/%d/access_tokens/%d", p.ID, pt.ID), aliceTok, "", 200, &got)
	check("project token", got)
	hitJSON(t, srv, "GET", fmt.Sprintf("/users/%d/impersonation_tokens/%d", alice.ID, imp.ID), srv.RootToken, "", 200, &got)
	check("impersonation token", got)
	hitJSON(t, srv, "POST", "/admin/token", srv.RootToken, fmt.Sprintf(`{"token":%q}`, pt.Token), 200, &got)
	check("admin lookup", got)
}

// TestLifecycleWithGitLabClient: the official Go client reads audit events and manages
// hooks against Keygate.
func TestLifecycleWithGitLabClient(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	c := newClient(t, srv, srv.RootToken)
	ac := newClient(t, srv, srv.Token(t, alice.ID, "a", "api"))
	p, _, err := ac.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("app")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ac.ProjectAccessTokens.CreateProjectAccessToken(p.ID, &gitlab.CreateProjectAccessTokenOptions{
		Name: gitlab.Ptr("deploy"), Scopes: &[]string{"read_api"},
	}); err != nil {
		t.Fatal(err)
	}
	es, _, err := c.AuditEvents.ListInstanceAuditEvents(&gitlab.ListAuditEventsOptions{})
	if err != nil || len(es) == 0 || es[0].CreatedAt == nil {
		t.Fatalf("ListInstanceAuditEvents = %v, %v", es, err)
	}
	pe, _, err := ac.AuditEvents.ListProjectAuditEvents(p.ID, &gitlab.ListAuditEventsOptions{})
	if err != nil || len(pe) != 1 || pe[0].EventName != "token_created" || pe[0].EntityType != "Project" || pe[0].Details.IPAddress != "127.0.0.1" {
		t.Fatalf("ListProjectAuditEvents = %+v, %v", pe, err)
	}
	one, _, err := ac.AuditEvents.GetProjectAuditEvent(p.ID, pe[0].ID)
	if err != nil || one.ID != pe[0].ID {
		t.Fatalf("GetProjectAuditEvent = %+v, %v", one, err)
	}
	h, _, err := ac.Projects.AddProjectHook(p.ID, &gitlab.AddProjectHookOptions{
		URL: gitlab.Ptr("https://203.0.113.9/hook"), Token: gitlab.Ptr("t0k"), ResourceAccessTokenEvents: gitlab.Ptr(true),
	})
	if err != nil || !h.ResourceAccessTokenEvents || h.ProjectID != p.ID || h.CreatedAt == nil {
		t.Fatalf("AddProjectHook = %+v, %v", h, err)
	}
	hs, _, err := ac.Projects.ListProjectHooks(p.ID, nil)
	if err != nil || len(hs) != 1 {
		t.Fatalf("ListProjectHooks = %v, %v", hs, err)
	}
	if _, err := ac.Projects.DeleteProjectHook(p.ID, h.ID); err != nil {
		t.Fatal(err)
	}
}

// TestHookSecretSealedAtRest: the store holds the hook's secret token sealed, never as
// given; deliveries still send the original (TestExpiryNotices checks X-Gitlab-Token).
func TestHookSecretSealedAtRest(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	tok := srv.Token(t, alice.ID, "a", "api")
	var p struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/projects", tok, `{"name":"app"}`, 201, &p)
	var h hookBody
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/hooks", p.ID), tok, `{"url":"https://203.0.113.2/","token":"very-secret-hook-token"}`, 201, &h)
	stored, err := srv.Inst.Store.Hook(t.Context(), h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored.SecretToken, "very-secret-hook-token") || !strings.HasPrefix(stored.SecretToken, "kg1:") {
		t.Errorf("stored secret_token = %q, want it sealed", stored.SecretToken)
	}
	hitJSON(t, srv, "PUT", fmt.Sprintf("/projects/%d/hooks/%d", p.ID, h.ID), tok, `{"name":"renamed"}`, 200, nil)
	again, _ := srv.Inst.Store.Hook(t.Context(), h.ID)
	if again.SecretToken != stored.SecretToken {
		t.Error("an edit without token changed the sealed secret")
	}
}
