package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygatetest"
)

// hit sends one API request and returns the status, headers and body.
func hit(t *testing.T, srv *keygatetest.Server, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.API+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// hitJSON is hit that wants status and decodes the body into v.
func hitJSON(t *testing.T, srv *keygatetest.Server, method, path, token, body string, want int, v any) http.Header {
	t.Helper()
	st, h, b := hit(t, srv, method, path, token, body)
	if st != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, st, b, want)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return h
}

type auditEventBody struct {
	ID         int64  `json:"id"`
	AuthorID   int64  `json:"author_id"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
	EventName  string `json:"event_name"`
	Details    struct {
		CustomMessage    string  `json:"custom_message"`
		AuthorName       string  `json:"author_name"`
		TargetID         int64   `json:"target_id"`
		TargetType       string  `json:"target_type"`
		TargetDetails    string  `json:"target_details"`
		IPAddress        *string `json:"ip_address"`
		EntityPath       string  `json:"entity_path"`
		RequestID        *string `json:"request_id"`
		TokenFingerprint *string `json:"token_fingerprint"`
	} `json:"details"`
	CreatedAt string `json:"created_at"`
}

func fingerprint(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

type tokenBody struct {
	ID          int64    `json:"id"`
	Token       string   `json:"token"`
	Revoked     bool     `json:"revoked"`
	Active      bool     `json:"active"`
	LastUsedAt  *string  `json:"last_used_at"`
	LastUsedIPs []string `json:"last_used_ips"`
	ExpiresAt   *string  `json:"expires_at"`
}

func events(t *testing.T, srv *keygatetest.Server, path, token string) []auditEventBody {
	t.Helper()
	var es []auditEventBody
	hitJSON(t, srv, "GET", path, token, "", 200, &es)
	return es
}

func findEvent(es []auditEventBody, name string, target int64) *auditEventBody {
	for i := range es {
		if es[i].EventName == name && (target == 0 || es[i].Details.TargetID == target) {
			return &es[i]
		}
	}
	return nil
}

// TestAuditTokenHistory: create, rotate, revoke, reuse and a new address each leave an
// event with author, target, IP, request ID and the token's unkeyed SHA-256, so one
// token's history is found by its fingerprint; never the token itself.
func TestAuditTokenHistory(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	var created tokenBody
	h := hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", alice.ID), srv.RootToken,
		`{"name":"ci","scopes":["api"],"expires_at":"2026-12-01"}`, 201, &created)
	es := events(t, srv, "/audit_events", srv.RootToken)
	ev := findEvent(es, "token_created", created.ID)
	if ev == nil {
		t.Fatalf("no token_created event for %d in %+v", created.ID, es)
	}
	if ev.AuthorID != 1 || ev.EntityType != "User" || ev.EntityID != alice.ID || ev.Details.EntityPath != "alice" ||
		ev.Details.TargetType != "PersonalAccessToken" || ev.Details.TargetDetails != "ci" {
		t.Errorf("token_created = %+v", ev)
	}
	if ev.Details.IPAddress == nil || *ev.Details.IPAddress != "127.0.0.1" {
		t.Errorf("ip_address = %v, want 127.0.0.1", ev.Details.IPAddress)
	}
	if ev.Details.RequestID == nil || *ev.Details.RequestID != h.Get("X-Request-Id") {
		t.Errorf("request_id = %v, want the response's X-Request-Id %q", ev.Details.RequestID, h.Get("X-Request-Id"))
	}
	if ev.Details.TokenFingerprint == nil || *ev.Details.TokenFingerprint != fingerprint(created.Token) {
		t.Errorf("token_fingerprint = %v, want sha256 of the token", ev.Details.TokenFingerprint)
	}

	// Alice rotates it herself; the old one presented again to rotate is a reuse.
	var rotated tokenBody
	hitJSON(t, srv, "POST", "/personal_access_tokens/self/rotate", created.Token, "", 200, &rotated)
	// A use from an address: the first sighting is new; the second is not.
	hitJSON(t, srv, "GET", "/user", rotated.Token, "", 200, nil)
	if err := srv.Service.FlushUses(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Advance(2 * time.Minute)
	hitJSON(t, srv, "GET", "/user", rotated.Token, "", 200, nil)
	if err := srv.Service.FlushUses(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The rotated-away token presented to rotate again is a reuse: the family dies.
	if st, _, _ := hit(t, srv, "POST", "/personal_access_tokens/self/rotate", created.Token, ""); st != 401 {
		t.Fatalf("reuse = %d, want 401", st)
	}
	other := srv.Token(t, alice.ID, "other", "read_api")
	var otherTok tokenBody
	hitJSON(t, srv, "GET", "/personal_access_tokens/self", other, "", 200, &otherTok)
	hitJSON(t, srv, "DELETE", fmt.Sprintf("/personal_access_tokens/%d", otherTok.ID), srv.RootToken, "", 204, nil)

	es = events(t, srv, "/audit_events?entity_type=User&entity_id="+fmt.Sprint(alice.ID), srv.RootToken)
	for _, want := range []struct {
		name   string
		target int64
		author int64
		fp     string
	}{
		{"token_rotated", rotated.ID, alice.ID, fingerprint(rotated.Token)},
		{"token_reuse_detected", created.ID, 0, fingerprint(created.Token)},
		{"token_used_from_new_ip", rotated.ID, 0, fingerprint(rotated.Token)},
		{"token_revoked", otherTok.ID, 1, fingerprint(other)},
	} {
		ev := findEvent(es, want.name, want.target)
		if ev == nil {
			t.Errorf("no %s event for token %d", want.name, want.target)
			continue
		}
		if ev.AuthorID != want.author || ev.Details.TokenFingerprint == nil || *ev.Details.TokenFingerprint != want.fp {
			t.Errorf("%s: author %d fingerprint %v, want author %d and the token's fingerprint", want.name, ev.AuthorID, ev.Details.TokenFingerprint, want.author)
		}
	}
	// One token's history by its fingerprint, newest first.
	byFP := events(t, srv, "/audit_events?token_fingerprint="+fingerprint(rotated.Token), srv.RootToken)
	var names []string
	for _, e := range byFP {
		names = append(names, e.EventName)
	}
	if strings.Join(names, ",") != "token_used_from_new_ip,token_rotated" {
		t.Errorf("history of the rotated token = %v", names)
	}
	// Never the token.
	_, _, raw := hit(t, srv, "GET", "/audit_events?per_page=100", srv.RootToken, "")
	for _, tok := range []string{created.Token, rotated.Token} {
		if strings.Contains(string(raw), tok) || strings.Contains(srv.Logs(), tok) {
			t.Fatal("a plaintext token reached the audit log or the server log")
		}
	}
	// Filters and denials.
	if st, _, _ := hit(t, srv, "GET", "/audit_events?entity_type=Nope", srv.RootToken, ""); st != 400 {
		t.Errorf("bad entity_type = %d, want 400", st)
	}
	if st, _, _ := hit(t, srv, "GET", "/audit_events?created_after=yesterday", srv.RootToken, ""); st != 400 {
		t.Errorf("bad created_after = %d, want 400", st)
	}
	aliceTok := srv.Token(t, alice.ID, "reader", "api")
	if st, _, _ := hit(t, srv, "GET", "/audit_events", aliceTok, ""); st != 403 {
		t.Errorf("non-admin GET /audit_events = %d, want 403", st)
	}
	if after := events(t, srv, "/audit_events?created_after=2030-01-01T00:00:00Z", srv.RootToken); len(after) != 0 {
		t.Errorf("created_after in the future = %d events, want 0", len(after))
	}
	one := events(t, srv, "/audit_events?per_page=1", srv.RootToken)
	var single auditEventBody
	hitJSON(t, srv, "GET", fmt.Sprintf("/audit_events/%d", one[0].ID), srv.RootToken, "", 200, &single)
	if single.ID != one[0].ID {
		t.Errorf("GET /audit_events/:id = %d, want %d", single.ID, one[0].ID)
	}
	if st, _, _ := hit(t, srv, "GET", "/audit_events/999999", srv.RootToken, ""); st != 404 {
		t.Errorf("missing audit event = %d, want 404", st)
	}
}

// TestAuditProjectEvents: project-token events are filed under the project; a
// Maintainer reads them all, a Developer only their own, an outsider nothing.
func TestAuditProjectEvents(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	dev := srv.User(t, "dev", false)
	aliceTok := srv.Token(t, alice.ID, "a", "api")
	devTok := srv.Token(t, dev.ID, "d", "api")
	var p struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/projects", aliceTok, `{"name":"app"}`, 201, &p)
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/members", p.ID), aliceTok, fmt.Sprintf(`{"user_id":%d,"access_level":30}`, dev.ID), 201, nil)
	var pt tokenBody
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/access_tokens", p.ID), aliceTok,
		`{"name":"deploy","scopes":["read_api"],"access_level":30,"expires_at":"2026-08-01"}`, 201, &pt)
	es := events(t, srv, fmt.Sprintf("/projects/%d/audit_events", p.ID), aliceTok)
	ev := findEvent(es, "token_created", pt.ID)
	if ev == nil || ev.EntityType != "Project" || ev.EntityID != p.ID || ev.Details.EntityPath != "alice/app" || ev.AuthorID != alice.ID {
		t.Fatalf("project token_created = %+v (all: %+v)", ev, es)
	}
	if own := events(t, srv, fmt.Sprintf("/projects/%d/audit_events", p.ID), devTok); len(own) != 0 {
		t.Errorf("developer sees %d events of others, want only their own (none)", len(own))
	}
	if st, _, _ := hit(t, srv, "GET", fmt.Sprintf("/projects/%d/audit_events/%d", p.ID, ev.ID), devTok, ""); st != 403 {
		t.Errorf("developer GET one project event = %d, want 403", st)
	}
	stranger := srv.Token(t, srv.User(t, "stranger", false).ID, "s", "api")
	if st, _, _ := hit(t, srv, "GET", fmt.Sprintf("/projects/%d/audit_events", p.ID), stranger, ""); st != 404 {
		t.Errorf("outsider GET private project's events = %d, want 404", st)
	}
	// The instance view holds it too, and the user view does not (it is the project's).
	if ev := findEvent(events(t, srv, "/audit_events?entity_type=Project", srv.RootToken), "token_created", pt.ID); ev == nil {
		t.Error("instance view lacks the project event")
	}
}

// TestAuditSudoAndImpersonation: sudo requests and impersonation tokens are audited
// under the user acted as.
func TestAuditSudoAndImpersonation(t *testing.T) {
	srv := keygatetest.NewServer(t)
	bob := srv.User(t, "bob", false)
	hitJSON(t, srv, "GET", "/user?sudo=bob", srv.RootToken, "", 200, nil)
	var imp tokenBody
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/impersonation_tokens", bob.ID), srv.RootToken, `{"name":"imp","scopes":["api"]}`, 201, &imp)
	es := events(t, srv, fmt.Sprintf("/audit_events?entity_type=User&entity_id=%d", bob.ID), srv.RootToken)
	if ev := findEvent(es, "sudo_request", bob.ID); ev == nil || ev.AuthorID != 1 || !strings.Contains(ev.Details.CustomMessage, "GET /api/v4/user") {
		t.Errorf("sudo_request = %+v", ev)
	}
	if ev := findEvent(es, "user_impersonation", bob.ID); ev == nil || ev.AuthorID != 1 || *ev.Details.TokenFingerprint != fingerprint(imp.Token) {
		t.Errorf("user_impersonation = %+v", ev)
	}
}

// TestAuditServiceAccountAuthor: tokens made through the service-account routes name
// the caller as author, though the service acts as Keygate there.
func TestAuditServiceAccountAuthor(t *testing.T) {
	srv := keygatetest.NewServer(t)
	owner := srv.User(t, "owen", false)
	tok := srv.Token(t, owner.ID, "o", "api")
	var g, sa struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/groups", tok, `{"name":"Svc","path":"svc"}`, 201, &g)
	hitJSON(t, srv, "POST", fmt.Sprintf("/groups/%d/service_accounts", g.ID), tok, `{"name":"Robot"}`, 201, &sa)
	var st tokenBody
	hitJSON(t, srv, "POST", fmt.Sprintf("/groups/%d/service_accounts/%d/personal_access_tokens", g.ID, sa.ID), tok, `{"name":"robot","scopes":["api"]}`, 201, &st)
	ev := findEvent(events(t, srv, "/audit_events?event_name=token_created", srv.RootToken), "token_created", st.ID)
	if ev == nil || ev.AuthorID != owner.ID || ev.EntityType != "User" || ev.EntityID != sa.ID {
		t.Errorf("service-account token_created = %+v, want author %d under the account", ev, owner.ID)
	}
}
