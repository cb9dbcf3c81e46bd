package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

// End-to-end tests of fine-grained tokens with raw HTTP (the pinned Go client predates
// granular_scopes) against a real server.

// fineWorld: alice owns group acme (with subgroup acme/web and its project site) and a
// personal project; bob owns a private project alice cannot see and a public one she
// is no member of.
type fineWorld struct {
	t                  *testing.T
	srv                *keygatetest.Server
	alice, bob         keygate.User
	aliceAPI, bobAPI   string
	acme, web, other   int64 // groups
	site, otherApp     int64 // projects in acme/web and other
	personal           int64 // alice's personal project
	bobSecret, bobOpen int64 // bob's private and public projects
}

func newFineWorld(t *testing.T) *fineWorld {
	t.Helper()
	return newFineWorldWith(t, keygatetest.Options{})
}

func newFineWorldWith(t *testing.T, o keygatetest.Options) *fineWorld {
	t.Helper()
	srv := keygatetest.NewServerWith(t, o)
	w := &fineWorld{t: t, srv: srv}
	w.alice, w.bob = srv.User(t, "alice", false), srv.User(t, "bob", false)
	w.aliceAPI = srv.Token(t, w.alice.ID, "alice-api", keygate.ScopeAPI)
	w.bobAPI = srv.Token(t, w.bob.ID, "bob-api", keygate.ScopeAPI)
	w.acme = w.create(w.aliceAPI, "/groups", `{"name":"Acme","path":"acme"}`)
	w.web = w.create(w.aliceAPI, "/groups", `{"name":"Web","path":"web","parent_id":`+itoa(w.acme)+`}`)
	w.other = w.create(w.aliceAPI, "/groups", `{"name":"Other","path":"other"}`)
	w.site = w.create(w.aliceAPI, "/projects", `{"name":"Site","namespace_id":`+itoa(w.web)+`}`)
	w.otherApp = w.create(w.aliceAPI, "/projects", `{"name":"App","namespace_id":`+itoa(w.other)+`}`)
	w.personal = w.create(w.aliceAPI, "/projects", `{"name":"Mine"}`)
	w.bobSecret = w.create(w.bobAPI, "/projects", `{"name":"Secret","visibility":"private"}`)
	w.bobOpen = w.create(w.bobAPI, "/projects", `{"name":"Open","visibility":"public"}`)
	return w
}

// do sends one request and returns the status and the body.
func (w *fineWorld) do(token, method, path, body string, header ...string) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.srv.API+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// create POSTs and returns the new object's id, failing unless 201.
func (w *fineWorld) create(token, path, body string) int64 {
	w.t.Helper()
	status, b := w.do(token, "POST", path, body)
	if status != 201 {
		w.t.Fatalf("POST %s %s = %d %s", path, body, status, b)
	}
	var obj struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		w.t.Fatal(err)
	}
	return obj.ID
}

// tokenObject is the part of a token object these tests read.
type tokenObject struct {
	ID             int64    `json:"id"`
	Token          string   `json:"token"`
	Granular       *bool    `json:"granular"`
	Scopes         []string `json:"scopes"`
	Active         bool     `json:"active"`
	GranularScopes []struct {
		Access      string   `json:"access"`
		Permissions []string `json:"permissions"`
		ProjectID   *int64   `json:"project_id"`
		GroupID     *int64   `json:"group_id"`
	} `json:"granular_scopes"`
}

// fine creates a fine-grained token with token (a caller's) on path.
func (w *fineWorld) fine(token, path, grant string) tokenObject {
	w.t.Helper()
	status, b := w.do(token, "POST", path, `{"name":"fine","granular_scopes":`+grant+`}`)
	if status != 201 {
		w.t.Fatalf("create fine-grained token %s = %d %s", grant, status, b)
	}
	var tok tokenObject
	if err := json.Unmarshal(b, &tok); err != nil {
		w.t.Fatal(err)
	}
	return tok
}

func (w *fineWorld) expect(token, method, path, body string, status int, want string) {
	w.t.Helper()
	got, b := w.do(token, method, path, body)
	if got != status {
		w.t.Errorf("%s %s = %d %s, want %d", method, path, got, b, status)
		return
	}
	if want != "" && !jsonEqual(b, want) {
		w.t.Errorf("%s %s body = %s, want %s", method, path, b, want)
	}
}

func jsonEqual(a []byte, b string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func granularDenied(boundary, labels string) string {
	return `{"error":"insufficient_granular_scope","error_description":"This operation requires a fine-grained personal access token with the following ` +
		boundary + ` permissions: [` + labels + `]."}`
}

func TestGranularSelectedMemberships(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "postgres" && os.Getenv("KEYGATE_TEST_DATABASE_URL") == "" {
				t.Skip("KEYGATE_TEST_DATABASE_URL not set: skipping PostgreSQL test")
			}
			testGranularSelectedMemberships(t, newFineWorldWith(t, keygatetest.Options{Postgres: backend == "postgres"}))
		})
	}
}

func testGranularSelectedMemberships(t *testing.T, w *fineWorld) {
	tok := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[
		{"access":"selected_memberships","permissions":["read_project","read_member"],"group_ids":[`+itoa(w.web)+`]},
		{"access":"user","permissions":["read_user","read_personal_access_token"]}]`)
	if tok.Granular == nil || !*tok.Granular || len(tok.Scopes) != 1 || tok.Scopes[0] != "granular" {
		t.Fatalf("created token granular %v scopes %v, want granular true and scopes [granular]", tok.Granular, tok.Scopes)
	}
	if len(tok.GranularScopes) != 2 || tok.GranularScopes[0].GroupID == nil || *tok.GranularScopes[0].GroupID != w.web ||
		tok.GranularScopes[0].ProjectID != nil || tok.GranularScopes[1].Access != "user" || tok.GranularScopes[1].GroupID != nil {
		t.Fatalf("granular_scopes = %+v", tok.GranularScopes)
	}
	ft := tok.Token
	// Allowed: the user, the project below the selected group, its members, the group.
	w.expect(ft, "GET", "/user", "", 200, "")
	w.expect(ft, "GET", "/projects/"+itoa(w.site), "", 200, "")
	w.expect(ft, "GET", "/projects/"+itoa(w.site)+"/members", "", 200, "")
	w.expect(ft, "GET", "/groups/"+itoa(w.web)+"/members", "", 200, "")
	w.expect(ft, "HEAD", "/projects/"+itoa(w.site), "", 200, "")
	// Denied: another group, a permission not granted, the ancestor of the selected
	// group, a legacy-only route.
	w.expect(ft, "GET", "/projects/"+itoa(w.otherApp)+"/members", "", 403, granularDenied("project", "Member: Read"))
	w.expect(ft, "PUT", "/projects/"+itoa(w.site), `{"description":"x"}`, 403, granularDenied("project", "Project: Update"))
	w.expect(ft, "GET", "/groups/"+itoa(w.acme)+"/members", "", 403, granularDenied("group", "Member: Read"))
	w.expect(ft, "GET", "/groups/"+itoa(w.web)+"/subgroups", "", 403, granularDenied("group", "Group: Read"))
	w.expect(ft, "POST", "/groups", `{"name":"N","path":"n"}`, 403, granularDenied("user", "Group: Create"))
	w.expect(ft, "GET", "/job", "", 403, `{"error":"insufficient_granular_scope","error_description":"This operation doesn't support fine-grained personal access tokens."}`)
	// A project the user cannot see is the usual 404, not a permission answer.
	w.expect(ft, "GET", "/projects/"+itoa(w.bobSecret)+"/members", "", 404, `{"message":"404 Project Not Found"}`)
	w.expect(ft, "GET", "/projects/999999", "", 404, `{"message":"404 Project Not Found"}`)
	// The role still applies: a public project alice is no member of is not covered.
	w.expect(ft, "GET", "/projects/"+itoa(w.bobOpen), "", 403, granularDenied("project", "Project: Read"))

	// Explained denials name the missing permission.
	status, b := w.do(ft, "GET", "/projects/"+itoa(w.otherApp)+"/members", "", "X-Keygate-Explain", "true")
	if status != 403 || !strings.Contains(string(b), "missing permission: read_member (Member: Read) on the project") {
		t.Errorf("explained denial = %d %s", status, b)
	}
	// can_i names the permission and answers like the route.
	status, b = w.do(ft, "GET", "/keygate/can_i?method=GET&path=/api/v4/projects/"+itoa(w.otherApp)+"/members", "")
	var ci struct {
		Allowed             bool `json:"allowed"`
		Status              int  `json:"status"`
		RequiredPermissions []struct {
			Permission string `json:"permission"`
			Boundary   string `json:"boundary_type"`
		} `json:"required_permissions"`
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal(b, &ci); err != nil || status != 200 || ci.Allowed || ci.Status != 403 ||
		len(ci.RequiredPermissions) != 1 || ci.RequiredPermissions[0].Permission != "read_member" || ci.RequiredPermissions[0].Boundary != "project" ||
		!strings.Contains(strings.Join(ci.Reasons, " "), "read_member") {
		t.Errorf("can_i = %d %s", status, b)
	}
	status, b = w.do(ft, "GET", "/keygate/can_i?method=GET&path=/api/v4/projects/"+itoa(w.site)+"/members", "")
	if status != 200 || !strings.Contains(string(b), `"allowed":true`) {
		t.Errorf("can_i on a granted route = %d %s", status, b)
	}

	// The token objects show the grant everywhere; the list filters on granular.
	status, b = w.do(ft, "GET", "/personal_access_tokens/self", "")
	if status != 200 || !strings.Contains(string(b), `"granular_scopes":[`) || !strings.Contains(string(b), `"granular":true`) {
		t.Errorf("GET self = %d %s", status, b)
	}
	status, b = w.do(w.aliceAPI, "GET", "/personal_access_tokens/"+itoa(tok.ID), "")
	if status != 200 || !strings.Contains(string(b), `"group_id":`+itoa(w.web)) {
		t.Errorf("GET by id = %d %s", status, b)
	}
	for filter, want := range map[string][]int64{"true": {tok.ID}, "false": {}} {
		status, b = w.do(w.aliceAPI, "GET", "/personal_access_tokens?granular="+filter, "")
		var list []tokenObject
		if err := json.Unmarshal(b, &list); err != nil || status != 200 {
			t.Fatalf("list granular=%s = %d %s", filter, status, b)
		}
		var ids []int64
		for _, o := range list {
			ids = append(ids, o.ID)
			if o.Granular == nil {
				t.Errorf("list item %d has no granular field", o.ID)
			}
		}
		if filter == "true" && (len(ids) != 1 || ids[0] != want[0]) || filter == "false" && containsID(ids, tok.ID) {
			t.Errorf("list granular=%s = %v", filter, ids)
		}
	}
	w.expect(w.aliceAPI, "GET", "/personal_access_tokens?granular=maybe", "", 400, `{"error":"granular is invalid"}`)
	// Legacy token objects carry granular false and no granular_scopes.
	status, b = w.do(w.aliceAPI, "GET", "/personal_access_tokens/self", "")
	if status != 200 || !strings.Contains(string(b), `"granular":false`) || strings.Contains(string(b), "granular_scopes") {
		t.Errorf("legacy self = %d %s", status, b)
	}
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestGranularAccessValues(t *testing.T) {
	w := newFineWorld(t)
	// personal_projects: alice's own projects only.
	pp := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[{"access":"personal_projects","permissions":["read_project","update_project"]}]`).Token
	w.expect(pp, "GET", "/projects/"+itoa(w.personal), "", 200, "")
	w.expect(pp, "PUT", "/projects/"+itoa(w.personal), `{"description":"mine"}`, 200, "")
	w.expect(pp, "GET", "/projects/"+itoa(w.site), "", 403, granularDenied("project", "Project: Read"))
	w.expect(pp, "GET", "/groups/"+itoa(w.acme), "", 403, granularDenied("group", "Group: Read"))
	// all_memberships: every group and project alice is a member of.
	all := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[{"access":"all_memberships","permissions":["read_group","read_member","delete_member"]}]`).Token
	w.expect(all, "GET", "/groups/"+itoa(w.acme), "", 200, "")
	w.expect(all, "GET", "/groups/"+itoa(w.other)+"/members", "", 200, "")
	w.expect(all, "GET", "/projects/"+itoa(w.otherApp)+"/members", "", 200, "")
	w.expect(all, "GET", "/projects/"+itoa(w.bobOpen)+"/members", "", 403, granularDenied("project", "Member: Read"))
	w.expect(all, "GET", "/projects/"+itoa(w.site), "", 403, granularDenied("project", "Project: Read"))
	// A member may be removed with delete_member; the role check still runs after it.
	w.expect(all, "DELETE", "/groups/"+itoa(w.other)+"/members/"+itoa(w.bob.ID), "", 404, "")
	// user: the user-level routes only.
	us := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[{"access":"user","permissions":["read_user","read_project"]}]`).Token
	w.expect(us, "GET", "/user", "", 200, "")
	w.expect(us, "GET", "/projects", "", 200, "")
	w.expect(us, "GET", "/projects/"+itoa(w.site), "", 403, granularDenied("project", "Project: Read"))
	w.expect(us, "GET", "/personal_access_tokens", "", 403, granularDenied("user", "Personal Access Token: Read"))
	// instance: administrators' routes (an administrator's token).
	inst := w.fine(w.srv.RootToken, "/user/personal_access_tokens", `[{"access":"instance","permissions":["read_application_setting","read_user"]}]`).Token
	w.expect(inst, "GET", "/application/settings", "", 200, "")
	w.expect(inst, "GET", "/users", "", 200, "")
	w.expect(inst, "PUT", "/application/settings", `{"admin_mode":false}`, 403, granularDenied("instance", "Application Setting: Update"))
	w.expect(inst, "GET", "/user", "", 403, granularDenied("user", "User: Read"))
	// The route's own rule still applies: alice's user-level read_user does not make
	// her an administrator, and instance scopes are for administrators only.
	w.expect(w.aliceAPI, "POST", "/user/personal_access_tokens", `{"name":"x","granular_scopes":[{"access":"instance","permissions":["read_user"]}]}`, 400,
		`{"message":"Instance-level granular scopes can only be granted to administrators"}`)
	// Members and tokens: create_member on a project, resource tokens on a group.
	mem := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[{"access":"selected_memberships","permissions":["create_member","read_resource_access_token"],"project_ids":[`+itoa(w.site)+`]}]`).Token
	w.expect(mem, "POST", "/projects/"+itoa(w.site)+"/members", `{"user_id":`+itoa(w.bob.ID)+`,"access_level":30}`, 201, "")
	w.expect(mem, "GET", "/projects/"+itoa(w.site)+"/access_tokens", "", 200, "")
	w.expect(mem, "POST", "/projects/"+itoa(w.otherApp)+"/members", `{"user_id":`+itoa(w.bob.ID)+`,"access_level":30}`, 403, granularDenied("project", "Member: Create"))
	w.expect(mem, "GET", "/groups/"+itoa(w.acme)+"/access_tokens", "", 403, granularDenied("group", "Resource Access Token: Read"))
}

func TestGranularRotation(t *testing.T) {
	w := newFineWorld(t)
	grant := `[{"access":"selected_memberships","permissions":["read_member"],"project_ids":[` + itoa(w.site) + `]},
		{"access":"user","permissions":["rotate_personal_access_token"]}]`
	tok := w.fine(w.aliceAPI, "/user/personal_access_tokens", grant)
	status, b := w.do(tok.Token, "POST", "/personal_access_tokens/self/rotate", "")
	if status != 200 {
		t.Fatalf("self rotation = %d %s", status, b)
	}
	var next tokenObject
	if err := json.Unmarshal(b, &next); err != nil {
		t.Fatal(err)
	}
	if next.Granular == nil || !*next.Granular || len(next.GranularScopes) != 2 || *next.GranularScopes[0].ProjectID != w.site || next.Scopes[0] != "granular" {
		t.Fatalf("successor = %s", b)
	}
	w.expect(next.Token, "GET", "/projects/"+itoa(w.site)+"/members", "", 200, "")
	w.expect(next.Token, "GET", "/projects/"+itoa(w.otherApp)+"/members", "", 403, granularDenied("project", "Member: Read"))
	w.expect(tok.Token, "GET", "/projects/"+itoa(w.site)+"/members", "", 401, "")
	// Rotation by id (a legacy api token of the owner) copies the grant too.
	status, b = w.do(w.aliceAPI, "POST", "/personal_access_tokens/"+itoa(next.ID)+"/rotate", "")
	if status != 200 || !strings.Contains(string(b), `"project_id":`+itoa(w.site)) {
		t.Fatalf("rotation by id = %d %s", status, b)
	}
	// Self-rotation needs rotate_personal_access_token.
	noRotate := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[{"access":"user","permissions":["read_user"]}]`)
	w.expect(noRotate.Token, "POST", "/personal_access_tokens/self/rotate", "", 403, granularDenied("user", "Personal Access Token: Rotate"))
}

func TestGranularEscalation(t *testing.T) {
	w := newFineWorld(t)
	maker := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[
		{"access":"selected_memberships","permissions":["read_project","read_member"],"group_ids":[`+itoa(w.acme)+`]},
		{"access":"user","permissions":["create_personal_access_token","read_user"]}]`).Token
	const refused = `{"message":"A granular token can only create tokens with equal or lesser permissions."}`
	before := tokenCount(t, w)
	w.expect(maker, "POST", "/user/personal_access_tokens", `{"name":"legacy","scopes":["self_rotate"]}`, 403, refused)
	w.expect(maker, "POST", "/user/personal_access_tokens", `{"name":"wider","granular_scopes":[{"access":"all_memberships","permissions":["read_project"]}]}`, 403, refused)
	w.expect(maker, "POST", "/user/personal_access_tokens", `{"name":"other","granular_scopes":[{"access":"selected_memberships","permissions":["read_project"],"group_ids":[`+itoa(w.other)+`]}]}`, 403, refused)
	w.expect(maker, "POST", "/user/personal_access_tokens", `{"name":"more","granular_scopes":[{"access":"selected_memberships","permissions":["update_project"],"project_ids":[`+itoa(w.site)+`]}]}`, 403, refused)
	w.expect(maker, "POST", "/user/personal_access_tokens", `{"name":"user","granular_scopes":[{"access":"user","permissions":["read_personal_access_token"]}]}`, 403, refused)
	if after := tokenCount(t, w); after != before {
		t.Fatalf("refused creations changed the token count %d → %d", before, after)
	}
	// Equal or lesser: a subgroup and a project below the held group, fewer permissions.
	lesser := w.fine(maker, "/user/personal_access_tokens", `[{"access":"selected_memberships","permissions":["read_member"],"group_ids":[`+itoa(w.web)+`],"project_ids":[`+itoa(w.site)+`]},
		{"access":"user","permissions":["read_user"]}]`)

	// Rotation hands over a secret too: a fine-grained token rotates only tokens within
	// its own grant, never a legacy one.
	rotator := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[
		{"access":"selected_memberships","permissions":["read_member"],"group_ids":[`+itoa(w.acme)+`]},
		{"access":"user","permissions":["rotate_personal_access_token","read_user"]}]`).Token
	legacyID := itoa(w.create(w.aliceAPI, "/user/personal_access_tokens", `{"name":"legacy","scopes":["self_rotate"]}`))
	w.expect(rotator, "POST", "/personal_access_tokens/"+legacyID+"/rotate", "", 403, refused)
	w.expect(rotator, "POST", "/personal_access_tokens/"+itoa(lesser.ID)+"/rotate", "", 200, "")
	w.expect(w.aliceAPI, "POST", "/personal_access_tokens/"+legacyID+"/rotate", "", 200, "")

	// A group Owner's fine-grained token cannot mint or rotate a broader service-account
	// token either.
	sa := itoa(w.create(w.aliceAPI, "/groups/"+itoa(w.acme)+"/service_accounts", `{}`))
	saTok := itoa(w.create(w.aliceAPI, "/groups/"+itoa(w.acme)+"/service_accounts/"+sa+"/personal_access_tokens", `{"name":"sa","scopes":["api"]}`))
	owner := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[{"access":"selected_memberships","permissions":["update_service_account"],"group_ids":[`+itoa(w.acme)+`]}]`).Token
	w.expect(owner, "POST", "/groups/"+itoa(w.acme)+"/service_accounts/"+sa+"/personal_access_tokens", `{"name":"sa","scopes":["api"]}`, 403, refused)
	w.expect(owner, "POST", "/groups/"+itoa(w.acme)+"/service_accounts/"+sa+"/personal_access_tokens/"+saTok+"/rotate", "", 403, refused)
	w.expect(w.aliceAPI, "POST", "/groups/"+itoa(w.acme)+"/service_accounts/"+sa+"/personal_access_tokens/"+saTok+"/rotate", "", 200, "")
}

func tokenCount(t *testing.T, w *fineWorld) int {
	t.Helper()
	status, b := w.do(w.srv.RootToken, "GET", "/personal_access_tokens?per_page=100", "")
	var list []tokenObject
	if err := json.Unmarshal(b, &list); err != nil || status != 200 {
		t.Fatalf("list = %d %s", status, b)
	}
	return len(list)
}

// TestGranularBadInput: each bad create is a clear 4xx and creates nothing.
func TestGranularBadInput(t *testing.T) {
	w := newFineWorld(t)
	sel := func(rest string) string {
		return `{"name":"t","granular_scopes":[{"access":"selected_memberships",` + rest + `}]}`
	}
	web := itoa(w.web)
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"both", `{"name":"t","scopes":["self_rotate"],"granular_scopes":[{"access":"user","permissions":["read_user"]}]}`, 400, `{"error":"scopes, granular_scopes are mutually exclusive"}`},
		{"neither", `{"name":"t"}`, 400, `{"error":"scopes is missing"}`},
		{"not a list", `{"name":"t","granular_scopes":{"access":"user"}}`, 400, `{"error":"granular_scopes is invalid"}`},
		{"empty list", `{"name":"t","granular_scopes":[]}`, 400, `{"message":"At least one granular scope must be provided"}`},
		{"unknown access", `{"name":"t","granular_scopes":[{"access":"everything","permissions":["read_user"]}]}`, 400, `{"error":"granular_scopes[0][access] does not have a valid value"}`},
		{"missing access", `{"name":"t","granular_scopes":[{"permissions":["read_user"]}]}`, 400, `{"error":"granular_scopes[0][access] is missing"}`},
		{"missing permissions", `{"name":"t","granular_scopes":[{"access":"user"}]}`, 400, `{"error":"granular_scopes[0][permissions] is missing"}`},
		{"empty permissions", `{"name":"t","granular_scopes":[{"access":"user","permissions":[]}]}`, 400, `{"message":"granular_scopes[0][permissions] is empty"}`},
		{"unknown permission", `{"name":"t","granular_scopes":[{"access":"user","permissions":["read_user","read_everything"]}]}`, 400, `{"message":"granular_scopes[0][permissions] has an unknown permission: read_everything"}`},
		{"duplicate permission", `{"name":"t","granular_scopes":[{"access":"user","permissions":["read_user","read_user"]}]}`, 400, `{"message":"granular_scopes[0][permissions] has a duplicate permission: read_user"}`},
		{"wrong boundary", `{"name":"t","granular_scopes":[{"access":"user","permissions":["read_member"]}]}`, 400, `{"message":"granular_scopes[0][permissions] has a permission that does not apply to user access: read_member"}`},
		{"selected without ids", sel(`"permissions":["read_project"]`), 400, `{"message":"At least one granular scope must be provided"}`},
		{"bad ids", sel(`"permissions":["read_project"],"project_ids":["x"]`), 400, `{"error":"granular_scopes[0][project_ids] is invalid"}`},
		{"hidden project", sel(`"permissions":["read_project"],"project_ids":[` + itoa(w.bobSecret) + `]`), 404, `{"message":"404 Project Not Found"}`},
		{"missing project", sel(`"permissions":["read_project"],"project_ids":[999999]`), 404, `{"message":"404 Project Not Found"}`},
		{"missing group", sel(`"permissions":["read_project"],"group_ids":[999999]`), 404, `{"message":"404 Group Not Found"}`},
		{"two scopes for one namespace", `{"name":"t","granular_scopes":[{"access":"selected_memberships","permissions":["read_project"],"group_ids":[` + web + `]},{"access":"selected_memberships","permissions":["read_member"],"group_ids":[` + web + `]}]}`, 400, `{"message":"The token cannot have multiple granular scopes for the same namespace"}`},
		{"comma-separated ids are accepted, the duplicate is not", sel(`"permissions":["read_project"],"group_ids":"` + web + `,` + web + `"`), 400, `{"message":"The token cannot have multiple granular scopes for the same namespace"}`},
	}
	before := tokenCount(t, w)
	for _, path := range []string{"/user/personal_access_tokens", "/users/" + itoa(w.alice.ID) + "/personal_access_tokens"} {
		for _, c := range cases {
			t.Run(path+"/"+c.name, func(t *testing.T) {
				token := w.aliceAPI
				if strings.HasPrefix(path, "/users/") {
					token = w.srv.RootToken
					if c.name == "hidden project" {
						return // an administrator creates for alice, who cannot see it: same 404, tested above
					}
				}
				w.expect(token, "POST", path, c.body, c.status, c.want)
			})
		}
	}
	// Impersonation tokens take the same input (admin).
	w.expect(w.srv.RootToken, "POST", "/users/"+itoa(w.alice.ID)+"/impersonation_tokens", `{"name":"t","granular_scopes":[{"access":"user","permissions":["nope"]}]}`, 400,
		`{"message":"granular_scopes[0][permissions] has an unknown permission: nope"}`)
	if after := tokenCount(t, w); after != before {
		t.Fatalf("bad input changed the token count %d → %d", before, after)
	}
	// The good shape works on all three endpoints.
	good := `[{"access":"user","permissions":["read_user"]}]`
	w.fine(w.srv.RootToken, "/users/"+itoa(w.alice.ID)+"/personal_access_tokens", good)
	imp := w.fine(w.srv.RootToken, "/users/"+itoa(w.alice.ID)+"/impersonation_tokens", good)
	w.expect(imp.Token, "GET", "/user", "", 200, "")
	status, b := w.do(w.srv.RootToken, "GET", "/users/"+itoa(w.alice.ID)+"/impersonation_tokens/"+itoa(imp.ID), "")
	if status != 200 || !strings.Contains(string(b), `"granular_scopes":[{"access":"user","permissions":["read_user"],"project_id":null,"group_id":null}]`) {
		t.Errorf("impersonation token = %d %s", status, b)
	}
}

func TestGranularPolicy(t *testing.T) {
	w := newFineWorld(t)
	root := w.srv.RootToken
	// The instance policy: after the date, legacy personal tokens cannot be created or
	// rotated; fine-grained ones still can, and existing legacy ones keep working.
	w.expect(root, "PUT", "/application/settings", `{"enforce_granular_tokens":true,"granular_tokens_enforced_after":"2099-01-01"}`, 200, "")
	w.expect(w.aliceAPI, "POST", "/user/personal_access_tokens", `{"name":"legacy","scopes":["self_rotate"]}`, 201, "")
	status, b := w.do(root, "PUT", "/application/settings", `{"granular_tokens_enforced_after":null}`)
	if status != 200 || !strings.Contains(string(b), `"enforce_granular_tokens":true`) || !strings.Contains(string(b), `"granular_tokens_enforced_after":null`) {
		t.Fatalf("settings = %d %s", status, b)
	}
	const legacyRefused = `{"message":"Legacy personal access tokens can no longer be created or rotated: this instance requires fine-grained personal access tokens"}`
	w.expect(w.aliceAPI, "POST", "/user/personal_access_tokens", `{"name":"legacy","scopes":["self_rotate"]}`, 400, legacyRefused)
	w.expect(root, "POST", "/users/"+itoa(w.alice.ID)+"/personal_access_tokens", `{"name":"legacy","scopes":["api"]}`, 400, legacyRefused)
	w.expect(w.aliceAPI, "POST", "/personal_access_tokens/self/rotate", "", 400, `{"message":"400 Bad request - `+strings.TrimSuffix(strings.TrimPrefix(legacyRefused, `{"message":"`), `"}`)+`"}`)
	w.fine(w.aliceAPI, "/user/personal_access_tokens", `[{"access":"user","permissions":["read_user"]}]`)
	w.expect(w.aliceAPI, "GET", "/user", "", 200, "")
	w.expect(root, "PUT", "/application/settings", `{"granular_tokens_enforced_after":"not-a-date"}`, 400, `{"error":"granular_tokens_enforced_after is invalid"}`)
	w.expect(root, "PUT", "/application/settings", `{"enforce_granular_tokens":false}`, 200, "")

	// The top-level group policy: alice's legacy token is then held to the checks under
	// acme (and only there); bob's service account... bots are skipped.
	status, b = w.do(w.aliceAPI, "PUT", "/groups/"+itoa(w.acme), `{"enforce_granular_tokens":true}`)
	if status != 200 || !strings.Contains(string(b), `"enforce_granular_tokens":true`) {
		t.Fatalf("PUT group = %d %s", status, b)
	}
	w.expect(w.aliceAPI, "GET", "/projects/"+itoa(w.site), "", 403, granularDenied("project", "Project: Read"))
	w.expect(w.aliceAPI, "GET", "/groups/"+itoa(w.web)+"/members", "", 403, granularDenied("group", "Member: Read"))
	w.expect(w.aliceAPI, "GET", "/projects/"+itoa(w.otherApp), "", 200, "")
	w.expect(w.aliceAPI, "PUT", "/groups/"+itoa(w.acme), `{"enforce_granular_tokens":false}`, 403, granularDenied("group", "Group: Update"))
	fine := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[{"access":"selected_memberships","permissions":["read_project","update_group"],"group_ids":[`+itoa(w.acme)+`]}]`).Token
	w.expect(fine, "GET", "/projects/"+itoa(w.site), "", 200, "")
	// A subgroup cannot carry the policy.
	subFine := w.fine(w.aliceAPI, "/user/personal_access_tokens", `[{"access":"selected_memberships","permissions":["update_group"],"group_ids":[`+itoa(w.web)+`]}]`).Token
	w.expect(subFine, "PUT", "/groups/"+itoa(w.web), `{"enforce_granular_tokens":true}`, 400, `{"message":{"enforce_granular_tokens":["can only be set on top-level groups"]}}`)
	// A date in the future holds nothing yet.
	w.expect(fine, "PUT", "/groups/"+itoa(w.acme), `{"granular_tokens_enforced_after":"2099-01-01"}`, 200, "")
	w.expect(w.aliceAPI, "GET", "/projects/"+itoa(w.site), "", 200, "")
}

func TestGranularPermissionsCatalogue(t *testing.T) {
	w := newFineWorld(t)
	status, b := w.do("", "GET", "/keygate/permissions", "")
	var cat []struct {
		Name       string   `json:"name"`
		Label      string   `json:"label"`
		Boundaries []string `json:"boundaries"`
		Routes     []struct {
			Method string `json:"method"`
			Path   string `json:"path"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(b, &cat); err != nil || status != 200 {
		t.Fatalf("catalogue = %d %s", status, b)
	}
	found := false
	for _, p := range cat {
		if p.Name == "read_member" {
			found = p.Label == "Member: Read" && strings.Join(p.Boundaries, ",") == "group,project" &&
				len(p.Routes) == 8 && p.Routes[0].Method == "GET" && p.Routes[0].Path == "/api/v4/projects/{id}/members"
		}
	}
	if !found {
		t.Errorf("read_member missing or wrong in %s", b)
	}
}

// TestGranularSuggest: a token used for a known set of requests gets back exactly the
// grant that allows them, and a create call with that grant allows them all again.
func TestGranularSuggest(t *testing.T) {
	w := newFineWorld(t)
	legacy := w.srv.Token(t, w.alice.ID, "wide", keygate.ScopeAPI, keygate.ScopeReadUser, keygate.ScopeWriteRepository)
	pr, err := w.srv.Service.Authenticate(t.Context(), serviceCred(legacy))
	if err != nil {
		t.Fatal(err)
	}
	legacyID := itoa(pr.Token.ID)
	requests := [][2]string{
		{"GET", "/projects/" + itoa(w.site) + "/members"},
		{"GET", "/projects/" + itoa(w.site)},
		{"GET", "/projects/" + itoa(w.otherApp) + "/members"},
		{"GET", "/groups/" + itoa(w.web)},
		{"GET", "/user"},
	}
	for _, rq := range requests {
		w.expect(legacy, rq[0], rq[1], "", 200, "")
	}
	wantGrant := `[{"access":"user","permissions":["read_user"]},` +
		`{"access":"selected_memberships","permissions":["read_group"],"group_ids":[` + itoa(w.web) + `]},` +
		`{"access":"selected_memberships","permissions":["read_member"],"project_ids":[` + itoa(w.otherApp) + `]},` +
		`{"access":"selected_memberships","permissions":["read_member","read_project"],"project_ids":[` + itoa(w.site) + `]}]`
	status, b := w.do(w.aliceAPI, "GET", "/personal_access_tokens/"+legacyID+"/keygate/usage?days=7", "")
	var usage struct {
		GranularScopes json.RawMessage `json:"granular_scopes"`
		UnusedScopes   []string        `json:"unused_scopes"`
		Uses           []struct {
			Route string `json:"route"`
			Count int    `json:"count"`
		} `json:"uses"`
	}
	if err := json.Unmarshal(b, &usage); err != nil || status != 200 {
		t.Fatalf("usage = %d %s", status, b)
	}
	if !jsonEqual(usage.GranularScopes, wantGrant) {
		t.Errorf("usage grant = %s, want %s", usage.GranularScopes, wantGrant)
	}
	if strings.Join(usage.UnusedScopes, ",") != "write_repository" {
		t.Errorf("unused scopes = %v, want [write_repository]", usage.UnusedScopes)
	}
	if len(usage.Uses) != 5 {
		t.Errorf("uses = %+v, want 5 lines", usage.Uses)
	}
	// The same from a list of requests.
	var list []string
	for _, rq := range requests {
		list = append(list, `{"method":"`+rq[0]+`","path":"/api/v4`+rq[1]+`"}`)
	}
	status, b = w.do(w.aliceAPI, "POST", "/keygate/permissions/suggest", `{"requests":[`+strings.Join(list, ",")+`]}`)
	if status != 200 || !jsonEqual(b, `{"granular_scopes":`+wantGrant+`}`) {
		t.Errorf("suggest = %d %s, want %s", status, b, wantGrant)
	}
	// The suggested grant allows every request.
	tok := w.fine(w.aliceAPI, "/user/personal_access_tokens", wantGrant).Token
	for _, rq := range requests {
		w.expect(tok, rq[0], rq[1], "", 200, "")
	}
	// Bad input.
	w.expect(w.aliceAPI, "POST", "/keygate/permissions/suggest", `{}`, 400, `{"error":"requests is missing"}`)
	w.expect(w.aliceAPI, "POST", "/keygate/permissions/suggest", `{"requests":[{"method":"GET","path":"/api/v4/nowhere"}]}`, 400, `{"error":"requests[0] matches no route: GET /api/v4/nowhere"}`)
	w.expect(w.aliceAPI, "POST", "/keygate/permissions/suggest", `{"requests":[{"method":"GET","path":"/api/v4/projects/`+itoa(w.bobSecret)+`"}]}`, 404, `{"message":"404 Project Not Found"}`)
	w.expect(w.aliceAPI, "GET", "/personal_access_tokens/"+legacyID+"/keygate/usage?days=0", "", 400, `{"error":"days does not have a valid value"}`)
	w.expect(w.bobAPI, "GET", "/personal_access_tokens/"+legacyID+"/keygate/usage", "", 401, "")
}

// TestGranularResourceToken: project access tokens take granular_scopes too (Keygate
// extension); the bot's membership caps them.
func TestGranularResourceToken(t *testing.T) {
	w := newFineWorld(t)
	status, b := w.do(w.aliceAPI, "POST", "/projects/"+itoa(w.site)+"/access_tokens",
		`{"name":"bot","access_level":30,"granular_scopes":[{"access":"all_memberships","permissions":["read_project","read_member"]}]}`)
	var tok tokenObject
	if err := json.Unmarshal(b, &tok); err != nil || status != 201 || tok.Granular == nil || !*tok.Granular {
		t.Fatalf("create = %d %s", status, b)
	}
	w.expect(tok.Token, "GET", "/projects/"+itoa(w.site)+"/members", "", 200, "")
	w.expect(tok.Token, "PUT", "/projects/"+itoa(w.site), `{"description":"x"}`, 403, granularDenied("project", "Project: Update"))
	w.expect(tok.Token, "GET", "/projects/"+itoa(w.otherApp), "", 404, `{"message":"404 Project Not Found"}`)
	w.expect(w.aliceAPI, "POST", "/projects/"+itoa(w.site)+"/access_tokens",
		`{"name":"bot","granular_scopes":[{"access":"personal_projects","permissions":["read_project"]}]}`, 400,
		`{"message":"personal_projects access is only available to tokens of human users"}`)
}
