package authz_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

func fineSubject(admin bool, scopes ...keygate.GranularScope) authz.Subject {
	return authz.Subject{
		User:  keygate.User{ID: 2, Username: "fine", State: keygate.UserActive, Type: keygate.UserHuman, Admin: admin},
		Token: &keygate.Token{ID: 9, UserID: 2, Granular: true, GranularScopes: scopes},
	}
}

func sel(perms []string, project, group int64) keygate.GranularScope {
	return keygate.GranularScope{Access: keygate.AccessSelectedMemberships, Permissions: perms, ProjectID: project, GroupID: group}
}

// Namespaces: 1 (top) > 5 (sub) > project 50; 2 (other top) > project 60; 7 is the
// user's personal namespace with project 70.
var (
	proj50 = authz.Boundary{Kind: authz.BoundaryProject, Found: true, ID: 50, Namespaces: []int64{1, 5}, Access: keygate.Developer, Readable: true}
	grp5   = authz.Boundary{Kind: authz.BoundaryGroup, Found: true, ID: 5, Namespaces: []int64{1, 5}, Access: keygate.Developer, Readable: true}
	proj70 = authz.Boundary{Kind: authz.BoundaryProject, Found: true, ID: 70, Namespaces: []int64{7}, Access: keygate.Owner, Readable: true}
	user   = authz.Boundary{Kind: authz.BoundaryUser, Found: true}
	inst   = authz.Boundary{Kind: authz.BoundaryInstance, Found: true}
)

func TestDecideGranular(t *testing.T) {
	readMember := authz.FineRule{Permissions: []string{"read_member"}, Boundary: authz.BoundaryProject, Param: "id"}
	readUser := authz.FineRule{Permissions: []string{"read_user"}, Boundary: authz.BoundaryUser}
	updSettings := authz.FineRule{Permissions: []string{"update_application_setting"}, Boundary: authz.BoundaryInstance}
	two := authz.FineRule{Permissions: []string{"read_project", "read_member"}, Boundary: authz.BoundaryGroup, Param: "id"}
	legacy := authz.Subject{User: keygate.User{ID: 2, State: keygate.UserActive, Type: keygate.UserHuman}, Token: &keygate.Token{ID: 3, Scopes: keygate.Scopes{keygate.ScopeAPI}}}
	notMember := proj50
	notMember.Access = keygate.NoAccess
	hidden := notMember
	hidden.Readable = false
	missing := authz.Boundary{Kind: authz.BoundaryProject}
	const memberMsg = "This operation requires a fine-grained personal access token with the following project permissions: [Member: Read]."
	cases := []struct {
		name     string
		s        authz.Subject
		r        authz.FineRule
		b        authz.Boundary
		enforced bool
		status   int
		message  string
	}{
		{"legacy token passes", legacy, readMember, proj50, false, 200, ""},
		{"legacy token under an enforcing group", legacy, readMember, proj50, true, 403, memberMsg},
		{"legacy bot token under an enforcing group passes", authz.Subject{User: keygate.User{ID: 4, Type: keygate.UserProjectBot}, Token: legacy.Token}, readMember, proj50, true, 200, ""},
		{"selected project", fineSubject(false, sel([]string{"read_member"}, 50, 0)), readMember, proj50, false, 200, ""},
		{"selected ancestor group", fineSubject(false, sel([]string{"read_member"}, 0, 1)), readMember, proj50, false, 200, ""},
		{"selected parent group", fineSubject(false, sel([]string{"read_member"}, 0, 5)), readMember, proj50, false, 200, ""},
		{"all memberships", fineSubject(false, keygate.GranularScope{Access: keygate.AccessAllMemberships, Permissions: []string{"read_member"}}), readMember, proj50, false, 200, ""},
		{"personal projects on a personal project", fineSubject(false, keygate.GranularScope{Access: keygate.AccessPersonalProjects, Permissions: []string{"read_member"}, NamespaceID: 7}), readMember, proj70, false, 200, ""},
		{"personal projects elsewhere", fineSubject(false, keygate.GranularScope{Access: keygate.AccessPersonalProjects, Permissions: []string{"read_member"}, NamespaceID: 7}), readMember, proj50, false, 403, memberMsg},
		{"no permission", fineSubject(false, keygate.GranularScope{Access: keygate.AccessUser, Permissions: []string{"read_user"}}), readMember, proj50, false, 403, memberMsg},
		{"wrong permission", fineSubject(false, sel([]string{"read_project"}, 50, 0)), readMember, proj50, false, 403, memberMsg},
		{"right permission, wrong project", fineSubject(false, sel([]string{"read_member"}, 60, 0)), readMember, proj50, false, 403, memberMsg},
		{"right permission, other group", fineSubject(false, sel([]string{"read_member"}, 0, 2)), readMember, proj50, false, 403, memberMsg},
		{"a project scope does not cover its group", fineSubject(false, sel([]string{"read_project", "read_member"}, 50, 0)), two, grp5, false, 403,
			"This operation requires a fine-grained personal access token with the following group permissions: [Member: Read, Project: Read]."},
		{"all of two permissions", fineSubject(false, sel([]string{"read_member", "read_project"}, 0, 1)), two, grp5, false, 200, ""},
		{"one of two permissions", fineSubject(false, sel([]string{"read_member"}, 0, 1), sel([]string{"read_project"}, 0, 2)), two, grp5, false, 403,
			"This operation requires a fine-grained personal access token with the following group permissions: [Member: Read, Project: Read]."},
		{"not a member (role still applies)", fineSubject(false, keygate.GranularScope{Access: keygate.AccessAllMemberships, Permissions: []string{"read_member"}}), readMember, notMember, false, 403, memberMsg},
		{"admin counts as member", fineSubject(true, keygate.GranularScope{Access: keygate.AccessAllMemberships, Permissions: []string{"read_member"}}), readMember, notMember, false, 200, ""},
		{"unreadable boundary", fineSubject(false, sel([]string{"read_project"}, 60, 0)), readMember, hidden, false, 404, "404 Project Not Found"},
		{"missing boundary", fineSubject(false, sel([]string{"read_member"}, 50, 0)), readMember, missing, false, 404, "404 Project Not Found"},
		{"user scope", fineSubject(false, keygate.GranularScope{Access: keygate.AccessUser, Permissions: []string{"read_user"}}), readUser, user, false, 200, ""},
		{"instance scope is not user", fineSubject(true, keygate.GranularScope{Access: keygate.AccessInstance, Permissions: []string{"read_user"}}), readUser, user, false, 403,
			"This operation requires a fine-grained personal access token with the following user permissions: [User: Read]."},
		{"instance scope", fineSubject(true, keygate.GranularScope{Access: keygate.AccessInstance, Permissions: []string{"update_application_setting"}}), updSettings, inst, false, 200, ""},
		{"unsupported route", fineSubject(false), authz.FineRule{Unsupported: "job tokens only"}, user, false, 403, authz.MsgGranularUnsupported},
		{"undeclared route", fineSubject(false), authz.FineRule{}, user, false, 403, authz.MsgGranularUnsupported},
		{"open route", fineSubject(false), authz.FineRule{Open: "public"}, user, false, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := authz.DecideGranular(c.s, c.r, c.b, c.enforced)
			if d.Status != c.status || d.Message != c.message || d.Allowed != (c.status == 200) {
				t.Errorf("DecideGranular = %d %q (allowed %v), want %d %q", d.Status, d.Message, d.Allowed, c.status, c.message)
			}
			if d.Status == 403 && d.Code != keygate.CodeInsufficientGranularScope {
				t.Errorf("DecideGranular code = %s, want insufficient_granular_scope", d.Code)
			}
			if d.Status == 403 && len(d.Reasons) == 0 {
				t.Errorf("DecideGranular gives no reasons for a 403")
			}
		})
	}
}

func TestGranularReasonsNameWhatIsMissing(t *testing.T) {
	notMember := proj50
	notMember.Access = keygate.NoAccess
	r := authz.FineRule{Permissions: []string{"read_member"}, Boundary: authz.BoundaryProject, Param: "id"}
	d := authz.DecideGranular(fineSubject(false, sel([]string{"read_member"}, 60, 0)), r, notMember, false)
	joined := strings.Join(d.Reasons, "\n")
	for _, want := range []string{"missing permission: read_member (Member: Read) on the project", "other boundaries only", "missing role"} {
		if !strings.Contains(joined, want) {
			t.Errorf("reasons %q lack %q", joined, want)
		}
	}
}

func TestPermissionLabel(t *testing.T) {
	for name, want := range map[string]string{
		"read_member": "Member: Read", "update_application_setting": "Application Setting: Update",
		"create_resource_access_token": "Resource Access Token: Create", "download_code": "Code: Download",
	} {
		if got := authz.PermissionLabel(name); got != want {
			t.Errorf("PermissionLabel(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestCatalogue(t *testing.T) {
	ps := authz.Permissions()
	if !slices.IsSortedFunc(ps, func(a, b authz.Permission) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatal("the catalogue is not sorted by name (LookupPermission searches it)")
	}
	banned := []string{"admin", "change", "destroy", "edit", "list", "manage", "modify", "set", "view", "write"}
	for _, p := range ps {
		if got, ok := authz.LookupPermission(p.Name); !ok || got.Name != p.Name {
			t.Errorf("LookupPermission(%q) = %v, %v", p.Name, got, ok)
		}
		action, _, _ := strings.Cut(p.Name, "_")
		if slices.Contains(banned, action) {
			t.Errorf("permission %s uses a banned verb (spec §1.4)", p.Name)
		}
		if len(p.Boundaries) == 0 || p.Description == "" {
			t.Errorf("permission %s lacks boundaries or a description", p.Name)
		}
	}
	if _, ok := authz.LookupPermission("read_everything"); ok {
		t.Error("LookupPermission(read_everything) found something")
	}
}

func TestValidateGranularScopes(t *testing.T) {
	human := keygate.User{ID: 2, Type: keygate.UserHuman}
	admin := keygate.User{ID: 1, Type: keygate.UserHuman, Admin: true}
	userScope := func(perms ...string) keygate.GranularScope {
		return keygate.GranularScope{Access: keygate.AccessUser, Permissions: perms}
	}
	cases := []struct {
		name   string
		owner  keygate.User
		scopes []keygate.GranularScope
		want   string
	}{
		{"fine", human, []keygate.GranularScope{userScope("read_user"), sel([]string{"read_project", "read_member"}, 0, 3), sel([]string{"push_code"}, 12, 0)}, ""},
		{"none", human, nil, authz.MsgGranularNoScopes},
		{"empty permissions", human, []keygate.GranularScope{userScope()}, "granular_scopes[0][permissions] is empty"},
		{"unknown permission", human, []keygate.GranularScope{userScope("read_everything")}, "granular_scopes[0][permissions] has an unknown permission: read_everything"},
		{"duplicate permission", human, []keygate.GranularScope{userScope("read_user", "read_user")}, "granular_scopes[0][permissions] has a duplicate permission: read_user"},
		{"wrong boundary", human, []keygate.GranularScope{userScope("read_member")}, "granular_scopes[0][permissions] has a permission that does not apply to user access: read_member"},
		{"group permission on a project", human, []keygate.GranularScope{sel([]string{"update_group"}, 12, 0)}, "granular_scopes[0][permissions] has a permission that does not apply to selected_memberships access: update_group"},
		{"same namespace twice", human, []keygate.GranularScope{sel([]string{"read_project"}, 0, 3), sel([]string{"read_member"}, 0, 3)}, authz.MsgGranularSameNamespace},
		{"two user scopes", human, []keygate.GranularScope{userScope("read_user"), userScope("read_personal_access_token")}, authz.MsgGranularSameNamespace},
		{"two instance scopes", admin, []keygate.GranularScope{{Access: keygate.AccessInstance, Permissions: []string{"read_user"}}, {Access: keygate.AccessInstance, Permissions: []string{"create_user"}}}, authz.MsgGranularTwoInstance},
		{"instance for a non-admin", human, []keygate.GranularScope{{Access: keygate.AccessInstance, Permissions: []string{"read_user"}}}, authz.MsgGranularInstanceAdmin},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idx := make([]int, len(c.scopes))
			msg, ok := authz.ValidateGranularScopes(c.owner, c.scopes, idx)
			if msg != c.want || ok != (c.want == "") {
				t.Errorf("ValidateGranularScopes = %q, %v, want %q", msg, ok, c.want)
			}
		})
	}
}

func TestLesser(t *testing.T) {
	anc := func(sc keygate.GranularScope) []int64 {
		switch {
		case sc.GroupID == 5, sc.ProjectID == 50:
			return []int64{1, 5}
		case sc.GroupID == 1:
			return []int64{1}
		}
		return nil
	}
	all := keygate.GranularScope{Access: keygate.AccessAllMemberships, Permissions: []string{"read_project", "read_member"}}
	cases := []struct {
		name       string
		have, want []keygate.GranularScope
		ok         bool
	}{
		{"same", []keygate.GranularScope{sel([]string{"read_project"}, 0, 5)}, []keygate.GranularScope{sel([]string{"read_project"}, 0, 5)}, true},
		{"below an ancestor", []keygate.GranularScope{sel([]string{"read_project"}, 0, 1)}, []keygate.GranularScope{sel([]string{"read_project"}, 0, 5), sel([]string{"read_project"}, 50, 0)}, true},
		{"above", []keygate.GranularScope{sel([]string{"read_project"}, 0, 5)}, []keygate.GranularScope{sel([]string{"read_project"}, 0, 1)}, false},
		{"more permissions", []keygate.GranularScope{sel([]string{"read_project"}, 0, 1)}, []keygate.GranularScope{sel([]string{"read_project", "read_member"}, 0, 5)}, false},
		{"under all memberships", []keygate.GranularScope{all}, []keygate.GranularScope{sel([]string{"read_member"}, 0, 5)}, true},
		{"all memberships from selected", []keygate.GranularScope{sel([]string{"read_project"}, 0, 1)}, []keygate.GranularScope{{Access: keygate.AccessAllMemberships, Permissions: []string{"read_project"}}}, false},
		{"user from user", []keygate.GranularScope{{Access: keygate.AccessUser, Permissions: []string{"read_user", "read_personal_access_token"}}}, []keygate.GranularScope{{Access: keygate.AccessUser, Permissions: []string{"read_user"}}}, true},
		{"instance from user", []keygate.GranularScope{{Access: keygate.AccessUser, Permissions: []string{"read_user"}}}, []keygate.GranularScope{{Access: keygate.AccessInstance, Permissions: []string{"read_user"}}}, false},
		{"personal from all", []keygate.GranularScope{all}, []keygate.GranularScope{{Access: keygate.AccessPersonalProjects, Permissions: []string{"read_project"}, NamespaceID: 7}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := authz.Lesser(c.have, c.want, anc); got != c.ok {
				t.Errorf("Lesser = %v, want %v", got, c.ok)
			}
		})
	}
}

// TestSuggestIsExact: the suggested grant allows every need and, once any one
// permission is dropped from it, refuses some need.
func TestSuggestIsExact(t *testing.T) {
	needs := []authz.Need{
		{Permissions: []string{"read_member"}, Kind: authz.BoundaryProject, ID: 50},
		{Permissions: []string{"read_project"}, Kind: authz.BoundaryProject, ID: 50},
		{Permissions: []string{"read_member"}, Kind: authz.BoundaryProject, ID: 60},
		{Permissions: []string{"read_project"}, Kind: authz.BoundaryProject, ID: 60},
		{Permissions: []string{"update_group"}, Kind: authz.BoundaryGroup, ID: 5},
		{Permissions: []string{"read_user"}, Kind: authz.BoundaryUser},
	}
	grant := authz.Suggest(needs)
	want := []authz.SuggestedScope{
		{Access: keygate.AccessUser, Permissions: []string{"read_user"}},
		{Access: keygate.AccessSelectedMemberships, Permissions: []string{"read_member", "read_project"}, ProjectIDs: []int64{50, 60}},
		{Access: keygate.AccessSelectedMemberships, Permissions: []string{"update_group"}, GroupIDs: []int64{5}},
	}
	if !slices.EqualFunc(grant, want, func(a, b authz.SuggestedScope) bool {
		return a.Access == b.Access && slices.Equal(a.Permissions, b.Permissions) && slices.Equal(a.ProjectIDs, b.ProjectIDs) && slices.Equal(a.GroupIDs, b.GroupIDs)
	}) {
		t.Fatalf("Suggest = %+v, want %+v", grant, want)
	}
	bound := func(n authz.Need) authz.Boundary {
		b := authz.Boundary{Kind: n.Kind, Found: true, ID: n.ID, Access: keygate.Developer, Readable: true}
		switch n.ID {
		case 50:
			b.Namespaces = []int64{1, 5}
		case 60:
			b.Namespaces = []int64{2}
		case 5:
			b.Namespaces = []int64{1, 5}
		}
		return b
	}
	allows := func(scopes []keygate.GranularScope) bool {
		s := fineSubject(false, scopes...)
		for _, n := range needs {
			if !authz.DecideGranular(s, authz.FineRule{Permissions: n.Permissions, Boundary: n.Kind}, bound(n), false).Allowed {
				return false
			}
		}
		return true
	}
	scopes := authz.Expand(grant)
	if !allows(scopes) {
		t.Fatal("the suggested grant does not allow every need")
	}
	for i := range scopes {
		for j := range scopes[i].Permissions {
			fewer := slices.Clone(scopes)
			fewer[i].Permissions = slices.Delete(slices.Clone(fewer[i].Permissions), j, j+1)
			if allows(fewer) {
				t.Errorf("dropping %s from scope %d still allows everything: the grant is not the smallest", scopes[i].Permissions[j], i)
			}
		}
	}
}

// TestGranularProperty checks DecideGranular against a small reference model on random
// group trees, memberships and grants: a permission holds on a project or group exactly
// when the user is a member (directly or through an ancestor group) or an admin, and a
// scope granting it is all_memberships, or selects the project, or selects the group
// or one of its ancestors (walking parent links, not traversal IDs).
func TestGranularProperty(t *testing.T) {
	perms := []string{"read_project", "read_member", "update_project", "push_code"}
	rng := rand.New(rand.NewPCG(11, 17))
	for iter := range 300 {
		// A random forest of 12 groups: parent[i] < i, or 0 for a top-level group.
		const nGroups, nProjects = 12, 10
		parent := make([]int64, nGroups+1)
		for g := 2; g <= nGroups; g++ {
			if rng.IntN(3) > 0 {
				parent[g] = int64(1 + rng.IntN(g-1))
			}
		}
		chain := func(g int64) []int64 { // top-down traversal IDs
			var out []int64
			for ; g != 0; g = parent[g] {
				out = append([]int64{g}, out...)
			}
			return out
		}
		projGroup := make([]int64, nProjects+1)
		for p := 1; p <= nProjects; p++ {
			projGroup[p] = int64(1 + rng.IntN(nGroups))
		}
		memberOf := map[int64]bool{}
		for g := int64(1); g <= nGroups; g++ {
			memberOf[g] = rng.IntN(4) == 0
		}
		projMember := map[int64]bool{}
		for p := int64(1); p <= nProjects; p++ {
			projMember[p] = rng.IntN(5) == 0
		}
		admin := rng.IntN(10) == 0
		var scopes []keygate.GranularScope
		for range 1 + rng.IntN(5) {
			ps := []string{perms[rng.IntN(len(perms))]}
			switch rng.IntN(3) {
			case 0:
				scopes = append(scopes, keygate.GranularScope{Access: keygate.AccessAllMemberships, Permissions: ps})
			case 1:
				scopes = append(scopes, sel(ps, 0, int64(1+rng.IntN(nGroups))))
			default:
				scopes = append(scopes, sel(ps, int64(1+rng.IntN(nProjects)), 0))
			}
		}
		s := fineSubject(admin, scopes...)
		// The model.
		inheritedMember := func(g int64) bool {
			for ; g != 0; g = parent[g] {
				if memberOf[g] {
					return true
				}
			}
			return false
		}
		modelHolds := func(perm string, project, group int64) bool {
			member := admin
			if project != 0 {
				member = member || projMember[project] || inheritedMember(projGroup[project])
				group = projGroup[project]
			} else {
				member = member || inheritedMember(group)
			}
			if !member {
				return false
			}
			for _, sc := range scopes {
				if !slices.Contains(sc.Permissions, perm) {
					continue
				}
				switch {
				case sc.Access == keygate.AccessAllMemberships:
					return true
				case sc.ProjectID != 0:
					if project != 0 && sc.ProjectID == project {
						return true
					}
				default:
					for g := group; g != 0; g = parent[g] {
						if g == sc.GroupID {
							return true
						}
					}
				}
			}
			return false
		}
		for _, perm := range perms {
			for p := int64(1); p <= nProjects; p++ {
				access := keygate.NoAccess
				if projMember[p] || inheritedMember(projGroup[p]) {
					access = keygate.Developer
				}
				b := authz.Boundary{Kind: authz.BoundaryProject, Found: true, ID: p, Namespaces: chain(projGroup[p]), Access: access, Readable: true}
				got := authz.DecideGranular(s, authz.FineRule{Permissions: []string{perm}, Boundary: authz.BoundaryProject, Param: "id"}, b, false).Allowed
				if want := modelHolds(perm, p, 0); got != want {
					t.Fatalf("iteration %d: %s on project %d (group chain %v, scopes %+v, admin %v) = %v, model says %v", iter, perm, p, chain(projGroup[p]), scopes, admin, got, want)
				}
			}
			for g := int64(1); g <= nGroups; g++ {
				access := keygate.NoAccess
				if inheritedMember(g) {
					access = keygate.Developer
				}
				b := authz.Boundary{Kind: authz.BoundaryGroup, Found: true, ID: g, Namespaces: chain(g), Access: access, Readable: true}
				got := authz.DecideGranular(s, authz.FineRule{Permissions: []string{perm}, Boundary: authz.BoundaryGroup, Param: "id"}, b, false).Allowed
				if want := modelHolds(perm, 0, g); got != want {
					t.Fatalf("iteration %d: %s on group %d (chain %v, scopes %+v) = %v, model says %v", iter, perm, g, chain(g), scopes, got, want)
				}
			}
		}
	}
}
