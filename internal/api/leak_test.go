package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygatetest"
)

// TestAdminTokenLookupAndRevoke: POST and DELETE /admin/token for personal,
// impersonation, project, group and service-account tokens and job tokens (spec §4.5).
func TestAdminTokenLookupAndRevoke(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	aliceTok := srv.Token(t, alice.ID, "a", "api")
	var p, g struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/projects", aliceTok, `{"name":"app"}`, 201, &p)
	hitJSON(t, srv, "POST", "/groups", aliceTok, `{"name":"Team","path":"team"}`, 201, &g)
	var pt, gt, imp, sat tokenBody
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/access_tokens", p.ID), aliceTok, `{"name":"p","scopes":["api"]}`, 201, &pt)
	hitJSON(t, srv, "POST", fmt.Sprintf("/groups/%d/access_tokens", g.ID), aliceTok, `{"name":"g","scopes":["api"]}`, 201, &gt)
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/impersonation_tokens", alice.ID), srv.RootToken, `{"name":"i","scopes":["api"]}`, 201, &imp)
	var sa struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/service_accounts", srv.RootToken, `{"name":"Bot"}`, 201, &sa)
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", sa.ID), srv.RootToken, `{"name":"s","scopes":["api"]}`, 201, &sat)
	var job struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/keygate/jobs", p.ID), aliceTok, `{}`, 201, &job)

	for name, tok := range map[string]tokenBody{"project": pt, "group": gt, "impersonation": imp, "service_account": sat} {
		var got tokenBody
		hitJSON(t, srv, "POST", "/admin/token", srv.RootToken, fmt.Sprintf(`{"token":%q}`, tok.Token), 200, &got)
		if got.ID != tok.ID || got.Token != "" {
			t.Errorf("%s: lookup = id %d token %q, want id %d and no token", name, got.ID, got.Token, tok.ID)
		}
		hitJSON(t, srv, "DELETE", "/admin/token", srv.RootToken, fmt.Sprintf(`{"token":%q}`, tok.Token), 204, nil)
		hitJSON(t, srv, "POST", "/admin/token", srv.RootToken, fmt.Sprintf(`{"token":%q}`, tok.Token), 200, &got)
		if !got.Revoked {
			t.Errorf("%s: not revoked after DELETE /admin/token", name)
		}
	}
	var jl struct {
		Job struct {
			ID int64 `json:"id"`
		} `json:"job"`
	}
	hitJSON(t, srv, "POST", "/admin/token", srv.RootToken, fmt.Sprintf(`{"token":%q}`, job.Token), 200, &jl)
	if jl.Job.ID != job.ID {
		t.Errorf("job lookup = %+v, want job %d", jl, job.ID)
	}
	for _, c := range []struct {
		method, body, token string
		status              int
		want                string
	}{
		{"DELETE", fmt.Sprintf(`{"token":%q}`, job.Token), srv.RootToken, 400, `{"message":{"error":"Unsupported token type"}}`},
		{"POST", `{"token":"ghp_notours"}`, srv.RootToken, 422, `{"message":"Token type not supported."}`},
		{"POST", `{"token":"glpat-nosuchtokenatall0000000000"}`, srv.RootToken, 404, `{"message":{"error":"Not found"}}`},
		{"DELETE", `{"token":"glpat-nosuchtokenatall0000000000"}`, srv.RootToken, 404, `{"message":{"error":"Not found"}}`},
		{"POST", `{}`, srv.RootToken, 400, `{"error":"token is missing"}`},
		{"POST", fmt.Sprintf(`{"token":%q}`, aliceTok), aliceTok, 403, `{"message":"403 Forbidden"}`},
		{"POST", fmt.Sprintf(`{"token":%q}`, aliceTok), "", 401, `{"message":"401 Unauthorized"}`},
	} {
		st, _, b := hit(t, srv, c.method, "/admin/token", c.token, c.body)
		if st != c.status || strings.TrimSpace(string(b)) != c.want {
			t.Errorf("%s /admin/token %s = %d %s, want %d %s", c.method, c.body, st, b, c.status, c.want)
		}
	}
	es := events(t, srv, "/audit_events?event_name=admin_token_lookup&per_page=100", srv.RootToken)
	if len(es) < 5 || es[len(es)-1].Details.TokenFingerprint == nil {
		t.Errorf("admin_token_lookup events = %d, want one per lookup with a fingerprint", len(es))
	}
}

// TestLeakedTokenRevocation: anyone reports leaked strings; valid ones are revoked,
// audited and their owners told; the answer is the same whatever was sent; 60 calls
// an hour per address; more than 1000 tokens is a 400 that changes nothing.
func TestLeakedTokenRevocation(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	leaked := srv.Token(t, alice.ID, "leaked", "api")
	kept := srv.Token(t, alice.ID, "kept", "api")

	body := func(tokens ...string) string {
		b, _ := json.Marshal(map[string][]string{"tokens": tokens})
		return string(b)
	}
	st1, _, b1 := hit(t, srv, "POST", "/keygate/revocations", "", body("garbage", "glpat-"+strings.Repeat("x", 30)))
	st2, _, b2 := hit(t, srv, "POST", "/keygate/revocations", "", body(leaked, "garbage", leaked))
	if st1 != 202 || st2 != 202 || string(b1) != string(b2) {
		t.Fatalf("answers differ: %d %s vs %d %s", st1, b1, st2, b2)
	}
	if st, _, _ := hit(t, srv, "GET", "/user", leaked, ""); st != 401 {
		t.Errorf("leaked token after report = %d, want 401", st)
	}
	if st, _, _ := hit(t, srv, "GET", "/user", kept, ""); st != 200 {
		t.Errorf("unreported token = %d, want 200", st)
	}
	es := events(t, srv, "/audit_events?event_name=token_revoked_as_leaked", srv.RootToken)
	if len(es) != 1 || *es[0].Details.TokenFingerprint != fingerprint(leaked) || *es[0].Details.IPAddress != "127.0.0.1" {
		t.Errorf("leak events = %+v", es)
	}
	var notices []struct {
		Event   string `json:"event"`
		Subject string `json:"subject"`
		Body    string `json:"body"`
	}
	hitJSON(t, srv, "GET", "/keygate/notifications", kept, "", 200, &notices)
	found := false
	for _, n := range notices {
		if n.Event == "token_revoked_as_leaked" {
			found = true
			if strings.Contains(n.Body, leaked) || !strings.Contains(n.Body, "leaked") {
				t.Errorf("leak notice body %q", n.Body)
			}
		}
	}
	if !found {
		t.Errorf("owner has no leak notice: %+v", notices)
	}

	// Oversized and malformed batches change nothing.
	big := make([]string, 1001)
	for i := range big {
		big[i] = kept
	}
	if st, _, _ := hit(t, srv, "POST", "/keygate/revocations", "", body(big...)); st != 400 {
		t.Errorf("1001 tokens = %d, want 400", st)
	}
	if st, _, _ := hit(t, srv, "POST", "/keygate/revocations", "", `{"tokens":"x"}`); st != 400 {
		t.Errorf("tokens not a list = %d, want 400", st)
	}
	if st, _, _ := hit(t, srv, "GET", "/user", kept, ""); st != 200 {
		t.Errorf("token in a refused batch = %d, want 200 (untouched)", st)
	}

	// The rate limit: 60 calls an hour per address (2 made above that counted, 1 refused
	// oversized before counting), then 429 with Retry-After, until the hour has passed.
	var last int
	var retry string
	for i := 0; i < 60; i++ {
		st, h, _ := hit(t, srv, "POST", "/keygate/revocations", "", body("garbage"))
		last, retry = st, h.Get("Retry-After")
		if st == 429 {
			break
		}
	}
	if last != 429 || retry == "" {
		t.Fatalf("after 60 calls: %d Retry-After %q, want 429 with Retry-After", last, retry)
	}
	srv.Clock.Advance(time.Hour + time.Second)
	if st, _, _ := hit(t, srv, "POST", "/keygate/revocations", "", body("garbage")); st != 202 {
		t.Errorf("after an hour = %d, want 202", st)
	}
}
