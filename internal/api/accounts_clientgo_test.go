package api_test

import (
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

// TestClientGoServiceAccounts drives the instance /service_accounts and the group
// /groups/:id/service_accounts endpoints, with the service accounts' personal access
// tokens, through the official client.
func TestClientGoServiceAccounts(t *testing.T) {
	srv := keygatetest.NewServer(t)
	checkInstanceServiceAccounts(t, srv)
	checkGroupServiceAccounts(t, srv)
}

func checkInstanceServiceAccounts(t *testing.T, srv *keygatetest.Server) {
	root := newClient(t, srv, srv.RootToken)
	alice := srv.User(t, "alice", false)
	ac := newClient(t, srv, srv.Token(t, alice.ID, "a", keygate.ScopeAPI))

	sa, resp, err := root.Users.CreateServiceAccountUser(&gitlab.CreateServiceAccountUserOptions{Name: gitlab.Ptr("Deployer"), Username: gitlab.Ptr("deployer")})
	if err != nil {
		t.Fatalf("CreateServiceAccountUser: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if sa.Username != "deployer" || sa.Name != "Deployer" || sa.Email == "" {
		t.Errorf("service account = %+v", sa)
	}
	dflt, _, err := root.Users.CreateServiceAccountUser(&gitlab.CreateServiceAccountUserOptions{})
	if err != nil || !strings.HasPrefix(dflt.Username, "service_account_") || dflt.Name != "Service account user" {
		t.Fatalf("CreateServiceAccountUser(defaults) = %+v, %v", dflt, err)
	}
	_, resp, err = root.Users.CreateServiceAccountUser(&gitlab.CreateServiceAccountUserOptions{Email: gitlab.Ptr(dflt.Email)})
	wantStatus(t, resp, err, 400) // "400 Bad request - Email has already been taken"
	list, _, err := root.Users.ListServiceAccounts(nil)
	if err != nil || len(list) != 2 || list[0].ID != dflt.ID {
		t.Fatalf("ListServiceAccounts = %v, %v; want both, newest first", list, err)
	}
	// Administrators only: 403 for others, 401 anonymous.
	_, resp, err = ac.Users.CreateServiceAccountUser(&gitlab.CreateServiceAccountUserOptions{})
	wantStatus(t, resp, err, 403)
	_, resp, err = ac.Users.ListServiceAccounts(nil)
	wantStatus(t, resp, err, 403)
	_, resp, err = newClient(t, srv, "").Users.ListServiceAccounts(nil)
	wantStatus(t, resp, err, 401)

	// Their tokens come from the admin PAT endpoint and act as the account.
	pat, _, err := root.Users.CreatePersonalAccessToken(sa.ID, &gitlab.CreatePersonalAccessTokenOptions{Name: gitlab.Ptr("ci"), Scopes: &[]string{"api"}})
	if err != nil {
		t.Fatalf("CreatePersonalAccessToken(service account): %v", err)
	}
	me, _, err := newClient(t, srv, pat.Token).Users.CurrentUser()
	if err != nil || me.ID != sa.ID {
		t.Fatalf("service account token CurrentUser = %+v, %v", me, err)
	}
}

func checkGroupServiceAccounts(t *testing.T, srv *keygatetest.Server) {
	olga := srv.User(t, "olga", false)
	mia := srv.User(t, "mia", false)
	sam := srv.User(t, "sam", false)
	oc := newClient(t, srv, srv.Token(t, olga.ID, "o", keygate.ScopeAPI))
	mc := newClient(t, srv, srv.Token(t, mia.ID, "m", keygate.ScopeAPI))
	sc := newClient(t, srv, srv.Token(t, sam.ID, "s", keygate.ScopeAPI))
	g, _, err := oc.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Acme"), Path: gitlab.Ptr("acme")})
	if err != nil {
		t.Fatal(err)
	}
	sub, _, err := oc.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Sub"), Path: gitlab.Ptr("sub"), ParentID: gitlab.Ptr(g.ID)})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := oc.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Other"), Path: gitlab.Ptr("other")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := oc.GroupMembers.AddGroupMember(g.ID, &gitlab.AddGroupMemberOptions{UserID: gitlab.Ptr(mia.ID), AccessLevel: gitlab.Ptr(gitlab.MaintainerPermissions)}); err != nil {
		t.Fatal(err)
	}

	sa, resp, err := oc.Groups.CreateServiceAccount(g.ID, &gitlab.CreateServiceAccountOptions{Name: gitlab.Ptr("Robot")})
	if err != nil {
		t.Fatalf("CreateServiceAccount: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if !strings.HasPrefix(sa.UserName, "service_account_group_") || sa.Name != "Robot" {
		t.Errorf("group service account = %+v", sa)
	}
	// Top-level groups only; Owners only; invisible groups are 404.
	_, resp, err = oc.Groups.CreateServiceAccount(sub.ID, &gitlab.CreateServiceAccountOptions{})
	wantStatus(t, resp, err, 400)
	_, resp, err = mc.Groups.CreateServiceAccount(g.ID, &gitlab.CreateServiceAccountOptions{})
	wantStatus(t, resp, err, 403)
	_, resp, err = mc.Groups.ListServiceAccounts(g.ID, nil)
	wantStatus(t, resp, err, 403)
	_, resp, err = sc.Groups.ListServiceAccounts(g.ID, nil)
	wantStatus(t, resp, err, 404)
	_, resp, err = newClient(t, srv, "").Groups.ListServiceAccounts(g.ID, nil)
	wantStatus(t, resp, err, 401)
	list, _, err := oc.Groups.ListServiceAccounts(g.ID, nil)
	if err != nil || len(list) != 1 || list[0].ID != sa.ID {
		t.Fatalf("ListServiceAccounts(group) = %v, %v", list, err)
	}
	if l, _, err := oc.Groups.ListServiceAccounts(other.ID, nil); err != nil || len(l) != 0 {
		t.Fatalf("ListServiceAccounts(other group) = %v, %v; want none", l, err)
	}
	// Another group's account is "404 User Not Found" there.
	_, resp, err = oc.Groups.UpdateServiceAccount(other.ID, sa.ID, &gitlab.UpdateServiceAccountOptions{Name: gitlab.Ptr("x")})
	wantStatus(t, resp, err, 404)
	up, _, err := oc.Groups.UpdateServiceAccount(g.ID, sa.ID, &gitlab.UpdateServiceAccountOptions{Name: gitlab.Ptr("Robot 2")})
	if err != nil || up.Name != "Robot 2" {
		t.Fatalf("UpdateServiceAccount = %+v, %v", up, err)
	}

	// Personal access tokens of the group's service account.
	pat, resp, err := oc.Groups.CreateServiceAccountPersonalAccessToken(g.ID, sa.ID, &gitlab.CreateServiceAccountPersonalAccessTokenOptions{
		Name: gitlab.Ptr("deploy"), Scopes: &[]string{"api"}, ExpiresAt: isoDate(srv.Clock.Now().AddDate(0, 0, 30)),
	})
	if err != nil {
		t.Fatalf("CreateServiceAccountPersonalAccessToken: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if pat.UserID != sa.ID || pat.Token == "" {
		t.Errorf("service account token = %+v", pat)
	}
	if me, _, err := newClient(t, srv, pat.Token).Users.CurrentUser(); err != nil || me.ID != sa.ID {
		t.Fatalf("service account token acts as %+v, %v", me, err)
	}
	_, resp, err = mc.Groups.CreateServiceAccountPersonalAccessToken(g.ID, sa.ID, &gitlab.CreateServiceAccountPersonalAccessTokenOptions{Name: gitlab.Ptr("x"), Scopes: &[]string{"api"}})
	wantStatus(t, resp, err, 403)
	toks, _, err := oc.Groups.ListServiceAccountPersonalAccessTokens(g.ID, sa.ID, nil)
	if err != nil || len(toks) != 1 || toks[0].ID != pat.ID {
		t.Fatalf("ListServiceAccountPersonalAccessTokens = %v, %v", toks, err)
	}
	rot, resp, err := oc.Groups.RotateServiceAccountPersonalAccessToken(g.ID, sa.ID, pat.ID, nil)
	if err != nil {
		t.Fatalf("RotateServiceAccountPersonalAccessToken: %v", err)
	}
	wantStatus(t, resp, err, 200)
	if _, resp, _ := newClient(t, srv, pat.Token).Users.CurrentUser(); resp == nil || resp.StatusCode != 401 {
		t.Errorf("rotated-away service account token still works")
	}
	// A token that is not the account's: 404.
	own := srv.Token(t, olga.ID, "mine", keygate.ScopeAPI)
	ownInfo, _, err := newClient(t, srv, own).PersonalAccessTokens.GetSinglePersonalAccessToken()
	if err != nil {
		t.Fatal(err)
	}
	resp, err = oc.Groups.RevokeServiceAccountPersonalAccessToken(g.ID, sa.ID, ownInfo.ID)
	wantStatus(t, resp, err, 404)
	resp, err = oc.Groups.RevokeServiceAccountPersonalAccessToken(g.ID, sa.ID, rot.ID)
	wantStatus(t, resp, err, 204)
	if _, resp, _ := newClient(t, srv, rot.Token).Users.CurrentUser(); resp == nil || resp.StatusCode != 401 {
		t.Errorf("revoked service account token still works")
	}

	// Deleting the account takes its tokens.
	again, _, err := oc.Groups.CreateServiceAccountPersonalAccessToken(g.ID, sa.ID, &gitlab.CreateServiceAccountPersonalAccessTokenOptions{Name: gitlab.Ptr("again"), Scopes: &[]string{"read_api"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = mc.Groups.DeleteServiceAccount(g.ID, sa.ID, nil)
	wantStatus(t, resp, err, 403)
	resp, err = oc.Groups.DeleteServiceAccount(g.ID, sa.ID, nil)
	wantStatus(t, resp, err, 204)
	if _, resp, _ := newClient(t, srv, again.Token).Users.CurrentUser(); resp == nil || resp.StatusCode != 401 {
		t.Errorf("deleted service account's token still works")
	}
	resp, err = oc.Groups.DeleteServiceAccount(g.ID, sa.ID, nil)
	wantStatus(t, resp, err, 404)
}

// TestClientGoImpersonationTokens drives /users/:user_id/impersonation_tokens.
func TestClientGoImpersonationTokens(t *testing.T) {
	checkImpersonationTokens(t, keygatetest.NewServer(t))
}

func checkImpersonationTokens(t *testing.T, srv *keygatetest.Server) {
	root := newClient(t, srv, srv.RootToken)
	alice := srv.User(t, "alice", false)
	ac := newClient(t, srv, srv.Token(t, alice.ID, "a", keygate.ScopeAPI))
	exp := srv.Clock.Now().AddDate(0, 0, 10).Truncate(24 * time.Hour)

	imp, resp, err := root.Users.CreateImpersonationToken(alice.ID, &gitlab.CreateImpersonationTokenOptions{Name: gitlab.Ptr("support"), Scopes: &[]string{"api"}, ExpiresAt: &exp})
	if err != nil {
		t.Fatalf("CreateImpersonationToken: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if imp.Token == "" || !imp.Active || imp.Revoked || imp.ExpiresAt == nil || time.Time(*imp.ExpiresAt).Format(time.DateOnly) != exp.Format(time.DateOnly) {
		t.Errorf("impersonation token = %+v", imp)
	}
	ic := newClient(t, srv, imp.Token)
	if me, _, err := ic.Users.CurrentUser(); err != nil || me.ID != alice.ID {
		t.Fatalf("impersonation token acts as %+v, %v; want alice", me, err)
	}
	got, _, err := root.Users.GetImpersonationToken(alice.ID, imp.ID)
	if err != nil || got.ID != imp.ID || got.Token != "" {
		t.Fatalf("GetImpersonationToken = %+v, %v", got, err)
	}
	_, resp, err = root.Users.GetImpersonationToken(alice.ID, 999999)
	wantStatus(t, resp, err, 404) // 404 Impersonation Token Not Found
	// A personal token is not an impersonation token.
	own, _, err := ac.PersonalAccessTokens.GetSinglePersonalAccessToken()
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err = root.Users.GetImpersonationToken(alice.ID, own.ID)
	wantStatus(t, resp, err, 404)
	_, resp, err = root.Users.CreateImpersonationToken(999999, &gitlab.CreateImpersonationTokenOptions{Name: gitlab.Ptr("x"), Scopes: &[]string{"api"}})
	wantStatus(t, resp, err, 404) // 404 User Not Found
	_, resp, err = root.Users.CreateImpersonationToken(alice.ID, &gitlab.CreateImpersonationTokenOptions{Name: gitlab.Ptr("x")})
	wantStatus(t, resp, err, 400) // {"message":{"scopes":["can't be blank"]}}
	// Administrators only.
	_, resp, err = ac.Users.CreateImpersonationToken(alice.ID, &gitlab.CreateImpersonationTokenOptions{Name: gitlab.Ptr("x"), Scopes: &[]string{"api"}})
	wantStatus(t, resp, err, 403)
	_, _, err = ac.Users.GetAllImpersonationTokens(alice.ID, nil)
	if err == nil {
		t.Errorf("non-admin GetAllImpersonationTokens succeeded")
	}
	// lib/api/users.rb registers read_user for GET and HEAD class-wide
	// (allow_access_with_scope :read_user, if: request.get? || request.head?), so an
	// administrator's read_user token may list and read impersonation tokens.
	readUserRoot := newClient(t, srv, srv.Token(t, 1, "ru", keygate.ScopeReadUser))
	_, resp, err = readUserRoot.Users.CreateImpersonationToken(alice.ID, &gitlab.CreateImpersonationTokenOptions{Name: gitlab.Ptr("x"), Scopes: &[]string{"api"}})
	wantStatus(t, resp, err, 403) // not for writes
	// lib/api/users.rb registers read_user for GET/HEAD on the impersonation routes.
	if _, _, err := readUserRoot.Users.GetAllImpersonationTokens(alice.ID, nil); err != nil {
		t.Errorf("admin read_user GetAllImpersonationTokens: %v", err)
	}
	if _, _, err := readUserRoot.Users.GetImpersonationToken(alice.ID, imp.ID); err != nil {
		t.Errorf("admin read_user GetImpersonationToken: %v", err)
	}

	// Turning impersonation off refuses the token (401 invalid_token); on again, it works.
	setImpersonation(t, srv, false)
	_, resp, err = ic.Users.CurrentUser()
	wantStatus(t, resp, err, 401)
	setImpersonation(t, srv, true)
	if _, _, err := ic.Users.CurrentUser(); err != nil {
		t.Fatalf("impersonation token after re-enabling: %v", err)
	}

	resp, err = root.Users.RevokeImpersonationToken(alice.ID, imp.ID)
	wantStatus(t, resp, err, 204)
	_, resp, err = ic.Users.CurrentUser()
	wantStatus(t, resp, err, 401)
	all, _, err := root.Users.GetAllImpersonationTokens(alice.ID, nil) // state defaults to all
	if err != nil || len(all) != 1 || !all[0].Revoked {
		t.Fatalf("GetAllImpersonationTokens = %v, %v; want the revoked one", all, err)
	}
	active, _, err := root.Users.GetAllImpersonationTokens(alice.ID, &gitlab.GetAllImpersonationTokensOptions{State: gitlab.Ptr("active")})
	if err != nil || len(active) != 0 {
		t.Fatalf("GetAllImpersonationTokens(active) = %v, %v; want none", active, err)
	}
}
