package forwardauth_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// TestGateFineGrained: a fine-grained token passes a service by its permissions on the
// member_of boundary (or the user boundary without member_of), never by scopes_any;
// legacy tokens are still judged by their scopes.
func TestGateFineGrained(t *testing.T) {
	t.Parallel()
	srv, w := newGateServer(t, keygatetest.Options{})
	priv := keygate.Private
	name, path := "Other", "other"
	other, err := srv.Service.CreateProject(context.Background(), authz.Subject{User: w.Users["owner"]},
		service.NamespaceInput{Name: &name, Path: &path, Visibility: &priv, ParentID: w.Acme.ID})
	if err != nil {
		t.Fatal(err)
	}
	selectedProject := func(id int64, perms ...string) service.GranularRequest {
		return service.GranularRequest{Access: keygate.AccessSelectedMemberships, Permissions: perms, ProjectIDs: []int64{id}}
	}
	selectedGroup := func(id int64, perms ...string) service.GranularRequest {
		return service.GranularRequest{Access: keygate.AccessSelectedMemberships, Permissions: perms, GroupIDs: []int64{id}}
	}
	all := func(perms ...string) service.GranularRequest {
		return service.GranularRequest{Access: keygate.AccessAllMemberships, Permissions: perms}
	}
	user := func(perms ...string) service.GranularRequest {
		return service.GranularRequest{Access: keygate.AccessUser, Permissions: perms}
	}
	tok := map[string]string{
		"on the project":      w.FineToken(t, "dev", selectedProject(w.Ledger.ID, "read_project")),
		"on an ancestor":      w.FineToken(t, "dev", selectedGroup(w.Acme.ID, "read_project", "read_member")),
		"all memberships":     w.FineToken(t, "dev", all("read_project")),
		"wrong permission":    w.FineToken(t, "dev", selectedProject(w.Ledger.ID, "read_member")),
		"another project":     w.FineToken(t, "dev", selectedProject(other.ID, "read_project")),
		"user level only":     w.FineToken(t, "dev", user("read_project", "read_user")),
		"guest":               w.FineToken(t, "gus", all("read_project")),
		"non-member":          w.FineToken(t, "sam", all("read_project")),
		"on the project+user": w.FineToken(t, "dev", selectedProject(w.Ledger.ID, "read_project"), user("read_user")),
	}
	cases := []struct {
		name, tok, uri string
		status         int
		// explained: substrings of the explanation; none means none may be given.
		explained []string
	}{
		{name: "permission on the project", tok: tok["on the project"], uri: "/api/x", status: 200},
		{name: "permission on an ancestor group", tok: tok["on an ancestor"], uri: "/api/x", status: 200},
		{name: "all memberships", tok: tok["all memberships"], uri: "/api/x", status: 200},
		{name: "wrong permission", tok: tok["wrong permission"], uri: "/api/x", status: 403,
			explained: []string{"the fine-grained token lacks permissions on project acme/billing/ledger: [Project: Read]", "missing permission: read_project (Project: Read)"}},
		{name: "permission on another project", tok: tok["another project"], uri: "/api/x", status: 403,
			explained: []string{"lacks permissions on project acme/billing/ledger: [Project: Read]", "the token holds it on other boundaries only"}},
		{name: "permission at the user level only", tok: tok["user level only"], uri: "/api/x", status: 403,
			explained: []string{"[Project: Read]", "the token holds it on other boundaries only"}},
		{name: "role still applies", tok: tok["guest"], uri: "/api/x", status: 403, explained: []string{"needs the Developer role or higher on the project; you have Guest"}},
		{name: "non-member", tok: tok["non-member"], uri: "/api/x", status: 403},
		// Every permission is needed; the explanation names the missing ones only.
		{name: "every permission", tok: tok["on an ancestor"], uri: "/members/", status: 200},
		{name: "one permission of two", tok: tok["on the project"], uri: "/members/", status: 403,
			explained: []string{"lacks permissions on project acme/billing/ledger: [Member: Read]\""}},
		// scopes_any and no permissions: refused, saying why.
		{name: "scopes_any without permissions", tok: tok["all memberships"], uri: "/reports/q", status: 403,
			explained: []string{"does not accept fine-grained tokens: it requires one of the scopes api,read_api", "declares no permissions"}},
		// Neither scopes_any nor permissions: judged by type and membership, as any token.
		{name: "no scope or permission required", tok: tok["wrong permission"], uri: "/team/", status: 200},
		// No member_of: permissions are checked on the user boundary.
		{name: "user boundary", tok: tok["user level only"], uri: "/profile/me", status: 200},
		{name: "user boundary with a project grant too", tok: tok["on the project+user"], uri: "/profile/me", status: 200},
		{name: "user boundary without the permission", tok: tok["on the project"], uri: "/profile/me", status: 403,
			explained: []string{"the fine-grained token lacks permissions on the user level: [User: Read]"}},
		{name: "user boundary, grant on memberships only", tok: tok["all memberships"], uri: "/profile/me", status: 403,
			explained: []string{"[User: Read]"}},
		// Fine-grained tokens are never job tokens.
		{name: "job service", tok: tok["on the project"], uri: "/ci/x", status: 403, explained: []string{"does not accept personal tokens"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := ask(t, srv, "GET", tc.uri, bearer(tc.tok))
			if a.status != tc.status {
				t.Fatalf("status = %d %v, want %d", a.status, a.body, tc.status)
			}
			if tc.status == 200 {
				if a.header.Get("X-Keygate-User") == "" {
					t.Errorf("allowed answer carries no X-Keygate-User")
				}
				return
			}
			if a.body["message"] != "403 Forbidden" {
				t.Errorf("403 body = %v", a.body)
			}
			expl, _ := json.Marshal(a.body["keygate_explanation"])
			if tc.explained == nil && a.body["keygate_explanation"] != nil {
				t.Errorf("explanation %s given to a caller who cannot see the resource", expl)
			}
			for _, want := range tc.explained {
				if !strings.Contains(string(expl), want) {
					t.Errorf("explanation = %s, want it to say %q", expl, want)
				}
			}
		})
	}

	// The identity headers of a fine-grained token: its type, and its one scope.
	a := ask(t, srv, "GET", "/api/invoices", bearer(tok["on the project"]))
	if a.header.Get("X-Keygate-Token-Type") != "personal" || a.header.Get("X-Keygate-Scopes") != "granular" || a.header.Get("X-Keygate-Access-Level") != "30" {
		t.Errorf("fine-grained identity = type %q scopes %q level %q, want personal, granular, 30",
			a.header.Get("X-Keygate-Token-Type"), a.header.Get("X-Keygate-Scopes"), a.header.Get("X-Keygate-Access-Level"))
	}

	// Legacy tokens are judged by scopes alone, permissions or not.
	for _, lc := range []struct {
		tok, uri string
		status   int
	}{
		{w.Tokens["dev"], "/api/x", 200}, // api, no permission needed
		{w.Tokens["dev_read_api"], "/reports/q", 200},
		{w.Tokens["dev"], "/profile/me", 200},
		{w.Tokens["dev_read_api"], "/profile/me", 403}, // read_api is not in scopes_any
		{w.Tokens["dev_k8s"], "/api/x", 403},
	} {
		if a := ask(t, srv, "GET", lc.uri, bearer(lc.tok)); a.status != lc.status {
			t.Errorf("legacy token on %s = %d %v, want %d", lc.uri, a.status, a.body, lc.status)
		}
	}
}

// TestGateFineGrainedRevoked: a fine-grained token revoked is refused on the next
// request, like any token.
func TestGateFineGrainedRevoked(t *testing.T) {
	t.Parallel()
	srv, w := newGateServer(t, keygatetest.Options{})
	fine := w.FineToken(t, "dev", service.GranularRequest{Access: keygate.AccessAllMemberships, Permissions: []string{"read_project"}})
	if a := ask(t, srv, "GET", "/api/x", bearer(fine)); a.status != 200 {
		t.Fatalf("before = %d %v", a.status, a.body)
	}
	p, err := srv.Service.Authenticate(context.Background(), service.Credential{Token: fine})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Service.Revoke(context.Background(), authz.SystemSubject(), p.Token.ID); err != nil {
		t.Fatal(err)
	}
	if a := ask(t, srv, "GET", "/api/x", bearer(fine)); a.status != 401 {
		t.Fatalf("after revocation = %d, want 401", a.status)
	}
}
