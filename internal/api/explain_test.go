package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/keygatetest"
)

// TestExplainedDenials: with X-Keygate-Explain: true (Keygate extension) a 403 body gains
// keygate_explanation {"reasons":[…]}; a 401, an existence-hiding 404 and every other
// answer stay exactly what they are without the header. (TestDenialMatrix checks the
// same for every refusal it probes.)
func TestExplainedDenials(t *testing.T) {
	srv := keygatetest.NewServer(t)
	w := newWorld(t, srv)
	bot, err := srv.Service.Authenticate(context.Background(), serviceCred(w.tok["otherbot"]))
	if err != nil {
		t.Fatal(err)
	}
	f := fmt.Sprintf
	priv, privG := w.p["private"].ID, w.g["private"].ID
	explained := []goldenCase{
		{name: "role too low", method: "PUT", path: f("/projects/%d", priv), token: w.tok["dev"], body: `{"description":"x"}`},
		{name: "visibility needs owner", method: "PUT", path: f("/projects/%d", priv), token: w.tok["mia"], body: `{"visibility":"internal"}`},
		{name: "subgroup needs maintainer", method: "POST", path: "/groups", token: w.tok["dev"], body: f(`{"name":"S","path":"s","parent_id":%d}`, privG)},
		{name: "member management", method: "POST", path: f("/projects/%d/members", priv), token: w.tok["gus"], body: f(`{"user_id":%d,"access_level":10}`, w.u["sam"].ID)},
		{name: "private group members", method: "GET", path: f("/groups/%d/members", privG), token: w.tok["sub"]},
		{name: "insufficient scope", method: "POST", path: "/projects", token: w.tok["read_api_root"], body: `{"name":"x"}`},
		{name: "admin route", method: "GET", path: "/application/settings", token: w.tok["sam"]},
		{name: "maintainer grants owner", method: "POST", path: f("/projects/%d/members", priv), token: w.tok["mia"], body: f(`{"user_id":%d,"access_level":50}`, w.u["sam"].ID)},
		{name: "remove a token's bot", method: "DELETE", path: f("/projects/%d/members/%d", w.p["other"].ID, bot.User.ID), token: w.tok["olga"]},
		{name: "change a token's bot", method: "PUT", path: f("/projects/%d/members/%d", w.p["other"].ID, bot.User.ID), token: w.tok["olga"], body: `{"access_level":30}`},
		{name: "last owner leaves", method: "DELETE", path: f("/groups/%d/members/%d", privG, w.u["olga"].ID), token: w.tok["olga"]},
	}
	plain := []goldenCase{
		{name: "anonymous", method: "GET", path: f("/projects/%d/members", priv)},
		{name: "expired", method: "GET", path: "/user", token: w.tok["expired"]},
		{name: "revoked", method: "GET", path: "/user", token: w.tok["revoked"]},
		{name: "hidden project", method: "PUT", path: f("/projects/%d", priv), token: w.tok["sam"], body: `{"description":"x"}`},
		{name: "hidden group", method: "DELETE", path: f("/groups/%d", privG), token: w.tok["ext"]},
		{name: "resource tokens need a role", method: "GET", path: f("/projects/%d/access_tokens", priv), token: w.tok["dev"]},
		{name: "revoke without a role", method: "DELETE", path: f("/projects/%d/access_tokens/%d", priv, w.ptok["private"]), token: w.tok["dev"]},
		{name: "member exists", method: "POST", path: f("/projects/%d/members", priv), token: w.tok["gus"], body: f(`{"user_id":%d,"access_level":30}`, w.u["mem"].ID)},
		{name: "bot elsewhere", method: "POST", path: f("/projects/%d/members", priv), token: w.tok["olga"], body: f(`{"user_id":%d,"access_level":30}`, bot.User.ID)},
	}
	run := func(c goldenCase, wantExplained bool) {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, srv)
			bare := doGolden(t, srv, c)
			c.header = map[string]string{api.ExplainHeader: "true"}
			got := doGolden(t, srv, c)
			var body map[string]any
			if err := json.Unmarshal(got.Body, &body); err != nil {
				t.Fatalf("body %s: %v", got.Body, err)
			}
			ex, has := body["keygate_explanation"]
			delete(body, "keygate_explanation")
			var bareBody any
			_ = json.Unmarshal(bare.Body, &bareBody)
			if got.Status != bare.Status || !equalJSON(body, bareBody) {
				t.Errorf("%s %s explained = %d %s, want %d %s plus an explanation", c.method, c.path, got.Status, got.Body, bare.Status, bare.Body)
			}
			switch {
			case wantExplained && (got.Status != 403 || !validExplanation(ex)):
				t.Errorf("%s %s explained = %d %s, want a 403 with keygate_explanation.reasons", c.method, c.path, got.Status, got.Body)
			case !wantExplained && has:
				t.Errorf("%s %s (%d) explained: %s", c.method, c.path, got.Status, got.Body)
			}
			c.header = map[string]string{api.ExplainHeader: "false"}
			if no := doGolden(t, srv, c); string(no.Body) != string(bare.Body) {
				t.Errorf("%s %s with %s: false = %s, want %s", c.method, c.path, api.ExplainHeader, no.Body, bare.Body)
			}
			if after := snapshot(t, srv); !equalJSON(before, after) {
				t.Errorf("%s %s changed state", c.method, c.path)
			}
		})
	}
	for _, c := range explained {
		run(c, true)
	}
	for _, c := range plain {
		run(c, false)
	}
	setImpersonation(t, srv, false)
	run(goldenCase{name: "impersonation disabled", method: "GET", path: "/user", token: w.tok["impersonation"]}, false)
	setImpersonation(t, srv, true)

	// An explained 404 for a private project reads exactly as one for a missing project.
	hidden := doGolden(t, srv, goldenCase{method: "GET", path: f("/projects/%d/members", priv), token: w.tok["sam"], header: map[string]string{api.ExplainHeader: "true"}})
	missing := doGolden(t, srv, goldenCase{method: "GET", path: "/projects/999999/members", token: w.tok["sam"], header: map[string]string{api.ExplainHeader: "true"}})
	if hidden.Status != 404 || string(hidden.Body) != string(missing.Body) {
		t.Errorf("explained hidden project = %d %s, missing = %d %s; want the same 404", hidden.Status, hidden.Body, missing.Status, missing.Body)
	}
}
