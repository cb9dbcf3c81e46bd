package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygatetest"
)

type settingsBody map[string]any

// TestSettingsBadInput: an unknown setting or a lifetime outside 1..400 is a 400 that
// changes nothing, not even the valid settings sent beside it.
func TestSettingsBadInput(t *testing.T) {
	srv := keygatetest.NewServer(t)
	var before settingsBody
	hitJSON(t, srv, "GET", "/application/settings", srv.RootToken, "", 200, &before)
	for _, c := range []struct{ body, want string }{
		{`{"no_such_setting":true,"admin_mode":true}`, "unknown setting: no_such_setting"},
		{`{"max_personal_access_token_lifetime":401,"admin_mode":true}`, "must be less than or equal to 400"},
		{`{"max_personal_access_token_lifetime":0,"admin_mode":true}`, "must be greater than or equal to 1"},
		{`{"max_personal_access_token_lifetime":-5}`, "must be greater than or equal to 1"},
		{`{"max_personal_access_token_lifetime":"abc"}`, "is invalid"},
		{`{"disable_personal_access_tokens":"maybe"}`, "is invalid"},
		{`{"personal_access_token_prefix":"bad prefix!"}`, "personal_access_token_prefix"},
	} {
		st, _, b := hit(t, srv, "PUT", "/application/settings", srv.RootToken, c.body)
		if st != 400 || !strings.Contains(string(b), c.want) {
			t.Errorf("PUT %s = %d %s, want 400 with %q", c.body, st, b, c.want)
		}
	}
	var after settingsBody
	hitJSON(t, srv, "GET", "/application/settings", srv.RootToken, "", 200, &after)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("settings changed by refused requests:\nbefore %v\nafter  %v", before, after)
	}
	for _, k := range []string{"max_personal_access_token_lifetime", "require_personal_access_token_expiry",
		"personal_access_token_prefix", "disable_personal_access_tokens", "service_access_tokens_expiration_enforced",
		"inactive_resource_access_tokens_delete_after_days", "admin_mode", "impersonation_enabled",
		"allow_local_requests_from_web_hooks_and_services"} {
		if _, ok := after[k]; !ok {
			t.Errorf("GET /application/settings lacks %s", k)
		}
	}
	if after["inactive_resource_access_tokens_delete_after_days"] != float64(30) || after["service_access_tokens_expiration_enforced"] != true {
		t.Errorf("defaults = %v", after)
	}
	alice := srv.User(t, "alice", false)
	if st, _, _ := hit(t, srv, "PUT", "/application/settings", srv.Token(t, alice.ID, "a", "api"), `{"admin_mode":true}`); st != 403 {
		t.Errorf("non-admin PUT = %d, want 403", st)
	}
}

// TestPoliciesEnforced: the lifetime limit applies to personal, project and rotated
// tokens; the prefix to new tokens; disable_personal_access_tokens stops creating and
// using personal tokens (and resource tokens, as GitLab), not impersonation tokens.
func TestPoliciesEnforced(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	aliceTok := srv.Token(t, alice.ID, "a", "api")
	hitJSON(t, srv, "PUT", "/application/settings", srv.RootToken,
		`{"max_personal_access_token_lifetime":30,"personal_access_token_prefix":"acme-"}`, 200, nil)
	// Clock: 2026-06-15. Max 30 days: 2026-07-15.
	st, _, b := hit(t, srv, "POST", "/user/personal_access_tokens", aliceTok, `{"name":"x","scopes":["k8s_proxy"],"expires_at":"2026-08-01"}`)
	if st != 422 || !strings.Contains(string(b), "Expires at must be before 2026-07-15") {
		t.Errorf("PAT beyond the lifetime = %d %s", st, b)
	}
	var ok tokenBody
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", alice.ID), srv.RootToken, `{"name":"x","scopes":["api"]}`, 201, &ok)
	if ok.ExpiresAt == nil || *ok.ExpiresAt != "2026-07-15" || !strings.HasPrefix(ok.Token, "acme-") {
		t.Errorf("default expiry %v prefix %q, want 2026-07-15 and acme-", ok.ExpiresAt, ok.Token[:5])
	}
	st, _, b = hit(t, srv, "POST", fmt.Sprintf("/personal_access_tokens/%d/rotate", ok.ID), aliceTok, `{"expires_at":"2026-09-01"}`)
	if st != 400 || !strings.Contains(string(b), "Expires at must be before 2026-07-15") {
		t.Errorf("rotation beyond the lifetime = %d %s", st, b)
	}
	var p struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/projects", aliceTok, `{"name":"app"}`, 201, &p)
	st, _, b = hit(t, srv, "POST", fmt.Sprintf("/projects/%d/access_tokens", p.ID), aliceTok, `{"name":"d","scopes":["api"],"expires_at":"2027-01-01"}`)
	if st != 400 || !strings.Contains(string(b), "Expires at must be before 2026-07-15") {
		t.Errorf("project token beyond the lifetime = %d %s", st, b)
	}

	hitJSON(t, srv, "PUT", "/application/settings", srv.RootToken, `{"disable_personal_access_tokens":true}`, 200, nil)
	st, _, b = hit(t, srv, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", alice.ID), srv.RootToken, `{"name":"x","scopes":["api"]}`)
	if st != 422 || !strings.Contains(string(b), "Not permitted to create") {
		t.Errorf("create with PATs disabled = %d %s", st, b)
	}
	if st, _, _ := hit(t, srv, "GET", "/user", aliceTok, ""); st != 401 {
		t.Errorf("a personal token with PATs disabled = %d, want 401", st)
	}
	st, _, b = hit(t, srv, "POST", fmt.Sprintf("/projects/%d/access_tokens", p.ID), srv.RootToken, `{"name":"d","scopes":["api"]}`)
	if st != 400 || !strings.Contains(string(b), "permission to create project access token") {
		t.Errorf("project token with PATs disabled = %d %s", st, b)
	}
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/impersonation_tokens", alice.ID), srv.RootToken, `{"name":"i","scopes":["api"]}`, 201, nil)
	hitJSON(t, srv, "PUT", "/application/settings", srv.RootToken, `{"disable_personal_access_tokens":false}`, 200, nil)
	if st, _, _ := hit(t, srv, "GET", "/user", aliceTok, ""); st != 200 {
		t.Errorf("personal token after re-enabling = %d, want 200", st)
	}
}

// TestGroupResourceTokenSetting: the top-level group's "users can create project and
// group access tokens" stops Owners below it (not administrators).
func TestGroupResourceTokenSetting(t *testing.T) {
	srv := keygatetest.NewServer(t)
	alice := srv.User(t, "alice", false)
	aliceTok := srv.Token(t, alice.ID, "a", "api")
	var g struct {
		ID                          int64 `json:"id"`
		ResourceAccessTokenCreation bool  `json:"resource_access_token_creation_allowed"`
	}
	hitJSON(t, srv, "POST", "/groups", aliceTok, `{"name":"Top","path":"top"}`, 201, &g)
	hitJSON(t, srv, "PUT", fmt.Sprintf("/groups/%d", g.ID), aliceTok, `{"resource_access_token_creation_allowed":false}`, 200, &g)
	if g.ResourceAccessTokenCreation {
		t.Fatal("setting not saved")
	}
	st, _, b := hit(t, srv, "POST", fmt.Sprintf("/groups/%d/access_tokens", g.ID), aliceTok, `{"name":"d","scopes":["api"]}`)
	if st != 400 || !strings.Contains(string(b), "User does not have permission to create group access token") {
		t.Errorf("group token with creation disallowed = %d %s", st, b)
	}
	hitJSON(t, srv, "POST", fmt.Sprintf("/groups/%d/access_tokens", g.ID), srv.RootToken, `{"name":"d","scopes":["api"]}`, 201, nil)
}
