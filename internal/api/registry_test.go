package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// registryFields are a project's container registry fields.
type registryFields struct {
	Enabled bool    `json:"container_registry_enabled"`
	Level   string  `json:"container_registry_access_level"`
	Prefix  *string `json:"container_registry_image_prefix"`
}

func projectRegistry(t *testing.T, r goldenResult) registryFields {
	t.Helper()
	var f registryFields
	if err := json.Unmarshal(r.Body, &f); err != nil {
		t.Fatalf("project body %s: %v", r.Body, err)
	}
	return f
}

func TestProjectRegistryFields(t *testing.T) {
	srv := keygatetest.NewServerWith(t, keygatetest.Options{Registry: true})
	root := srv.RootToken
	create := doGolden(t, srv, goldenCase{method: "POST", path: "/projects", token: root, body: `{"name":"Web App","path":"Web-App"}`})
	if create.Status != 201 {
		t.Fatalf("create = %d %s", create.Status, create.Body)
	}
	f := projectRegistry(t, create)
	if !f.Enabled || f.Level != "enabled" || f.Prefix == nil || *f.Prefix != keygatetest.RegistryHost+"/root/web-app" {
		t.Errorf("new project registry fields = %+v (prefix %v), want enabled, enabled, %s/root/web-app", f, deref(f.Prefix), keygatetest.RegistryHost)
	}
	var id struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal(create.Body, &id)
	path := "/projects/" + strconv.FormatInt(id.ID, 10)

	for _, c := range []struct {
		body        string
		wantEnabled bool
		wantLevel   string
	}{
		{`{"container_registry_access_level":"private"}`, true, "private"},
		{`{"container_registry_enabled":false}`, false, "disabled"},
		{`{"container_registry_enabled":true}`, true, "enabled"},
		// The level wins over the deprecated flag.
		{`{"container_registry_enabled":true,"container_registry_access_level":"disabled"}`, false, "disabled"},
		{`{"description":"other things"}`, false, "disabled"},
	} {
		got := doGolden(t, srv, goldenCase{method: "PUT", path: path, token: root, body: c.body})
		f := projectRegistry(t, got)
		if got.Status != 200 || f.Enabled != c.wantEnabled || f.Level != c.wantLevel {
			t.Errorf("PUT %s = %d %+v, want enabled %v level %s", c.body, got.Status, f, c.wantEnabled, c.wantLevel)
		}
		if read := projectRegistry(t, doGolden(t, srv, goldenCase{method: "GET", path: path, token: root})); read.Level != c.wantLevel {
			t.Errorf("GET after PUT %s: level %s, want %s", c.body, read.Level, c.wantLevel)
		}
	}
	before := doGolden(t, srv, goldenCase{method: "GET", path: path, token: root})
	for _, body := range []string{`{"container_registry_access_level":"public"}`, `{"container_registry_access_level":"ENABLED"}`, `{"container_registry_enabled":"maybe"}`} {
		got := doGolden(t, srv, goldenCase{method: "PUT", path: path, token: root, body: body})
		if got.Status != 400 || !strings.Contains(string(got.Body), "container_registry_") {
			t.Errorf("PUT %s = %d %s, want 400 naming the parameter", body, got.Status, got.Body)
		}
	}
	if bad := doGolden(t, srv, goldenCase{method: "POST", path: "/projects", token: root, body: `{"name":"x","container_registry_access_level":"nope"}`}); bad.Status != 400 ||
		string(bad.Body) != `{"error":"container_registry_access_level does not have a valid value"}` {
		t.Errorf("create with a bad level = %d %s", bad.Status, bad.Body)
	}
	if after := doGolden(t, srv, goldenCase{method: "GET", path: path, token: root}); string(after.Body) != string(before.Body) {
		t.Errorf("refused updates changed the project: %s, was %s", after.Body, before.Body)
	}
	created := doGolden(t, srv, goldenCase{method: "POST", path: "/projects", token: root, body: `{"name":"members","container_registry_access_level":"private"}`})
	if f := projectRegistry(t, created); created.Status != 201 || f.Level != "private" {
		t.Errorf("create with private = %d %+v", created.Status, f)
	}

	// Without a registry the prefix is not shown, as GitLab.
	off := keygatetest.NewServer(t)
	got := doGolden(t, off, goldenCase{method: "POST", path: "/projects", token: off.RootToken, body: `{"name":"app"}`})
	if f := projectRegistry(t, got); f.Prefix != nil || !f.Enabled || f.Level != "enabled" {
		t.Errorf("registry off: fields %+v prefix %v, want enabled and no prefix", f, deref(f.Prefix))
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestRegistryTokenExpireDelaySetting(t *testing.T) {
	srv := keygatetest.NewServer(t)
	get := func() int {
		r := doGolden(t, srv, goldenCase{method: "GET", path: "/application/settings", token: srv.RootToken})
		var s struct {
			D *int `json:"container_registry_token_expire_delay"`
		}
		if err := json.Unmarshal(r.Body, &s); err != nil || s.D == nil {
			t.Fatalf("settings %s: no container_registry_token_expire_delay", r.Body)
		}
		return *s.D
	}
	if d := get(); d != 5 {
		t.Errorf("default container_registry_token_expire_delay = %d, want 5", d)
	}
	if r := doGolden(t, srv, goldenCase{method: "PUT", path: "/application/settings", token: srv.RootToken, body: `{"container_registry_token_expire_delay":15}`}); r.Status != 200 {
		t.Fatalf("PUT 15 = %d %s", r.Status, r.Body)
	}
	if d := get(); d != 15 {
		t.Errorf("after PUT 15: %d", d)
	}
	for _, c := range []struct{ body, want string }{
		{`{"container_registry_token_expire_delay":0}`, `{"message":{"container_registry_token_expire_delay":["must be greater than 0"]}}`},
		{`{"container_registry_token_expire_delay":-3}`, `{"message":{"container_registry_token_expire_delay":["must be greater than 0"]}}`},
		{`{"container_registry_token_expire_delay":600000}`, `{"message":{"container_registry_token_expire_delay":["must be less than or equal to 525600"]}}`},
		{`{"container_registry_token_expire_delay":"soon"}`, `{"error":"container_registry_token_expire_delay is invalid"}`},
	} {
		r := doGolden(t, srv, goldenCase{method: "PUT", path: "/application/settings", token: srv.RootToken, body: c.body})
		if r.Status != 400 || string(r.Body) != c.want {
			t.Errorf("PUT %s = %d %s, want 400 %s", c.body, r.Status, r.Body, c.want)
		}
	}
	if d := get(); d != 15 {
		t.Errorf("refused PUTs changed the delay to %d", d)
	}
	// Non-admins may not change it.
	u := srv.User(t, "alice", false)
	tok := srv.Token(t, u.ID, "alice", keygate.ScopeAPI)
	if r := doGolden(t, srv, goldenCase{method: "PUT", path: "/application/settings", token: tok, body: `{"container_registry_token_expire_delay":60}`}); r.Status != 403 {
		t.Errorf("PUT as a non-admin = %d, want 403", r.Status)
	}
}

func TestCanIRegistry(t *testing.T) {
	srv := keygatetest.NewServerWith(t, keygatetest.Options{Registry: true})
	ctx := context.Background()
	olga, dev, rep := srv.User(t, "olga", false), srv.User(t, "dev", false), srv.User(t, "rep", false)
	gp := "grp"
	vis := keygate.Private
	g, err := srv.Service.CreateGroup(ctx, authz.Subject{User: olga}, service.NamespaceInput{Name: &gp, Path: &gp, Visibility: &vis})
	if err != nil {
		t.Fatal(err)
	}
	app := "app"
	if _, err := srv.Service.CreateProject(ctx, authz.Subject{User: olga}, service.NamespaceInput{Name: &app, Visibility: &vis, ParentID: g.ID}); err != nil {
		t.Fatal(err)
	}
	res, _ := srv.Service.GroupAccess(ctx, authz.SystemSubject(), g)
	src, _ := srv.Service.GroupSource(ctx, g, res)
	for u, l := range map[int64]keygate.AccessLevel{dev.ID: keygate.Developer, rep.ID: keygate.Reporter} {
		if _, err := srv.Service.AddMember(ctx, authz.SystemSubject(), src, service.MemberInput{UserID: u, AccessLevel: l}); err != nil {
			t.Fatal(err)
		}
	}
	rw := []keygate.Scope{keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry}
	devTok, repTok := srv.Token(t, dev.ID, "d", rw...), srv.Token(t, rep.ID, "r", rw...)
	repoTok := srv.Token(t, dev.ID, "repo", keygate.ScopeReadRepository)
	ask := func(tok, method, path string) (int, canIAnswer, string) {
		t.Helper()
		q := url.Values{"method": {method}, "path": {path}}
		r := doGolden(t, srv, goldenCase{method: "GET", path: "/keygate/can_i?" + q.Encode(), token: tok})
		var a canIAnswer
		_ = json.Unmarshal(r.Body, &a)
		return r.Status, a, string(r.Body)
	}
	for _, c := range []struct {
		name, tok, method, path string
		allowed                 bool
		status                  int
		role                    int
		scopes                  string
	}{
		{"Developer push", devTok, "PUSH", "registry:grp/app/web", true, 200, 30, "[write_registry api]"},
		{"Developer pull", devTok, "pull", "registry:grp/app", true, 200, 20, "[read_registry read_api api]"},
		{"Developer delete", devTok, "DELETE", "registry:grp/app", false, 403, 40, "[api]"},
		{"Reporter push", repTok, "PUSH", "registry:grp/app/web", false, 403, 30, "[write_registry api]"},
		{"Reporter pull", repTok, "PULL", "registry:GRP/app/web", true, 200, 20, "[read_registry read_api api]"},
		{"read_repository token", repoTok, "PULL", "registry:grp/app", false, 403, 20, "[read_registry read_api api]"},
		{"no such project", devTok, "PULL", "registry:grp/nope/web", false, 404, 20, "[read_registry read_api api]"},
		{"not a repository name", devTok, "PULL", "registry:app", false, 404, 20, "[read_registry read_api api]"},
		{"catalog for admins", srv.RootToken, "*", "registry:catalog", true, 200, 0, "[api]"},
		{"catalog not for others", devTok, "*", "registry:catalog", false, 403, 0, "[api]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, a, body := ask(c.tok, c.method, c.path)
			role := 0
			if a.RequiredRole != nil {
				role = a.RequiredRole.AccessLevel
			}
			if st != 200 || a.Allowed != c.allowed || a.Status != c.status || role != c.role || strings.Join(a.RequiredScopes, " ") != strings.Trim(c.scopes, "[]") ||
				(!c.allowed && len(a.Reasons) == 0) || !strings.HasPrefix(a.Route, "registry ") {
				t.Errorf("can_i %s %s = %d %s", c.method, c.path, st, body)
			}
		})
	}
	if st, _, body := ask(devTok, "GET", "registry:grp/app"); st != 400 || !strings.Contains(body, "PULL, PUSH, DELETE") {
		t.Errorf("can_i GET registry: = %d %s, want 400", st, body)
	}
	// Registry off: nothing is allowed.
	off := keygatetest.NewServer(t)
	q := url.Values{"method": {"PULL"}, "path": {"registry:root/x"}}
	r := doGolden(t, off, goldenCase{method: "GET", path: "/keygate/can_i?" + q.Encode(), token: off.RootToken})
	var a canIAnswer
	_ = json.Unmarshal(r.Body, &a)
	if r.Status != 200 || a.Allowed || a.Status != 404 {
		t.Errorf("can_i with the registry off = %d %s", r.Status, r.Body)
	}
}
