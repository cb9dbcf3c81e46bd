package forwardauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// gateAnswer is what a proxy gets from /-/gate.
type gateAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

// ask sends a forward-auth request the way Caddy and Traefik do (X-Forwarded-*), or
// the way nginx does (X-Original-*) when nginx is set.
func ask(t *testing.T, srv *keygatetest.Server, method, uri string, header map[string]string) gateAnswer {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+"/-/gate", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Method", method)
	req.Header.Set("X-Forwarded-Uri", uri)
	req.Header.Set("X-Forwarded-Host", "billing.internal")
	req.Header.Set("X-Forwarded-Proto", "https")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := gateAnswer{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("/-/gate body %q: %v", raw, err)
		}
	}
	return a
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func newGateServer(t *testing.T, o keygatetest.Options) (*keygatetest.Server, *keygatetest.GateWorld) {
	t.Helper()
	o.GateFile = "testdata/gate.yaml"
	srv := keygatetest.NewServerWith(t, o)
	return srv, keygatetest.NewGateWorld(t, srv)
}

// checkChallenges: every 401 carries both challenges (DESIGN §1.1).
func checkChallenges(t *testing.T, name string, a gateAnswer, desc string) {
	t.Helper()
	vals := a.header.Values("WWW-Authenticate")
	if len(vals) != 2 || !strings.HasPrefix(vals[0], `Bearer realm="keygate"`) || vals[1] != `Basic realm="keygate"` {
		t.Errorf("%s: WWW-Authenticate = %q, want Bearer and Basic", name, vals)
	}
	if desc != "" {
		want := `Bearer realm="keygate", error="invalid_token", error_description="` + desc + `"`
		if vals[0] != want {
			t.Errorf("%s: challenge = %q, want %q", name, vals[0], want)
		}
		if a.body["error"] != "invalid_token" || a.body["error_description"] != desc {
			t.Errorf("%s: body = %v, want the spec's invalid_token body", name, a.body)
		}
	} else if a.body["message"] != "401 Unauthorized" {
		t.Errorf("%s: body = %v, want 401 Unauthorized", name, a.body)
	}
}

func TestGateAnswers(t *testing.T) {
	t.Parallel()
	srv, w := newGateServer(t, keygatetest.Options{})
	tok := w.Tokens
	basic := func(user, pass string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	}
	cases := []struct {
		name       string
		method     string
		uri        string
		header     map[string]string
		status     int
		explained  string // a substring of the explanation; "" means none may be given
		identity   map[string]string
		desc       string
		noIdentity bool
	}{
		{name: "developer", method: "GET", uri: "/api/invoices?page=2", header: bearer(tok["dev"]), status: 200, identity: map[string]string{
			"X-Keygate-User": "dev", "X-Keygate-User-Id": strconv.FormatInt(w.Users["dev"].ID, 10),
			"X-Keygate-Token-Id": strconv.FormatInt(w.TokenIDs["dev"], 10), "X-Keygate-Token-Type": "personal",
			"X-Keygate-Scopes": "api", "X-Keygate-Access-Level": "30"}},
		{name: "private-token header", method: "POST", uri: "/api/x", header: map[string]string{"Private-Token": tok["dev_read_api"]}, status: 200,
			identity: map[string]string{"X-Keygate-Scopes": "read_api"}},
		{name: "basic with token as password", method: "GET", uri: "/api/x", header: basic("anything", tok["dev"]), status: 200, identity: map[string]string{"X-Keygate-User": "dev"}},
		{name: "project token", method: "GET", uri: "/api/x", header: bearer(tok["project"]), status: 200, identity: map[string]string{"X-Keygate-Token-Type": "project"}},
		{name: "group token through the tree", method: "GET", uri: "/api/x", header: bearer(tok["group"]), status: 200, identity: map[string]string{"X-Keygate-Token-Type": "group"}},
		{name: "service account", method: "GET", uri: "/api/x", header: bearer(tok["service_account"]), status: 200, identity: map[string]string{"X-Keygate-Token-Type": "service_account"}},
		{name: "admin without membership", method: "GET", uri: "/api/x", header: bearer(tok["root"]), status: 200, identity: map[string]string{"X-Keygate-User": "root", "X-Keygate-Access-Level": "0"}},
		{name: "job token", method: "GET", uri: "/ci/artifacts", header: map[string]string{"Job-Token": tok["job"]}, status: 200, identity: map[string]string{"X-Keygate-User": "dev", "X-Keygate-Token-Type": "job"}},
		{name: "job token as basic password", method: "GET", uri: "/ci/artifacts", header: basic("gitlab-ci-token", tok["job"]), status: 200, identity: map[string]string{"X-Keygate-Token-Type": "job"}},
		{name: "group membership at the top", method: "GET", uri: "/team/", header: bearer(tok["dev"]), status: 200, identity: map[string]string{"X-Keygate-Access-Level": "30"}},
		{name: "anonymous service without token", method: "GET", uri: "/status", status: 200, noIdentity: true},

		{name: "no token", method: "GET", uri: "/api/x", status: 401},
		{name: "malformed token", method: "GET", uri: "/api/x", header: bearer("glpat-nope"), status: 401},
		{name: "unknown token", method: "GET", uri: "/api/x", header: bearer("glpat-" + strings.Repeat("a", 20) + ".01.0123456789"), status: 401},
		{name: "expired", method: "GET", uri: "/api/x", header: bearer(tok["expired"]), status: 401, desc: keygate.ErrTokenExpired.Message},
		{name: "revoked", method: "GET", uri: "/api/x", header: bearer(tok["revoked"]), status: 401, desc: keygate.ErrTokenRevoked.Message},
		{name: "bad token on an anonymous service", method: "GET", uri: "/status", header: bearer("glpat-nope"), status: 401},
		{name: "missing scope", method: "GET", uri: "/api/x", header: bearer(tok["dev_k8s"]), status: 403, explained: "do not include any of: api,read_api"},
		{name: "role too low", method: "GET", uri: "/api/x", header: bearer(tok["gus"]), status: 403, explained: "needs the Developer role or higher on the project; you have Guest"},
		{name: "non-member of a private project", method: "GET", uri: "/api/x", header: bearer(tok["sam"]), status: 403},
		{name: "member below, not at the top group", method: "GET", uri: "/team/", header: bearer(tok["gus"]), status: 403, explained: "you have no membership"},
		{name: "token type refused", method: "GET", uri: "/api/x", header: bearer(tok["impersonation"]), status: 403, explained: "does not accept impersonation tokens"},
		{name: "personal token on the job service", method: "GET", uri: "/ci/x", header: bearer(tok["dev"]), status: 403, explained: "does not accept personal tokens"},
		{name: "method not covered falls to default deny", method: "POST", uri: "/team/", header: bearer(tok["dev"]), status: 403, explained: "no service of the gate file matches"},
		{name: "no service matches", method: "GET", uri: "/elsewhere", header: bearer(tok["dev"]), status: 403, explained: "no service"},
		{name: "dot segments are resolved first", method: "GET", uri: "/status/../api/x", status: 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := ask(t, srv, tc.method, tc.uri, tc.header)
			if a.status != tc.status {
				t.Fatalf("status = %d %v, want %d", a.status, a.body, tc.status)
			}
			switch tc.status {
			case 200:
				if a.body != nil {
					t.Errorf("200 body = %v, want empty", a.body)
				}
				for k, v := range tc.identity {
					if got := a.header.Get(k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				if tc.noIdentity && a.header.Get("X-Keygate-User") != "" {
					t.Errorf("anonymous answer carries X-Keygate-User %q", a.header.Get("X-Keygate-User"))
				}
			case 401:
				checkChallenges(t, tc.name, a, tc.desc)
			case 403:
				if a.body["message"] != "403 Forbidden" {
					t.Errorf("403 body = %v", a.body)
				}
				expl, _ := json.Marshal(a.body["keygate_explanation"])
				if tc.explained == "" && a.body["keygate_explanation"] != nil {
					t.Errorf("explanation %s given to a caller who cannot see the resource", expl)
				}
				if tc.explained != "" && !strings.Contains(string(expl), tc.explained) {
					t.Errorf("explanation = %s, want it to say %q", expl, tc.explained)
				}
				if a.header.Get("X-Keygate-User") != "" {
					t.Errorf("403 carries identity headers")
				}
			}
		})
	}
}

func TestGateSeesChangesOnTheNextRequest(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			srv, w := newGateServer(t, keygatetest.Options{Postgres: backend == "postgres"})
			gateSeesChanges(t, srv, w)
		})
	}
}

func gateSeesChanges(t *testing.T, srv *keygatetest.Server, w *keygatetest.GateWorld) {
	ctx := context.Background()
	if a := ask(t, srv, "GET", "/api/x", bearer(w.Tokens["dev"])); a.status != 200 {
		t.Fatalf("before = %d", a.status)
	}
	// Revoked through the API: refused on the very next request.
	req, _ := http.NewRequest("DELETE", srv.API+"/personal_access_tokens/self", nil)
	req.Header.Set("Private-Token", w.Tokens["dev"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("revoke through the API = %v, %v", resp, err)
	}
	resp.Body.Close()
	a := ask(t, srv, "GET", "/api/x", bearer(w.Tokens["dev"]))
	if a.status != 401 {
		t.Fatalf("after revocation = %d, want 401", a.status)
	}
	checkChallenges(t, "revoked", a, keygate.ErrTokenRevoked.Message)

	// A membership removed: the next request no longer passes.
	if a := ask(t, srv, "GET", "/api/x", bearer(w.Tokens["service_account"])); a.status != 200 {
		t.Fatalf("service account before = %d", a.status)
	}
	sa, err := srv.Service.Authenticate(ctx, service.Credential{Token: w.Tokens["service_account"]})
	if err != nil {
		t.Fatal(err)
	}
	w.RemoveMember(t, w.Billing.ID, sa.User.ID)
	if a := ask(t, srv, "GET", "/api/x", bearer(w.Tokens["service_account"])); a.status != 403 {
		t.Fatalf("after removal = %d, want 403", a.status)
	}
	// A blocked owner: 403 with the API's message.
	if _, err := srv.Service.SetUserState(ctx, authz.SystemSubject(), w.Users["gus"].ID, service.ActionBlock); err != nil {
		t.Fatal(err)
	}
	if a := ask(t, srv, "GET", "/team/", bearer(w.Tokens["gus"])); a.status != 403 || !strings.Contains(a.body["message"].(string), "blocked") {
		t.Fatalf("blocked owner = %d %v, want 403 naming the block", a.status, a.body)
	}
	// Time passes: an expired token is refused on its day.
	srv.Clock.Advance(40 * 24 * time.Hour)
	if a := ask(t, srv, "GET", "/api/x", bearer(w.Tokens["dev_read_api"])); a.status != 401 {
		t.Fatalf("after expiry = %d, want 401", a.status)
	}
}

// TestGateThrottledIs403: a banned client is refused with 403, never 429 (nginx would
// turn it into a 500).
func TestGateThrottledIs403(t *testing.T) {
	t.Parallel()
	ban := service.DefaultBanConfig()
	ban.Exempt = []netip.Prefix{}
	srv, w := newGateServer(t, keygatetest.Options{Ban: &ban})
	nginx := func(tok string) map[string]string {
		return map[string]string{"X-Original-Uri": "/api/x", "X-Original-Method": "GET", "X-Real-Ip": "203.0.113.7", "Authorization": "Bearer " + tok}
	}
	for range ban.MaxRetry {
		if a := ask(t, srv, "GET", "/api/x", nginx("glpat-nope")); a.status != 401 {
			t.Fatalf("failure = %d, want 401", a.status)
		}
	}
	a := ask(t, srv, "GET", "/api/x", nginx(w.Tokens["dev"]))
	if a.status != 403 || a.body["message"] != "403 Forbidden" {
		t.Fatalf("banned client = %d %v, want 403", a.status, a.body)
	}
	// Another client behind the same proxy is not banned.
	other := nginx(w.Tokens["dev"])
	other["X-Real-Ip"] = "203.0.113.8"
	if a := ask(t, srv, "GET", "/api/x", other); a.status != 200 {
		t.Fatalf("other client = %d, want 200", a.status)
	}
}

func TestGateMetrics(t *testing.T) {
	t.Parallel()
	srv, w := newGateServer(t, keygatetest.Options{})
	ask(t, srv, "GET", "/api/x", bearer(w.Tokens["dev"]))
	ask(t, srv, "GET", "/api/x", nil)
	ask(t, srv, "GET", "/nowhere", nil)
	resp, err := http.Get(srv.URL + "/-/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`keygate_gate_decisions_total{result="allowed",service="ledger"} 1`,
		`keygate_gate_decisions_total{result="denied",service="ledger"} 1`,
		`keygate_gate_decisions_total{result="denied",service="_default"} 1`,
		`keygate_gate_decision_seconds_count{service="ledger"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/-/metrics lacks %s", want)
		}
	}
	for name, tok := range w.Tokens {
		if strings.Contains(string(body), tok) || strings.Contains(srv.Logs(), tok) {
			t.Errorf("metrics or logs contain the %s token", name)
		}
	}
	if !strings.Contains(srv.Logs(), `"route":"/-/gate"`) || !strings.Contains(srv.Logs(), `"token_id":"`) {
		t.Errorf("no access-log line for /-/gate with its token ID")
	}
}

func TestGateWithoutFileDeniesAll(t *testing.T) {
	t.Parallel()
	srv := keygatetest.NewServer(t)
	if a := ask(t, srv, "GET", "/", bearer(srv.RootToken)); a.status != 403 {
		t.Fatalf("no gate file = %d, want 403", a.status)
	}
}
