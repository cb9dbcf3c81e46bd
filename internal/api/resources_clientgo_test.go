package api_test

import (
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

func TestClientGoGroupsProjectsMembers(t *testing.T) {
	srv := keygatetest.NewServer(t)
	root := newClient(t, srv, srv.RootToken)
	alice := srv.User(t, "alice", false)
	bob := srv.User(t, "bob", false)
	ac := newClient(t, srv, srv.Token(t, alice.ID, "a", keygate.ScopeAPI))
	bc := newClient(t, srv, srv.Token(t, bob.ID, "b", keygate.ScopeAPI))
	anon := newClient(t, srv, "")

	// Alice creates a private top-level group and a subgroup; she is Owner.
	top, resp, err := ac.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Acme"), Path: gitlab.Ptr("acme")})
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if top.Visibility != gitlab.PrivateVisibility || top.FullPath != "acme" {
		t.Errorf("group = %+v", top)
	}
	sub, _, err := ac.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Platform"), Path: gitlab.Ptr("platform"), ParentID: gitlab.Ptr(top.ID)})
	if err != nil || sub.FullPath != "acme/platform" || sub.ParentID != top.ID || sub.FullName != "Acme / Platform" {
		t.Fatalf("CreateGroup(sub) = %+v, %v", sub, err)
	}
	_, resp, err = ac.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("x"), Path: gitlab.Ptr("ACME")})
	wantStatus(t, resp, err, 400)
	_, resp, err = ac.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("x"), Path: gitlab.Ptr("alice")})
	wantStatus(t, resp, err, 400) // a user's namespace holds that path
	_, resp, err = ac.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("x"), Path: gitlab.Ptr("-bad")})
	wantStatus(t, resp, err, 400)
	_, resp, err = ac.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Pub"), Path: gitlab.Ptr("pub"), ParentID: gitlab.Ptr(top.ID), Visibility: gitlab.Ptr(gitlab.PublicVisibility)})
	wantStatus(t, resp, err, 400) // more visible than its private parent

	// Projects: one in the subgroup (by path), one personal and public.
	app, resp, err := ac.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("App"), NamespaceID: gitlab.Ptr(sub.ID)})
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	wantStatus(t, resp, err, 201)
	if app.PathWithNamespace != "acme/platform/app" || app.Visibility != gitlab.PrivateVisibility || app.DefaultBranch != "main" {
		t.Errorf("project = %q %q %q", app.PathWithNamespace, app.Visibility, app.DefaultBranch)
	}
	mine, _, err := ac.Projects.CreateProject(&gitlab.CreateProjectOptions{Path: gitlab.Ptr("notes"), Visibility: gitlab.Ptr(gitlab.PublicVisibility)})
	if err != nil || mine.PathWithNamespace != "alice/notes" || mine.Owner == nil || mine.Owner.ID != alice.ID {
		t.Fatalf("personal project = %+v, %v", mine, err)
	}
	_, resp, err = ac.Projects.CreateProject(&gitlab.CreateProjectOptions{Path: gitlab.Ptr("notes")})
	wantStatus(t, resp, err, 400)

	// By URL-encoded full path.
	got, _, err := ac.Projects.GetProject("acme/platform/app", nil)
	if err != nil || got.ID != app.ID || got.Permissions == nil || got.Permissions.GroupAccess == nil || got.Permissions.GroupAccess.AccessLevel != gitlab.OwnerPermissions {
		t.Fatalf("GetProject(path) = %+v, %v", got, err)
	}
	if g, _, err := ac.Groups.GetGroup("acme/platform", nil); err != nil || g.ID != sub.ID || len(g.Projects) != 1 {
		t.Fatalf("GetGroup(path) = %+v, %v", g, err)
	}

	// Existence hiding: bob and anonymous callers get 404 for the private project and group.
	_, resp, err = bc.Projects.GetProject(app.ID, nil)
	wantStatus(t, resp, err, 404)
	_, resp, err = anon.Groups.GetGroup(top.ID, nil)
	wantStatus(t, resp, err, 404)
	resp, err = bc.Projects.DeleteProject(app.ID, nil)
	wantStatus(t, resp, err, 404)
	// …but the public personal project is readable by anyone.
	if _, _, err := anon.Projects.GetProject("alice/notes", nil); err != nil {
		t.Errorf("anonymous GetProject(public) = %v", err)
	}
	list, _, err := bc.Projects.ListProjects(nil)
	if err != nil || len(list) != 1 || list[0].ID != mine.ID {
		t.Errorf("bob's ListProjects = %d projects, %v; want only the public one", len(list), err)
	}

	// Membership: Alice adds Bob as Developer to the top group; he inherits it below.
	m, resp, err := ac.GroupMembers.AddGroupMember(top.ID, &gitlab.AddGroupMemberOptions{UserID: gitlab.Ptr(bob.ID), AccessLevel: gitlab.Ptr(gitlab.DeveloperPermissions)})
	if err != nil || m.AccessLevel != gitlab.DeveloperPermissions || m.Username != "bob" {
		t.Fatalf("AddGroupMember = %+v, %v", m, err)
	}
	wantStatus(t, resp, err, 201)
	_, resp, err = ac.GroupMembers.AddGroupMember(top.ID, &gitlab.AddGroupMemberOptions{UserID: gitlab.Ptr(bob.ID), AccessLevel: gitlab.Ptr(gitlab.DeveloperPermissions)})
	wantStatus(t, resp, err, 409)
	if p, _, err := bc.Projects.GetProject(app.ID, nil); err != nil || p.Permissions.GroupAccess.AccessLevel != gitlab.DeveloperPermissions {
		t.Fatalf("bob GetProject after joining = %+v, %v", p, err)
	}
	all, _, err := bc.ProjectMembers.ListAllProjectMembers(app.ID, nil)
	if err != nil || len(all) != 2 {
		t.Fatalf("ListAllProjectMembers = %d, %v; want alice (owner) and bob", len(all), err)
	}
	direct, _, err := bc.ProjectMembers.ListProjectMembers(app.ID, nil)
	if err != nil || len(direct) != 0 {
		t.Fatalf("ListProjectMembers = %d, %v; want none direct", len(direct), err)
	}
	if inh, _, err := bc.ProjectMembers.GetInheritedProjectMember(app.ID, bob.ID); err != nil || inh.AccessLevel != gitlab.DeveloperPermissions {
		t.Fatalf("GetInheritedProjectMember = %+v, %v", inh, err)
	}
	// A Developer may read but not manage: 403, not 404.
	_, resp, err = bc.Projects.EditProject(app.ID, &gitlab.EditProjectOptions{Description: gitlab.Ptr("x")})
	wantStatus(t, resp, err, 403)
	_, resp, err = bc.ProjectMembers.AddProjectMember(app.ID, &gitlab.AddProjectMemberOptions{UserID: gitlab.Ptr(alice.ID), AccessLevel: gitlab.Ptr(gitlab.GuestPermissions)})
	wantStatus(t, resp, err, 403)
	// A direct membership below the inherited one is refused.
	_, resp, err = ac.ProjectMembers.AddProjectMember(app.ID, &gitlab.AddProjectMemberOptions{UserID: gitlab.Ptr(bob.ID), AccessLevel: gitlab.Ptr(gitlab.ReporterPermissions)})
	wantStatus(t, resp, err, 400)
	pm, _, err := ac.ProjectMembers.AddProjectMember(app.ID, &gitlab.AddProjectMemberOptions{UserID: gitlab.Ptr(bob.ID), AccessLevel: gitlab.Ptr(gitlab.MaintainerPermissions)})
	if err != nil || pm.AccessLevel != gitlab.MaintainerPermissions {
		t.Fatalf("AddProjectMember(maintainer) = %+v, %v", pm, err)
	}
	if _, _, err := bc.Projects.EditProject(app.ID, &gitlab.EditProjectOptions{Description: gitlab.Ptr("ok")}); err != nil {
		t.Fatalf("maintainer EditProject: %v", err)
	}
	// A Maintainer cannot change visibility (Owner) or delete (Owner).
	_, resp, err = bc.Projects.EditProject(app.ID, &gitlab.EditProjectOptions{Visibility: gitlab.Ptr(gitlab.InternalVisibility)})
	wantStatus(t, resp, err, 403)
	resp, err = bc.Projects.DeleteProject(app.ID, nil)
	wantStatus(t, resp, err, 403)
	// Edit and remove members.
	if em, _, err := ac.ProjectMembers.EditProjectMember(app.ID, bob.ID, &gitlab.EditProjectMemberOptions{AccessLevel: gitlab.Ptr(gitlab.OwnerPermissions)}); err != nil || em.AccessLevel != gitlab.OwnerPermissions {
		t.Fatalf("EditProjectMember = %+v, %v", em, err)
	}
	if _, err := ac.ProjectMembers.DeleteProjectMember(app.ID, bob.ID); err != nil {
		t.Fatalf("DeleteProjectMember: %v", err)
	}
	if _, err := ac.GroupMembers.RemoveGroupMember(top.ID, bob.ID, nil); err != nil {
		t.Fatalf("RemoveGroupMember: %v", err)
	}
	_, resp, err = bc.Projects.GetProject(app.ID, nil)
	wantStatus(t, resp, err, 404)

	// Lists.
	groups, _, err := ac.Groups.ListGroups(nil)
	if err != nil || len(groups) != 2 {
		t.Fatalf("alice ListGroups = %d, %v; want 2", len(groups), err)
	}
	if subs, _, err := ac.Groups.ListSubGroups(top.ID, nil); err != nil || len(subs) != 1 {
		t.Fatalf("ListSubGroups = %d, %v", len(subs), err)
	}
	if ps, _, err := ac.Groups.ListGroupProjects(top.ID, &gitlab.ListGroupProjectsOptions{IncludeSubGroups: gitlab.Ptr(true)}); err != nil || len(ps) != 1 {
		t.Fatalf("ListGroupProjects(include_subgroups) = %d, %v", len(ps), err)
	}
	if ps, _, err := anon.Projects.ListUserProjects("alice", nil); err != nil || len(ps) != 1 {
		t.Fatalf("ListUserProjects = %d, %v", len(ps), err)
	}
	if ps, _, err := ac.Projects.ListProjects(&gitlab.ListProjectsOptions{Owned: gitlab.Ptr(true)}); err != nil || len(ps) != 2 {
		t.Fatalf("ListProjects(owned) = %d, %v", len(ps), err)
	}
	if gs, _, err := root.Groups.ListGroups(nil); err != nil || len(gs) != 2 {
		t.Fatalf("admin ListGroups = %d, %v", len(gs), err)
	}

	// Update and delete.
	if g, _, err := ac.Groups.UpdateGroup(sub.ID, &gitlab.UpdateGroupOptions{Path: gitlab.Ptr("plat")}); err != nil || g.FullPath != "acme/plat" {
		t.Fatalf("UpdateGroup(path) = %+v, %v", g, err)
	}
	if p, _, err := ac.Projects.GetProject("acme/plat/app", nil); err != nil || p.ID != app.ID {
		t.Fatalf("project after the group's rename = %v, %v", p, err)
	}
	if resp, err := ac.Groups.DeleteGroup(top.ID, nil); err != nil || resp.StatusCode != 202 {
		t.Fatalf("DeleteGroup = %v, %v; want 202", resp, err)
	}
	_, resp, err = ac.Projects.GetProject(app.ID, nil)
	wantStatus(t, resp, err, 404)
}
