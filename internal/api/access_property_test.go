package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// The access model the property test checks the server against: GitLab's effective
// access level (the highest active direct membership of the resource and its ancestor
// groups) and visibility rules (public for everyone, internal for signed-in non-external
// users, private for those with at least Guest, everything for administrators; a group
// is also visible to whoever can see a project or subgroup inside it).

type modelGroup struct {
	id       int64
	parent   int // index in model.groups, -1 at the top
	vis      keygate.Visibility
	children []int // subgroup indexes
	projects []int // project indexes
}

type modelProject struct {
	id    int64
	group int // index in model.groups
	vis   keygate.Visibility
}

type modelMember struct {
	level keygate.AccessLevel
	exp   *keygate.Date
}

type modelUser struct {
	user     keygate.User
	token    string // "" for anonymous
	admin    bool
	external bool
	// direct memberships, by group and project index
	groups, projects map[int]modelMember
}

type accessModel struct {
	groups   []modelGroup
	projects []modelProject
	users    []*modelUser
	today    keygate.Date
}

func (m *accessModel) active(mm modelMember, ok bool) keygate.AccessLevel {
	if !ok || mm.exp != nil && !mm.exp.After(m.today) {
		return keygate.NoAccess
	}
	return mm.level
}

// groupLevel is the user's effective level on group gi: the highest active direct
// membership of the group and its ancestors.
func (m *accessModel) groupLevel(u *modelUser, gi int) keygate.AccessLevel {
	best := keygate.NoAccess
	for ; gi >= 0; gi = m.groups[gi].parent {
		mm, ok := u.groups[gi]
		best = max(best, m.active(mm, ok))
	}
	return best
}

func (m *accessModel) projectDirect(u *modelUser, pi int) keygate.AccessLevel {
	mm, ok := u.projects[pi]
	return m.active(mm, ok)
}

func (m *accessModel) projectLevel(u *modelUser, pi int) keygate.AccessLevel {
	return max(m.projectDirect(u, pi), m.groupLevel(u, m.projects[pi].group))
}

func (m *accessModel) visibleWithout(u *modelUser, v keygate.Visibility) bool {
	return u.admin || v == keygate.Public || v == keygate.Internal && u.token != "" && !u.external
}

func (m *accessModel) canReadProject(u *modelUser, pi int) bool {
	return m.visibleWithout(u, m.projects[pi].vis) || m.projectLevel(u, pi) >= keygate.Guest
}

func (m *accessModel) canReadGroup(u *modelUser, gi int) bool {
	g := m.groups[gi]
	if m.visibleWithout(u, g.vis) || m.groupLevel(u, gi) >= keygate.Guest {
		return true
	}
	for _, c := range g.children {
		if m.canReadGroup(u, c) {
			return true
		}
	}
	for _, p := range g.projects {
		if m.canReadProject(u, p) {
			return true
		}
	}
	return false
}

var (
	modelVisibilities = []keygate.Visibility{keygate.Private, keygate.Internal, keygate.Public}
	modelLevels       = []keygate.AccessLevel{keygate.Guest, keygate.Planner, keygate.Reporter, keygate.Developer, keygate.Maintainer, keygate.Owner}
)

// lowerVisibility picks a visibility no higher than v (a child is never more visible
// than its parent).
func lowerVisibility(r *rand.Rand, v keygate.Visibility) keygate.Visibility {
	var ok []keygate.Visibility
	for _, c := range modelVisibilities {
		if c.Level() <= v.Level() {
			ok = append(ok, c)
		}
	}
	return ok[r.IntN(len(ok))]
}

// buildAccessModel creates a random world on srv and returns its model: up to three
// top-level groups, subgroups down to depth 5 (ten groups at most), up to two projects
// per group, four users and an external one with random direct memberships (some
// expiring), an anonymous caller and the administrator. The clock then moves two days,
// expiring some of the memberships.
func buildAccessModel(t *testing.T, srv *keygatetest.Server, r *rand.Rand) *accessModel {
	t.Helper()
	ctx := context.Background()
	sys := authz.SystemSubject()
	m := &accessModel{}
	var addGroup func(parent int, depth int)
	addGroup = func(parent int, depth int) {
		if len(m.groups) >= 10 {
			return
		}
		vis := modelVisibilities[r.IntN(3)]
		var pid int64
		if parent >= 0 {
			vis = lowerVisibility(r, m.groups[parent].vis)
			pid = m.groups[parent].id
		}
		name := fmt.Sprintf("g%d", len(m.groups))
		g, err := srv.Service.CreateGroup(ctx, sys, service.NamespaceInput{Name: &name, Path: &name, Visibility: &vis, ParentID: pid})
		if err != nil {
			t.Fatalf("CreateGroup(%s): %v", name, err)
		}
		gi := len(m.groups)
		m.groups = append(m.groups, modelGroup{id: g.ID, parent: parent, vis: vis})
		if parent >= 0 {
			m.groups[parent].children = append(m.groups[parent].children, gi)
		}
		for range r.IntN(3) {
			pname := fmt.Sprintf("p%d", len(m.projects))
			pvis := lowerVisibility(r, vis)
			p, err := srv.Service.CreateProject(ctx, sys, service.NamespaceInput{Name: &pname, Visibility: &pvis, ParentID: g.ID})
			if err != nil {
				t.Fatalf("CreateProject(%s): %v", pname, err)
			}
			m.groups[gi].projects = append(m.groups[gi].projects, len(m.projects))
			m.projects = append(m.projects, modelProject{id: p.ID, group: gi, vis: pvis})
		}
		if depth < 5 {
			for range r.IntN(3) {
				addGroup(gi, depth+1)
			}
		}
	}
	for range 1 + r.IntN(3) {
		addGroup(-1, 1)
	}

	root, err := srv.Service.User(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.users = append(m.users,
		&modelUser{}, // anonymous
		&modelUser{user: root, token: srv.RootToken, admin: true},
	)
	yes := true
	for i := range 5 {
		u := srv.User(t, fmt.Sprintf("u%d", i), false)
		mu := &modelUser{user: u, groups: map[int]modelMember{}, projects: map[int]modelMember{}}
		if i == 4 {
			if u, err = srv.Service.UpdateUser(ctx, sys, u.ID, service.UserInput{External: &yes}); err != nil {
				t.Fatal(err)
			}
			mu.user, mu.external = u, true
		}
		mu.token = srv.Token(t, u.ID, "prop", keygate.ScopeAPI)
		m.users = append(m.users, mu)
	}

	// Direct memberships in random order. Keygate, like GitLab, refuses a direct
	// membership below one inherited from an ancestor; such draws are left out.
	type slot struct {
		user, index int
		project     bool
	}
	var slots []slot
	for ui, u := range m.users {
		if u.groups == nil {
			continue
		}
		for gi := range m.groups {
			if r.IntN(5) == 0 {
				slots = append(slots, slot{ui, gi, false})
			}
		}
		for pi := range m.projects {
			if r.IntN(6) == 0 {
				slots = append(slots, slot{ui, pi, true})
			}
		}
	}
	r.Shuffle(len(slots), func(i, j int) { slots[i], slots[j] = slots[j], slots[i] })
	today := keygate.DateOf(srv.Clock.Now())
	for _, s := range slots {
		u := m.users[s.user]
		mm := modelMember{level: modelLevels[r.IntN(len(modelLevels))]}
		if r.IntN(3) == 0 {
			d := today.AddDays(1 + r.IntN(4)) // 1-2 days: expired after the clock moves
			mm.exp = &d
		}
		gi := s.index
		kind, id := authz.KindGroup, int64(0)
		if s.project {
			gi, kind, id = m.projects[s.index].group, authz.KindProject, m.projects[s.index].id
		} else {
			gi, id = m.groups[s.index].parent, m.groups[s.index].id
		}
		inherited := keygate.NoAccess
		for a := gi; a >= 0; a = m.groups[a].parent {
			if am, ok := u.groups[a]; ok {
				inherited = max(inherited, am.level)
			}
		}
		if mm.level < inherited {
			continue
		}
		addMemberAt(t, srv.Service, kind, id, u.user.ID, mm.level, mm.exp)
		if s.project {
			u.projects[s.index] = mm
		} else {
			u.groups[s.index] = mm
		}
	}
	srv.Clock.Advance(48 * time.Hour)
	m.today = keygate.DateOf(srv.Clock.Now())
	return m
}

// getJSON is a raw GET as the given token ("" anonymous) returning status and body.
func getJSON(t *testing.T, srv *keygatetest.Server, token, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.API+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func levelOrNil(l keygate.AccessLevel) *int {
	if l == keygate.NoAccess {
		return nil
	}
	n := int(l)
	return &n
}

func fmtLevel(p *int) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// TestAccessProperty compares the server's answers with the model for random group
// trees and memberships: for every caller and resource, GET /projects/:id (status and
// permissions), GET /groups/:id, the members/all level an administrator sees, and the
// project list.
func TestAccessProperty(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "postgres" && os.Getenv("KEYGATE_TEST_DATABASE_URL") == "" {
				t.Skip("KEYGATE_TEST_DATABASE_URL not set: skipping PostgreSQL test")
			}
			seeds := uint64(20)
			if backend == "postgres" {
				seeds = 6 // the same queries; fewer worlds keep the run short
			}
			for seed := uint64(1); seed <= seeds; seed++ {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					t.Parallel()
					srv := keygatetest.NewServerWith(t, keygatetest.Options{Postgres: backend == "postgres"})
					m := buildAccessModel(t, srv, rand.New(rand.NewPCG(seed, 0x6b657967617465)))
					checkAccessModel(t, srv, m)
				})
			}
		})
	}
}

func checkAccessModel(t *testing.T, srv *keygatetest.Server, m *accessModel) {
	t.Helper()
	for ui, u := range m.users {
		who := fmt.Sprintf("user %d (%q admin=%v external=%v)", ui, u.user.Username, u.admin, u.external)
		var wantList []int64
		for pi, p := range m.projects {
			path := fmt.Sprintf("/projects/%d", p.id)
			status, b := getJSON(t, srv, u.token, path)
			if !m.canReadProject(u, pi) {
				if status != 404 || string(b) != `{"message":"404 Project Not Found"}`+"\n" {
					t.Errorf("GET %s as %s = %d %s, want 404 Project Not Found (level %d, %s)", path, who, status, b, m.projectLevel(u, pi), p.vis)
				}
				continue
			}
			wantList = append(wantList, p.id)
			if status != 200 {
				t.Errorf("GET %s as %s = %d %s, want 200 (level %d, %s)", path, who, status, b, m.projectLevel(u, pi), p.vis)
				continue
			}
			if u.token == "" {
				continue
			}
			var got struct {
				Permissions *struct {
					ProjectAccess *struct {
						AccessLevel int `json:"access_level"`
					} `json:"project_access"`
					GroupAccess *struct {
						AccessLevel int `json:"access_level"`
					} `json:"group_access"`
				} `json:"permissions"`
			}
			if err := json.Unmarshal(b, &got); err != nil || got.Permissions == nil {
				t.Errorf("GET %s as %s: no permissions in %s", path, who, b)
				continue
			}
			var gotP, gotG *int
			if pa := got.Permissions.ProjectAccess; pa != nil {
				gotP = &pa.AccessLevel
			}
			if ga := got.Permissions.GroupAccess; ga != nil {
				gotG = &ga.AccessLevel
			}
			wantP, wantG := levelOrNil(m.projectDirect(u, pi)), levelOrNil(m.groupLevel(u, p.group))
			if fmtLevel(gotP) != fmtLevel(wantP) || fmtLevel(gotG) != fmtLevel(wantG) {
				t.Errorf("GET %s as %s: permissions project_access %s group_access %s, want %s %s",
					path, who, fmtLevel(gotP), fmtLevel(gotG), fmtLevel(wantP), fmtLevel(wantG))
			}
		}
		for gi, g := range m.groups {
			path := fmt.Sprintf("/groups/%d?with_projects=false", g.id)
			status, b := getJSON(t, srv, u.token, path)
			want := 200
			if !m.canReadGroup(u, gi) {
				want = 404
			}
			if status != want || want == 404 && string(b) != `{"message":"404 Group Not Found"}`+"\n" {
				t.Errorf("GET %s as %s = %d %s, want %d (level %d, %s)", path, who, status, b, want, m.groupLevel(u, gi), g.vis)
			}
		}
		status, b := getJSON(t, srv, u.token, "/projects?per_page=100&order_by=id&sort=asc")
		var list []struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(b, &list); status != 200 || err != nil {
			t.Errorf("GET /projects as %s = %d %s", who, status, b)
		}
		var gotList []int64
		for _, p := range list {
			gotList = append(gotList, p.ID)
		}
		if !slices.Equal(gotList, wantList) {
			t.Errorf("GET /projects as %s = %v, want %v", who, gotList, wantList)
		}

		// Effective levels as an administrator sees them in the members API.
		if u.groups == nil {
			continue
		}
		for pi, p := range m.projects {
			checkMemberLevel(t, srv, fmt.Sprintf("/projects/%d/members/all/%d", p.id, u.user.ID), m.projectLevel(u, pi))
			checkMemberLevel(t, srv, fmt.Sprintf("/projects/%d/members/%d", p.id, u.user.ID), m.projectDirect(u, pi))
		}
		for gi, g := range m.groups {
			checkMemberLevel(t, srv, fmt.Sprintf("/groups/%d/members/all/%d", g.id, u.user.ID), m.groupLevel(u, gi))
		}
	}
}

func checkMemberLevel(t *testing.T, srv *keygatetest.Server, path string, want keygate.AccessLevel) {
	t.Helper()
	status, b := getJSON(t, srv, srv.RootToken, path)
	if want == keygate.NoAccess {
		if status != 404 || string(b) != `{"message":"404 Not found"}`+"\n" {
			t.Errorf("GET %s as admin = %d %s, want 404 Not found", path, status, b)
		}
		return
	}
	var got struct {
		AccessLevel int `json:"access_level"`
	}
	if err := json.Unmarshal(b, &got); status != 200 || err != nil || got.AccessLevel != int(want) {
		t.Errorf("GET %s as admin = %d %s, want access_level %d", path, status, b, want)
	}
}
