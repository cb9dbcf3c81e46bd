package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

// isoDay is the date d days after the test clock's start day plus offset days.
func isoDay(srv *keygatetest.Server, days int) *gitlab.ISOTime {
	d := keygate.DateOf(srv.Clock.Now()).AddDays(days)
	return isoDate(d.Start())
}

func sameDay(got *gitlab.ISOTime, want *gitlab.ISOTime) bool {
	return got != nil && want != nil && time.Time(*got).Format(time.DateOnly) == time.Time(*want).Format(time.DateOnly)
}

// TestClientGoProjectAccessTokens drives /projects/:id/access_tokens with the official
// client: create (a bot member at the token's level), use, list, get, rotate, self-rotate,
// revoke, and the refusals GitLab gives (401 to readers without the role, 400 to
// creators without it, bots never mint tokens).
func TestClientGoProjectAccessTokens(t *testing.T) {
	srv := keygatetest.NewServer(t)
	olga := srv.User(t, "olga", false)
	dave := srv.User(t, "dave", false)
	oc := newClient(t, srv, srv.Token(t, olga.ID, "o", keygate.ScopeAPI))
	dc := newClient(t, srv, srv.Token(t, dave.ID, "d", keygate.ScopeAPI))

	g, _, err := oc.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Acme"), Path: gitlab.Ptr("acme")})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := oc.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("App"), NamespaceID: gitlab.Ptr(g.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := oc.GroupMembers.AddGroupMember(g.ID, &gitlab.AddGroupMemberOptions{UserID: gitlab.Ptr(dave.ID), AccessLevel: gitlab.Ptr(gitlab.DeveloperPermissions)}); err != nil {
		t.Fatal(err)
	}

	exp := isoDay(srv, 30)
	pat, resp, err := oc.ProjectAccessTokens.CreateProjectAccessToken(app.ID, &gitlab.CreateProjectAccessTokenOptions{
		Name: gitlab.Ptr("ci"), Scopes: &[]string{"api", "read_repository"}, AccessLevel: gitlab.Ptr(gitlab.DeveloperPermissions), ExpiresAt: exp,
	})
	if err != nil {
		t.Fatalf("CreateProjectAccessToken: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if pat.Name != "ci" || pat.AccessLevel != gitlab.DeveloperPermissions || !strings.HasPrefix(pat.Token, "glpat-") ||
		!pat.Active || pat.Revoked || !sameDay(pat.ExpiresAt, exp) || len(pat.Scopes) != 2 || pat.UserID == 0 {
		t.Errorf("created token = %+v", pat)
	}
	// Default level is Maintainer, default expiry the maximum lifetime.
	def, _, err := oc.ProjectAccessTokens.CreateProjectAccessToken(app.ID, &gitlab.CreateProjectAccessTokenOptions{Name: gitlab.Ptr("deploy"), Scopes: &[]string{"read_api"}})
	if err != nil || def.AccessLevel != gitlab.MaintainerPermissions || def.ExpiresAt == nil {
		t.Fatalf("CreateProjectAccessToken(defaults) = %+v, %v; want Maintainer with an expiry", def, err)
	}

	// The bot is a Developer member of the project and acts as one.
	bc := newClient(t, srv, pat.Token)
	bot, _, err := bc.Users.CurrentUser()
	if err != nil || bot.ID != pat.UserID || bot.Bot != true || !strings.HasPrefix(bot.Username, "project_") {
		t.Fatalf("bot CurrentUser = %+v, %v", bot, err)
	}
	if p, _, err := bc.Projects.GetProject(app.ID, nil); err != nil || p.Permissions == nil || p.Permissions.ProjectAccess == nil || p.Permissions.ProjectAccess.AccessLevel != gitlab.DeveloperPermissions {
		t.Fatalf("bot GetProject = %+v, %v", p, err)
	}
	if m, _, err := oc.ProjectMembers.GetProjectMember(app.ID, bot.ID); err != nil || m.AccessLevel != gitlab.DeveloperPermissions {
		t.Fatalf("bot membership = %+v, %v", m, err)
	}
	_, resp, err = bc.Projects.EditProject(app.ID, &gitlab.EditProjectOptions{Description: gitlab.Ptr("x")})
	wantStatus(t, resp, err, 403)
	// The private group above is visible through the project (group_policy has_projects),
	// its members are not (can_read_group_member?).
	if _, _, err := bc.Groups.GetGroup(g.ID, nil); err != nil {
		t.Errorf("bot GetGroup(parent) = %v", err)
	}
	_, resp, err = bc.Groups.ListGroupMembers(g.ID, nil)
	wantStatus(t, resp, err, 403)
	_, resp, err = oc.ProjectMembers.EditProjectMember(app.ID, bot.ID, &gitlab.EditProjectMemberOptions{AccessLevel: gitlab.Ptr(gitlab.MaintainerPermissions)})
	wantStatus(t, resp, err, 403)
	// Bots cannot mint tokens of any kind.
	_, resp, err = bc.ProjectAccessTokens.CreateProjectAccessToken(app.ID, &gitlab.CreateProjectAccessTokenOptions{Name: gitlab.Ptr("x"), Scopes: &[]string{"api"}})
	wantStatus(t, resp, err, 400)

	list, _, err := oc.ProjectAccessTokens.ListProjectAccessTokens(app.ID, nil)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListProjectAccessTokens = %d, %v; want 2", len(list), err)
	}
	got, _, err := oc.ProjectAccessTokens.GetProjectAccessToken(app.ID, pat.ID)
	if err != nil || got.ID != pat.ID || got.Token != "" || got.AccessLevel != gitlab.DeveloperPermissions {
		t.Fatalf("GetProjectAccessToken = %+v, %v", got, err)
	}
	// A Developer reads the project but not its tokens: 401 (GitLab), and cannot create.
	_, resp, err = dc.ProjectAccessTokens.ListProjectAccessTokens(app.ID, nil)
	wantStatus(t, resp, err, 401)
	_, resp, err = dc.ProjectAccessTokens.GetProjectAccessToken(app.ID, pat.ID)
	wantStatus(t, resp, err, 401)
	_, resp, err = dc.ProjectAccessTokens.CreateProjectAccessToken(app.ID, &gitlab.CreateProjectAccessTokenOptions{Name: gitlab.Ptr("x"), Scopes: &[]string{"api"}})
	wantStatus(t, resp, err, 400)
	_, resp, err = dc.ProjectAccessTokens.RotateProjectAccessToken(app.ID, pat.ID, nil)
	wantStatus(t, resp, err, 401)
	resp, err = dc.ProjectAccessTokens.RevokeProjectAccessToken(app.ID, pat.ID)
	wantStatus(t, resp, err, 400)

	// Rotation: the old token dies, the new one keeps the bot and its level; without an
	// expiry the successor lives a week.
	rot, resp, err := oc.ProjectAccessTokens.RotateProjectAccessToken(app.ID, pat.ID, nil)
	if err != nil {
		t.Fatalf("RotateProjectAccessToken: %v", err)
	}
	wantStatus(t, resp, err, 200)
	if rot.ID == pat.ID || rot.UserID != pat.UserID || rot.Token == pat.Token || rot.AccessLevel != gitlab.DeveloperPermissions || !sameDay(rot.ExpiresAt, isoDay(srv, 7)) {
		t.Errorf("rotated = %+v", rot)
	}
	_, resp, err = bc.Users.CurrentUser()
	wantStatus(t, resp, err, 401)
	bc = newClient(t, srv, rot.Token)
	// Self-rotation with the project token itself.
	self, resp, err := bc.ProjectAccessTokens.RotateProjectAccessTokenSelf(app.ID, &gitlab.RotateProjectAccessTokenOptions{ExpiresAt: isoDay(srv, 20)})
	if err != nil {
		t.Fatalf("RotateProjectAccessTokenSelf: %v", err)
	}
	wantStatus(t, resp, err, 200)
	if self.UserID != pat.UserID || !sameDay(self.ExpiresAt, isoDay(srv, 20)) {
		t.Errorf("self-rotated = %+v", self)
	}
	// A personal token may not self-rotate as a project token (405).
	_, resp, err = oc.ProjectAccessTokens.RotateProjectAccessTokenSelf(app.ID, nil)
	wantStatus(t, resp, err, 405)
	// …and a project token only on its own project (401 elsewhere).
	other, _, err := oc.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("Other"), NamespaceID: gitlab.Ptr(g.ID)})
	if err != nil {
		t.Fatal(err)
	}
	otherTok, _, err := oc.ProjectAccessTokens.CreateProjectAccessToken(other.ID, &gitlab.CreateProjectAccessTokenOptions{Name: gitlab.Ptr("o"), Scopes: &[]string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err = newClient(t, srv, otherTok.Token).ProjectAccessTokens.RotateProjectAccessTokenSelf(app.ID, nil)
	wantStatus(t, resp, err, 404) // cannot even see app

	// Revocation.
	resp, err = oc.ProjectAccessTokens.RevokeProjectAccessToken(app.ID, self.ID)
	if err != nil {
		t.Fatalf("RevokeProjectAccessToken: %v", err)
	}
	wantStatus(t, resp, err, 204)
	_, resp, err = newClient(t, srv, self.Token).Users.CurrentUser()
	wantStatus(t, resp, err, 401)
	resp, err = oc.ProjectAccessTokens.RevokeProjectAccessToken(app.ID, 999999)
	wantStatus(t, resp, err, 404)
	active, _, err := oc.ProjectAccessTokens.ListProjectAccessTokens(app.ID, &gitlab.ListProjectAccessTokensOptions{State: gitlab.Ptr("active")})
	if err != nil || len(active) != 1 || active[0].ID != def.ID {
		t.Errorf("active tokens = %v, %v; want only deploy", active, err)
	}

	// Deleting the project takes its bots along (Projects::DestroyService).
	resp, err = oc.Projects.DeleteProject(other.ID, nil)
	wantStatus(t, resp, err, 202)
	// The bot of a deleted project goes with it, and so does its token.
	_, resp, err = newClient(t, srv, otherTok.Token).Users.CurrentUser()
	wantStatus(t, resp, err, 401)
}

// TestClientGoGroupAccessTokens: group tokens need an Owner; the bot inherits its level
// in subgroups and their projects.
func TestClientGoGroupAccessTokens(t *testing.T) {
	srv := keygatetest.NewServer(t)
	olga := srv.User(t, "olga", false)
	mia := srv.User(t, "mia", false)
	oc := newClient(t, srv, srv.Token(t, olga.ID, "o", keygate.ScopeAPI))
	mc := newClient(t, srv, srv.Token(t, mia.ID, "m", keygate.ScopeAPI))
	g, _, err := oc.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Acme"), Path: gitlab.Ptr("acme")})
	if err != nil {
		t.Fatal(err)
	}
	sub, _, err := oc.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Sub"), Path: gitlab.Ptr("sub"), ParentID: gitlab.Ptr(g.ID)})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := oc.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("App"), NamespaceID: gitlab.Ptr(sub.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := oc.GroupMembers.AddGroupMember(g.ID, &gitlab.AddGroupMemberOptions{UserID: gitlab.Ptr(mia.ID), AccessLevel: gitlab.Ptr(gitlab.MaintainerPermissions)}); err != nil {
		t.Fatal(err)
	}

	gat, resp, err := oc.GroupAccessTokens.CreateGroupAccessToken(g.ID, &gitlab.CreateGroupAccessTokenOptions{
		Name: gitlab.Ptr("gci"), Scopes: &[]string{"api"}, AccessLevel: gitlab.Ptr(gitlab.OwnerPermissions),
	})
	if err != nil {
		t.Fatalf("CreateGroupAccessToken: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if gat.AccessLevel != gitlab.OwnerPermissions || gat.Token == "" {
		t.Errorf("group token = %+v", gat)
	}
	bc := newClient(t, srv, gat.Token)
	bot, _, err := bc.Users.CurrentUser()
	if err != nil || !strings.HasPrefix(bot.Username, "group_") {
		t.Fatalf("bot = %+v, %v", bot, err)
	}
	if p, _, err := bc.Projects.GetProject(app.ID, nil); err != nil || p.Permissions.GroupAccess == nil || p.Permissions.GroupAccess.AccessLevel != gitlab.OwnerPermissions {
		t.Fatalf("group bot on a sub-project = %+v, %v", p, err)
	}
	if m, _, err := oc.ProjectMembers.GetInheritedProjectMember(app.ID, bot.ID); err != nil || m.AccessLevel != gitlab.OwnerPermissions {
		t.Fatalf("inherited bot membership = %+v, %v", m, err)
	}
	// A project bot cannot be made a member elsewhere; a group bot neither.
	_, resp, err = oc.ProjectMembers.AddProjectMember(app.ID, &gitlab.AddProjectMemberOptions{UserID: gitlab.Ptr(bot.ID), AccessLevel: gitlab.Ptr(gitlab.OwnerPermissions)})
	wantStatus(t, resp, err, 400)

	// A Maintainer of the group: 401 to read, 400 to create, 401 to rotate, 400 to revoke.
	_, resp, err = mc.GroupAccessTokens.ListGroupAccessTokens(g.ID, nil)
	wantStatus(t, resp, err, 401)
	_, resp, err = mc.GroupAccessTokens.CreateGroupAccessToken(g.ID, &gitlab.CreateGroupAccessTokenOptions{Name: gitlab.Ptr("x"), Scopes: &[]string{"api"}, AccessLevel: gitlab.Ptr(gitlab.GuestPermissions)})
	wantStatus(t, resp, err, 400)
	_, resp, err = mc.GroupAccessTokens.RotateGroupAccessToken(g.ID, gat.ID, nil)
	wantStatus(t, resp, err, 401)
	resp, err = mc.GroupAccessTokens.RevokeGroupAccessToken(g.ID, gat.ID)
	wantStatus(t, resp, err, 400)
	// A group token is a group token: not found on a project's token list.
	_, resp, err = oc.ProjectAccessTokens.GetProjectAccessToken(app.ID, gat.ID)
	wantStatus(t, resp, err, 404)

	list, _, err := oc.GroupAccessTokens.ListGroupAccessTokens(g.ID, nil)
	if err != nil || len(list) != 1 || list[0].ID != gat.ID {
		t.Fatalf("ListGroupAccessTokens = %v, %v", list, err)
	}
	self, _, err := bc.GroupAccessTokens.RotateGroupAccessTokenSelf(g.ID, nil)
	if err != nil || self.UserID != bot.ID {
		t.Fatalf("RotateGroupAccessTokenSelf = %+v, %v", self, err)
	}
	rot, _, err := oc.GroupAccessTokens.RotateGroupAccessToken(g.ID, self.ID, &gitlab.RotateGroupAccessTokenOptions{ExpiresAt: isoDay(srv, 10)})
	if err != nil || !sameDay(rot.ExpiresAt, isoDay(srv, 10)) {
		t.Fatalf("RotateGroupAccessToken = %+v, %v", rot, err)
	}
	if _, err := oc.GroupAccessTokens.RevokeGroupAccessToken(g.ID, rot.ID); err != nil {
		t.Fatalf("RevokeGroupAccessToken: %v", err)
	}
	_, resp, err = newClient(t, srv, rot.Token).Projects.GetProject(app.ID, nil)
	wantStatus(t, resp, err, 401)
}

// TestClientGoSudo: an administrator's sudo token acts as the named user for resource
// checks too (spec §5.2).
func TestClientGoSudo(t *testing.T) {
	srv := keygatetest.NewServer(t)
	root := newClient(t, srv, srv.RootToken)
	alice := srv.User(t, "alice", false)
	bob := srv.User(t, "bob", false)
	ac := newClient(t, srv, srv.Token(t, alice.ID, "a", keygate.ScopeAPI))

	g, _, err := ac.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Acme"), Path: gitlab.Ptr("acme")})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := ac.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("App"), NamespaceID: gitlab.Ptr(g.ID)})
	if err != nil {
		t.Fatal(err)
	}
	// As root: visible. As bob through sudo: hidden, as for bob himself.
	if _, _, err := root.Projects.GetProject(p.ID, nil); err != nil {
		t.Fatalf("admin GetProject: %v", err)
	}
	_, resp, err := root.Projects.GetProject(p.ID, nil, gitlab.WithSudo(bob.ID))
	wantStatus(t, resp, err, 404)
	_, resp, err = root.Groups.GetGroup(g.ID, nil, gitlab.WithSudo("bob"))
	wantStatus(t, resp, err, 404)
	_, resp, err = root.ProjectMembers.AddProjectMember(p.ID, &gitlab.AddProjectMemberOptions{UserID: gitlab.Ptr(bob.ID), AccessLevel: gitlab.Ptr(gitlab.OwnerPermissions)}, gitlab.WithSudo(bob.ID))
	wantStatus(t, resp, err, 404)
	_, resp, err = root.Users.ListUsers(nil, gitlab.WithSudo(bob.ID))
	if err != nil {
		t.Fatalf("ListUsers as bob: %v", err)
	}
	// As alice through sudo: her permissions, and what she creates is hers.
	got, _, err := root.Projects.GetProject(p.ID, nil, gitlab.WithSudo(alice.ID))
	if err != nil || got.Permissions == nil || got.Permissions.GroupAccess == nil || got.Permissions.GroupAccess.AccessLevel != gitlab.OwnerPermissions {
		t.Fatalf("GetProject as alice = %+v, %v", got, err)
	}
	m, _, err := root.ProjectMembers.AddProjectMember(p.ID, &gitlab.AddProjectMemberOptions{UserID: gitlab.Ptr(bob.ID), AccessLevel: gitlab.Ptr(gitlab.ReporterPermissions)}, gitlab.WithSudo(alice.ID))
	if err != nil || m.AccessLevel != gitlab.ReporterPermissions {
		t.Fatalf("AddProjectMember as alice = %+v, %v", m, err)
	}
	sub, resp, err := root.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Sub"), Path: gitlab.Ptr("sub"), ParentID: gitlab.Ptr(g.ID)}, gitlab.WithSudo("alice"))
	if err != nil {
		t.Fatalf("CreateGroup as alice: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if o, _, err := root.GroupMembers.GetGroupMember(sub.ID, alice.ID); err != nil || o.AccessLevel != gitlab.OwnerPermissions {
		t.Fatalf("creator of a group made through sudo = %+v, %v; want alice as Owner", o, err)
	}
	// Only administrators may sudo; a sudo token without the sudo scope may not.
	_, resp, err = ac.Projects.GetProject(p.ID, nil, gitlab.WithSudo(bob.ID))
	wantStatus(t, resp, err, 403)
	plainRoot := newClient(t, srv, srv.Token(t, 1, "nosudo", keygate.ScopeAPI))
	_, resp, err = plainRoot.Projects.GetProject(p.ID, nil, gitlab.WithSudo(bob.ID))
	wantStatus(t, resp, err, 403)
	_, resp, err = root.Projects.GetProject(p.ID, nil, gitlab.WithSudo("nobody"))
	wantStatus(t, resp, err, 404)
}

// TestOwnedAndMembershipLists: GET /projects?owned=true lists the caller's personal
// projects and those of groups they own; membership=true and min_access_level those they
// reach through memberships; on both backends.
func TestOwnedAndMembershipLists(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			srv := keygatetest.NewServerWith(t, keygatetest.Options{Postgres: backend == "postgres"})
			olga := srv.User(t, "olga", false)
			dave := srv.User(t, "dave", false)
			oc := newClient(t, srv, srv.Token(t, olga.ID, "o", keygate.ScopeAPI))
			dc := newClient(t, srv, srv.Token(t, dave.ID, "d", keygate.ScopeAPI))
			g, _, err := oc.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Acme"), Path: gitlab.Ptr("acme")})
			if err != nil {
				t.Fatal(err)
			}
			app, _, err := oc.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("App"), NamespaceID: gitlab.Ptr(g.ID)})
			if err != nil {
				t.Fatal(err)
			}
			mine, _, err := oc.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("Notes")})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := dc.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("Dave's"), Visibility: gitlab.Ptr(gitlab.PublicVisibility)}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := oc.GroupMembers.AddGroupMember(g.ID, &gitlab.AddGroupMemberOptions{UserID: gitlab.Ptr(dave.ID), AccessLevel: gitlab.Ptr(gitlab.ReporterPermissions)}); err != nil {
				t.Fatal(err)
			}
			ids := func(ps []*gitlab.Project) []int64 {
				var out []int64
				for _, p := range ps {
					out = append(out, p.ID)
				}
				return out
			}
			asc := gitlab.ListProjectsOptions{OrderBy: gitlab.Ptr("id"), Sort: gitlab.Ptr("asc")}
			owned := asc
			owned.Owned = gitlab.Ptr(true)
			ps, resp, err := oc.Projects.ListProjects(&owned)
			if err != nil || fmt.Sprint(ids(ps)) != fmt.Sprint([]int64{app.ID, mine.ID}) {
				t.Errorf("olga ListProjects(owned) = %v, %v (status %v); want app and notes", ids(ps), err, resp)
			}
			ps, _, err = dc.Projects.ListProjects(&owned)
			if err != nil || len(ps) != 1 {
				t.Errorf("dave ListProjects(owned) = %v, %v; want his own only", ids(ps), err)
			}
			member := asc
			member.Membership = gitlab.Ptr(true)
			member.MinAccessLevel = gitlab.Ptr(gitlab.ReporterPermissions)
			ps, _, err = dc.Projects.ListProjects(&member)
			if err != nil || len(ps) != 2 {
				t.Errorf("dave ListProjects(membership, min Reporter) = %v, %v; want app and his own", ids(ps), err)
			}
			member.MinAccessLevel = gitlab.Ptr(gitlab.DeveloperPermissions)
			ps, _, err = dc.Projects.ListProjects(&member)
			if err != nil || len(ps) != 1 {
				t.Errorf("dave ListProjects(membership, min Developer) = %v, %v; want his own", ids(ps), err)
			}
			// An administrator's owned list is the administrator's own (none here).
			ps, _, err = newClient(t, srv, srv.RootToken).Projects.ListProjects(&owned)
			if err != nil || len(ps) != 0 {
				t.Errorf("admin ListProjects(owned) = %v, %v; want none", ids(ps), err)
			}
		})
	}
}

// TestMembershipAndTokenRules: a member may leave on their own (204) but the last Owner
// of a group may not; the top-level group setting resource_access_token_creation_allowed
// stops new project and group tokens in the whole hierarchy while existing ones keep
// working.
func TestMembershipAndTokenRules(t *testing.T) {
	srv := keygatetest.NewServer(t)
	olga := srv.User(t, "olga", false)
	gus := srv.User(t, "gus", false)
	oc := newClient(t, srv, srv.Token(t, olga.ID, "o", keygate.ScopeAPI))
	gc := newClient(t, srv, srv.Token(t, gus.ID, "g", keygate.ScopeAPI))
	g, _, err := oc.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Acme"), Path: gitlab.Ptr("acme")})
	if err != nil {
		t.Fatal(err)
	}
	sub, _, err := oc.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Sub"), Path: gitlab.Ptr("sub"), ParentID: gitlab.Ptr(g.ID)})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := oc.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("App"), NamespaceID: gitlab.Ptr(sub.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := oc.GroupMembers.AddGroupMember(g.ID, &gitlab.AddGroupMemberOptions{UserID: gitlab.Ptr(gus.ID), AccessLevel: gitlab.Ptr(gitlab.GuestPermissions)}); err != nil {
		t.Fatal(err)
	}
	// The last Owner stays; a Guest leaves by themself.
	resp, err := oc.GroupMembers.RemoveGroupMember(g.ID, olga.ID, nil)
	wantStatus(t, resp, err, 403)
	resp, err = gc.GroupMembers.RemoveGroupMember(g.ID, gus.ID, nil)
	wantStatus(t, resp, err, 204)
	_, resp, err = gc.Groups.GetGroup(g.ID, nil)
	wantStatus(t, resp, err, 404)

	keep, _, err := oc.ProjectAccessTokens.CreateProjectAccessToken(app.ID, &gitlab.CreateProjectAccessTokenOptions{Name: gitlab.Ptr("keep"), Scopes: &[]string{"read_api"}})
	if err != nil {
		t.Fatal(err)
	}
	off := doGolden(t, srv, goldenCase{method: "PUT", path: fmt.Sprintf("/groups/%d", g.ID), token: srv.Token(t, olga.ID, "o2", keygate.ScopeAPI), body: `{"resource_access_token_creation_allowed":false}`})
	if off.Status != 200 {
		t.Fatalf("PUT resource_access_token_creation_allowed=false = %d %s", off.Status, off.Body)
	}
	_, resp, err = oc.ProjectAccessTokens.CreateProjectAccessToken(app.ID, &gitlab.CreateProjectAccessTokenOptions{Name: gitlab.Ptr("new"), Scopes: &[]string{"api"}})
	wantStatus(t, resp, err, 400)
	_, resp, err = oc.GroupAccessTokens.CreateGroupAccessToken(sub.ID, &gitlab.CreateGroupAccessTokenOptions{Name: gitlab.Ptr("new"), Scopes: &[]string{"api"}})
	wantStatus(t, resp, err, 400)
	if _, _, err := newClient(t, srv, keep.Token).Projects.GetProject(app.ID, nil); err != nil {
		t.Errorf("existing project token after the setting went off: %v", err)
	}
}
