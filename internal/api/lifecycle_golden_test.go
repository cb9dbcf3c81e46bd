package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygatetest"
)

// TestGoldenLifecycle pins the bodies of the lifecycle routes (testdata/lifecycle_*).
// Fingerprints are scrubbed like times and request IDs; refusals must change nothing.
func TestGoldenLifecycle(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	aliceTok := srv.Token(t, alice.ID, "alice", "api")
	var p struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/projects", aliceTok, `{"name":"app"}`, 201, &p)
	big := `{"tokens":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 1001), ",") + `]}`
	cases := []goldenCase{
		{name: "lifecycle_audit_events", method: "GET", path: "/audit_events?per_page=2", token: srv.RootToken},
		{name: "lifecycle_audit_bad_entity", method: "GET", path: "/audit_events?entity_type=Namespace", token: srv.RootToken},
		{name: "lifecycle_audit_not_admin", method: "GET", path: "/audit_events", token: aliceTok},
		{name: "lifecycle_admin_token", method: "POST", path: "/admin/token", token: srv.RootToken, body: fmt.Sprintf(`{"token":%q}`, aliceTok)},
		{name: "lifecycle_admin_token_unsupported", method: "POST", path: "/admin/token", token: srv.RootToken, body: `{"token":"ghp_0123456789"}`},
		{name: "lifecycle_admin_token_not_found", method: "DELETE", path: "/admin/token", token: srv.RootToken, body: fmt.Sprintf(`{"token":%q}`, forged())},
		{name: "lifecycle_revocations", method: "POST", path: "/keygate/revocations", body: `{"tokens":["nothing-like-a-token"]}`},
		{name: "lifecycle_revocations_too_many", method: "POST", path: "/keygate/revocations", body: big},
		{name: "lifecycle_hook_bad_url", method: "POST", path: fmt.Sprintf("/projects/%d/hooks", p.ID), token: aliceTok, body: `{"url":"http://127.0.0.1/x"}`},
		{name: "lifecycle_hook_created", method: "POST", path: fmt.Sprintf("/projects/%d/hooks", p.ID), token: aliceTok, body: `{"url":"https://203.0.113.1/x","token":"secret","resource_access_token_events":true}`, mutates: true},
		{name: "lifecycle_settings_unknown", method: "PUT", path: "/application/settings", token: srv.RootToken, body: `{"max_token_age":3}`},
		{name: "lifecycle_notifications", method: "GET", path: "/keygate/notifications?per_page=1", token: aliceTok},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, srv)
			got := doGolden(t, srv, c)
			if !c.mutates && c.name != "lifecycle_admin_token" {
				// (the lookup audits, which the snapshot does not cover)
				if after := snapshot(t, srv); fmt.Sprint(before) != fmt.Sprint(after) {
					t.Errorf("%s changed state", c.name)
				}
			}
			got.Body = scrubFingerprints(t, got.Body)
			checkGolden(t, c.name, got)
		})
	}
}

// scrubFingerprints replaces token fingerprints, which differ per run.
func scrubFingerprints(t *testing.T, body json.RawMessage) json.RawMessage {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if k == "token_fingerprint" && val != nil {
					x[k] = "<token_fingerprint>"
				} else if k == "last_used_at" && val != nil {
					x[k] = "<last_used_at>"
				} else {
					walk(val)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	out, _ := json.Marshal(v)
	return out
}
