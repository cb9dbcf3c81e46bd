package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
)

// denialPaths gives each route of the table a concrete path to probe. A route added to the
// table without an entry here fails TestDenialMatrix: every route has its denials tested.
// Placeholders are filled from the fixture world for the probe's target: {project},
// {group}, {ptoken} and {gtoken} (the target's project and group access tokens),
// {member} (a direct member of every target), {stranger} (a user in no group), {gsa}
// and {gsatoken} (the target group's service account and its token), {isa} (an
// instance service account).
var denialPaths = map[string]string{
	"GET /version":                "/version",
	"GET /metadata":               "/metadata",
	"GET /user":                   "/user",
	"GET /users":                  "/users",
	"GET /users/{id}":             "/users/1",
	"POST /users":                 "/users",
	"PUT /users/{id}":             "/users/1",
	"POST /users/{id}/block":      "/users/2/block",
	"POST /users/{id}/unblock":    "/users/2/unblock",
	"POST /users/{id}/deactivate": "/users/2/deactivate",
	"POST /users/{id}/activate":   "/users/2/activate",
	"POST /users/{user_id}/personal_access_tokens": "/users/2/personal_access_tokens",
	"POST /user/personal_access_tokens":            "/user/personal_access_tokens",
	"GET /personal_access_tokens":                  "/personal_access_tokens",
	"GET /personal_access_tokens/self":             "/personal_access_tokens/self",
	"GET /personal_access_tokens/{id}":             "/personal_access_tokens/1",
	"POST /personal_access_tokens/self/rotate":     "/personal_access_tokens/self/rotate",
	"POST /personal_access_tokens/{id}/rotate":     "/personal_access_tokens/1/rotate",
	"DELETE /personal_access_tokens/self":          "/personal_access_tokens/self",
	"DELETE /personal_access_tokens/{id}":          "/personal_access_tokens/1",
	"GET /application/settings":                    "/application/settings",
	"PUT /application/settings":                    "/application/settings",

	"GET /groups":                   "/groups",
	"POST /groups":                  "/groups",
	"GET /groups/{id}":              "/groups/{group}",
	"PUT /groups/{id}":              "/groups/{group}",
	"DELETE /groups/{id}":           "/groups/{group}",
	"GET /groups/{id}/subgroups":    "/groups/{group}/subgroups",
	"GET /groups/{id}/projects":     "/groups/{group}/projects",
	"GET /projects":                 "/projects",
	"POST /projects":                "/projects",
	"GET /projects/{id}":            "/projects/{project}",
	"PUT /projects/{id}":            "/projects/{project}",
	"DELETE /projects/{id}":         "/projects/{project}",
	"GET /users/{user_id}/projects": "/users/{member}/projects",

	"GET /projects/{id}/members":                          "/projects/{project}/members",
	"GET /projects/{id}/members/all":                      "/projects/{project}/members/all",
	"GET /projects/{id}/members/{user_id}":                "/projects/{project}/members/{member}",
	"GET /projects/{id}/members/all/{user_id}":            "/projects/{project}/members/all/{member}",
	"POST /projects/{id}/members":                         "/projects/{project}/members",
	"PUT /projects/{id}/members/{user_id}":                "/projects/{project}/members/{member}",
	"DELETE /projects/{id}/members/{user_id}":             "/projects/{project}/members/{member}",
	"GET /projects/{id}/access_tokens":                    "/projects/{project}/access_tokens",
	"POST /projects/{id}/access_tokens":                   "/projects/{project}/access_tokens",
	"GET /projects/{id}/access_tokens/{token_id}":         "/projects/{project}/access_tokens/{ptoken}",
	"POST /projects/{id}/access_tokens/{token_id}/rotate": "/projects/{project}/access_tokens/{ptoken}/rotate",
	"POST /projects/{id}/access_tokens/self/rotate":       "/projects/{project}/access_tokens/self/rotate",
	"DELETE /projects/{id}/access_tokens/{token_id}":      "/projects/{project}/access_tokens/{ptoken}",
	"DELETE /projects/{id}/access_tokens/self":            "/projects/{project}/access_tokens/self",

	"GET /groups/{id}/members":                          "/groups/{group}/members",
	"GET /groups/{id}/members/all":                      "/groups/{group}/members/all",
	"GET /groups/{id}/members/{user_id}":                "/groups/{group}/members/{member}",
	"GET /groups/{id}/members/all/{user_id}":            "/groups/{group}/members/all/{member}",
	"POST /groups/{id}/members":                         "/groups/{group}/members",
	"PUT /groups/{id}/members/{user_id}":                "/groups/{group}/members/{member}",
	"DELETE /groups/{id}/members/{user_id}":             "/groups/{group}/members/{member}",
	"GET /groups/{id}/access_tokens":                    "/groups/{group}/access_tokens",
	"POST /groups/{id}/access_tokens":                   "/groups/{group}/access_tokens",
	"GET /groups/{id}/access_tokens/{token_id}":         "/groups/{group}/access_tokens/{gtoken}",
	"POST /groups/{id}/access_tokens/{token_id}/rotate": "/groups/{group}/access_tokens/{gtoken}/rotate",
	"POST /groups/{id}/access_tokens/self/rotate":       "/groups/{group}/access_tokens/self/rotate",
	"DELETE /groups/{id}/access_tokens/{token_id}":      "/groups/{group}/access_tokens/{gtoken}",
	"DELETE /groups/{id}/access_tokens/self":            "/groups/{group}/access_tokens/self",

	"POST /service_accounts":                                                                "/service_accounts",
	"GET /service_accounts":                                                                 "/service_accounts",
	"PATCH /service_accounts/{user_id}":                                                     "/service_accounts/{isa}",
	"POST /groups/{id}/service_accounts":                                                    "/groups/{group}/service_accounts",
	"GET /groups/{id}/service_accounts":                                                     "/groups/{group}/service_accounts",
	"PATCH /groups/{id}/service_accounts/{user_id}":                                         "/groups/{group}/service_accounts/{gsa}",
	"DELETE /groups/{id}/service_accounts/{user_id}":                                        "/groups/{group}/service_accounts/{gsa}",
	"GET /groups/{id}/service_accounts/{user_id}/personal_access_tokens":                    "/groups/{group}/service_accounts/{gsa}/personal_access_tokens",
	"POST /groups/{id}/service_accounts/{user_id}/personal_access_tokens":                   "/groups/{group}/service_accounts/{gsa}/personal_access_tokens",
	"DELETE /groups/{id}/service_accounts/{user_id}/personal_access_tokens/{token_id}":      "/groups/{group}/service_accounts/{gsa}/personal_access_tokens/{gsatoken}",
	"POST /groups/{id}/service_accounts/{user_id}/personal_access_tokens/{token_id}/rotate": "/groups/{group}/service_accounts/{gsa}/personal_access_tokens/{gsatoken}/rotate",
	"GET /users/{user_id}/impersonation_tokens":                                             "/users/{member}/impersonation_tokens",
	"POST /users/{user_id}/impersonation_tokens":                                            "/users/{member}/impersonation_tokens",
	"GET /users/{user_id}/impersonation_tokens/{impersonation_token_id}":                    "/users/{member}/impersonation_tokens/1",
	"DELETE /users/{user_id}/impersonation_tokens/{impersonation_token_id}":                 "/users/{member}/impersonation_tokens/1",
	"GET /keygate/revocations/stream":                                                       "/keygate/revocations/stream",
	"GET /keygate/can_i":                                                                    "/keygate/can_i?method=GET&path=/api/v4/user",

	"GET /job":                         "/job",
	"POST /projects/{id}/keygate/jobs": "/projects/{project}/keygate/jobs",
	"POST /projects/{id}/keygate/jobs/{job_id}/finish":                         "/projects/{project}/keygate/jobs/1/finish",
	"GET /projects/{id}/job_token_scope":                                       "/projects/{project}/job_token_scope",
	"PATCH /projects/{id}/job_token_scope":                                     "/projects/{project}/job_token_scope",
	"GET /projects/{id}/job_token_scope/allowlist":                             "/projects/{project}/job_token_scope/allowlist",
	"POST /projects/{id}/job_token_scope/allowlist":                            "/projects/{project}/job_token_scope/allowlist",
	"DELETE /projects/{id}/job_token_scope/allowlist/{target_project_id}":      "/projects/{project}/job_token_scope/allowlist/{otherproject}",
	"GET /projects/{id}/job_token_scope/groups_allowlist":                      "/projects/{project}/job_token_scope/groups_allowlist",
	"POST /projects/{id}/job_token_scope/groups_allowlist":                     "/projects/{project}/job_token_scope/groups_allowlist",
	"DELETE /projects/{id}/job_token_scope/groups_allowlist/{target_group_id}": "/projects/{project}/job_token_scope/groups_allowlist/{group}",
	"GET /projects/{id}/keygate/job_token_auth_log":                            "/projects/{project}/keygate/job_token_auth_log",
	"GET /projects/{id}/keygate/job_token_scope/proposal":                      "/projects/{project}/keygate/job_token_scope/proposal",

	"GET /keygate/permissions":                       "/keygate/permissions",
	"POST /keygate/permissions/suggest":              "/keygate/permissions/suggest",
	"GET /personal_access_tokens/{id}/keygate/usage": "/personal_access_tokens/1/keygate/usage",
}

// denialBodies are the request bodies of routes whose refusal must come from the
// permission check, not from a missing parameter (GitLab validates parameters first).
var denialBodies = map[string]string{
	"POST /groups":                         `{"name":"N","path":"n-new"}`,
	"POST /projects":                       `{"name":"N"}`,
	"PUT /groups/{id}":                     `{"description":"changed"}`,
	"PUT /projects/{id}":                   `{"description":"changed"}`,
	"POST /projects/{id}/members":          `{"user_id":{stranger},"access_level":30}`,
	"POST /groups/{id}/members":            `{"user_id":{stranger},"access_level":30}`,
	"PUT /projects/{id}/members/{user_id}": `{"access_level":30}`,
	"PUT /groups/{id}/members/{user_id}":   `{"access_level":30}`,
	"POST /projects/{id}/access_tokens":    `{"name":"n","scopes":["api"],"access_level":30}`,
	"POST /groups/{id}/access_tokens":      `{"name":"n","scopes":["api"],"access_level":30}`,
}

const defaultDenialBody = `{"name":"n","scopes":["api"]}`

// want is GitLab's answer to a refused request: the status and the body's fields that
// must match exactly.
type want struct {
	status int
	body   map[string]any
}

func msg(status int, m string) *want { return &want{status, map[string]any{"message": m}} }

func invalidToken(desc string) *want {
	return &want{401, map[string]any{"error": "invalid_token", "error_description": desc}}
}

// caller is one kind of refused (or possibly refused) client in the denial matrix. The
// expectation for each route is computed from the route's Rule, Kind and Action the way
// GitLab would answer this caller.
type caller struct {
	name   string
	token  func(w *world) string
	header map[string]string
	target string // which world resources {project}, {group}… name
	// pre is the answer given before any route logic: bad, expired or revoked
	// credentials, a blocked owner, impersonation while disabled.
	pre       *want
	anonymous bool
	scopes    keygate.Scopes // the token's scopes (ignored with sudo)
	sudo      bool
	admin     bool
	external  bool
	bot       bool   // a project bot of another resource
	display   string // the caller's name in GitLab's "<caller> cannot delete <bot>"
	// project and group are the caller's effective levels on the target; contains: the
	// caller can read something inside the target group.
	project, group keygate.AccessLevel
	contains       bool
	setup          func(t *testing.T, w *world) (undo func())
}

var targetVisibility = map[string]keygate.Visibility{
	"private": keygate.Private, "internal": keygate.Internal, "public": keygate.Public, "deep": keygate.Private,
}

// scopeOK reports whether scopes open the route, by GitLab's rule: the route's own
// grants (read-only ones for GET/HEAD only), then api, then read_api on GET/HEAD.
func scopeOK(rt api.Route, scopes keygate.Scopes) bool {
	if rt.Rule.AnyScope {
		return true
	}
	safe := rt.Method == "GET" || rt.Method == "HEAD"
	for _, g := range rt.Rule.Grants {
		if scopes.Has(g.Scope) && (!g.ReadOnly || safe) {
			return true
		}
	}
	if rt.Rule.Exclusive {
		return false
	}
	return scopes.Has(keygate.ScopeAPI) || safe && scopes.Has(keygate.ScopeReadAPI)
}

// scopeList is the "scope" of GitLab's insufficient_scope body: the route's grants,
// then the root ones.
func scopeList(rt api.Route) string {
	var names []string
	for _, g := range rt.Rule.Grants {
		names = append(names, string(g.Scope))
	}
	if rt.Rule.Exclusive {
		return strings.Join(names, " ")
	}
	return strings.Join(append(names, "api", "read_api"), " ")
}

func notFoundFor(kind authz.ResourceKind) *want {
	if kind == authz.KindGroup {
		return msg(404, "404 Group Not Found")
	}
	return msg(404, "404 Project Not Found")
}

// leastRole is GitLab's least role for an action (project_policy.rb, group_policy.rb):
// a Developer runs jobs; a Maintainer manages a project, its members, tokens and job
// token scope; an Owner deletes it or changes its visibility; a group is managed by its
// Owners (projects are created from Developer, subgroups from Maintainer).
func leastRole(kind authz.ResourceKind, a authz.Action) keygate.AccessLevel {
	switch {
	case kind == authz.KindGroup && a == authz.ActCreateProject, kind == authz.KindProject && a == authz.ActRunJob:
		return keygate.Developer
	case kind == authz.KindGroup && a == authz.ActCreateSubgroup:
		return keygate.Maintainer
	case kind == authz.KindGroup, a == authz.ActDelete, a == authz.ActChangeVisibility:
		return keygate.Owner
	}
	return keygate.Maintainer
}

// expect is GitLab's answer to c on rt, or nil when GitLab would let the request through
// (the matrix then does not send it: it tests refusals only).
func (c caller) expect(rt api.Route, w *world) *want {
	if c.pre != nil {
		return c.pre
	}
	switch {
	case c.anonymous && !rt.Rule.Anonymous:
		return msg(401, "401 Unauthorized")
	case !c.anonymous && (!c.sudo || rt.Rule.Exclusive) && !scopeOK(rt, c.scopes):
		return &want{403, map[string]any{
			"error":             "insufficient_scope",
			"error_description": "The request requires higher privileges than provided by the access token.",
			"scope":             scopeList(rt),
		}}
	case rt.Rule.Admin && !c.admin:
		return msg(403, "403 Forbidden")
	case rt.Kind == authz.KindNone:
		return nil
	}
	// lib/api/resource_access_tokens/self_rotation.rb answers not_allowed! for a token that
	// is not a project bot's before find_source, so a human gets 405 whether or not the
	// resource exists or is visible.
	// The self routes refuse a token that is no resource token before finding the
	// resource (resource_access_tokens/self_rotation.rb: not_allowed! first).
	if strings.HasSuffix(rt.Pattern, "/access_tokens/self/rotate") && !c.bot {
		return msg(405, "405 Method Not Allowed")
	}
	level, vis := c.project, targetVisibility[c.target]
	if rt.Kind == authz.KindGroup {
		level = c.group
	}
	readable := c.admin || vis == keygate.Public || vis == keygate.Internal && !c.anonymous && !c.external ||
		level >= keygate.Guest || rt.Kind == authz.KindGroup && c.contains
	if !readable {
		return notFoundFor(rt.Kind)
	}
	kindName := string(rt.Kind)
	switch {
	case strings.HasSuffix(rt.Pattern, "/access_tokens/self/rotate"), strings.HasSuffix(rt.Pattern, "/access_tokens/self"):
		if !c.bot {
			return msg(405, "405 Method Not Allowed") // not a project bot's token
		}
		return msg(401, "401 Unauthorized") // a bot of another resource
	case rt.Action == authz.ActRead:
		return nil
	case rt.Action == authz.ActReadMembers:
		if rt.Kind == authz.KindGroup && vis == keygate.Private && level < keygate.Guest && !c.admin {
			return msg(403, "403 Forbidden") // can_read_group_member?
		}
		return nil
	}
	if c.admin || level >= leastRole(rt.Kind, rt.Action) && !(c.bot && rt.Action == authz.ActManageTokens) {
		return nil
	}
	switch {
	case rt.Action == authz.ActReadTokens:
		return msg(401, "401 Unauthorized")
	case rt.Method == "POST" && strings.HasSuffix(rt.Pattern, "/access_tokens"):
		return msg(400, "400 Bad request - User does not have permission to create "+kindName+" access token")
	case strings.HasSuffix(rt.Pattern, "/access_tokens/{token_id}/rotate"):
		return msg(401, "401 Unauthorized")
	case rt.Method == "DELETE" && strings.HasSuffix(rt.Pattern, "/access_tokens/{token_id}"):
		bot := "ptok-" + c.target
		if rt.Kind == authz.KindGroup {
			bot = "gtok-" + c.target
		}
		return msg(400, "400 Bad request - "+c.display+" cannot delete "+bot)
	}
	return msg(403, "403 Forbidden")
}

// denialCallers are the probes of the matrix.
func denialCallers() []caller {
	tok := func(name string) func(*world) string { return func(w *world) string { return w.tok[name] } }
	api := keygate.Scopes{keygate.ScopeAPI}
	return []caller{
		{name: "anonymous", token: func(*world) string { return "" }, target: "private", anonymous: true},
		{name: "malformed", token: func(*world) string { return "glpat-nope" }, target: "private", pre: msg(401, "401 Unauthorized")},
		{name: "unknown", token: func(*world) string { return forged() }, target: "private", pre: msg(401, "401 Unauthorized")},
		{name: "expired", token: tok("expired"), target: "private", pre: invalidToken(keygate.ErrTokenExpired.Message)},
		{name: "revoked", token: tok("revoked"), target: "private", pre: invalidToken(keygate.ErrTokenRevoked.Message)},
		{name: "blocked_owner", token: tok("blocked"), target: "private", pre: msg(403, "403 Forbidden - Your account has been blocked.")},
		{name: "impersonation_disabled", token: tok("impersonation"), target: "private",
			pre: invalidToken(keygate.ErrImpersonationDisabled.Message),
			setup: func(t *testing.T, w *world) func() {
				setImpersonation(t, w.srv, false)
				return func() { setImpersonation(t, w.srv, true) }
			}},
		{name: "read_api_on_write", token: tok("read_api_root"), target: "private", scopes: keygate.Scopes{keygate.ScopeReadAPI}, admin: true, display: "Administrator"},
		{name: "read_user", token: tok("read_user_root"), target: "private", scopes: keygate.Scopes{keygate.ScopeReadUser}, admin: true, display: "Administrator"},
		{name: "scope_outside_api", token: tok("write_repository_dev"), target: "private", scopes: keygate.Scopes{keygate.ScopeWriteRepository}, display: "Dev", project: keygate.Developer, group: keygate.Developer},
		{name: "guest", token: tok("gus"), target: "private", scopes: api, display: "Gus", project: keygate.Guest, group: keygate.Guest},
		{name: "developer", token: tok("dev"), target: "private", scopes: api, display: "Dev", project: keygate.Developer, group: keygate.Developer},
		{name: "developer_inherited_deep", token: tok("dev"), target: "deep", scopes: api, display: "Dev", project: keygate.Developer, group: keygate.Developer},
		{name: "maintainer", token: tok("mia"), target: "private", scopes: api, display: "Mia", project: keygate.Maintainer, group: keygate.Maintainer},
		{name: "subgroup_member_only", token: tok("sub"), target: "private", scopes: api, display: "Sub", contains: true},
		{name: "other_projects_bot_private", token: tok("otherbot"), target: "private", scopes: api, bot: true, display: "otherbot"},
		{name: "other_projects_bot_public", token: tok("otherbot"), target: "public", scopes: api, bot: true, display: "otherbot"},
		{name: "non_member_private", token: tok("sam"), target: "private", scopes: api, display: "Sam"},
		{name: "non_member_internal", token: tok("sam"), target: "internal", scopes: api, display: "Sam"},
		{name: "non_member_public", token: tok("sam"), target: "public", scopes: api, display: "Sam"},
		{name: "external_internal", token: tok("ext"), target: "internal", scopes: api, external: true, display: "Ext"},
		{name: "anonymous_public", token: func(*world) string { return "" }, target: "public", anonymous: true},
		{name: "sudo_as_non_member", token: func(w *world) string { return w.srv.RootToken }, header: map[string]string{"Sudo": "sam"},
			target: "private", sudo: true, display: "Sam"},
	}
}

// fill replaces the world placeholders of a denial path or body.
func (w *world) fill(s, target string) string {
	return strings.NewReplacer(
		"{project}", strconv.FormatInt(w.p[target].ID, 10),
		"{group}", strconv.FormatInt(w.g[target].ID, 10),
		"{ptoken}", strconv.FormatInt(w.ptok[target], 10),
		"{gtoken}", strconv.FormatInt(w.gtok[target], 10),
		"{member}", strconv.FormatInt(w.u["mem"].ID, 10),
		"{stranger}", strconv.FormatInt(w.u["sam"].ID, 10),
		"{gsa}", strconv.FormatInt(w.gsa[target], 10),
		"{gsatoken}", strconv.FormatInt(w.gsaToken[target], 10),
		"{isa}", strconv.FormatInt(w.isa, 10),
		"{otherproject}", strconv.FormatInt(w.p["other"].ID, 10),
	).Replace(s)
}

// TestDenialMatrix probes every route with every kind of refused caller and checks the
// status and body GitLab gives, then that nothing changed.
func TestDenialMatrix(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "postgres" && os.Getenv("KEYGATE_TEST_DATABASE_URL") == "" {
				t.Skip("KEYGATE_TEST_DATABASE_URL not set: skipping PostgreSQL test")
			}
			t.Parallel()
			denialMatrix(t, keygatetest.NewServerWith(t, keygatetest.Options{Postgres: backend == "postgres"}))
		})
	}
}

func denialMatrix(t *testing.T, srv *keygatetest.Server) {
	w := newWorld(t, srv)
	routes := api.New(api.Config{}).Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		seen[key] = true
		if _, ok := denialPaths[key]; !ok {
			t.Errorf("route %s has no denial-matrix entry", key)
		}
	}
	for key := range denialPaths {
		if !seen[key] {
			t.Errorf("denial-matrix entry %s matches no route", key)
		}
	}
	// State is compared once per caller (a snapshot per request would dominate the run);
	// when a caller's refusals changed something, its probes run again one by one with a
	// snapshot each, to name the culprit.
	probed := 0
	baseline := snapshotJSON(t, srv)
	for _, c := range denialCallers() {
		func() {
			if c.setup != nil {
				undo := c.setup(t, w)
				baseline = snapshotJSON(t, srv)
				defer func() { undo(); baseline = snapshotJSON(t, srv) }()
			}
			run := func(each bool) {
				for _, rt := range routes {
					key := rt.Method + " " + rt.Pattern
					path, ok := denialPaths[key]
					if !ok {
						continue
					}
					wt := c.expect(rt, w)
					if wt == nil {
						continue
					}
					probed++
					body, ok := denialBodies[key]
					if !ok {
						body = defaultDenialBody
					}
					t.Run(c.name+"/"+key, func(t *testing.T) {
						probeDenial(t, w, rt, c, w.fill(path, c.target), w.fill(body, c.target), wt)
						if !each {
							return
						}
						if after := snapshotJSON(t, srv); after != baseline {
							t.Errorf("%s %s as %s: refused request changed state", rt.Method, w.fill(path, c.target), c.name)
							baseline = after
						}
					})
				}
			}
			run(false)
			if after := snapshotJSON(t, srv); after != baseline {
				t.Errorf("refusals as %s changed state; probing again one by one", c.name)
				baseline = after
				run(true)
			}
		}()
	}
	t.Logf("%d refusals probed", probed)
}

// probeDenial sends one refused request, and again asking for an explanation, and checks
// both answers.
func probeDenial(t *testing.T, w *world, rt api.Route, c caller, path, body string, wt *want) {
	t.Helper()
	status, b := sendDenial(t, w, rt, c, path, body, false)
	var got map[string]any
	if status != wt.status {
		t.Errorf("%s %s as %s = %d %s, want %d %v", rt.Method, path, c.name, status, b, wt.status, wt.body)
	} else if err := json.Unmarshal(b, &got); err != nil {
		t.Errorf("%s %s as %s: body %s is not a JSON object", rt.Method, path, c.name, b)
	} else {
		for k, v := range wt.body {
			if got[k] != v {
				t.Errorf("%s %s as %s: body %s, want %q = %q", rt.Method, path, c.name, b, k, v)
			}
		}
		if _, ok := got["keygate_explanation"]; ok {
			t.Errorf("%s %s as %s: explanation without %s: %s", rt.Method, path, c.name, api.ExplainHeader, b)
		}
	}
	// Asked to explain, a 403 from an authorization decision gains the reasons; any other
	// answer (401, existence-hiding 404, 400, 405) stays exactly the same.
	if got != nil {
		status, eb := sendDenial(t, w, rt, c, path, body, true)
		var explained map[string]any
		_ = json.Unmarshal(eb, &explained)
		ex, has := explained["keygate_explanation"]
		delete(explained, "keygate_explanation")
		switch {
		case status != wt.status || !equalJSON(explained, got):
			t.Errorf("%s %s as %s explained = %d %s, want %d %s plus an explanation", rt.Method, path, c.name, status, eb, wt.status, b)
		case wt.status == 403 && c.pre == nil && !validExplanation(ex):
			t.Errorf("%s %s as %s explained = %s, want keygate_explanation.reasons", rt.Method, path, c.name, eb)
		case wt.status != 403 && has:
			t.Errorf("%s %s as %s explained a %d: %s", rt.Method, path, c.name, wt.status, eb)
		}
	}
}

// validExplanation: {"reasons":["…", …]} with at least one non-empty reason.
func validExplanation(ex any) bool {
	m, ok := ex.(map[string]any)
	if !ok {
		return false
	}
	rs, ok := m["reasons"].([]any)
	if !ok || len(rs) == 0 {
		return false
	}
	for _, r := range rs {
		if s, ok := r.(string); !ok || s == "" {
			return false
		}
	}
	return true
}

func sendDenial(t *testing.T, w *world, rt api.Route, c caller, path, body string, explain bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(rt.Method, w.srv.API+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok := c.token(w); tok != "" {
		req.Header.Set("PRIVATE-TOKEN", tok)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if explain {
		req.Header.Set(api.ExplainHeader, "true")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func snapshotJSON(t *testing.T, srv *keygatetest.Server) string {
	t.Helper()
	b, err := json.Marshal(snapshot(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
