package api_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/store"
)

// TestGoldenResourceErrors: bad input on groups, projects, members and resource tokens
// is a clear 4xx with GitLab's body (testdata/res_*.golden.json) and changes nothing.
func TestGoldenResourceErrors(t *testing.T) {
	forBackends(t, goldenResourceErrors)
}

// forBackends runs f on SQLite and, with KEYGATE_TEST_DATABASE_URL, on PostgreSQL.
func forBackends(t *testing.T, f func(t *testing.T, srv *keygatetest.Server)) {
	t.Helper()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "postgres" && os.Getenv("KEYGATE_TEST_DATABASE_URL") == "" {
				t.Skip("KEYGATE_TEST_DATABASE_URL not set: skipping PostgreSQL test")
			}
			f(t, keygatetest.NewServerWith(t, keygatetest.Options{Postgres: backend == "postgres"}))
		})
	}
}

func goldenResourceErrors(t *testing.T, srv *keygatetest.Server) {
	w := newWorld(t, srv)
	ctx := context.Background()
	bot, err := srv.Service.Authenticate(ctx, serviceCred(w.tok["otherbot"]))
	if err != nil {
		t.Fatal(err)
	}
	priv, pub := w.p["private"].ID, w.p["public"].ID
	privG := w.g["private"].ID
	sam, mem, dev := w.u["sam"].ID, w.u["mem"].ID, w.u["dev"].ID
	olga := w.tok["olga"]
	f := fmt.Sprintf
	cases := []goldenCase{
		// Members.
		{name: "res_member_unknown_level", method: "POST", path: f("/projects/%d/members", priv), token: olga, body: f(`{"user_id":%d,"access_level":25}`, sam)},
		{name: "res_member_unknown_level_update", method: "PUT", path: f("/projects/%d/members/%d", priv, mem), token: olga, body: `{"access_level":25}`},
		{name: "res_member_missing_level", method: "POST", path: f("/projects/%d/members", priv), token: olga, body: f(`{"user_id":%d}`, sam)},
		{name: "res_member_user_and_username", method: "POST", path: f("/projects/%d/members", priv), token: olga, body: f(`{"user_id":%d,"username":"sam","access_level":30}`, sam)},
		{name: "res_member_unknown_user", method: "POST", path: f("/projects/%d/members", priv), token: olga, body: `{"user_id":999999,"access_level":30}`},
		{name: "res_member_past_expiry", method: "POST", path: f("/projects/%d/members", priv), token: olga, body: f(`{"user_id":%d,"access_level":30,"expires_at":"2026-06-01"}`, sam)},
		{name: "res_member_below_inherited", method: "POST", path: f("/projects/%d/members", priv), token: olga, body: f(`{"user_id":%d,"access_level":20}`, dev)},
		{name: "res_member_bot_elsewhere", method: "POST", path: f("/projects/%d/members", priv), token: olga, body: f(`{"user_id":%d,"access_level":30}`, bot.User.ID)},
		{name: "res_member_bot_elsewhere_group", method: "POST", path: f("/groups/%d/members", privG), token: olga, body: f(`{"user_id":%d,"access_level":30}`, bot.User.ID)},
		// An existing direct member is a 409 before any permission check (members.rb
		// add_single_member), even for a Guest or a non-member of a public project.
		{name: "res_member_exists_guest", method: "POST", path: f("/projects/%d/members", priv), token: w.tok["gus"], body: f(`{"user_id":%d,"access_level":30}`, mem)},
		{name: "res_member_exists_non_member", method: "POST", path: f("/projects/%d/members", pub), token: w.tok["sam"], body: f(`{"user_id":%d,"access_level":30}`, mem)},
		{name: "res_member_maintainer_grants_owner", method: "POST", path: f("/projects/%d/members", priv), token: w.tok["mia"], body: f(`{"user_id":%d,"access_level":50}`, sam)},
		{name: "res_member_update_missing", method: "PUT", path: f("/projects/%d/members/%d", priv, sam), token: olga, body: `{"access_level":30}`},
		// A token's bot leaves only with its token (members.rb DELETE: a project bot → 403).
		{name: "res_member_remove_bot", method: "DELETE", path: f("/projects/%d/members/%d", w.p["other"].ID, bot.User.ID), token: olga},

		// Groups.
		{name: "res_group_bad_visibility", method: "POST", path: "/groups", token: olga, body: `{"name":"X","path":"x","visibility":"secret"}`},
		{name: "res_group_path_taken", method: "POST", path: "/groups", token: olga, body: `{"name":"Other","path":"priv"}`},
		{name: "res_group_path_taken_case", method: "POST", path: "/groups", token: olga, body: `{"name":"Other","path":"PRIV"}`},
		{name: "res_group_path_user_namespace", method: "POST", path: "/groups", token: olga, body: `{"name":"Other","path":"sam"}`},
		{name: "res_group_path_illegal", method: "POST", path: "/groups", token: olga, body: `{"name":"X","path":"bad path!"}`},
		{name: "res_group_path_dot_git", method: "POST", path: "/groups", token: olga, body: `{"name":"X","path":"x.git"}`},
		{name: "res_group_missing_path", method: "POST", path: "/groups", token: olga, body: `{"name":"X"}`},
		{name: "res_subgroup_more_visible", method: "POST", path: "/groups", token: olga, body: f(`{"name":"S","path":"s","parent_id":%d,"visibility":"public"}`, privG)},
		{name: "res_subgroup_by_developer", method: "POST", path: "/groups", token: w.tok["dev"], body: f(`{"name":"S","path":"s","parent_id":%d}`, privG)},
		{name: "res_subgroup_hidden_parent", method: "POST", path: "/groups", token: w.tok["sam"], body: f(`{"name":"S","path":"s","parent_id":%d}`, privG)},
		{name: "res_group_update_path_taken", method: "PUT", path: f("/groups/%d", w.g["internal"].ID), token: olga, body: `{"path":"pub"}`},
		{name: "res_group_update_less_visible", method: "PUT", path: f("/groups/%d", w.g["public"].ID), token: olga, body: `{"visibility":"private"}`},

		// Projects.
		{name: "res_project_bad_visibility", method: "POST", path: "/projects", token: olga, body: `{"name":"X","visibility":"everyone"}`},
		{name: "res_project_missing_name", method: "POST", path: "/projects", token: olga, body: `{"description":"x"}`},
		{name: "res_project_path_taken", method: "POST", path: "/projects", token: olga, body: f(`{"name":"App","namespace_id":%d}`, privG)},
		{name: "res_project_path_illegal", method: "POST", path: "/projects", token: olga, body: f(`{"name":"X","path":"-x","namespace_id":%d}`, privG)},
		{name: "res_project_more_visible", method: "POST", path: "/projects", token: olga, body: f(`{"name":"Y","namespace_id":%d,"visibility":"public"}`, privG)},
		{name: "res_project_guest_namespace", method: "POST", path: "/projects", token: w.tok["gus"], body: f(`{"name":"Y","namespace_id":%d}`, privG)},
		// Projects::CreateService#deny_namespace: hidden or missing alike.
		{name: "res_project_hidden_namespace", method: "POST", path: "/projects", token: w.tok["sam"], body: f(`{"name":"Y","namespace_id":%d}`, privG)},
		{name: "res_project_missing_namespace", method: "POST", path: "/projects", token: w.tok["sam"], body: `{"name":"Y","namespace_id":999999}`},
		{name: "res_project_update_visibility_maintainer", method: "PUT", path: f("/projects/%d", priv), token: w.tok["mia"], body: `{"visibility":"internal"}`},

		// Resource access tokens.
		{name: "res_token_bad_scope", method: "POST", path: f("/projects/%d/access_tokens", priv), token: olga, body: `{"name":"t","scopes":["read_user"]}`},
		{name: "res_token_bad_level", method: "POST", path: f("/projects/%d/access_tokens", priv), token: olga, body: `{"name":"t","scopes":["api"],"access_level":5}`},
		{name: "res_token_missing_scopes", method: "POST", path: f("/projects/%d/access_tokens", priv), token: olga, body: `{"name":"t"}`},
		{name: "res_token_level_above_creator", method: "POST", path: f("/projects/%d/access_tokens", priv), token: w.tok["mia"], body: `{"name":"t","scopes":["api"],"access_level":50}`},
		{name: "res_token_by_bot", method: "POST", path: f("/projects/%d/access_tokens", w.p["other"].ID), token: w.tok["otherbot"], body: `{"name":"t","scopes":["api"]}`},
		{name: "res_token_group_by_maintainer", method: "POST", path: f("/groups/%d/access_tokens", privG), token: w.tok["mia"], body: `{"name":"t","scopes":["api"]}`},
		{name: "res_token_missing", method: "GET", path: f("/projects/%d/access_tokens/999999", priv), token: olga},
		{name: "res_token_of_other_project", method: "GET", path: f("/projects/%d/access_tokens/%d", priv, w.ptok["public"]), token: olga},
		{name: "res_token_group_missing", method: "GET", path: f("/groups/%d/access_tokens/999999", privG), token: olga},
		{name: "res_token_revoke_missing", method: "DELETE", path: f("/projects/%d/access_tokens/999999", priv), token: olga},
		{name: "res_token_rotate_missing", method: "POST", path: f("/projects/%d/access_tokens/999999/rotate", priv), token: olga},
		// token_id is a String: an id that names no token ("self") is the source's 404.
		{name: "res_token_get_self", method: "GET", path: f("/projects/%d/access_tokens/self", priv), token: olga},
		// An administrator rotating a token the resource lacks: not_found! without a name.
		{name: "res_token_rotate_admin_missing", method: "POST", path: f("/projects/%d/access_tokens/999999/rotate", priv), token: srv.RootToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, srv)
			got := doGolden(t, srv, c)
			if got.Status < 400 || got.Status >= 500 {
				t.Errorf("%s %s = %d %s, want a 4xx", c.method, c.path, got.Status, got.Body)
			}
			if after := snapshot(t, srv); !reflect.DeepEqual(before, after) {
				t.Errorf("%s %s changed state", c.method, c.path)
			}
			checkGolden(t, c.name, got)
		})
	}
}

// TestDeleteGroupWithProjects: deleting a group that holds subgroups and projects
// answers 202 and removes everything inside: subgroups, projects, memberships, and the
// bots of the projects' access tokens (Projects::DestroyService#destroy_project_bots!).
func TestDeleteGroupWithProjects(t *testing.T) {
	forBackends(t, deleteGroupWithProjects)
}

func deleteGroupWithProjects(t *testing.T, srv *keygatetest.Server) {
	w := newWorld(t, srv)
	ctx := context.Background()
	st := srv.Inst.Store
	top := w.g["private"]
	var inside []int64 // namespaces below
	ns, _, err := st.Namespaces(ctx, store.NamespaceFilter{DescendantsOf: top.ID})
	if err != nil || len(ns) != 3 {
		t.Fatalf("descendants of priv = %d, %v; want a, b, c", len(ns), err)
	}
	for _, n := range ns {
		inside = append(inside, n.ID)
	}
	projects, _, err := st.Projects(ctx, store.ProjectFilter{NamespaceID: top.ID, IncludeSubgroups: true})
	if err != nil || len(projects) != 2 {
		t.Fatalf("projects in priv = %d, %v; want app and deep", len(projects), err)
	}
	keep := snapshotOutside(t, srv, append(inside, top.ID), projects)

	// A Maintainer may not; the Owner may.
	if got := doGolden(t, srv, goldenCase{method: "DELETE", path: fmt.Sprintf("/groups/%d", top.ID), token: w.tok["mia"]}); got.Status != 403 {
		t.Fatalf("Maintainer DELETE group = %d %s, want 403", got.Status, got.Body)
	}
	got := doGolden(t, srv, goldenCase{method: "DELETE", path: fmt.Sprintf("/groups/%d", top.ID), token: w.tok["olga"]})
	checkGolden(t, "res_group_delete_with_projects", got)

	for _, id := range append(inside, top.ID) {
		if st, b := getJSON(t, srv, srv.RootToken, fmt.Sprintf("/groups/%d", id)); st != 404 {
			t.Errorf("GET deleted group %d as admin = %d %s, want 404", id, st, b)
		}
	}
	for _, p := range projects {
		if st, b := getJSON(t, srv, srv.RootToken, fmt.Sprintf("/projects/%d", p.ID)); st != 404 {
			t.Errorf("GET deleted project %d as admin = %d %s, want 404", p.ID, st, b)
		}
		if st, b := getJSON(t, srv, srv.RootToken, "/projects/"+urlPath(p.FullPath())); st != 404 {
			t.Errorf("GET deleted project %s as admin = %d %s, want 404", p.FullPath(), st, b)
		}
	}
	ms, err := st.Members(ctx, store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: append(inside, top.ID)})
	if err != nil || len(ms) != 0 {
		t.Errorf("group memberships left = %v, %v", ms, err)
	}
	ids := []int64{projects[0].ID, projects[1].ID}
	ms, err = st.Members(ctx, store.MemberFilter{SourceType: keygate.SourceProject, SourceIDs: ids})
	if err != nil || len(ms) != 0 {
		t.Errorf("project memberships left = %v, %v", ms, err)
	}
	// The project bots went with their projects: their tokens no longer authenticate.
	// Projects::DestroyService#destroy_project_bots! (also run for each project of a
	// deleted group) deletes the bots with their tokens.
	for _, tg := range []string{"private", "deep"} {
		if _, err := srv.Service.Authenticate(ctx, serviceCred(w.ptokSecret[tg])); err == nil {
			t.Errorf("project access token of deleted project %s still authenticates", tg)
		}
	}
	// The path is free again.
	if st, b := doGoldenStatus(t, srv, goldenCase{method: "POST", path: "/groups", token: w.tok["olga"], body: `{"name":"Priv","path":"priv"}`}); st != 201 {
		t.Errorf("re-creating priv = %d %s, want 201", st, b)
	}
	if after := snapshotOutside(t, srv, append(inside, top.ID), projects); !reflect.DeepEqual(keep, after) {
		t.Errorf("deleting priv changed groups, projects or memberships outside it:\nbefore %+v\nafter  %+v", keep, after)
	}
}

// snapshotOutside lists the namespaces, projects and memberships not in the given
// namespaces and projects (nor the "priv" namespace recreated after a delete).
func snapshotOutside(t *testing.T, srv *keygatetest.Server, nsIDs []int64, projects []keygate.Project) any {
	t.Helper()
	ctx := context.Background()
	st := srv.Inst.Store
	in := func(id int64, ids []int64) bool {
		for _, x := range ids {
			if x == id {
				return true
			}
		}
		return false
	}
	var pids []int64
	for _, p := range projects {
		pids = append(pids, p.ID)
	}
	ns, _, err := st.Namespaces(ctx, store.NamespaceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var keepNS []keygate.Namespace
	for _, n := range ns {
		if !in(n.ID, nsIDs) && n.FullPath != "priv" {
			keepNS = append(keepNS, n)
		}
	}
	ps, _, err := st.Projects(ctx, store.ProjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var keepP []keygate.Project
	for _, p := range ps {
		if !in(p.ID, pids) {
			keepP = append(keepP, p)
		}
	}
	ms, err := st.Members(ctx, store.MemberFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var keepM []keygate.Member
	for _, m := range ms {
		if m.SourceType == keygate.SourceNamespace && in(m.SourceID, nsIDs) || m.SourceType == keygate.SourceProject && in(m.SourceID, pids) {
			continue
		}
		if m.SourceType == keygate.SourceNamespace && !in(m.SourceID, idsOf(keepNS)) {
			continue // the recreated priv
		}
		keepM = append(keepM, m)
	}
	return []any{keepNS, keepP, keepM}
}

func idsOf(ns []keygate.Namespace) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func doGoldenStatus(t *testing.T, srv *keygatetest.Server, c goldenCase) (int, string) {
	t.Helper()
	got := doGolden(t, srv, c)
	return got.Status, string(got.Body)
}

func urlPath(fullPath string) string { return url.PathEscape(fullPath) }
