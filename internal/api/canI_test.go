package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/keygatetest"
)

// canIAnswer is the body of GET /api/v4/keygate/can_i (Keygate extension).
type canIAnswer struct {
	Allowed        bool     `json:"allowed"`
	Status         int      `json:"status"`
	Route          string   `json:"route"`
	Reasons        []string `json:"reasons"`
	RequiredScopes []string `json:"required_scopes"`
	RequiredRole   *struct {
		AccessLevel int    `json:"access_level"`
		Name        string `json:"name"`
	} `json:"required_role"`
}

// askCanI asks what c would get for method and path (below /api/v4), returning the raw
// body too.
func askCanI(t *testing.T, w *world, c caller, method, path string) (canIAnswer, string) {
	t.Helper()
	q := url.Values{"method": {method}, "path": {api.Prefix + path}}
	req := goldenCase{method: "GET", path: "/keygate/can_i?" + q.Encode(), token: c.token(w), header: c.header}
	got := doGolden(t, w.srv, req)
	var a canIAnswer
	if got.Status != 200 {
		t.Fatalf("can_i %s %s as %s = %d %s, want 200", method, path, c.name, got.Status, got.Body)
	}
	if err := json.Unmarshal(got.Body, &a); err != nil {
		t.Fatalf("can_i body %s: %v", got.Body, err)
	}
	return a, string(got.Body)
}

func TestCanI(t *testing.T) {
	srv := keygatetest.NewServer(t)
	w := newWorld(t, srv)
	checkCanIExamples(t, w)
	checkCanIMatchesMatrix(t, w)
}

func callerNamed(name string) caller {
	for _, c := range denialCallers() {
		if c.name == name {
			return c
		}
	}
	panic("no caller " + name)
}

// checkCanIExamples: the answers for a few callers asking about creating an access token
// on project 5-like paths, and that a hidden project reads as a missing one.
func checkCanIExamples(t *testing.T, w *world) {
	priv := w.p["private"]
	create := fmt.Sprintf("/projects/%d/access_tokens", priv.ID)
	before := snapshot(t, w.srv)

	owner := caller{name: "owner", token: func(w *world) string { return w.tok["olga"] }}
	a, body := askCanI(t, w, owner, "POST", create)
	if !a.Allowed || a.Status != 200 || a.Route != "POST /api/v4/projects/{id}/access_tokens" || len(a.Reasons) != 0 ||
		fmt.Sprint(a.RequiredScopes) != "[api]" || a.RequiredRole == nil || a.RequiredRole.AccessLevel != 40 || a.RequiredRole.Name != "Maintainer" {
		t.Errorf("can_i as Owner = %s", body)
	}
	// By URL-encoded full path: the same answer.
	if _, b := askCanI(t, w, owner, "POST", "/projects/"+url.PathEscape(priv.FullPath())+"/access_tokens"); b != body {
		t.Errorf("can_i by path = %s, by id %s", b, body)
	}

	// A Developer: refused, with reasons, and the status the request itself gets (400,
	// resource_access_tokens.rb bad_request! of CreateService's message).
	dev := callerNamed("developer")
	a, body = askCanI(t, w, dev, "POST", create)
	real := doGolden(t, w.srv, goldenCase{method: "POST", path: create, token: w.tok["dev"], body: `{"name":"n","scopes":["api"]}`})
	if a.Allowed || len(a.Reasons) == 0 {
		t.Errorf("can_i as Developer = %s; the request answers %d %s", body, real.Status, real.Body)
	}
	if a.Status != real.Status {
		t.Errorf("can_i as Developer = %s; the request answers %d %s", body, real.Status, real.Body)
	}
	// Reading the project is fine for the Developer: no role reported for reads.
	a, body = askCanI(t, w, dev, "GET", fmt.Sprintf("/projects/%d", priv.ID))
	if !a.Allowed || a.Status != 200 || a.RequiredRole != nil || fmt.Sprint(a.RequiredScopes) != "[api read_api]" {
		t.Errorf("can_i GET project as Developer = %s", body)
	}

	// read_api on a write: the scope, not the role, refuses.
	ra := callerNamed("read_api_on_write")
	a, body = askCanI(t, w, ra, "POST", create)
	if a.Allowed || a.Status != 403 || len(a.Reasons) == 0 {
		t.Errorf("can_i with read_api = %s", body)
	}

	// A non-member asking about a private project gets exactly the answer for a project
	// that does not exist; so does anyone about a hidden group.
	for _, c := range []caller{callerNamed("non_member_private"), callerNamed("external_internal"), callerNamed("sudo_as_non_member")} {
		tg := c.target
		for _, q := range []struct{ method, tmpl string }{
			{"POST", "/projects/%d/access_tokens"}, {"GET", "/projects/%d"}, {"PUT", "/projects/%d"},
			{"GET", "/projects/%d/members/all"}, {"DELETE", "/groups/%d"}, {"GET", "/groups/%d/access_tokens"},
		} {
			id := w.p[tg].ID
			if strings.HasPrefix(q.tmpl, "/groups") {
				id = w.g[tg].ID
			}
			hidden, hb := askCanI(t, w, c, q.method, fmt.Sprintf(q.tmpl, id))
			_, mb := askCanI(t, w, c, q.method, fmt.Sprintf(q.tmpl, 999999))
			if hb != mb || hidden.Allowed || hidden.Status != 404 {
				t.Errorf("can_i %s %s as %s = %s; for a missing resource %s", q.method, fmt.Sprintf(q.tmpl, id), c.name, hb, mb)
			}
		}
	}

	// A route Keygate does not serve.
	if a, body := askCanI(t, w, owner, "GET", "/merge_requests"); a.Allowed || a.Status != 404 {
		t.Errorf("can_i unknown route = %s", body)
	}
	// Parameters are required.
	if got := doGolden(t, w.srv, goldenCase{method: "GET", path: "/keygate/can_i?method=GET", token: w.tok["olga"]}); got.Status != 400 {
		t.Errorf("can_i without path = %d %s, want 400", got.Status, got.Body)
	}
	// Anonymous callers and dead tokens are refused by can_i itself.
	if got := doGolden(t, w.srv, goldenCase{method: "GET", path: "/keygate/can_i?method=GET&path=/api/v4/projects"}); got.Status != 401 {
		t.Errorf("anonymous can_i = %d %s, want 401", got.Status, got.Body)
	}
	if got := doGolden(t, w.srv, goldenCase{method: "GET", path: "/keygate/can_i?method=GET&path=/api/v4/projects", token: w.tok["expired"]}); got.Status != 401 {
		t.Errorf("can_i with an expired token = %d %s, want 401", got.Status, got.Body)
	}
	if after := snapshot(t, w.srv); !equalJSON(before, after) {
		t.Errorf("can_i changed state")
	}
}

// missingIDs are the placeholders that, replaced by 999999, point a denial path at a
// project or group that does not exist.
var missingIDs = regexp.MustCompile(`\{project\}|\{group\}`)

// checkCanIMatchesMatrix: for every caller and route of the denial matrix, can_i gives
// the answer the request itself gets: allowed where the matrix expects no refusal,
// refused with the refusal's status otherwise, and for an existence-hiding 404 the very
// answer a missing resource gives.
func checkCanIMatchesMatrix(t *testing.T, w *world) {
	routes := api.New(api.Config{}).Routes()
	for _, c := range denialCallers() {
		if c.pre != nil || c.anonymous {
			continue // can_i itself is refused
		}
		for _, rt := range routes {
			key := rt.Method + " " + rt.Pattern
			tmpl, ok := denialPaths[key]
			if !ok {
				continue
			}
			path := w.fill(tmpl, c.target)
			wt := c.expect(rt, w)
			a, body := askCanI(t, w, c, rt.Method, path)
			switch {
			case wt == nil && (!a.Allowed || a.Status != 200):
				t.Errorf("can_i %s %s as %s = %s, want allowed", rt.Method, path, c.name, body)
			case wt != nil && (a.Allowed || a.Status != wt.status):
				t.Errorf("can_i %s %s as %s = %s, want refused with %d", rt.Method, path, c.name, body, wt.status)
			case wt != nil && wt.status == 404:
				missing := w.fill(missingIDs.ReplaceAllString(tmpl, "999999"), c.target)
				if _, mb := askCanI(t, w, c, rt.Method, missing); mb != body {
					t.Errorf("can_i %s %s as %s = %s; for a missing resource (%s) %s", rt.Method, path, c.name, body, missing, mb)
				}
			}
		}
	}
}
