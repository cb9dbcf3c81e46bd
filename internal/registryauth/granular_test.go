package registryauth_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// granularPAT issues a fine-grained token of user through the service, as the create
// endpoint would (impersonation for an impersonation token).
func (w *world) granularPAT(user string, impersonation bool, reqs ...service.GranularRequest) string {
	w.t.Helper()
	iss, err := w.srv.Service.CreatePersonalToken(context.Background(), authz.SystemSubject(), w.u[user].ID,
		service.TokenInput{Name: "fine", Impersonation: impersonation, Granular: reqs})
	if err != nil {
		w.t.Fatalf("granular token: %v", err)
	}
	return iss.Secret.Reveal()
}

func onProjects(perms []string, ids ...int64) service.GranularRequest {
	return service.GranularRequest{Access: keygate.AccessSelectedMemberships, Permissions: perms, ProjectIDs: ids}
}

func onGroups(perms []string, ids ...int64) service.GranularRequest {
	return service.GranularRequest{Access: keygate.AccessSelectedMemberships, Permissions: perms, GroupIDs: ids}
}

// TestGranularGrants: fine-grained tokens pull with read_container_repository and
// delete with delete_container_repository on the project or a group above it, where
// the user's role allows it too, and never push (spec of fine-grained tokens §3.5).
func TestGranularGrants(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	olga := authz.Subject{User: w.u["olga"]}
	app := w.p["app"]
	w.project(olga, "other", keygate.Private, w.grp.ID)
	read := []string{authz.PermReadContainerRepository}
	both := []string{authz.PermReadContainerRepository, authz.PermDeleteContainerRepository}

	devProject := w.granularPAT("dev", false, onProjects(read, app.ID))
	devGroup := w.granularPAT("dev", false, onGroups(read, w.grp.ID))
	devAll := w.granularPAT("dev", false, service.GranularRequest{Access: keygate.AccessAllMemberships, Permissions: read})
	devCode := w.granularPAT("dev", false, onProjects([]string{"download_code", "push_code", "read_project"}, app.ID))
	miaBoth := w.granularPAT("mia", false, onProjects(both, app.ID))
	miaGroupBoth := w.granularPAT("mia", false, onGroups(both, w.grp.ID))
	devBoth := w.granularPAT("dev", false, onProjects(both, app.ID))
	gusRead := w.granularPAT("gus", false, onProjects(read, app.ID))
	samAll := w.granularPAT("sam", false, service.GranularRequest{Access: keygate.AccessAllMemberships, Permissions: both})
	impersonated := w.granularPAT("dev", true, onProjects(read, app.ID))
	root := w.granularPAT("olga", false, onProjects(both, app.ID))
	ctx := context.Background()
	res, err := w.srv.Service.ProjectAccess(ctx, olga, app)
	if err != nil {
		t.Fatal(err)
	}
	src, err := w.srv.Service.ProjectSource(ctx, app, res)
	if err != nil {
		t.Fatal(err)
	}
	// Created by the Owner: a grant names only projects its creator can see.
	rt, err := w.srv.Service.CreateResourceToken(ctx, olga, src, service.ResourceTokenInput{
		TokenInput: service.TokenInput{Name: "fine-bot", Granular: []service.GranularRequest{onProjects(read, app.ID)}}, AccessLevel: keygate.Maintainer,
	})
	if err != nil {
		t.Fatalf("fine-grained project token: %v", err)
	}
	bot := rt.Secret.Reveal()

	for _, c := range []struct {
		name, user, pass string
		scopes           []string
		want             string
	}{
		{"read on the project pulls", "dev", devProject, []string{"repository:grp/app:pull"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"read on the project pulls an image below it", "dev", devProject, []string{"repository:grp/app/web:pull"}, `[{"type":"repository","name":"grp/app/web","actions":["pull"]}]`},
		{"read on the group above pulls", "dev", devGroup, []string{"repository:grp/app:pull", "repository:grp/other:pull"},
			`[{"type":"repository","name":"grp/app","actions":["pull"]},{"type":"repository","name":"grp/other","actions":["pull"]}]`},
		{"all memberships pulls where a member", "dev", devAll, []string{"repository:grp/app:pull"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"another project of the same group: refused", "dev", devProject, []string{"repository:grp/other:pull"}, `[]`},
		{"without the permission: refused, even with Git permissions", "dev", devCode, []string{"repository:grp/app:pull,push"}, `[]`},
		{"never push with read", "dev", devProject, []string{"repository:grp/app:push,pull"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"never push, even as Developer with both", "dev", devBoth, []string{"repository:grp/app:push"}, `[]`},
		{"Maintainer deletes with delete_container_repository", "mia", miaBoth, []string{"repository:grp/app:pull,delete"},
			`[{"type":"repository","name":"grp/app","actions":["pull","delete"]}]`},
		{"delete on the group above", "mia", miaGroupBoth, []string{"repository:grp/other:delete"}, `[{"type":"repository","name":"grp/other","actions":["delete"]}]`},
		{"never push or *, even as Maintainer with both", "mia", miaBoth, []string{"repository:grp/app:push,*"}, `[]`},
		{"delete without the permission", "dev", devProject, []string{"repository:grp/app:delete"}, `[]`},
		{"delete still needs Maintainer", "dev", devBoth, []string{"repository:grp/app:delete,pull"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"Guest: role still applies", "gus", gusRead, []string{"repository:grp/app:pull"}, `[]`},
		{"non-member: all memberships reaches nothing", "sam", samAll, []string{"repository:grp/app:pull", "repository:pub/site:pull"}, `[]`},
		{"Owner through the group with a project grant", "olga", root, []string{"repository:grp/app:pull,delete,push"}, `[{"type":"repository","name":"grp/app","actions":["pull","delete"]}]`},
		{"impersonation token", "dev", impersonated, []string{"repository:grp/app:pull,push"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"fine-grained project access token pulls, never pushes or deletes", "bot", bot, []string{"repository:grp/app:pull,push,delete"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"catalog never", "olga", root, []string{"registry:catalog:*"}, `[]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := accessString(w.accessOf(w.auth("GET", c.user, c.pass, scopes(c.scopes...)))); got != c.want {
				t.Errorf("access = %s, want %s", got, c.want)
			}
		})
	}
	// GitLab's gate is open to every fine-grained token (docker login works); what it
	// may do is decided per project, so a token without registry permissions gets 200
	// and an empty access list, never 403 DENIED.
	if a := w.auth("GET", "dev", devCode, "service=container_registry"); a.status != 200 {
		t.Errorf("login with a fine-grained token without registry permissions: %d %s, want 200", a.status, a.body)
	}
}

// TestGranularEnforced: once the top-level group enforces fine-grained tokens (spec §5),
// a human's legacy token pulls nothing below it, a fine-grained one with the permission
// does, and a bot's legacy token is not held to the policy.
func TestGranularEnforced(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	app := w.p["app"]
	legacy := w.pat("dev", keygate.ScopeReadRegistry)
	fine := w.granularPAT("dev", false, onProjects([]string{authz.PermReadContainerRepository}, app.ID))
	bot := w.projectToken(app, keygate.Reporter, keygate.ScopeReadRegistry)
	on := true
	if _, err := w.srv.Service.UpdateGroup(context.Background(), authz.SystemSubject(), w.grp, service.NamespaceInput{Granular: &service.GranularPolicyInput{Enforce: &on}}); err != nil {
		t.Fatal(err)
	}
	pull := scopes("repository:grp/app:pull", "repository:pub/site:pull")
	for _, c := range []struct{ name, user, pass, want string }{
		{"a human's legacy token is held to the checks below the group", "dev", legacy, `[{"type":"repository","name":"pub/site","actions":["pull"]}]`},
		{"a fine-grained token with the permission pulls", "dev", fine, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"a bot's legacy token is not held to the policy", "bot", bot, `[{"type":"repository","name":"grp/app","actions":["pull"]},{"type":"repository","name":"pub/site","actions":["pull"]}]`},
	} {
		if got := accessString(w.accessOf(w.auth("GET", c.user, c.pass, pull))); got != c.want {
			t.Errorf("%s: access = %s, want %s", c.name, got, c.want)
		}
	}
}

// TestGranularCanI: can_i names the fine-grained permission (or says push has none) for
// fine-grained tokens, and the scopes for legacy ones.
func TestGranularCanI(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	app := w.p["app"]
	read := w.granularPAT("dev", false, onProjects([]string{authz.PermReadContainerRepository}, app.ID))
	code := w.granularPAT("dev", false, onProjects([]string{"download_code"}, app.ID))
	type answerJSON struct {
		Allowed             bool     `json:"allowed"`
		Status              int      `json:"status"`
		Reasons             []string `json:"reasons"`
		RequiredScopes      []string `json:"required_scopes"`
		RequiredPermissions []struct {
			Permission string `json:"permission"`
			Boundary   string `json:"boundary_type"`
		} `json:"required_permissions"`
	}
	ask := func(tok, method, path string) answerJSON {
		t.Helper()
		status, body := w.srv.Do(t, tok, "GET", "/keygate/can_i?method="+method+"&path=registry:"+path, nil)
		if status != 200 {
			t.Fatalf("can_i %s %s: %d %s", method, path, status, body)
		}
		var a answerJSON
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := ask(read, "PULL", "grp/app"); !a.Allowed || a.Status != 200 || len(a.RequiredScopes) != 0 ||
		len(a.RequiredPermissions) != 1 || a.RequiredPermissions[0].Permission != authz.PermReadContainerRepository || a.RequiredPermissions[0].Boundary != "project" {
		t.Errorf("pull with read_container_repository: %+v, want allowed naming the permission on the project", a)
	}
	if a := ask(code, "PULL", "grp/app"); a.Allowed || a.Status != 403 || len(a.RequiredPermissions) != 1 ||
		!strings.Contains(strings.Join(a.Reasons, "; "), "missing permission: read_container_repository") {
		t.Errorf("pull without read_container_repository: %+v, want 403 naming the missing permission", a)
	}
	if a := ask(read, "PUSH", "grp/app"); a.Allowed || a.Status != 403 || len(a.RequiredPermissions) != 0 || len(a.RequiredScopes) != 0 ||
		!strings.Contains(strings.Join(a.Reasons, "; "), "no fine-grained permission allows pushing") {
		t.Errorf("push with a fine-grained token: %+v, want 403 saying no permission allows it", a)
	}
	if a := ask(read, "DELETE", "grp/app"); a.Allowed || len(a.RequiredPermissions) != 1 || a.RequiredPermissions[0].Permission != authz.PermDeleteContainerRepository {
		t.Errorf("delete without delete_container_repository: %+v, want refused naming it", a)
	}
	sam := w.granularPAT("sam", false, service.GranularRequest{Access: keygate.AccessAllMemberships, Permissions: []string{authz.PermReadContainerRepository}})
	if a := ask(sam, "PULL", "grp/app"); a.Allowed || a.Status != 404 {
		t.Errorf("pull of a project the caller cannot see: %+v, want 404", a)
	}
}

// TestRegistryUsesFeedAdvice: granted pulls and deletes count among a token's permission
// uses, so the usage report's suggested grant keeps registry access; push, which no
// permission allows, is not counted.
func TestRegistryUsesFeedAdvice(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	app := w.p["app"]
	ctx := context.Background()
	create := func(user string, in service.TokenInput) (int64, string) {
		iss, err := w.srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), w.u[user].ID, in)
		if err != nil {
			t.Fatal(err)
		}
		return iss.Token.ID, iss.Secret.Reveal()
	}
	fineID, fine := create("mia", service.TokenInput{Name: "fine", Granular: []service.GranularRequest{
		onProjects([]string{authz.PermReadContainerRepository, authz.PermDeleteContainerRepository}, app.ID)}})
	legacyID, legacy := create("mia", service.TokenInput{Name: "legacy", Scopes: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadUser}})
	if a := w.accessOf(w.auth("GET", "mia", fine, scopes("repository:grp/app:pull,delete"))); accessString(a) != `[{"type":"repository","name":"grp/app","actions":["pull","delete"]}]` {
		t.Fatalf("fine-grained grant = %s", accessString(a))
	}
	if a := w.accessOf(w.auth("GET", "mia", legacy, scopes("repository:grp/app:pull,push"))); accessString(a) != `[{"type":"repository","name":"grp/app","actions":["pull","push"]}]` {
		t.Fatalf("legacy grant = %s", accessString(a))
	}
	type usage struct {
		Uses []struct {
			Route        string   `json:"route"`
			Permissions  []string `json:"permissions"`
			BoundaryType string   `json:"boundary_type"`
			BoundaryID   int64    `json:"boundary_id"`
			Count        int64    `json:"count"`
		} `json:"uses"`
		GranularScopes []struct {
			Permissions []string `json:"permissions"`
			ProjectIDs  []int64  `json:"project_ids"`
		} `json:"granular_scopes"`
		UnusedScopes []string `json:"unused_scopes"`
	}
	report := func(id int64) usage {
		t.Helper()
		status, body := w.srv.Do(t, w.srv.RootToken, "GET", "/personal_access_tokens/"+strconv.FormatInt(id, 10)+"/keygate/usage", nil)
		if status != 200 {
			t.Fatalf("usage: %d %s", status, body)
		}
		var u usage
		if err := json.Unmarshal(body, &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	perms := func(u usage) map[string]int64 {
		m := map[string]int64{}
		for _, x := range u.Uses {
			if x.BoundaryType != "project" || x.BoundaryID != app.ID {
				t.Errorf("use %+v is not on the project %d", x, app.ID)
			}
			m[x.Route+" "+strings.Join(x.Permissions, ",")] += x.Count
		}
		return m
	}
	want := map[string]int64{
		"REGISTRY pull " + authz.PermReadContainerRepository:     1,
		"REGISTRY delete " + authz.PermDeleteContainerRepository: 1,
	}
	if got := perms(report(fineID)); len(got) != 2 || got["REGISTRY pull read_container_repository"] != 1 || got["REGISTRY delete delete_container_repository"] != 1 {
		t.Errorf("fine-grained token's uses = %v, want %v", got, want)
	}
	lu := report(legacyID)
	if got := perms(lu); len(got) != 1 || got["REGISTRY pull read_container_repository"] != 1 {
		t.Errorf("legacy token's uses = %v, want only the pull (push has no permission)", got)
	}
	if len(lu.GranularScopes) != 1 || strings.Join(lu.GranularScopes[0].Permissions, ",") != authz.PermReadContainerRepository {
		t.Errorf("suggested grant = %+v, want read_container_repository on the project", lu.GranularScopes)
	}
	if strings.Join(lu.UnusedScopes, ",") != "read_user" {
		t.Errorf("unused scopes = %v, want read_user (api opened the pull)", lu.UnusedScopes)
	}
}
