package api_test

import (
	"errors"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keygate/keygate/internal/keygatetest"
)

// These tests drive the official GitLab Go client, unchanged, against a real server.

func newClient(t *testing.T, srv *keygatetest.Server, token string) *gitlab.Client {
	t.Helper()
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(srv.API), gitlab.WithCustomRetryMax(0))
	if err != nil {
		t.Fatalf("gitlab.NewClient: %v", err)
	}
	return c
}

func isoDate(t time.Time) *gitlab.ISOTime { d := gitlab.ISOTime(t); return &d }

func wantStatus(t *testing.T, resp *gitlab.Response, err error, status int) {
	t.Helper()
	if resp == nil {
		t.Fatalf("no response (err %v), want status %d", err, status)
	}
	if resp.StatusCode != status {
		t.Fatalf("status = %d (err %v), want %d", resp.StatusCode, err, status)
	}
}

func TestClientGoUsers(t *testing.T) {
	srv := keygatetest.NewServer(t)
	root := newClient(t, srv, srv.RootToken)

	me, _, err := root.Users.CurrentUser()
	if err != nil {
		t.Fatalf("CurrentUser: %v", err)
	}
	if me.ID != 1 || me.Username != "root" || !me.IsAdmin {
		t.Errorf("CurrentUser = %d %q admin=%v, want 1 root admin", me.ID, me.Username, me.IsAdmin)
	}

	alice, resp, err := root.Users.CreateUser(&gitlab.CreateUserOptions{
		Email: gitlab.Ptr("alice@example.com"), Username: gitlab.Ptr("alice"), Name: gitlab.Ptr("Alice"),
		Password: gitlab.Ptr("correct-horse-battery"), SkipConfirmation: gitlab.Ptr(true),
	})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if alice.Username != "alice" || alice.Email != "alice@example.com" || alice.State != "active" {
		t.Errorf("CreateUser = %+v", alice)
	}

	_, resp, err = root.Users.CreateUser(&gitlab.CreateUserOptions{
		Email: gitlab.Ptr("ALICE@example.com"), Username: gitlab.Ptr("alice2"), Name: gitlab.Ptr("A"), Password: gitlab.Ptr("12345678x"),
	})
	wantStatus(t, resp, err, 409)

	mod, _, err := root.Users.ModifyUser(alice.ID, &gitlab.ModifyUserOptions{Name: gitlab.Ptr("Alice Liddell"), Bio: gitlab.Ptr("down the hole")})
	if err != nil || mod.Name != "Alice Liddell" || mod.Bio != "down the hole" {
		t.Fatalf("ModifyUser = %+v, %v", mod, err)
	}

	got, _, err := root.Users.GetUser(alice.ID, gitlab.GetUsersOptions{})
	if err != nil || got.Name != "Alice Liddell" {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}

	users, resp, err := root.Users.ListUsers(&gitlab.ListUsersOptions{ListOptions: gitlab.ListOptions{PerPage: 1}})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if len(users) != 1 || resp.TotalItems != 2 || resp.TotalPages != 2 || resp.NextPage != 2 || users[0].ID != alice.ID {
		t.Errorf("ListUsers page 1 = %d users (first %d), total %d pages %d next %d; want 1 user (alice, id desc), total 2", len(users), users[0].ID, resp.TotalItems, resp.TotalPages, resp.NextPage)
	}
	byName, _, err := root.Users.ListUsers(&gitlab.ListUsersOptions{Username: gitlab.Ptr("ALICE")})
	if err != nil || len(byName) != 1 || byName[0].ID != alice.ID {
		t.Errorf("ListUsers(username=ALICE) = %v, %v", byName, err)
	}

	aliceToken := srv.Token(t, alice.ID, "alice-api", "api")
	ac := newClient(t, srv, aliceToken)
	if _, _, err := ac.Users.CurrentUser(); err != nil {
		t.Fatalf("alice CurrentUser: %v", err)
	}

	if err := root.Users.BlockUser(alice.ID); err != nil {
		t.Fatalf("BlockUser: %v", err)
	}
	_, resp, err = ac.Users.CurrentUser()
	wantStatus(t, resp, err, 403)
	if err := root.Users.BlockUser(alice.ID); err != nil {
		t.Fatalf("BlockUser again: %v", err)
	}
	if err := root.Users.DeactivateUser(alice.ID); !errors.Is(err, gitlab.ErrUserDeactivatePrevented) {
		t.Errorf("DeactivateUser(blocked) = %v, want ErrUserDeactivatePrevented", err)
	}
	if err := root.Users.UnblockUser(alice.ID); err != nil {
		t.Fatalf("UnblockUser: %v", err)
	}
	if _, _, err := ac.Users.CurrentUser(); err != nil {
		t.Fatalf("CurrentUser after unblock: %v", err)
	}
	if err := root.Users.DeactivateUser(alice.ID); err != nil {
		t.Fatalf("DeactivateUser: %v", err)
	}
	_, resp, err = ac.Users.CurrentUser()
	wantStatus(t, resp, err, 403)
	if err := root.Users.ActivateUser(alice.ID); err != nil {
		t.Fatalf("ActivateUser: %v", err)
	}
	if _, _, err := ac.Users.CurrentUser(); err != nil {
		t.Fatalf("CurrentUser after activate: %v", err)
	}
	if err := root.Users.BlockUser(1); err == nil {
		t.Error("BlockUser(self) = nil, want refusal")
	}
	// A non-admin cannot use admin routes.
	_, resp, err = ac.Users.CreateUser(&gitlab.CreateUserOptions{Email: gitlab.Ptr("x@example.com"), Username: gitlab.Ptr("x"), Name: gitlab.Ptr("X"), Password: gitlab.Ptr("12345678x")})
	wantStatus(t, resp, err, 403)
}

func TestClientGoVersionMetadata(t *testing.T) {
	srv := keygatetest.NewServer(t)
	c := newClient(t, srv, srv.Token(t, 1, "ru", "read_user"))
	v, _, err := c.Version.GetVersion()
	if err != nil || v.Version != "19.6.0-keygate" || v.Revision == "" {
		t.Fatalf("GetVersion = %+v, %v", v, err)
	}
	m, _, err := c.Metadata.GetMetadata()
	if err != nil || m.Version != "19.6.0-keygate" {
		t.Fatalf("GetMetadata = %+v, %v", m, err)
	}
	anon := newClient(t, srv, "")
	_, resp, err := anon.Version.GetVersion()
	wantStatus(t, resp, err, 401)
}

func TestClientGoPersonalAccessTokens(t *testing.T) {
	srv := keygatetest.NewServer(t)
	root := newClient(t, srv, srv.RootToken)
	bob := srv.User(t, "bob", false)
	now := srv.Clock.Now()

	// Admin creates for another user.
	pat, resp, err := root.Users.CreatePersonalAccessToken(bob.ID, &gitlab.CreatePersonalAccessTokenOptions{
		Name: gitlab.Ptr("bob-ci"), Scopes: &[]string{"api", "read_user"}, ExpiresAt: isoDate(now.AddDate(0, 0, 40)),
		Description: gitlab.Ptr("for CI"),
	})
	if err != nil {
		t.Fatalf("CreatePersonalAccessToken: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if pat.Token == "" || pat.UserID != bob.ID || !pat.Active || pat.Description != "for CI" || len(pat.Scopes) != 2 {
		t.Fatalf("created = %+v", pat)
	}
	if got := time.Time(*pat.ExpiresAt).Format("2006-01-02"); got != now.AddDate(0, 0, 40).Format("2006-01-02") {
		t.Errorf("expires_at = %s", got)
	}
	bc := newClient(t, srv, pat.Token)

	// Self-creation is limited to k8s_proxy / self_rotate.
	selfPAT, _, err := bc.Users.CreatePersonalAccessTokenForCurrentUser(&gitlab.CreatePersonalAccessTokenForCurrentUserOptions{
		Name: gitlab.Ptr("bob-k8s"), Scopes: &[]string{"k8s_proxy"},
	})
	if err != nil || selfPAT.Token == "" || selfPAT.ExpiresAt == nil {
		t.Fatalf("CreatePersonalAccessTokenForCurrentUser = %+v, %v", selfPAT, err)
	}
	_, resp, err = bc.Users.CreatePersonalAccessTokenForCurrentUser(&gitlab.CreatePersonalAccessTokenForCurrentUserOptions{
		Name: gitlab.Ptr("bob-api"), Scopes: &[]string{"api"},
	})
	wantStatus(t, resp, err, 400)

	// Self.
	self, _, err := bc.PersonalAccessTokens.GetSinglePersonalAccessToken()
	if err != nil || self.ID != pat.ID || self.Token != "" {
		t.Fatalf("GetSinglePersonalAccessToken = %+v, %v", self, err)
	}
	byID, _, err := bc.PersonalAccessTokens.GetSinglePersonalAccessTokenByID(pat.ID)
	if err != nil || byID.Name != "bob-ci" {
		t.Fatalf("GetSinglePersonalAccessTokenByID = %+v, %v", byID, err)
	}
	// Bob cannot see root's tokens: 401, as GitLab.
	_, resp, err = bc.PersonalAccessTokens.GetSinglePersonalAccessTokenByID(1)
	wantStatus(t, resp, err, 401)

	// Lists with filters.
	list, resp, err := bc.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{})
	if err != nil || len(list) != 2 || resp.TotalItems != 2 {
		t.Fatalf("bob's list = %d tokens, total %d, %v; want 2", len(list), resp.TotalItems, err)
	}
	all, _, err := root.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{})
	if err != nil || len(all) != 3 {
		t.Fatalf("admin list = %d, %v; want 3", len(all), err)
	}
	search, _, err := root.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{Search: gitlab.Ptr("K8S"), UserID: gitlab.Ptr(bob.ID)})
	if err != nil || len(search) != 1 || search[0].Name != "bob-k8s" {
		t.Fatalf("search = %v, %v", search, err)
	}
	_, resp, err = bc.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{UserID: gitlab.Ptr(int64(1))})
	wantStatus(t, resp, err, 401)

	// Rotate by id: old dies, new works, chain kept.
	rot, resp, err := bc.PersonalAccessTokens.RotatePersonalAccessTokenByID(selfPAT.ID, &gitlab.RotatePersonalAccessTokenOptions{})
	if err != nil {
		t.Fatalf("RotatePersonalAccessTokenByID: %v", err)
	}
	wantStatus(t, resp, err, 200)
	if rot.Token == "" || rot.ID == selfPAT.ID || rot.Name != "bob-k8s" {
		t.Fatalf("rotated = %+v", rot)
	}
	if got, want := time.Time(*rot.ExpiresAt).Format("2006-01-02"), now.AddDate(0, 0, 7).Format("2006-01-02"); got != want {
		t.Errorf("rotated expires_at = %s, want %s (7 days)", got, want)
	}
	_, resp, err = bc.PersonalAccessTokens.RotatePersonalAccessTokenByID(selfPAT.ID, nil)
	wantStatus(t, resp, err, 400)

	// Rotate self with an explicit date.
	next, _, err := bc.PersonalAccessTokens.RotatePersonalAccessTokenSelf(&gitlab.RotatePersonalAccessTokenOptions{ExpiresAt: isoDate(now.AddDate(0, 0, 20))})
	if err != nil {
		t.Fatalf("RotatePersonalAccessTokenSelf: %v", err)
	}
	_, resp, err = bc.Users.CurrentUser()
	wantStatus(t, resp, err, 401)
	bc = newClient(t, srv, next.Token)
	if me, _, err := bc.Users.CurrentUser(); err != nil || me.ID != bob.ID {
		t.Fatalf("CurrentUser with rotated token = %v, %v", me, err)
	}

	// Revoke by id (idempotent) and self.
	if _, err := bc.PersonalAccessTokens.RevokePersonalAccessTokenByID(rot.ID); err != nil {
		t.Fatalf("RevokePersonalAccessTokenByID: %v", err)
	}
	if resp, err := bc.PersonalAccessTokens.RevokePersonalAccessTokenByID(rot.ID); err != nil || resp.StatusCode != 204 {
		t.Fatalf("revoke again = %v, %v; want 204", resp, err)
	}
	resp, err = bc.PersonalAccessTokens.RevokePersonalAccessTokenByID(1)
	wantStatus(t, resp, err, 400)
	if _, err := bc.PersonalAccessTokens.RevokePersonalAccessTokenSelf(); err != nil {
		t.Fatalf("RevokePersonalAccessTokenSelf: %v", err)
	}
	_, resp, err = bc.Users.CurrentUser()
	wantStatus(t, resp, err, 401)

	inactive, _, err := root.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{UserID: gitlab.Ptr(bob.ID), State: gitlab.Ptr("inactive")})
	if err != nil || len(inactive) != 4 {
		t.Fatalf("inactive = %d, %v; want 4 (two rotated away, two revoked)", len(inactive), err)
	}
	live, _, err := root.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{UserID: gitlab.Ptr(bob.ID), Revoked: gitlab.Ptr(false)})
	if err != nil || len(live) != 0 {
		t.Fatalf("revoked=false = %d, %v; want 0", len(live), err)
	}
}
