package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
)

// grantForm is a fine-grained create form with the given fields.
func grantForm(kv ...string) url.Values {
	f := url.Values{"name": {"fine"}, "token_kind": {"granular"}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "name" {
			f.Set("name", kv[i+1])
			continue
		}
		f.Add(kv[i], kv[i+1])
	}
	return f
}

// TestFineGrainedTokenFormErrors: each refused grant is shown next to its field, with
// status 422, the values kept, and nothing created.
func TestFineGrainedTokenFormErrors(t *testing.T) {
	s := keygatetest.NewServer(t)
	alice := user(t, s, "alice", false)
	pid := project(t, s, "web", alice, keygate.Developer)
	hidden := project(t, s, "secret", keygate.User{}, 0) // root's private project: alice cannot see it
	group(t, s, "platform", alice, keygate.Developer)
	c := newClient(t, s)
	c.signIn("alice", testPassword)
	const pats = "/-/user_settings/personal_access_tokens"
	const notFound = "A project was not found, or you cannot see it"
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		msg   string
	}{
		{"blank name", grantForm("name", "", "granular_access", "user", "granular_permissions", "read_user"), "name", "Name can't be blank"},
		{"no access", grantForm("granular_permissions", "read_user"), "granular_access", "Select the access of the token"},
		{"unknown access", grantForm("granular_access", "everything", "granular_permissions", "read_user"), "granular_access", "Select the access of the token"},
		{"no permissions", grantForm("granular_access", "user"), "granular_permissions", "Select at least one permission"},
		{"unknown permission", grantForm("granular_access", "user", "granular_permissions", "fly"), "granular_permissions", "Permissions has an unknown permission: fly"},
		{"duplicate permission", grantForm("granular_access", "user", "granular_permissions", "read_user", "granular_permissions", "read_user"), "granular_permissions", "Permissions has a duplicate permission: read_user"},
		{"permission outside the access", grantForm("granular_access", "user", "granular_permissions", "push_code"), "granular_permissions", "Permissions has a permission that does not apply to user access: push_code"},
		{"instance for a non-administrator", grantForm("granular_access", "instance", "granular_permissions", "read_user"), "granular_access", authz.MsgGranularInstanceAdmin},
		{"selected without projects or groups", grantForm("granular_access", "selected_memberships", "granular_permissions", "read_project"), "granular_namespaces", "List at least one project or group for selected_memberships access"},
		{"paths with another access", grantForm("granular_access", "all_memberships", "granular_permissions", "read_project", "granular_projects", "root/web"), "granular_namespaces", "Projects and groups can be listed only with selected_memberships access"},
		{"unknown project path", grantForm("granular_access", "selected_memberships", "granular_permissions", "read_project", "granular_projects", "root/nope"), "granular_namespaces", notFound},
		{"unknown project id", grantForm("granular_access", "selected_memberships", "granular_permissions", "read_project", "granular_projects", "999999"), "granular_namespaces", notFound},
		{"hidden project by path", grantForm("granular_access", "selected_memberships", "granular_permissions", "read_project", "granular_projects", "root/secret"), "granular_namespaces", notFound},
		{"hidden project by id", grantForm("granular_access", "selected_memberships", "granular_permissions", "read_project", "granular_projects", strconv.FormatInt(hidden, 10)), "granular_namespaces", notFound},
		{"unknown group", grantForm("granular_access", "selected_memberships", "granular_permissions", "read_project", "granular_groups", "nowhere"), "granular_namespaces", "A group was not found, or you cannot see it"},
		{"project listed twice", grantForm("granular_access", "selected_memberships", "granular_permissions", "read_project", "granular_projects", "root/web, "+strconv.FormatInt(pid, 10)), "granular_namespaces", "A project or group is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.post(pats, pats, tc.form)
			wantFieldError(t, p, 422, tc.field, tc.msg)
			if strings.Contains(p.body, `id="created-token"`) {
				t.Error("a refused form shows a token")
			}
			if !strings.Contains(p.body, `id="kind-granular" name="token_kind" value="granular" checked`) {
				t.Error("the refused form forgot it was fine-grained")
			}
			for _, perm := range tc.form["granular_permissions"] {
				if _, known := authz.LookupPermission(perm); known && !strings.Contains(p.body, `value="`+perm+`" checked`) {
					t.Errorf("permission %s not kept checked", perm)
				}
			}
		})
	}
	if n := tokenCount(t, s, alice.ID, ""); n != 0 {
		t.Fatalf("%d tokens after refused forms, want 0", n)
	}
}

// TestFineGrainedTokenForm: a grant on one project, by path, is created through the
// form; the table shows the grant, the API honours it, and the token's page suggests
// the grant its use needed.
func TestFineGrainedTokenForm(t *testing.T) {
	s := keygatetest.NewServer(t)
	alice := user(t, s, "alice", false)
	pid := project(t, s, "web", alice, keygate.Developer)
	other := project(t, s, "other", alice, keygate.Developer)
	c := newClient(t, s)
	c.signIn("alice", testPassword)
	const pats = "/-/user_settings/personal_access_tokens"

	form := c.get(pats).body
	for _, want := range []string{`name="token_kind" value="granular"`, `<option value="selected_memberships"`, `<option value="instance"`, `id="perm-read_project"`, "List and read projects", `id="granular-projects"`, `id="granular-groups"`} {
		if !strings.Contains(form, want) {
			t.Errorf("create form lacks %q", want)
		}
	}
	for _, p := range authz.Permissions() {
		if !strings.Contains(form, `value="`+p.Name+`"`) {
			t.Errorf("create form lacks permission %s", p.Name)
		}
	}

	p := c.post(pats, pats, grantForm("name", "deploy", "granular_access", "selected_memberships", "granular_permissions", "read_project", "granular_permissions", "read_member", "granular_projects", "root/web", "scopes", "api"))
	tok := createdToken(p.body)
	if p.status != http.StatusCreated || tok == "" {
		t.Fatalf("create = %d\n%s", p.status, excerpt(p.body))
	}
	id := tokenID(t, s, alice.ID, "deploy", true)
	stored, err := s.Service.Token(context.Background(), authz.SystemSubject(), id)
	if err != nil || !stored.Granular || len(stored.GranularScopes) != 1 || stored.GranularScopes[0].ProjectID != pid || len(stored.Scopes) != 0 {
		t.Fatalf("stored token %+v (%v), want one selected scope on project %d and no legacy scopes", stored, err, pid)
	}
	if !strings.Contains(c.get(pats).body, "<code>selected_memberships</code> on project root/web: read_project, read_member") {
		t.Errorf("the token table does not show the grant:\n%s", excerpt(c.get(pats).body))
	}
	if st := tokenStatus(t, s, tok, "/projects/"+strconv.FormatInt(pid, 10)); st != 200 {
		t.Errorf("GET the granted project = %d, want 200", st)
	}
	if st := tokenStatus(t, s, tok, "/projects/"+strconv.FormatInt(other, 10)); st != 403 {
		t.Errorf("GET a project outside the grant = %d, want 403", st)
	}

	// The admin inventory shows the grant too.
	setPassword(t, s, 1, testPassword)
	root := newClient(t, s)
	root.signIn("root", testPassword)
	if inv := root.get("/admin/credentials?owner=alice").body; !strings.Contains(inv, "<code>selected_memberships</code> on project root/web: read_project, read_member") {
		t.Errorf("the inventory does not show the grant:\n%s", excerpt(inv))
	}

	// A legacy token used on the project: its page suggests the grant and the scopes it
	// never needed.
	legacy := s.Token(t, alice.ID, "legacy", keygate.ScopeAPI, keygate.ScopeReadUser, keygate.ScopeWriteRepository)
	if st := tokenStatus(t, s, legacy, "/projects/"+strconv.FormatInt(pid, 10)); st != 200 {
		t.Fatalf("GET the project with the legacy token = %d", st)
	}
	if err := s.Service.FlushUses(context.Background()); err != nil {
		t.Fatal(err)
	}
	lid := tokenID(t, s, alice.ID, "legacy", true)
	page := c.get(pats + "/" + strconv.FormatInt(lid, 10))
	if page.status != 200 {
		t.Fatalf("token page = %d", page.status)
	}
	for _, want := range []string{
		"GET /api/v4/projects/{id}",
		`&#34;access&#34;: &#34;selected_memberships&#34;`,
		`&#34;read_project&#34;`,
		`&#34;project_ids&#34;: [` + "\n      " + strconv.FormatInt(pid, 10),
		`<p id="unused-scopes">read_user, write_repository</p>`,
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("token page lacks %q:\n%s", want, excerpt(page.body))
		}
	}
	if !strings.Contains(c.get(pats).body, `href="`+pats+"/"+strconv.FormatInt(lid, 10)+`"`) {
		t.Error("the token table does not link the token's page")
	}
	// Nobody else's token page, and ids that are none.
	bob := user(t, s, "bob", false)
	s.Token(t, bob.ID, "bob", keygate.ScopeAPI)
	bobTok := tokenID(t, s, bob.ID, "bob", true)
	for _, path := range []string{pats + "/" + strconv.FormatInt(bobTok, 10), pats + "/0", pats + "/999999"} {
		if p := c.get(path); p.status != 404 || strings.Contains(p.body, "usage-heading") {
			t.Errorf("GET %s = %d, want 404", path, p.status)
		}
	}
	if p := c.post(pats, pats+"/"+strconv.FormatInt(lid, 10), url.Values{}); p.status != http.StatusMethodNotAllowed {
		t.Errorf("POST the token page = %d, want 405", p.status)
	}
}

// TestFineGrainedResourceTokenForm: a project access token's create form offers the
// fine-grained grant too; the bot's token holds it (capped by its membership and role),
// and a grant naming a project the creator cannot see is refused at its field.
func TestFineGrainedResourceTokenForm(t *testing.T) {
	s := keygatetest.NewServer(t)
	maint := user(t, s, "maint", false)
	pid := project(t, s, "web", maint, keygate.Maintainer)
	other := project(t, s, "other", maint, keygate.Maintainer)
	project(t, s, "secret", keygate.User{}, 0)
	c := newClient(t, s)
	c.signIn("maint", testPassword)
	const page = "/root/web/-/settings/access_tokens"
	if form := c.get(page).body; !strings.Contains(form, `name="token_kind" value="granular"`) || !strings.Contains(form, `id="perm-read_project"`) || !strings.Contains(form, `id="token-role"`) {
		t.Fatalf("the project token form lacks the grant section or the role:\n%s", excerpt(form))
	}
	refused := c.post(page, page, grantForm("granular_access", "selected_memberships", "granular_permissions", "read_project", "granular_projects", "root/secret", "access_level", "30"))
	wantFieldError(t, refused, 422, "granular_namespaces", "A project was not found, or you cannot see it")

	p := c.post(page, page, grantForm("name", "fine-bot", "granular_access", "selected_memberships", "granular_permissions", "read_project",
		"granular_projects", "root/web", "granular_projects", "root/other", "access_level", "20"))
	tok := createdToken(p.body)
	if p.status != http.StatusCreated || tok == "" || !strings.Contains(p.body, "Reporter") {
		t.Fatalf("create = %d\n%s", p.status, excerpt(p.body))
	}
	if !strings.Contains(c.get(page).body, "<code>selected_memberships</code> on project root/web: read_project") {
		t.Errorf("the token table does not show the grant:\n%s", excerpt(c.get(page).body))
	}
	if st := tokenStatus(t, s, tok, "/projects/"+strconv.FormatInt(pid, 10)); st != 200 {
		t.Errorf("the bot's token on its project = %d, want 200", st)
	}
	// The grant names root/other, but the bot is a member of root/web only.
	if st := tokenStatus(t, s, tok, "/projects/"+strconv.FormatInt(other, 10)); st != 404 && st != 403 {
		t.Errorf("the bot's token on a project it is not a member of = %d, want 403 or 404", st)
	}
	if st := tokenStatus(t, s, tok, "/projects/"+strconv.FormatInt(pid, 10)+"/members"); st != 403 {
		t.Errorf("a route outside the grant = %d, want 403", st)
	}
}
