package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
)

// denialPaths gives each route of the table a concrete path to probe. A route added to the
// table without an entry here fails TestDenialMatrix: every route has its denials tested.
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
}

type probe struct {
	name   string
	token  func() string
	expect func(rt api.Route) (status int, errKey string)
}

// TestDenialMatrix probes every route with every kind of refused caller and checks the
// status and body shape GitLab gives, then that nothing changed.
func TestDenialMatrix(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	alice := srv.User(t, "alice", false)
	bob := srv.User(t, "bob", false)
	blocked := srv.Token(t, bob.ID, "b", keygate.ScopeAPI)
	if _, err := srv.Service.SetUserState(ctx, authz.SystemSubject(), bob.ID, "block"); err != nil {
		t.Fatal(err)
	}
	revoked := srv.Token(t, alice.ID, "r", keygate.ScopeAPI)
	p, _ := srv.Service.Authenticate(ctx, serviceCred(revoked))
	if err := srv.Service.Revoke(ctx, authz.SystemSubject(), p.Token.ID); err != nil {
		t.Fatal(err)
	}
	repoOnly := srv.Token(t, alice.ID, "w", keygate.ScopeWriteRepository)
	aliceAPI := srv.Token(t, alice.ID, "a", keygate.ScopeAPI)
	readAPIAdmin := srv.Token(t, 1, "ra", keygate.ScopeReadAPI)

	always := func(s int, k string) func(api.Route) (int, string) {
		return func(api.Route) (int, string) { return s, k }
	}
	probes := []probe{
		{"anonymous", func() string { return "" }, func(rt api.Route) (int, string) {
			if rt.Rule.Anonymous {
				return 0, ""
			}
			return 401, "message"
		}},
		{"malformed", func() string { return "glpat-nope" }, always(401, "message")},
		{"unknown", forged, always(401, "message")},
		{"revoked", func() string { return revoked }, always(401, "error")},
		{"blocked_owner", func() string { return blocked }, always(403, "message")},
		{"scope_outside_api", func() string { return repoOnly }, func(rt api.Route) (int, string) {
			if rt.Rule.AnyScope {
				return 0, ""
			}
			return 403, "error"
		}},
		{"non_admin", func() string { return aliceAPI }, func(rt api.Route) (int, string) {
			if rt.Rule.Admin {
				return 403, "message"
			}
			return 0, ""
		}},
		{"read_api_write", func() string { return readAPIAdmin }, func(rt api.Route) (int, string) {
			if rt.Method != "GET" && !rt.Rule.AnyScope {
				return 403, "error"
			}
			return 0, ""
		}},
	}
	a := api.New(api.Config{})
	seen := map[string]bool{}
	for _, rt := range a.Routes() {
		key := rt.Method + " " + rt.Pattern
		seen[key] = true
		path, ok := denialPaths[key]
		if !ok {
			t.Errorf("route %s has no denial-matrix entry", key)
			continue
		}
		for _, pr := range probes {
			status, errKey := pr.expect(rt)
			if status == 0 {
				continue
			}
			t.Run(key+"/"+pr.name, func(t *testing.T) {
				before := snapshot(t, srv)
				req, _ := http.NewRequest(rt.Method, srv.API+path, strings.NewReader(`{"name":"n","scopes":["api"]}`))
				req.Header.Set("Content-Type", "application/json")
				if tok := pr.token(); tok != "" {
					req.Header.Set("PRIVATE-TOKEN", tok)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != status {
					t.Fatalf("%s %s as %s = %d %s, want %d", rt.Method, path, pr.name, resp.StatusCode, b, status)
				}
				var body map[string]any
				if err := json.Unmarshal(b, &body); err != nil || body[errKey] == nil {
					t.Errorf("body = %s, want a %q key", b, errKey)
				}
				if after := snapshot(t, srv); !equalJSON(before, after) {
					t.Errorf("refused request changed state")
				}
			})
		}
	}
	for key := range denialPaths {
		if !seen[key] {
			t.Errorf("denial-matrix entry %s matches no route", key)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
