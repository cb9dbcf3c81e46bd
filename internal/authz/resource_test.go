package authz_test

import (
	"fmt"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

var (
	external = keygate.User{ID: 5, Username: "ext", State: keygate.UserActive, Type: keygate.UserHuman, External: true}
	anon     = authz.Subject{}
	aliceAPI = authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}
	rootAPI  = authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI)}
	extAPI   = authz.Subject{User: external, Token: &keygate.Token{ID: 9, UserID: 5, Scopes: keygate.Scopes{keygate.ScopeAPI}}}
)

func res(kind authz.ResourceKind, v keygate.Visibility, access keygate.AccessLevel) authz.Resource {
	return authz.Resource{Kind: kind, ID: 3, Visibility: v, Access: access}
}

func TestCanRead(t *testing.T) {
	t.Parallel()
	proj, grp := authz.KindProject, authz.KindGroup
	adminModeRoot := authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI), AdminMode: true}
	cases := []struct {
		name string
		s    authz.Subject
		r    authz.Resource
		want bool
	}{
		{"anonymous public", anon, res(proj, keygate.Public, 0), true},
		{"anonymous internal", anon, res(proj, keygate.Internal, 0), false},
		{"anonymous private", anon, res(proj, keygate.Private, 0), false},
		{"user public", aliceAPI, res(proj, keygate.Public, 0), true},
		{"user internal", aliceAPI, res(proj, keygate.Internal, 0), true},
		{"user private without membership", aliceAPI, res(proj, keygate.Private, 0), false},
		{"user private minimal access", aliceAPI, res(grp, keygate.Private, keygate.MinimalAccess), false},
		{"user private guest", aliceAPI, res(proj, keygate.Private, keygate.Guest), true},
		{"user private planner", aliceAPI, res(proj, keygate.Private, keygate.Planner), true},
		{"user private owner", aliceAPI, res(grp, keygate.Private, keygate.Owner), true},
		{"external internal", extAPI, res(proj, keygate.Internal, 0), false},
		{"external internal member", extAPI, res(proj, keygate.Internal, keygate.Reporter), true},
		{"external public", extAPI, res(proj, keygate.Public, 0), true},
		{"admin private", rootAPI, res(proj, keygate.Private, 0), true},
		{"admin mode on without admin_mode scope", adminModeRoot, res(proj, keygate.Private, 0), false},
		{"blocked admin", authz.Subject{User: blockedRoot, Token: tokenWith(keygate.ScopeAPI)}, res(proj, keygate.Private, 0), false},
		{"system", authz.SystemSubject(), res(grp, keygate.Private, 0), true},
		{"private group containing a readable project", aliceAPI, authz.Resource{Kind: grp, Visibility: keygate.Private, Contains: true}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := authz.CanRead(c.s, c.r); got != c.want {
				t.Errorf("CanRead(%s, %+v) = %v, want %v", c.s.User.Username, c.r, got, c.want)
			}
		})
	}
}

func TestDecideResource(t *testing.T) {
	t.Parallel()
	proj, grp := authz.KindProject, authz.KindGroup
	const hidden, forbidden, unauth = 404, 403, 401
	cases := []struct {
		name   string
		s      authz.Subject
		r      authz.Resource
		a      authz.Action
		status int // 200 allowed
		msg    string
	}{
		{"hidden project read", aliceAPI, res(proj, keygate.Private, 0), authz.ActRead, hidden, "404 Project Not Found"},
		{"hidden group write", aliceAPI, res(grp, keygate.Private, 0), authz.ActDelete, hidden, "404 Group Not Found"},
		{"hidden before role", aliceAPI, res(proj, keygate.Private, 0), authz.ActManageMembers, hidden, "404 Project Not Found"},
		{"anonymous internal", anon, res(proj, keygate.Internal, 0), authz.ActRead, hidden, "404 Project Not Found"},
		{"anonymous public read", anon, res(proj, keygate.Public, 0), authz.ActRead, 200, ""},
		{"anonymous public write", anon, res(proj, keygate.Public, 0), authz.ActUpdate, unauth, ""},
		{"guest reads", aliceAPI, res(proj, keygate.Private, keygate.Guest), authz.ActRead, 200, ""},
		{"guest reads members", aliceAPI, res(proj, keygate.Private, keygate.Guest), authz.ActReadMembers, 200, ""},
		{"non-member reads public project members", aliceAPI, res(proj, keygate.Public, 0), authz.ActReadMembers, 200, ""},
		{"non-member reads internal group members", aliceAPI, res(grp, keygate.Internal, 0), authz.ActReadMembers, 200, ""},
		{"private group members through a project inside", aliceAPI, authz.Resource{Kind: grp, Visibility: keygate.Private, Contains: true}, authz.ActReadMembers, forbidden, ""},
		{"private group members as guest", aliceAPI, res(grp, keygate.Private, keygate.Guest), authz.ActReadMembers, 200, ""},
		{"private group members as admin", rootAPI, res(grp, keygate.Private, 0), authz.ActReadMembers, 200, ""},
		{"developer updates project", aliceAPI, res(proj, keygate.Private, keygate.Developer), authz.ActUpdate, forbidden, ""},
		{"maintainer updates project", aliceAPI, res(proj, keygate.Private, keygate.Maintainer), authz.ActUpdate, 200, ""},
		{"maintainer deletes project", aliceAPI, res(proj, keygate.Private, keygate.Maintainer), authz.ActDelete, forbidden, ""},
		{"owner deletes project", aliceAPI, res(proj, keygate.Private, keygate.Owner), authz.ActDelete, 200, ""},
		{"maintainer changes visibility", aliceAPI, res(proj, keygate.Private, keygate.Maintainer), authz.ActChangeVisibility, forbidden, ""},
		{"maintainer manages project members", aliceAPI, res(proj, keygate.Public, keygate.Maintainer), authz.ActManageMembers, 200, ""},
		{"maintainer manages group members", aliceAPI, res(grp, keygate.Public, keygate.Maintainer), authz.ActManageMembers, forbidden, ""},
		{"maintainer reads project tokens", aliceAPI, res(proj, keygate.Private, keygate.Maintainer), authz.ActReadTokens, 200, ""},
		{"maintainer reads group tokens", aliceAPI, res(grp, keygate.Private, keygate.Maintainer), authz.ActReadTokens, forbidden, ""},
		{"owner manages group tokens", aliceAPI, res(grp, keygate.Private, keygate.Owner), authz.ActManageTokens, 200, ""},
		{"developer creates project in group", aliceAPI, res(grp, keygate.Private, keygate.Developer), authz.ActCreateProject, 200, ""},
		{"reporter creates project in group", aliceAPI, res(grp, keygate.Private, keygate.Reporter), authz.ActCreateProject, forbidden, ""},
		{"maintainer creates subgroup", aliceAPI, res(grp, keygate.Private, keygate.Maintainer), authz.ActCreateSubgroup, 200, ""},
		{"developer creates subgroup", aliceAPI, res(grp, keygate.Private, keygate.Developer), authz.ActCreateSubgroup, forbidden, ""},
		{"admin deletes group", rootAPI, res(grp, keygate.Private, 0), authz.ActDelete, 200, ""},
		{"owner-level action on project by planner", aliceAPI, res(proj, keygate.Private, keygate.Planner), authz.ActUpdate, forbidden, ""},
		{"unknown action", aliceAPI, res(proj, keygate.Public, keygate.Owner), authz.Action("fly"), forbidden, ""},
		{"group-only action on project", aliceAPI, res(proj, keygate.Public, keygate.Owner), authz.ActCreateSubgroup, forbidden, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := authz.DecideResource(c.s, c.r, c.a)
			got := d.Status
			if d.Allowed {
				got = 200
			}
			if got != c.status || d.Allowed != (c.status == 200) {
				t.Fatalf("DecideResource(%s, %+v, %s) = %+v, want status %d", c.s.User.Username, c.r, c.a, d, c.status)
			}
			if c.msg != "" && d.Message != c.msg {
				t.Errorf("DecideResource(...).Message = %q, want %q", d.Message, c.msg)
			}
			if !d.Allowed && len(d.Reasons) == 0 {
				t.Errorf("DecideResource(...) refused without reasons: %+v", d)
			}
			if d.Status == 404 && d.Code != keygate.CodeNotFound || d.Status == 403 && d.Code != keygate.CodeForbidden {
				t.Errorf("DecideResource(...).Code = %s for status %d", d.Code, d.Status)
			}
		})
	}
}

// TestDecideResourceHidesExistence: for a subject who cannot read a resource, every
// action gets the same answer as reading it, whatever the subject's level would allow.
func TestDecideResourceHidesExistence(t *testing.T) {
	t.Parallel()
	actions := []authz.Action{authz.ActRead, authz.ActUpdate, authz.ActDelete, authz.ActReadMembers, authz.ActManageMembers,
		authz.ActReadTokens, authz.ActManageTokens, authz.ActCreateSubgroup, authz.ActCreateProject, authz.ActChangeVisibility,
		authz.ActReadServiceAcc, authz.ActAdminServiceAc}
	for _, kind := range []authz.ResourceKind{authz.KindProject, authz.KindGroup} {
		for _, s := range []authz.Subject{anon, aliceAPI, extAPI} {
			for _, v := range []keygate.Visibility{keygate.Private, keygate.Internal} {
				r := res(kind, v, 0)
				if authz.CanRead(s, r) {
					continue
				}
				want := authz.DecideResource(s, r, authz.ActRead)
				for _, a := range actions {
					if got := authz.DecideResource(s, r, a); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("DecideResource(%q, %s %s, %s) = %+v, want %+v", s.User.Username, v, kind, a, got, want)
					}
				}
			}
		}
	}
}

func TestCanAssignLevel(t *testing.T) {
	t.Parallel()
	levels := []keygate.AccessLevel{keygate.Guest, keygate.Planner, keygate.Reporter, keygate.Developer, keygate.Maintainer, keygate.Owner}
	// want[own][level]: Gitlab::Access.level_encompasses? — never above one's own, Planner
	// only by an Owner or a Planner, a Planner only Guest and Planner.
	want := map[keygate.AccessLevel][]keygate.AccessLevel{
		keygate.Guest:      {keygate.Guest},
		keygate.Planner:    {keygate.Guest, keygate.Planner},
		keygate.Reporter:   {keygate.Guest, keygate.Reporter},
		keygate.Developer:  {keygate.Guest, keygate.Reporter, keygate.Developer},
		keygate.Maintainer: {keygate.Guest, keygate.Reporter, keygate.Developer, keygate.Maintainer},
		keygate.Owner:      levels,
	}
	for _, own := range levels {
		for _, l := range levels {
			exp := false
			for _, w := range want[own] {
				exp = exp || w == l
			}
			if got := authz.CanAssignLevel(aliceAPI, own, l); got != exp {
				t.Errorf("CanAssignLevel(alice, %s, %s) = %v, want %v", own, l, got, exp)
			}
			if !authz.CanAssignLevel(rootAPI, own, l) {
				t.Errorf("CanAssignLevel(admin, %s, %s) = false, want true", own, l)
			}
		}
	}
}

func TestVisibleFloor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		s       authz.Subject
		floor   keygate.Visibility
		limited bool
	}{
		{"anonymous", anon, keygate.Public, true},
		{"user", aliceAPI, keygate.Internal, true},
		{"external", extAPI, keygate.Public, true},
		{"admin", rootAPI, "", false},
		{"admin without admin_mode while on", authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI), AdminMode: true}, keygate.Internal, true},
		{"system", authz.SystemSubject(), "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if floor, limited := authz.VisibleFloor(c.s); floor != c.floor || limited != c.limited {
				t.Errorf("VisibleFloor(%s) = %q, %v, want %q, %v", c.name, floor, limited, c.floor, c.limited)
			}
		})
	}
}

func TestRequiredLevel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind authz.ResourceKind
		a    authz.Action
		want keygate.AccessLevel
		ok   bool
	}{
		{authz.KindProject, authz.ActUpdate, keygate.Maintainer, true},
		{authz.KindProject, authz.ActDelete, keygate.Owner, true},
		{authz.KindProject, authz.ActManageTokens, keygate.Maintainer, true},
		{authz.KindGroup, authz.ActManageTokens, keygate.Owner, true},
		{authz.KindGroup, authz.ActCreateProject, keygate.Developer, true},
		{authz.KindGroup, authz.ActAdminServiceAc, keygate.Owner, true},
		{authz.KindProject, authz.ActCreateSubgroup, 0, false},
		{authz.KindNone, authz.ActRead, 0, false},
	}
	for _, c := range cases {
		if got, ok := authz.RequiredLevel(c.kind, c.a); got != c.want || ok != c.ok {
			t.Errorf("RequiredLevel(%q, %s) = %s, %v, want %s, %v", c.kind, c.a, got, ok, c.want, c.ok)
		}
	}
}
