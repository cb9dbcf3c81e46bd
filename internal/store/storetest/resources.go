package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// The cases of namespaces, projects and memberships (and the bot columns of users).

func newGroup(path, name string, parent int64, vis keygate.Visibility) keygate.Namespace {
	return keygate.Namespace{
		Kind: keygate.NamespaceGroup, Name: name, Path: path, ParentID: parent,
		Visibility: vis, CreatedAt: t0, ResourceAccessTokensAllowed: true,
	}
}

func newUserNamespace(u keygate.User) keygate.Namespace {
	return keygate.Namespace{
		Kind: keygate.NamespaceUser, Name: u.Name, Path: u.Username, OwnerID: u.ID,
		Visibility: keygate.Private, CreatedAt: t0, ResourceAccessTokensAllowed: true,
	}
}

func createNamespace(t *testing.T, s store.Store, n keygate.Namespace) keygate.Namespace {
	t.Helper()
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateNamespace(ctx, &n) })
	return n
}

func newProject(ns int64, path, name string, vis keygate.Visibility) keygate.Project {
	return keygate.Project{
		Name: name, Path: path, NamespaceID: ns, Visibility: vis, DefaultBranch: "main",
		CreatedAt: t0, LastActivityAt: t0,
	}
}

func createProject(t *testing.T, s store.Store, p keygate.Project) keygate.Project {
	t.Helper()
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateProject(ctx, &p) })
	return p
}

func newMember(src keygate.SourceType, srcID, userID int64, level keygate.AccessLevel, expires *keygate.Date) keygate.Member {
	return keygate.Member{
		SourceType: src, SourceID: srcID, UserID: userID, AccessLevel: level,
		ExpiresAt: expires, CreatedAt: t0, CreatedByID: 1,
	}
}

func addMember(t *testing.T, s store.Store, m keygate.Member) keygate.Member {
	t.Helper()
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AddMember(ctx, &m) })
	return m
}

// wantNamespace is n as a store must return it.
func wantNamespace(n keygate.Namespace) keygate.Namespace {
	n.CreatedAt = utc(n.CreatedAt)
	return n
}

// wantProject is p in namespace ns as a store must return it.
func wantProject(p keygate.Project, ns keygate.Namespace) keygate.Project {
	p.CreatedAt, p.LastActivityAt = utc(p.CreatedAt), utc(p.LastActivityAt)
	p.Namespace = wantNamespace(ns)
	return p
}

func fullPaths(ns []keygate.Namespace) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.FullPath)
	}
	return out
}

func projectPaths(ps []keygate.Project) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.FullPath())
	}
	return out
}

// sorted is a sorted copy, for filter cases whose order another case pins.
func sorted(s []string) []string { return append([]string{}, slices.Sorted(slices.Values(s))...) }

func isErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func testUsersBotFilter(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	bot := func(username string, typ keygate.UserType, src keygate.SourceType, id int64) keygate.User {
		u := newUser(username)
		u.Type, u.BotSourceType, u.BotSourceID, u.CreatedByID = typ, src, id, 1
		return createUser(t, s, u)
	}
	createUser(t, s, newUser("human"))
	bot("project5_bot", keygate.UserProjectBot, keygate.SourceProject, 5)
	bot("group5_bot", keygate.UserProjectBot, keygate.SourceNamespace, 5)
	bot("service_account", keygate.UserServiceAccount, keygate.SourceNamespace, 5)
	bot("project6_bot", keygate.UserProjectBot, keygate.SourceProject, 6)
	cases := []struct {
		name string
		f    store.UserFilter
		want []string // id descending
	}{
		{"type human", store.UserFilter{Type: keygate.UserHuman}, []string{"human"}},
		{"type project_bot", store.UserFilter{Type: keygate.UserProjectBot}, []string{"project6_bot", "group5_bot", "project5_bot"}},
		{"bots of project 5", store.UserFilter{Type: keygate.UserProjectBot, BotSourceType: keygate.SourceProject, BotSourceID: 5}, []string{"project5_bot"}},
		{"bots of group 5", store.UserFilter{Type: keygate.UserProjectBot, BotSourceType: keygate.SourceNamespace, BotSourceID: 5}, []string{"group5_bot"}},
		{"service accounts of group 5", store.UserFilter{Type: keygate.UserServiceAccount, BotSourceID: 5}, []string{"service_account"}},
		{"anything of source 5", store.UserFilter{BotSourceID: 5}, []string{"service_account", "group5_bot", "project5_bot"}},
		{"bots of project 7", store.UserFilter{Type: keygate.UserProjectBot, BotSourceType: keygate.SourceProject, BotSourceID: 7}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, total, err := s.Users(t.Context(), c.f)
			if err != nil || !reflect.DeepEqual(usernames(got), c.want) || total != len(c.want) {
				t.Errorf("Users(%+v) = %q, %d, %v, want %q, %d, nil", c.f, usernames(got), total, err, c.want, len(c.want))
			}
		})
	}
}

func testTokensOwnerFilter(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	var d digests
	owner := func(username string, typ keygate.UserType, src keygate.SourceType, id int64) int64 {
		u := newUser(username)
		u.Type, u.BotSourceType, u.BotSourceID = typ, src, id
		u = createUser(t, s, u)
		return createToken(t, s, newToken(u.ID, username+" token", d.next())).ID
	}
	human := owner("human", keygate.UserHuman, "", 0)
	pb5 := owner("project5_bot", keygate.UserProjectBot, keygate.SourceProject, 5)
	gb5 := owner("group5_bot", keygate.UserProjectBot, keygate.SourceNamespace, 5)
	sa := owner("service_account", keygate.UserServiceAccount, keygate.SourceNamespace, 5)
	pb6 := owner("project6_bot", keygate.UserProjectBot, keygate.SourceProject, 6)
	cases := []struct {
		name string
		f    store.TokenFilter
		want []int64 // id ascending
	}{
		{"human owners", store.TokenFilter{HumanOwners: true}, []int64{human}},
		{"project bots", store.TokenFilter{OwnerType: keygate.UserProjectBot}, []int64{pb5, gb5, pb6}},
		{"bots of project 5", store.TokenFilter{OwnerType: keygate.UserProjectBot, OwnerSourceType: keygate.SourceProject, OwnerSourceID: 5}, []int64{pb5}},
		{"bots of group 5", store.TokenFilter{OwnerType: keygate.UserProjectBot, OwnerSourceType: keygate.SourceNamespace, OwnerSourceID: 5}, []int64{gb5}},
		{"service accounts", store.TokenFilter{OwnerType: keygate.UserServiceAccount, OwnerSourceID: 5}, []int64{sa}},
		{"source 5", store.TokenFilter{OwnerSourceID: 5}, []int64{pb5, gb5, sa}},
		{"human owners of bots", store.TokenFilter{HumanOwners: true, OwnerType: keygate.UserProjectBot}, []int64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, total, err := s.Tokens(t.Context(), c.f)
			if err != nil || !reflect.DeepEqual(ids(got), c.want) || total != len(c.want) {
				t.Errorf("Tokens(%+v) = %v, %d, %v, want %v, %d, nil", c.f, ids(got), total, err, c.want, len(c.want))
			}
		})
	}
}

func testNamespaceCreate(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	top := newGroup("top", "Top Group", 0, keygate.Public)
	top.Description, top.CreatedAt = "the top", t0
	top = createNamespace(t, s, top)
	sub := createNamespace(t, s, newGroup("Sub", "Süb", top.ID, keygate.Internal))
	leaf := newGroup("leaf", "Leaf", sub.ID, keygate.Private)
	leaf.ResourceAccessTokensAllowed = false
	leaf = createNamespace(t, s, leaf)
	u := createUser(t, s, newUser("alice"))
	personal := createNamespace(t, s, newUserNamespace(u))

	shape := []struct {
		n                  keygate.Namespace
		fullPath, fullName string
		traversal          []int64
	}{
		{top, "top", "Top Group", []int64{top.ID}},
		{sub, "top/Sub", "Top Group / Süb", []int64{top.ID, sub.ID}},
		{leaf, "top/Sub/leaf", "Top Group / Süb / Leaf", []int64{top.ID, sub.ID, leaf.ID}},
		{personal, "alice", "User alice", []int64{personal.ID}},
	}
	for _, c := range shape {
		t.Run(c.fullPath, func(t *testing.T) {
			if c.n.ID == 0 || c.n.FullPath != c.fullPath || c.n.FullName != c.fullName || !slices.Equal(c.n.TraversalIDs, c.traversal) {
				t.Errorf("CreateNamespace(%q) set ID %d, FullPath %q, FullName %q, TraversalIDs %v, want non-zero, %q, %q, %v",
					c.n.Path, c.n.ID, c.n.FullPath, c.n.FullName, c.n.TraversalIDs, c.fullPath, c.fullName, c.traversal)
			}
			want := wantNamespace(c.n)
			if got, err := s.Namespace(ctx, c.n.ID); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Namespace(%d) = %+v, %v, want %+v, nil", c.n.ID, got, err, want)
			} else if got.CreatedAt.Location() != time.UTC {
				t.Errorf("Namespace(%d).CreatedAt location = %v, want UTC", c.n.ID, got.CreatedAt.Location())
			}
		})
	}
	lookups := []struct {
		path    string
		want    int64
		wantErr error
	}{
		{"top", top.ID, nil},
		{"TOP/sub/LEAF", leaf.ID, nil},
		{"top/Sub", sub.ID, nil},
		{"Alice", personal.ID, nil},
		{"top/sub/", 0, store.ErrNotFound},
		{"sub", 0, store.ErrNotFound},
		{"top/%", 0, store.ErrNotFound},
	}
	for _, c := range lookups {
		t.Run("path "+c.path, func(t *testing.T) {
			got, err := s.NamespaceByPath(ctx, c.path)
			if got.ID != c.want || !isErr(err, c.wantErr) {
				t.Errorf("NamespaceByPath(%q) = %d, %v, want %d, %v", c.path, got.ID, err, c.want, c.wantErr)
			}
		})
	}
	// Inside a transaction, reads see the transaction's own namespaces.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		n := newGroup("fresh", "Fresh", leaf.ID, keygate.Private)
		if err := tx.CreateNamespace(ctx, &n); err != nil {
			return err
		}
		got, err := tx.NamespaceByPath(ctx, "top/sub/leaf/fresh")
		if err != nil || got.ID != n.ID || len(got.TraversalIDs) != 4 {
			return fmt.Errorf("Tx.NamespaceByPath(new) = %+v, %v, want ID %d with 4 traversal IDs", got, err, n.ID)
		}
		return nil
	})
}

func testNamespaceConflicts(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	top := createNamespace(t, s, newGroup("top", "Top", 0, keygate.Public))
	other := createNamespace(t, s, newGroup("other", "Other", 0, keygate.Public))
	createNamespace(t, s, newGroup("sub", "Sub", top.ID, keygate.Public))
	alice := createUser(t, s, newUser("alice"))
	bob := createUser(t, s, newUser("bob"))
	createNamespace(t, s, newUserNamespace(alice))
	createNamespace(t, s, newGroup("bob", "Bob's group", 0, keygate.Public))
	cases := []struct {
		name    string
		n       keygate.Namespace
		wantErr error
	}{
		{"top-level path taken", newGroup("top", "Top again", 0, keygate.Public), store.ErrConflict},
		{"top-level path taken, other case", newGroup("TOP", "Top again", 0, keygate.Public), store.ErrConflict},
		{"group on a user namespace's path", newGroup("Alice", "Alice's group", 0, keygate.Public), store.ErrConflict},
		{"user namespace on a group's path", newUserNamespace(bob), store.ErrConflict},
		{"subgroup path taken", newGroup("SUB", "Sub again", top.ID, keygate.Public), store.ErrConflict},
		{"same subgroup path elsewhere", newGroup("sub", "Sub", other.ID, keygate.Public), nil},
		{"a top-level path equal to a subgroup's", newGroup("sub", "Sub", 0, keygate.Public), nil},
		{"missing parent", newGroup("orphan", "Orphan", 999, keygate.Public), store.ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := c.n
			err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateNamespace(ctx, &n) })
			if !isErr(err, c.wantErr) {
				t.Errorf("CreateNamespace(%q under %d) = %v, want %v", c.n.Path, c.n.ParentID, err, c.wantErr)
			}
		})
	}
	// A refused create leaves the transaction usable and nothing behind.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		dup := newGroup("top", "Top", 0, keygate.Public)
		if err := tx.CreateNamespace(ctx, &dup); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateNamespace(top) = %v, want %v", err, store.ErrConflict)
		}
		fresh := newGroup("fresh", "Fresh", 0, keygate.Public)
		return tx.CreateNamespace(ctx, &fresh)
	})
	got, total, err := s.Namespaces(ctx, store.NamespaceFilter{Search: "top"})
	if err != nil || total != 1 || !reflect.DeepEqual(fullPaths(got), []string{"top"}) {
		t.Errorf("Namespaces(search top) after refused creates = %q, %d, %v, want [top], 1, nil", fullPaths(got), total, err)
	}
}

// testSubtreeByteOrder: subtrees are ranges of traversal text, which must compare byte by
// byte. IDs of different lengths ("/1/11/" in the subtree of "/1/", "/10/" not) break a
// linguistic collation that ignores the slashes.
func testSubtreeByteOrder(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	a := createNamespace(t, s, newGroup("a", "A", 0, keygate.Private))
	for i := range 9 {
		createNamespace(t, s, newGroup(fmt.Sprintf("z%d", i), "Z", 0, keygate.Private))
	}
	ab := createNamespace(t, s, newGroup("b", "B", a.ID, keygate.Private))
	abc := createNamespace(t, s, newGroup("c", "C", ab.ID, keygate.Private))
	p := createProject(t, s, newProject(abc.ID, "p", "P", keygate.Private))
	if len(abc.TraversalIDs) != 3 || abc.TraversalIDs[1] < 10 {
		t.Fatalf("fixture: a/b/c TraversalIDs = %v, want three with a two-digit second", abc.TraversalIDs)
	}
	got, _, err := s.Namespaces(ctx, store.NamespaceFilter{DescendantsOf: a.ID, OrderBy: "id"})
	if want := []string{"a/b", "a/b/c"}; err != nil || !reflect.DeepEqual(fullPaths(got), want) {
		t.Errorf("Namespaces(DescendantsOf a) = %q, %v, want %q, nil", fullPaths(got), err, want)
	}
	ps, _, err := s.Projects(ctx, store.ProjectFilter{NamespaceID: a.ID, IncludeSubgroups: true})
	if want := []string{"a/b/c/p"}; err != nil || !reflect.DeepEqual(projectPaths(ps), want) {
		t.Errorf("Projects(a with subgroups) = %q, %v, want %q, nil", projectPaths(ps), err, want)
	}
	u := createUser(t, s, newUser("member"))
	addMember(t, s, newMember(keygate.SourceNamespace, a.ID, u.ID, keygate.Developer, nil))
	ps, _, err = s.Projects(ctx, store.ProjectFilter{MemberOf: &store.Membership{UserID: u.ID, Now: t0}})
	if err != nil || len(ps) != 1 || ps[0].ID != p.ID {
		t.Errorf("Projects(MemberOf a's member) = %q, %v, want [a/b/c/p], nil", projectPaths(ps), err)
	}
}

func testUpdateNamespace(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	top := createNamespace(t, s, newGroup("top", "Top", 0, keygate.Private))
	sub := createNamespace(t, s, newGroup("sub", "Sub", top.ID, keygate.Private))
	createNamespace(t, s, newGroup("sibling", "Sibling", top.ID, keygate.Private))
	leaf := createNamespace(t, s, newGroup("leaf", "Leaf", sub.ID, keygate.Private))
	proj := createProject(t, s, newProject(leaf.ID, "proj", "Proj", keygate.Private))
	// "topper" shares top's path as a text prefix and must not follow its renames.
	topper := createNamespace(t, s, newGroup("topper", "Topper", 0, keygate.Private))
	topperSub := createNamespace(t, s, newGroup("sub", "Sub", topper.ID, keygate.Private))

	update := func(n keygate.Namespace) error {
		return s.InTx(ctx, func(tx store.Tx) error { return tx.UpdateNamespace(ctx, n) })
	}
	rename := func(n keygate.Namespace, path, name string) keygate.Namespace {
		n.Path, n.Name = path, name
		return n
	}
	type want struct {
		id                 int64
		fullPath, fullName string
	}
	steps := []struct {
		name    string
		n       keygate.Namespace
		wantErr error
		after   []want
	}{
		{"rename top", rename(top, "summit", "Sümmit"), nil, []want{
			{top.ID, "summit", "Sümmit"},
			{sub.ID, "summit/sub", "Sümmit / Sub"},
			{leaf.ID, "summit/sub/leaf", "Sümmit / Sub / Leaf"},
			{topper.ID, "topper", "Topper"},
			{topperSub.ID, "topper/sub", "Topper / Sub"},
		}},
		// The old name has a two-byte character: prefixes are cut by characters.
		{"rename top again", rename(top, "Peak", "Peak"), nil, []want{
			{top.ID, "Peak", "Peak"},
			{leaf.ID, "Peak/sub/leaf", "Peak / Sub / Leaf"},
		}},
		{"rename sub's name only", rename(sub, "sub", "Sub Group"), nil, []want{
			{sub.ID, "Peak/sub", "Peak / Sub Group"},
			{leaf.ID, "Peak/sub/leaf", "Peak / Sub Group / Leaf"},
		}},
		{"sub onto its sibling's path", rename(sub, "SIBLING", "Sub Group"), store.ErrConflict, []want{
			{sub.ID, "Peak/sub", "Peak / Sub Group"},
		}},
		{"top onto another top-level path", rename(top, "Topper", "Peak"), store.ErrConflict, []want{
			{top.ID, "Peak", "Peak"},
			{leaf.ID, "Peak/sub/leaf", "Peak / Sub Group / Leaf"},
		}},
		{"case of its own path", rename(top, "peak", "Peak"), nil, []want{
			{top.ID, "peak", "Peak"},
			{leaf.ID, "peak/sub/leaf", "Peak / Sub Group / Leaf"},
		}},
		{"missing", rename(keygate.Namespace{ID: 999, Visibility: keygate.Private}, "x", "X"), store.ErrNotFound, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := update(st.n); !isErr(err, st.wantErr) {
				t.Fatalf("UpdateNamespace(%d to %q, %q) = %v, want %v", st.n.ID, st.n.Path, st.n.Name, err, st.wantErr)
			}
			for _, w := range st.after {
				got, err := s.Namespace(ctx, w.id)
				if err != nil || got.FullPath != w.fullPath || got.FullName != w.fullName {
					t.Errorf("Namespace(%d) = %q, %q, %v, want %q, %q, nil", w.id, got.FullPath, got.FullName, err, w.fullPath, w.fullName)
				}
			}
		})
	}
	// Projects follow through their namespace; old paths are gone.
	if got, err := s.ProjectByPath(ctx, "peak/sub/leaf/proj"); err != nil || got.ID != proj.ID ||
		got.FullPath() != "peak/sub/leaf/proj" || got.NameWithNamespace() != "Peak / Sub Group / Leaf / Proj" {
		t.Errorf("ProjectByPath(renamed) = %d %q %q, %v, want %d peak/sub/leaf/proj, Peak / Sub Group / Leaf / Proj",
			got.ID, got.FullPath(), got.NameWithNamespace(), err, proj.ID)
	}
	for _, old := range []string{"top/sub", "summit/sub/leaf"} {
		if _, err := s.NamespaceByPath(ctx, old); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NamespaceByPath(old %q) = %v, want %v", old, err, store.ErrNotFound)
		}
	}
	// The other fields.
	cur, err := s.Namespace(ctx, top.ID)
	if err != nil {
		t.Fatal(err)
	}
	cur.Visibility, cur.Description, cur.ResourceAccessTokensAllowed = keygate.Internal, "new words", false
	if err := update(cur); err != nil {
		t.Fatalf("UpdateNamespace(visibility, description, setting) = %v", err)
	}
	if got, err := s.Namespace(ctx, top.ID); err != nil || !reflect.DeepEqual(got, cur) {
		t.Errorf("Namespace(%d) after UpdateNamespace = %+v, %v, want %+v, nil", top.ID, got, err, cur)
	}
	vis, _, err := s.Namespaces(ctx, store.NamespaceFilter{Visible: &store.Viewer{MinVisibility: keygate.Internal}})
	if want := []string{"peak"}; err != nil || !reflect.DeepEqual(fullPaths(vis), want) {
		t.Errorf("Namespaces(Visible internal) after UpdateNamespace = %q, %v, want %q", fullPaths(vis), err, want)
	}
}

func testDeleteNamespace(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	u := createUser(t, s, newUser("member"))
	top := createNamespace(t, s, newGroup("top", "Top", 0, keygate.Private))
	sub := createNamespace(t, s, newGroup("sub", "Sub", top.ID, keygate.Private))
	leaf := createNamespace(t, s, newGroup("leaf", "Leaf", sub.ID, keygate.Private))
	top2 := createNamespace(t, s, newGroup("top2", "Top 2", 0, keygate.Private))
	p0 := createProject(t, s, newProject(top.ID, "p0", "P0", keygate.Private))
	p1 := createProject(t, s, newProject(sub.ID, "p1", "P1", keygate.Private))
	p2 := createProject(t, s, newProject(leaf.ID, "p2", "P2", keygate.Private))
	q := createProject(t, s, newProject(top2.ID, "q", "Q", keygate.Private))
	for _, id := range []int64{top.ID, sub.ID, leaf.ID, top2.ID} {
		addMember(t, s, newMember(keygate.SourceNamespace, id, u.ID, keygate.Developer, nil))
	}
	for _, id := range []int64{p0.ID, p1.ID, p2.ID, q.ID} {
		addMember(t, s, newMember(keygate.SourceProject, id, u.ID, keygate.Developer, nil))
	}

	before := marker(t, s)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteNamespace(ctx, sub.ID) })
	if after := marker(t, s); after == before {
		t.Errorf("Marker() after DeleteNamespace: %d → %d, want moved", before, after)
	}
	for _, c := range []struct {
		what    string
		fn      func() error
		wantErr error
	}{
		{"Namespace(sub)", func() error { _, err := s.Namespace(ctx, sub.ID); return err }, store.ErrNotFound},
		{"Namespace(leaf)", func() error { _, err := s.Namespace(ctx, leaf.ID); return err }, store.ErrNotFound},
		{"Project(p1)", func() error { _, err := s.Project(ctx, p1.ID); return err }, store.ErrNotFound},
		{"Project(p2)", func() error { _, err := s.Project(ctx, p2.ID); return err }, store.ErrNotFound},
		{"Namespace(top)", func() error { _, err := s.Namespace(ctx, top.ID); return err }, nil},
		{"Namespace(top2)", func() error { _, err := s.Namespace(ctx, top2.ID); return err }, nil},
		{"Project(p0)", func() error { _, err := s.Project(ctx, p0.ID); return err }, nil},
		{"Project(q)", func() error { _, err := s.Project(ctx, q.ID); return err }, nil},
		{"DeleteNamespace(sub) again", func() error {
			return s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteNamespace(ctx, sub.ID) })
		}, store.ErrNotFound},
	} {
		if err := c.fn(); !isErr(err, c.wantErr) {
			t.Errorf("%s after DeleteNamespace(sub) = %v, want %v", c.what, err, c.wantErr)
		}
	}
	ms, err := s.Members(ctx, store.MemberFilter{UserID: u.ID})
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s %d", m.SourceType, m.SourceID))
	}
	want := []string{
		fmt.Sprintf("Namespace %d", top.ID), fmt.Sprintf("Namespace %d", top2.ID),
		fmt.Sprintf("Project %d", p0.ID), fmt.Sprintf("Project %d", q.ID),
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Members(user) after DeleteNamespace(sub) = %q, %v, want %q, nil", got, err, want)
	}
	// The path is free again.
	again := createNamespace(t, s, newGroup("sub", "Sub", top.ID, keygate.Private))
	if again.ID == sub.ID {
		t.Errorf("re-created top/sub got the deleted namespace's ID %d", sub.ID)
	}
}

func testProjectRoundTrip(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	top := createNamespace(t, s, newGroup("top", "Top", 0, keygate.Public))
	sub := createNamespace(t, s, newGroup("Sub", "Sub", top.ID, keygate.Internal))
	other := createNamespace(t, s, newGroup("other", "Other", 0, keygate.Public))
	full := keygate.Project{
		Name: "Proj Ü", Path: "Proj", NamespaceID: sub.ID, Visibility: keygate.Internal,
		Description: "all the fields", DefaultBranch: "trunk", CreatedAt: t0,
		LastActivityAt: t0.Add(time.Hour), CreatorID: 7,
	}
	full = createProject(t, s, full)
	bare := createProject(t, s, keygate.Project{Name: "bare", Path: "bare", NamespaceID: top.ID,
		Visibility: keygate.Private, CreatedAt: t0})
	if !bare.LastActivityAt.Equal(t0) {
		t.Errorf("CreateProject(no LastActivityAt) set LastActivityAt %v, want CreatedAt %v", bare.LastActivityAt, t0)
	}
	for _, c := range []struct {
		p  keygate.Project
		ns keygate.Namespace
	}{{full, sub}, {bare, top}} {
		want := wantProject(c.p, c.ns)
		got, err := s.Project(ctx, c.p.ID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Project(%d) = %+v, %v, want %+v, nil", c.p.ID, got, err, want)
		}
		got, err = s.ProjectByPath(ctx, want.FullPath())
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ProjectByPath(%q) = %+v, %v, want %+v, nil", want.FullPath(), got, err, want)
		}
		if got.CreatedAt.Location() != time.UTC || got.LastActivityAt.Location() != time.UTC {
			t.Errorf("Project(%d) times in %v, %v, want UTC", c.p.ID, got.CreatedAt.Location(), got.LastActivityAt.Location())
		}
	}
	lookups := []struct {
		path    string
		want    int64
		wantErr error
	}{
		{"TOP/sub/proj", full.ID, nil},
		{"top/bare", bare.ID, nil},
		{"top/sub", 0, store.ErrNotFound}, // a namespace, not a project
		{"bare", 0, store.ErrNotFound},
		{"top/bare/", 0, store.ErrNotFound},
		{"/bare", 0, store.ErrNotFound},
		{"other/bare", 0, store.ErrNotFound},
	}
	for _, c := range lookups {
		t.Run("path "+c.path, func(t *testing.T) {
			got, err := s.ProjectByPath(ctx, c.path)
			if got.ID != c.want || !isErr(err, c.wantErr) {
				t.Errorf("ProjectByPath(%q) = %d, %v, want %d, %v", c.path, got.ID, err, c.want, c.wantErr)
			}
		})
	}
	conflicts := []struct {
		name    string
		p       keygate.Project
		wantErr error
	}{
		{"path taken", newProject(sub.ID, "Proj", "Again", keygate.Public), store.ErrConflict},
		{"path taken, other case", newProject(sub.ID, "PROJ", "Again", keygate.Public), store.ErrConflict},
		{"same path elsewhere", newProject(other.ID, "proj", "Proj", keygate.Public), nil},
		{"missing namespace", newProject(999, "proj", "Proj", keygate.Public), store.ErrNotFound},
	}
	for _, c := range conflicts {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateProject(ctx, &p) })
			if !isErr(err, c.wantErr) {
				t.Errorf("CreateProject(%q in %d) = %v, want %v", c.p.Path, c.p.NamespaceID, err, c.wantErr)
			}
		})
	}
}

func testUpdateProject(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	ns := createNamespace(t, s, newGroup("top", "Top", 0, keygate.Public))
	p := createProject(t, s, newProject(ns.ID, "proj", "Proj", keygate.Private))
	createProject(t, s, newProject(ns.ID, "taken", "Taken", keygate.Private))
	p.Name, p.Path, p.Visibility, p.Description = "Renamed", "renamed", keygate.Public, "words"
	p.DefaultBranch, p.LastActivityAt = "develop", t0.Add(48*time.Hour)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateProject(ctx, p) })
	if got, err := s.Project(ctx, p.ID); err != nil || !reflect.DeepEqual(got, wantProject(p, ns)) {
		t.Errorf("Project(%d) after UpdateProject = %+v, %v, want %+v, nil", p.ID, got, err, wantProject(p, ns))
	}
	// Creator and creation time are not updated.
	changed := p
	changed.CreatorID, changed.CreatedAt = 42, t0.Add(time.Hour)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateProject(ctx, changed) })
	if got, err := s.Project(ctx, p.ID); err != nil || got.CreatorID != p.CreatorID || !got.CreatedAt.Equal(utc(p.CreatedAt)) {
		t.Errorf("Project(%d) after UpdateProject(creator, created) = %d, %v, %v, want %d, %v, nil",
			p.ID, got.CreatorID, got.CreatedAt, err, p.CreatorID, utc(p.CreatedAt))
	}
	for _, c := range []struct {
		name    string
		mod     func(*keygate.Project)
		wantErr error
	}{
		{"path taken", func(p *keygate.Project) { p.Path = "TAKEN" }, store.ErrConflict},
		{"missing", func(p *keygate.Project) { p.ID = 999 }, store.ErrNotFound},
	} {
		q := p
		c.mod(&q)
		err := s.InTx(ctx, func(tx store.Tx) error { return tx.UpdateProject(ctx, q) })
		if !isErr(err, c.wantErr) {
			t.Errorf("UpdateProject(%s) = %v, want %v", c.name, err, c.wantErr)
		}
	}
}

func testDeleteProject(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	u := createUser(t, s, newUser("member"))
	ns := createNamespace(t, s, newGroup("top", "Top", 0, keygate.Public))
	p := createProject(t, s, newProject(ns.ID, "proj", "Proj", keygate.Private))
	keep := createProject(t, s, newProject(ns.ID, "keep", "Keep", keygate.Private))
	addMember(t, s, newMember(keygate.SourceProject, p.ID, u.ID, keygate.Developer, nil))
	addMember(t, s, newMember(keygate.SourceProject, keep.ID, u.ID, keygate.Developer, nil))
	addMember(t, s, newMember(keygate.SourceNamespace, ns.ID, u.ID, keygate.Guest, nil))

	before := marker(t, s)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteProject(ctx, p.ID) })
	if after := marker(t, s); after == before {
		t.Errorf("Marker() after DeleteProject: %d → %d, want moved", before, after)
	}
	if _, err := s.Project(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Project(deleted) = %v, want %v", err, store.ErrNotFound)
	}
	if _, err := s.Member(ctx, keygate.SourceProject, p.ID, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Member(of the deleted project) = %v, want %v", err, store.ErrNotFound)
	}
	ms, err := s.Members(ctx, store.MemberFilter{UserID: u.ID})
	if err != nil || len(ms) != 2 {
		t.Errorf("Members(user) after DeleteProject = %+v, %v, want the namespace's and keep's", ms, err)
	}
	err = s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteProject(ctx, p.ID) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteProject(deleted) = %v, want %v", err, store.ErrNotFound)
	}
}

func testDeleteUser(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	erin := createUser(t, s, newUser("erin"))
	frank := createUser(t, s, newUser("frank"))
	personal := createNamespace(t, s, newUserNamespace(erin))
	dot := createProject(t, s, newProject(personal.ID, "dotfiles", "Dotfiles", keygate.Private))
	group := createNamespace(t, s, newGroup("group", "Group", 0, keygate.Private))
	tok := createToken(t, s, newToken(erin.ID, "erin's", d.next()))
	frankTok := createToken(t, s, newToken(frank.ID, "frank's", d.next()))
	addMember(t, s, newMember(keygate.SourceNamespace, group.ID, erin.ID, keygate.Owner, nil))
	addMember(t, s, newMember(keygate.SourceNamespace, group.ID, frank.ID, keygate.Owner, nil))
	addMember(t, s, newMember(keygate.SourceProject, dot.ID, frank.ID, keygate.Developer, nil))
	addMember(t, s, newMember(keygate.SourceNamespace, personal.ID, frank.ID, keygate.Guest, nil))

	before := marker(t, s)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteUser(ctx, erin.ID) })
	if after := marker(t, s); after == before {
		t.Errorf("Marker() after DeleteUser: %d → %d, want moved", before, after)
	}
	for _, c := range []struct {
		what    string
		fn      func() error
		wantErr error
	}{
		{"User(erin)", func() error { _, err := s.User(ctx, erin.ID); return err }, store.ErrNotFound},
		{"Token(erin's)", func() error { _, err := s.Token(ctx, tok.ID); return err }, store.ErrNotFound},
		{"NamespaceByPath(erin)", func() error { _, err := s.NamespaceByPath(ctx, "erin"); return err }, store.ErrNotFound},
		{"Project(erin/dotfiles)", func() error { _, err := s.Project(ctx, dot.ID); return err }, store.ErrNotFound},
		{"Member(erin in group)", func() error {
			_, err := s.Member(ctx, keygate.SourceNamespace, group.ID, erin.ID)
			return err
		}, store.ErrNotFound},
		{"User(frank)", func() error { _, err := s.User(ctx, frank.ID); return err }, nil},
		{"Token(frank's)", func() error { _, err := s.Token(ctx, frankTok.ID); return err }, nil},
		{"DeleteUser(erin) again", func() error {
			return s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteUser(ctx, erin.ID) })
		}, store.ErrNotFound},
	} {
		if err := c.fn(); !isErr(err, c.wantErr) {
			t.Errorf("%s after DeleteUser(erin) = %v, want %v", c.what, err, c.wantErr)
		}
	}
	// frank's memberships of erin's namespace and project went with them.
	ms, err := s.Members(ctx, store.MemberFilter{UserID: frank.ID})
	if err != nil || len(ms) != 1 || ms[0].SourceID != group.ID || ms[0].SourceType != keygate.SourceNamespace {
		t.Errorf("Members(frank) after DeleteUser(erin) = %+v, %v, want only the group's", ms, err)
	}
	// The username's namespace path is free again.
	again := createUser(t, s, newUser("erin"))
	createNamespace(t, s, newUserNamespace(again))
}

func testMembers(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	u := createUser(t, s, newUser("member"))
	ns := createNamespace(t, s, newGroup("top", "Top", 0, keygate.Public))
	p := createProject(t, s, newProject(ns.ID, "proj", "Proj", keygate.Public))
	m := newMember(keygate.SourceProject, p.ID, u.ID, keygate.Developer, date("2026-01-31"))
	m.CreatedAt = t0 // in a zone far from UTC
	m = addMember(t, s, m)
	if m.ID == 0 {
		t.Fatalf("AddMember left ID 0")
	}
	want := m
	want.CreatedAt = utc(m.CreatedAt)
	got, err := s.Member(ctx, keygate.SourceProject, p.ID, u.ID)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Member(project %d, user %d) = %+v, %v, want %+v, nil", p.ID, u.ID, got, err, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("Member().CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}

	adds := []struct {
		name    string
		m       keygate.Member
		wantErr error
	}{
		{"existing", newMember(keygate.SourceProject, p.ID, u.ID, keygate.Owner, nil), store.ErrConflict},
		{"same user, the namespace", newMember(keygate.SourceNamespace, ns.ID, u.ID, keygate.Guest, nil), nil},
		{"missing project", newMember(keygate.SourceProject, 999, u.ID, keygate.Guest, nil), store.ErrNotFound},
		{"missing namespace", newMember(keygate.SourceNamespace, 999, u.ID, keygate.Guest, nil), store.ErrNotFound},
		{"missing user", newMember(keygate.SourceProject, p.ID, 999, keygate.Guest, nil), store.ErrNotFound},
	}
	for _, c := range adds {
		t.Run("add "+c.name, func(t *testing.T) {
			m := c.m
			err := s.InTx(ctx, func(tx store.Tx) error { return tx.AddMember(ctx, &m) })
			if !isErr(err, c.wantErr) {
				t.Errorf("AddMember(%s %d, user %d) = %v, want %v", c.m.SourceType, c.m.SourceID, c.m.UserID, err, c.wantErr)
			}
		})
	}
	bogus := newMember("Group", ns.ID, u.ID, keygate.Guest, nil)
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.AddMember(ctx, &bogus) }); err == nil {
		t.Errorf("AddMember(source type Group) = nil, want an error")
	}
	// A refused add leaves the transaction usable.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		dup := newMember(keygate.SourceProject, p.ID, u.ID, keygate.Owner, nil)
		if err := tx.AddMember(ctx, &dup); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("AddMember(existing) = %v, want %v", err, store.ErrConflict)
		}
		other := newUser("other")
		if err := tx.CreateUser(ctx, &other); err != nil {
			return err
		}
		m := newMember(keygate.SourceProject, p.ID, other.ID, keygate.Guest, nil)
		return tx.AddMember(ctx, &m)
	})

	// UpdateMember writes level and expiry, NULL included.
	for _, c := range []struct {
		level   keygate.AccessLevel
		expires *keygate.Date
	}{{keygate.Maintainer, date("2027-02-28")}, {keygate.Reporter, nil}} {
		upd := m
		upd.AccessLevel, upd.ExpiresAt = c.level, c.expires
		inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateMember(ctx, upd) })
		got, err := s.Member(ctx, keygate.SourceProject, p.ID, u.ID)
		if err != nil || got.AccessLevel != c.level || !reflect.DeepEqual(got.ExpiresAt, c.expires) || got.ID != m.ID {
			t.Errorf("Member() after UpdateMember(%v, %v) = %v, %v, %v, want %v, %v, nil",
				c.level, c.expires, got.AccessLevel, got.ExpiresAt, err, c.level, c.expires)
		}
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.RemoveMember(ctx, keygate.SourceProject, p.ID, u.ID)
	})
	notFounds := []struct {
		call string
		fn   func() error
	}{
		{"Member(removed)", func() error { _, err := s.Member(ctx, keygate.SourceProject, p.ID, u.ID); return err }},
		{"RemoveMember(removed)", func() error {
			return s.InTx(ctx, func(tx store.Tx) error { return tx.RemoveMember(ctx, keygate.SourceProject, p.ID, u.ID) })
		}},
		{"UpdateMember(removed)", func() error {
			return s.InTx(ctx, func(tx store.Tx) error { return tx.UpdateMember(ctx, m) })
		}},
	}
	for _, c := range notFounds {
		if err := c.fn(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s = %v, want %v", c.call, err, store.ErrNotFound)
		}
	}
}

func testMembersFilter(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	a := createUser(t, s, newUser("a"))
	b := createUser(t, s, newUser("b"))
	g1 := createNamespace(t, s, newGroup("g1", "G1", 0, keygate.Public))
	g2 := createNamespace(t, s, newGroup("g2", "G2", g1.ID, keygate.Public))
	p1 := createProject(t, s, newProject(g2.ID, "p1", "P1", keygate.Public))
	p2 := createProject(t, s, newProject(g2.ID, "p2", "P2", keygate.Public))
	key := func(src keygate.SourceType, id, user int64) string { return fmt.Sprintf("%s %d %d", src, id, user) }
	// Added out of order; one expired long ago (Members does not judge expiry).
	addMember(t, s, newMember(keygate.SourceProject, p1.ID, b.ID, keygate.Developer, nil))
	addMember(t, s, newMember(keygate.SourceNamespace, g2.ID, b.ID, keygate.Guest, date("2000-01-01")))
	addMember(t, s, newMember(keygate.SourceNamespace, g1.ID, b.ID, keygate.Owner, nil))
	addMember(t, s, newMember(keygate.SourceNamespace, g1.ID, a.ID, keygate.Owner, nil))
	addMember(t, s, newMember(keygate.SourceProject, p2.ID, a.ID, keygate.Reporter, nil))
	addMember(t, s, newMember(keygate.SourceProject, p1.ID, a.ID, keygate.Maintainer, nil))
	cases := []struct {
		name string
		f    store.MemberFilter
		want []string
	}{
		{"everything", store.MemberFilter{}, []string{
			key("Namespace", g1.ID, a.ID), key("Namespace", g1.ID, b.ID), key("Namespace", g2.ID, b.ID),
			key("Project", p1.ID, a.ID), key("Project", p1.ID, b.ID), key("Project", p2.ID, a.ID)}},
		{"namespace chain", store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: []int64{g2.ID, g1.ID}}, []string{
			key("Namespace", g1.ID, a.ID), key("Namespace", g1.ID, b.ID), key("Namespace", g2.ID, b.ID)}},
		{"chain and a project", store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: []int64{g1.ID, g2.ID}, ProjectIDs: []int64{p1.ID}}, []string{
			key("Namespace", g1.ID, a.ID), key("Namespace", g1.ID, b.ID), key("Namespace", g2.ID, b.ID),
			key("Project", p1.ID, a.ID), key("Project", p1.ID, b.ID)}},
		{"projects only", store.MemberFilter{ProjectIDs: []int64{p2.ID, p1.ID}}, []string{
			key("Project", p1.ID, a.ID), key("Project", p1.ID, b.ID), key("Project", p2.ID, a.ID)}},
		{"project source IDs", store.MemberFilter{SourceType: keygate.SourceProject, SourceIDs: []int64{p2.ID}}, []string{
			key("Project", p2.ID, a.ID)}},
		{"source type alone", store.MemberFilter{SourceType: keygate.SourceProject}, []string{
			key("Project", p1.ID, a.ID), key("Project", p1.ID, b.ID), key("Project", p2.ID, a.ID)}},
		{"one user", store.MemberFilter{UserID: b.ID}, []string{
			key("Namespace", g1.ID, b.ID), key("Namespace", g2.ID, b.ID), key("Project", p1.ID, b.ID)}},
		{"one user in a chain", store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: []int64{g1.ID, g2.ID}, UserID: a.ID}, []string{
			key("Namespace", g1.ID, a.ID)}},
		{"empty lists", store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: []int64{}}, []string{}},
		{"unknown source", store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: []int64{999}}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms, err := s.Members(ctx, c.f)
			got := []string{}
			for _, m := range ms {
				got = append(got, key(m.SourceType, m.SourceID, m.UserID))
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("Members(%+v) = %q, %v, want %q, nil", c.f, got, err, c.want)
			}
		})
	}
}

// testMaxAccess: a 5-level tree l1/l2/l3/l4/l5 with a project in l5.
func testMaxAccess(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	now := time.Date(2025, 6, 15, 17, 30, 0, 0, zone) // 12:00 UTC
	var chain []int64
	var parent int64
	for i := 1; i <= 5; i++ {
		n := createNamespace(t, s, newGroup(fmt.Sprintf("l%d", i), fmt.Sprintf("L%d", i), parent, keygate.Private))
		chain, parent = append(chain, n.ID), n.ID
	}
	other := createNamespace(t, s, newGroup("other", "Other", 0, keygate.Private))
	leaf := createProject(t, s, newProject(parent, "leaf", "Leaf", keygate.Private))
	elsewhere := createProject(t, s, newProject(other.ID, "elsewhere", "Elsewhere", keygate.Private))
	users := map[string]int64{}
	for _, name := range []string{"inherits", "direct", "expired", "nobody", "otherproject", "outside"} {
		users[name] = createUser(t, s, newUser(name)).ID
	}
	ns := func(i int) int64 { return chain[i-1] }
	for _, m := range []keygate.Member{
		// inherits: Guest at the top, Developer in the middle, Reporter on the project.
		newMember(keygate.SourceNamespace, ns(1), users["inherits"], keygate.Guest, nil),
		newMember(keygate.SourceNamespace, ns(3), users["inherits"], keygate.Developer, nil),
		newMember(keygate.SourceProject, leaf.ID, users["inherits"], keygate.Reporter, nil),
		// direct: the project's Owner beats the group's Developer.
		newMember(keygate.SourceNamespace, ns(2), users["direct"], keygate.Developer, nil),
		newMember(keygate.SourceProject, leaf.ID, users["direct"], keygate.Owner, date("2025-06-16")),
		// expired: Maintainer at the top until today (already over), Guest at the leaf.
		newMember(keygate.SourceNamespace, ns(1), users["expired"], keygate.Maintainer, date("2025-06-15")),
		newMember(keygate.SourceNamespace, ns(5), users["expired"], keygate.Guest, nil),
		// otherproject: Owner of the other project only, whose ID may equal a namespace's.
		newMember(keygate.SourceProject, elsewhere.ID, users["otherproject"], keygate.Owner, nil),
		// outside: a group outside the chain.
		newMember(keygate.SourceNamespace, other.ID, users["outside"], keygate.Owner, nil),
	} {
		addMember(t, s, m)
	}
	long := make([]int64, 0, 25) // more IDs than the prepared statement's slots
	for i := range 22 {
		long = append(long, int64(10_000+i))
	}
	long = append(long, ns(3))
	cases := []struct {
		name       string
		user       string
		project    int64
		namespaces []int64
		now        time.Time
		want       keygate.AccessLevel
	}{
		{"inherited through the tree", "inherits", leaf.ID, chain, now, keygate.Developer},
		{"project direct beats the top group", "inherits", leaf.ID, chain[:1], now, keygate.Reporter},
		{"project only", "inherits", leaf.ID, nil, now, keygate.Reporter},
		{"groups only", "inherits", 0, chain, now, keygate.Developer},
		{"below the membership", "inherits", 0, chain[3:], now, keygate.NoAccess},
		{"other project, same groups", "inherits", elsewhere.ID, chain, now, keygate.Developer},
		{"more namespaces than slots", "inherits", 0, long, now, keygate.Developer},
		{"project Owner beats group Developer", "direct", leaf.ID, chain, now, keygate.Owner},
		{"project membership expired", "direct", leaf.ID, chain, time.Date(2025, 6, 16, 0, 0, 0, 0, time.UTC), keygate.Developer},
		{"expired membership ignored", "expired", leaf.ID, chain, now, keygate.Guest},
		{"last instant before expiry", "expired", leaf.ID, chain, time.Date(2025, 6, 14, 23, 59, 59, 0, time.UTC), keygate.Maintainer},
		{"no memberships", "nobody", leaf.ID, chain, now, keygate.NoAccess},
		{"project membership is not a namespace's", "otherproject", leaf.ID, []int64{elsewhere.ID}, now, keygate.NoAccess},
		{"group outside the chain", "outside", leaf.ID, chain, now, keygate.NoAccess},
		{"nothing asked", "inherits", 0, nil, now, keygate.NoAccess},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.MaxAccess(ctx, users[c.user], c.project, c.namespaces, c.now)
			if err != nil || got != c.want {
				t.Errorf("MaxAccess(%s, %d, %v, %v) = %v, %v, want %v, nil", c.user, c.project, c.namespaces, c.now, got, err, c.want)
			}
		})
	}
	if got, err := s.MaxAccess(ctx, 0, leaf.ID, chain, now); err != nil || got != keygate.NoAccess {
		t.Errorf("MaxAccess(user 0) = %v, %v, want %v, nil", got, err, keygate.NoAccess)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		got, err := tx.MaxAccess(ctx, users["inherits"], leaf.ID, chain, now)
		if err != nil || got != keygate.Developer {
			return fmt.Errorf("Tx.MaxAccess = %v, %v, want %v", got, err, keygate.Developer)
		}
		return nil
	})
}

func testCountChildren(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w := worldFixture(t, s)
	cases := []struct {
		path             string
		id               int64
		groups, projects int
	}{
		{"acme", w.ns["acme"].ID, 2, 1},
		{"acme/platform", w.ns["acme/platform"].ID, 1, 1},
		{"acme/platform/infra", w.ns["acme/platform/infra"].ID, 0, 1},
		{"erin", w.ns["erin"].ID, 0, 1},
		{"missing", 999, 0, 0},
	}
	for _, c := range cases {
		g, p, err := s.CountChildren(t.Context(), c.id)
		if err != nil || g != c.groups || p != c.projects {
			t.Errorf("CountChildren(%s) = %d, %d, %v, want %d, %d, nil", c.path, g, p, err, c.groups, c.projects)
		}
	}
}

// world is the fixture of the visibility and membership filters.
type world struct {
	now   time.Time
	users map[string]int64
	ns    map[string]keygate.Namespace // by full path
	proj  map[string]keygate.Project   // by full path
}

// worldFixture builds, at now 2025-06-15T12:00Z:
//
//	acme (private)                       alice: Maintainer
//	  platform (private)                 gina: Owner
//	    infra (private)
//	      project deploy (private)       bob: Developer until 2025-06-16
//	    project api (internal)
//	  web (internal)
//	    project site (public)
//	  project handbook (private)
//	open (public)
//	  tools (public)
//	    project cli (public)
//	  secret (private)                   dave: Owner until 2025-06-15 (over); frank: Reporter
//	    project vault (private)          frank: Owner
//	erin (erin's personal namespace, private)
//	  project dotfiles (private)
//
// carol belongs to nothing. Names sort differently from paths; creation times differ
// from ID order.
func worldFixture(t *testing.T, s store.Store) world {
	t.Helper()
	w := world{
		now:   time.Date(2025, 6, 15, 17, 30, 0, 0, zone),
		users: map[string]int64{},
		ns:    map[string]keygate.Namespace{},
		proj:  map[string]keygate.Project{},
	}
	for _, name := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "gina"} {
		w.users[name] = createUser(t, s, newUser(name)).ID
	}
	group := func(parent, path, name string, vis keygate.Visibility, hours int) {
		var pid int64
		if parent != "" {
			pid = w.ns[parent].ID
		}
		n := newGroup(path, name, pid, vis)
		n.CreatedAt = t0.Add(time.Duration(hours) * time.Hour)
		n = createNamespace(t, s, n)
		w.ns[n.FullPath] = n
	}
	group("", "acme", "Acme", keygate.Private, 5)
	group("acme", "platform", "Core Platform", keygate.Private, 1)
	group("acme/platform", "infra", "Infrastructure", keygate.Private, 2)
	group("acme", "web", "Web 100%", keygate.Internal, 3)
	group("", "open", "Open", keygate.Public, 0)
	group("open", "tools", "Tools", keygate.Public, 4)
	group("open", "secret", "Secret_Stuff", keygate.Private, 4)
	personal := newUserNamespace(keygate.User{ID: w.users["erin"], Username: "erin", Name: "Erin E."})
	personal.CreatedAt = t0.Add(6 * time.Hour)
	w.ns["erin"] = createNamespace(t, s, personal)
	project := func(ns, path, name string, vis keygate.Visibility, hours int) {
		p := newProject(w.ns[ns].ID, path, name, vis)
		p.CreatedAt = t0.Add(time.Duration(hours) * time.Hour)
		p.LastActivityAt = p.CreatedAt
		p = createProject(t, s, p)
		p.Namespace = w.ns[ns]
		w.proj[p.FullPath()] = p
	}
	project("acme", "handbook", "Handbook", keygate.Private, 0)
	project("acme/platform", "api", "API", keygate.Internal, 1)
	project("acme/platform/infra", "deploy", "Zed Deploy", keygate.Private, 2)
	project("acme/web", "site", "Site 50%", keygate.Public, 3)
	project("open/tools", "cli", "CLI", keygate.Public, 4)
	project("open/secret", "vault", "Vault_Box", keygate.Private, 5)
	project("erin", "dotfiles", "Dotfiles", keygate.Private, 6)
	member := func(user string, src keygate.SourceType, path string, level keygate.AccessLevel, expires *keygate.Date) {
		id := w.ns[path].ID
		if src == keygate.SourceProject {
			id = w.proj[path].ID
		}
		addMember(t, s, newMember(src, id, w.users[user], level, expires))
	}
	member("alice", keygate.SourceNamespace, "acme", keygate.Maintainer, nil)
	member("gina", keygate.SourceNamespace, "acme/platform", keygate.Owner, nil)
	member("bob", keygate.SourceProject, "acme/platform/infra/deploy", keygate.Developer, date("2025-06-16"))
	member("dave", keygate.SourceNamespace, "open/secret", keygate.Owner, date("2025-06-15"))
	member("frank", keygate.SourceNamespace, "open/secret", keygate.Reporter, nil)
	member("frank", keygate.SourceProject, "open/secret/vault", keygate.Owner, nil)
	return w
}

func testNamespacesFilter(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w := worldFixture(t, s)
	id := func(path string) int64 { return w.ns[path].ID }
	viewer := func(min keygate.Visibility, user string) *store.Viewer {
		return &store.Viewer{MinVisibility: min, MemberID: w.users[user], Now: w.now}
	}
	memberOf := func(user string, min keygate.AccessLevel) *store.Membership {
		return &store.Membership{UserID: w.users[user], MinLevel: min, Now: w.now}
	}
	everything := []string{"acme", "acme/platform", "acme/platform/infra", "acme/web", "erin", "open", "open/secret", "open/tools"}
	cases := []struct {
		name string
		f    store.NamespaceFilter
		want []string // sorted
	}{
		{"all", store.NamespaceFilter{}, everything},
		{"kind user", store.NamespaceFilter{Kind: keygate.NamespaceUser}, []string{"erin"}},
		{"kind group", store.NamespaceFilter{Kind: keygate.NamespaceGroup}, slices.DeleteFunc(slices.Clone(everything), func(p string) bool { return p == "erin" })},
		{"top level", store.NamespaceFilter{ParentID: ptr(int64(0))}, []string{"acme", "erin", "open"}},
		{"children of acme", store.NamespaceFilter{ParentID: ptr(id("acme"))}, []string{"acme/platform", "acme/web"}},
		{"descendants of acme", store.NamespaceFilter{DescendantsOf: id("acme")}, []string{"acme/platform", "acme/platform/infra", "acme/web"}},
		{"descendants of open", store.NamespaceFilter{DescendantsOf: id("open")}, []string{"open/secret", "open/tools"}},
		{"descendants of a leaf", store.NamespaceFilter{DescendantsOf: id("acme/platform/infra")}, []string{}},
		{"descendants of a missing one", store.NamespaceFilter{DescendantsOf: 999}, []string{}},
		{"IDs", store.NamespaceFilter{IDs: []int64{id("open"), id("acme/web")}}, []string{"acme/web", "open"}},
		{"empty IDs", store.NamespaceFilter{IDs: []int64{}}, []string{}},
		{"search name", store.NamespaceFilter{Search: "PLATFORM"}, []string{"acme/platform"}},
		{"search path", store.NamespaceFilter{Search: "infra"}, []string{"acme/platform/infra"}},
		{"search % is literal", store.NamespaceFilter{Search: "%"}, []string{"acme/web"}},
		{"search _ is literal", store.NamespaceFilter{Search: "t_s"}, []string{"open/secret"}},
		{"visibility", store.NamespaceFilter{Visibility: keygate.Internal}, []string{"acme/web"}},

		{"anonymous", store.NamespaceFilter{Visible: &store.Viewer{MinVisibility: keygate.Public}}, []string{"open", "open/tools"}},
		{"signed-in non-member", store.NamespaceFilter{Visible: viewer(keygate.Internal, "carol")}, []string{"acme/web", "open", "open/tools"}},
		{"member of a subgroup's project sees its ancestors", store.NamespaceFilter{Visible: viewer(keygate.Internal, "bob")},
			[]string{"acme", "acme/platform", "acme/platform/infra", "acme/web", "open", "open/tools"}},
		{"member of the parent sees private subgroups", store.NamespaceFilter{Visible: viewer(keygate.Internal, "alice")},
			[]string{"acme", "acme/platform", "acme/platform/infra", "acme/web", "open", "open/tools"}},
		{"member of a subgroup sees its parent and its own subgroups", store.NamespaceFilter{Visible: viewer(keygate.Internal, "gina")},
			[]string{"acme", "acme/platform", "acme/platform/infra", "acme/web", "open", "open/tools"}},
		{"expired membership", store.NamespaceFilter{Visible: viewer(keygate.Internal, "dave")}, []string{"acme/web", "open", "open/tools"}},
		{"the day before it expired", store.NamespaceFilter{Visible: &store.Viewer{MinVisibility: keygate.Internal, MemberID: w.users["dave"], Now: w.now.AddDate(0, 0, -1)}},
			[]string{"acme/web", "open", "open/secret", "open/tools"}},
		{"own personal namespace", store.NamespaceFilter{Visible: viewer(keygate.Internal, "erin")}, []string{"acme/web", "erin", "open", "open/tools"}},
		{"someone else's personal namespace", store.NamespaceFilter{Kind: keygate.NamespaceUser, Visible: viewer(keygate.Internal, "frank")}, []string{}},
		{"membership only", store.NamespaceFilter{Visible: viewer("", "bob")}, []string{"acme", "acme/platform", "acme/platform/infra"}},
		{"membership only, anonymous", store.NamespaceFilter{Visible: &store.Viewer{}}, []string{}},
		{"visible groups", store.NamespaceFilter{Kind: keygate.NamespaceGroup, Visible: viewer(keygate.Internal, "frank")}, []string{"acme/web", "open", "open/secret", "open/tools"}},

		{"member of, any level", store.NamespaceFilter{MemberOf: memberOf("alice", 0)}, []string{"acme", "acme/platform", "acme/platform/infra", "acme/web"}},
		{"member of, at least Maintainer", store.NamespaceFilter{MemberOf: memberOf("alice", keygate.Maintainer)}, []string{"acme", "acme/platform", "acme/platform/infra", "acme/web"}},
		{"member of, at least Owner", store.NamespaceFilter{MemberOf: memberOf("alice", keygate.Owner)}, []string{}},
		{"owner of a subgroup", store.NamespaceFilter{MemberOf: memberOf("gina", keygate.Owner)}, []string{"acme/platform", "acme/platform/infra"}},
		{"a project membership is no group membership", store.NamespaceFilter{MemberOf: memberOf("bob", 0)}, []string{}},
		{"member of, expired", store.NamespaceFilter{MemberOf: memberOf("dave", 0)}, []string{}},
		{"member of, Reporter", store.NamespaceFilter{MemberOf: memberOf("frank", keygate.Reporter)}, []string{"open/secret"}},
		{"member of, Developer", store.NamespaceFilter{MemberOf: memberOf("frank", keygate.Developer)}, []string{}},
		{"descendants where a member", store.NamespaceFilter{DescendantsOf: id("acme"), MemberOf: memberOf("gina", 0)}, []string{"acme/platform", "acme/platform/infra"}},
		{"combined", store.NamespaceFilter{Kind: keygate.NamespaceGroup, ParentID: ptr(id("acme")), Search: "o", Visible: viewer(keygate.Internal, "bob")}, []string{"acme/platform"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, total, err := s.Namespaces(t.Context(), c.f)
			if err != nil || !reflect.DeepEqual(sorted(fullPaths(got)), c.want) || total != len(c.want) {
				t.Errorf("Namespaces(%+v) = %q, %d, %v, want %q, %d, nil", c.f, sorted(fullPaths(got)), total, err, c.want, len(c.want))
			}
		})
	}
	// Whole rows come back.
	got, _, err := s.Namespaces(t.Context(), store.NamespaceFilter{IDs: []int64{id("acme/platform/infra")}})
	if want := wantNamespace(w.ns["acme/platform/infra"]); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("Namespaces(infra) = %+v, %v, want [%+v], nil", got, err, want)
	}
}

func testNamespacesOrder(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	worldFixture(t, s)
	cases := []struct {
		orderBy, sort string
		want          []string
	}{
		{"", "", []string{"acme", "acme/platform", "erin", "acme/platform/infra", "open", "open/secret", "open/tools", "acme/web"}},
		{"name", "desc", []string{"acme/web", "open/tools", "open/secret", "open", "acme/platform/infra", "erin", "acme/platform", "acme"}},
		{"path", "asc", []string{"acme", "erin", "acme/platform/infra", "open", "acme/platform", "open/secret", "open/tools", "acme/web"}},
		{"id", "", []string{"acme", "acme/platform", "acme/platform/infra", "acme/web", "open", "open/tools", "open/secret", "erin"}},
		{"id", "desc", []string{"erin", "open/secret", "open/tools", "open", "acme/web", "acme/platform/infra", "acme/platform", "acme"}},
		// tools and secret share a creation time: the ID breaks the tie.
		{"created_at", "asc", []string{"open", "acme/platform", "acme/platform/infra", "acme/web", "open/tools", "open/secret", "acme", "erin"}},
		{"created_at", "DESC", []string{"erin", "acme", "open/secret", "open/tools", "acme/web", "acme/platform/infra", "acme/platform", "open"}},
		{"bogus", "bogus", []string{"acme", "acme/platform", "erin", "acme/platform/infra", "open", "open/secret", "open/tools", "acme/web"}},
	}
	for _, c := range cases {
		t.Run(c.orderBy+" "+c.sort, func(t *testing.T) {
			got, _, err := s.Namespaces(t.Context(), store.NamespaceFilter{OrderBy: c.orderBy, Sort: c.sort})
			if err != nil || !reflect.DeepEqual(fullPaths(got), c.want) {
				t.Errorf("Namespaces(OrderBy %q, Sort %q) = %q, %v, want %q, nil", c.orderBy, c.sort, fullPaths(got), err, c.want)
			}
		})
	}
}

func testNamespacesPagination(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w := worldFixture(t, s)
	cases := []struct {
		name      string
		f         store.NamespaceFilter
		want      []string
		wantTotal int
	}{
		{"first page", store.NamespaceFilter{Page: store.Page{Number: 1, Size: 3}}, []string{"acme", "acme/platform", "erin"}, 8},
		{"last page", store.NamespaceFilter{Page: store.Page{Number: 3, Size: 3}}, []string{"open/tools", "acme/web"}, 8},
		{"past the end", store.NamespaceFilter{Page: store.Page{Number: 4, Size: 3}}, []string{}, 8},
		{"filtered", store.NamespaceFilter{Kind: keygate.NamespaceGroup, Page: store.Page{Number: 2, Size: 2}}, []string{"acme/platform/infra", "open"}, 7},
		{"filtered, past the end", store.NamespaceFilter{Visible: &store.Viewer{MinVisibility: keygate.Internal, MemberID: w.users["alice"], Now: w.now},
			Page: store.Page{Number: 9, Size: 2}}, []string{}, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, total, err := s.Namespaces(t.Context(), c.f)
			if err != nil || !reflect.DeepEqual(fullPaths(got), c.want) || total != c.wantTotal {
				t.Errorf("Namespaces(%+v) = %q, total %d, %v, want %q, total %d, nil", c.f, fullPaths(got), total, err, c.want, c.wantTotal)
			}
		})
	}
}

func testProjectsFilter(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w := worldFixture(t, s)
	nsID := func(path string) int64 { return w.ns[path].ID }
	viewer := func(min keygate.Visibility, user string) *store.Viewer {
		return &store.Viewer{MinVisibility: min, MemberID: w.users[user], Now: w.now}
	}
	memberOf := func(user string, min keygate.AccessLevel) *store.Membership {
		return &store.Membership{UserID: w.users[user], MinLevel: min, Now: w.now}
	}
	const (
		handbook = "acme/handbook"
		api      = "acme/platform/api"
		deploy   = "acme/platform/infra/deploy"
		site     = "acme/web/site"
		cli      = "open/tools/cli"
		vault    = "open/secret/vault"
		dotfiles = "erin/dotfiles"
	)
	all := sorted([]string{handbook, api, deploy, site, cli, vault, dotfiles})
	cases := []struct {
		name string
		f    store.ProjectFilter
		want []string // sorted
	}{
		{"all", store.ProjectFilter{}, all},
		{"namespace", store.ProjectFilter{NamespaceID: nsID("acme")}, []string{handbook}},
		{"namespace with subgroups", store.ProjectFilter{NamespaceID: nsID("acme"), IncludeSubgroups: true}, sorted([]string{handbook, api, deploy, site})},
		{"subgroup with subgroups", store.ProjectFilter{NamespaceID: nsID("acme/platform"), IncludeSubgroups: true}, []string{api, deploy}},
		{"missing namespace with subgroups", store.ProjectFilter{NamespaceID: 999, IncludeSubgroups: true}, []string{}},
		{"IDs", store.ProjectFilter{IDs: []int64{w.proj[cli].ID, w.proj[api].ID}}, []string{api, cli}},
		{"empty IDs", store.ProjectFilter{IDs: []int64{}}, []string{}},
		{"search path", store.ProjectFilter{Search: "DEP"}, []string{deploy}},
		{"search name", store.ProjectFilter{Search: "handb"}, []string{handbook}},
		{"search % is literal", store.ProjectFilter{Search: "%"}, []string{site}},
		{"search _ is literal", store.ProjectFilter{Search: "t_b"}, []string{vault}},
		{"visibility", store.ProjectFilter{Visibility: keygate.Private}, sorted([]string{handbook, deploy, vault, dotfiles})},

		{"anonymous", store.ProjectFilter{Visible: &store.Viewer{MinVisibility: keygate.Public}}, []string{site, cli}},
		{"signed-in non-member", store.ProjectFilter{Visible: viewer(keygate.Internal, "carol")}, []string{api, site, cli}},
		{"project member", store.ProjectFilter{Visible: viewer(keygate.Internal, "bob")}, []string{api, deploy, site, cli}},
		{"member of the parent sees private subgroups' projects", store.ProjectFilter{Visible: viewer(keygate.Internal, "alice")}, sorted([]string{handbook, api, deploy, site, cli})},
		{"member of a subgroup", store.ProjectFilter{Visible: viewer(keygate.Internal, "gina")}, []string{api, deploy, site, cli}},
		{"expired membership", store.ProjectFilter{Visible: viewer(keygate.Internal, "dave")}, []string{api, site, cli}},
		{"personal namespace owner", store.ProjectFilter{Visible: viewer(keygate.Internal, "erin")}, sorted([]string{api, site, cli, dotfiles})},
		{"group and project member", store.ProjectFilter{Visible: viewer(keygate.Internal, "frank")}, sorted([]string{api, site, cli, vault})},
		{"membership only", store.ProjectFilter{Visible: viewer("", "alice")}, sorted([]string{handbook, api, deploy, site})},
		{"visible in a namespace", store.ProjectFilter{NamespaceID: nsID("acme"), IncludeSubgroups: true, Visible: viewer(keygate.Internal, "bob")}, []string{api, deploy, site}},

		{"member of, any level", store.ProjectFilter{MemberOf: memberOf("alice", 0)}, sorted([]string{handbook, api, deploy, site})},
		{"member of, at least Maintainer", store.ProjectFilter{MemberOf: memberOf("alice", keygate.Maintainer)}, sorted([]string{handbook, api, deploy, site})},
		{"member of, at least Owner", store.ProjectFilter{MemberOf: memberOf("alice", keygate.Owner)}, []string{}},
		{"project member of", store.ProjectFilter{MemberOf: memberOf("bob", keygate.Developer)}, []string{deploy}},
		{"project member of, too high", store.ProjectFilter{MemberOf: memberOf("bob", keygate.Maintainer)}, []string{}},
		{"member of, expired", store.ProjectFilter{MemberOf: memberOf("dave", 0)}, []string{}},
		{"member of own namespace's projects", store.ProjectFilter{MemberOf: memberOf("erin", keygate.Owner)}, []string{dotfiles}},
		{"member of, project level counts", store.ProjectFilter{MemberOf: memberOf("frank", keygate.Owner)}, []string{vault}},
		{"member of, non-member", store.ProjectFilter{MemberOf: memberOf("carol", 0)}, []string{}},

		{"owned through a group", store.ProjectFilter{OwnedBy: w.users["gina"], Now: w.now}, []string{api, deploy}},
		{"owned personal", store.ProjectFilter{OwnedBy: w.users["erin"], Now: w.now}, []string{dotfiles}},
		{"owned directly", store.ProjectFilter{OwnedBy: w.users["frank"], Now: w.now}, []string{vault}},
		{"owned, Maintainer is not Owner", store.ProjectFilter{OwnedBy: w.users["alice"], Now: w.now}, []string{}},
		{"owned, expired", store.ProjectFilter{OwnedBy: w.users["dave"], Now: w.now}, []string{}},
		{"owned, judged at the viewer's Now", store.ProjectFilter{OwnedBy: w.users["gina"], Visible: viewer(keygate.Internal, "gina")}, []string{api, deploy}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, total, err := s.Projects(t.Context(), c.f)
			if err != nil || !reflect.DeepEqual(sorted(projectPaths(got)), c.want) || total != len(c.want) {
				t.Errorf("Projects(%+v) = %q, %d, %v, want %q, %d, nil", c.f, sorted(projectPaths(got)), total, err, c.want, len(c.want))
			}
		})
	}
	// Whole rows, namespace loaded.
	p := w.proj[deploy]
	got, _, err := s.Projects(t.Context(), store.ProjectFilter{IDs: []int64{p.ID}})
	if want := wantProject(p, w.ns["acme/platform/infra"]); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("Projects(deploy) = %+v, %v, want [%+v], nil", got, err, want)
	}
}

func testProjectsOrder(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w := worldFixture(t, s)
	ctx := t.Context()
	// api was active last; handbook was updated last (updated_at is the time of the write).
	api := w.proj["acme/platform/api"]
	api.LastActivityAt = t0.Add(100 * time.Hour)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateProject(ctx, api) })
	handbook := w.proj["acme/handbook"]
	handbook.Description = "updated"
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateProject(ctx, handbook) })
	const (
		hb, ap, de, si, cl, va, do = "acme/handbook", "acme/platform/api", "acme/platform/infra/deploy",
			"acme/web/site", "open/tools/cli", "open/secret/vault", "erin/dotfiles"
	)
	cases := []struct {
		orderBy, sort string
		want          []string
	}{
		{"", "", []string{do, va, cl, si, de, ap, hb}},
		{"created_at", "asc", []string{hb, ap, de, si, cl, va, do}},
		{"id", "asc", []string{hb, ap, de, si, cl, va, do}},
		{"id", "", []string{do, va, cl, si, de, ap, hb}},
		{"name", "asc", []string{ap, cl, do, hb, si, va, de}},
		{"path", "asc", []string{ap, cl, de, do, hb, si, va}},
		{"path", "desc", []string{va, si, hb, do, de, cl, ap}},
		{"last_activity_at", "desc", []string{ap, do, va, cl, si, de, hb}},
		{"updated_at", "desc", []string{hb, ap, do, va, cl, si, de}},
		{"bogus", "bogus", []string{do, va, cl, si, de, ap, hb}},
	}
	for _, c := range cases {
		t.Run(c.orderBy+" "+c.sort, func(t *testing.T) {
			got, _, err := s.Projects(ctx, store.ProjectFilter{OrderBy: c.orderBy, Sort: c.sort})
			if err != nil || !reflect.DeepEqual(projectPaths(got), c.want) {
				t.Errorf("Projects(OrderBy %q, Sort %q) = %q, %v, want %q, nil", c.orderBy, c.sort, projectPaths(got), err, c.want)
			}
		})
	}
}

func testProjectsPagination(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w := worldFixture(t, s)
	cases := []struct {
		name      string
		f         store.ProjectFilter
		want      []string
		wantTotal int
	}{
		{"first page", store.ProjectFilter{Page: store.Page{Number: 1, Size: 3}}, []string{"erin/dotfiles", "open/secret/vault", "open/tools/cli"}, 7},
		{"last page", store.ProjectFilter{Page: store.Page{Number: 3, Size: 3}}, []string{"acme/handbook"}, 7},
		{"past the end", store.ProjectFilter{Page: store.Page{Number: 5, Size: 3}}, []string{}, 7},
		{"visible", store.ProjectFilter{Visible: &store.Viewer{MinVisibility: keygate.Public}, Page: store.Page{Number: 1, Size: 1}}, []string{"open/tools/cli"}, 2},
		{"member of, past the end", store.ProjectFilter{MemberOf: &store.Membership{UserID: w.users["alice"], Now: w.now},
			Page: store.Page{Number: 3, Size: 2}}, []string{}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, total, err := s.Projects(t.Context(), c.f)
			if err != nil || !reflect.DeepEqual(projectPaths(got), c.want) || total != c.wantTotal {
				t.Errorf("Projects(%+v) = %q, total %d, %v, want %q, total %d, nil", c.f, projectPaths(got), total, err, c.want, c.wantTotal)
			}
		})
	}
}

// testMembershipNeedsNow: a filter that consults memberships without a time to judge
// their expiry by fails rather than count expired ones.
func testMembershipNeedsNow(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	u := createUser(t, s, newUser("someone"))
	nsCases := []store.NamespaceFilter{
		{Visible: &store.Viewer{MinVisibility: keygate.Internal, MemberID: u.ID}},
		{MemberOf: &store.Membership{UserID: u.ID}},
	}
	for _, f := range nsCases {
		if _, _, err := s.Namespaces(ctx, f); err == nil {
			t.Errorf("Namespaces(%+v without Now) = nil error, want one", f)
		}
	}
	pCases := []store.ProjectFilter{
		{Visible: &store.Viewer{MinVisibility: keygate.Internal, MemberID: u.ID}},
		{MemberOf: &store.Membership{UserID: u.ID}},
		{OwnedBy: u.ID},
		{OwnedBy: u.ID, Visible: &store.Viewer{MinVisibility: keygate.Public}},
	}
	for _, f := range pCases {
		if _, _, err := s.Projects(ctx, f); err == nil {
			t.Errorf("Projects(%+v without Now) = nil error, want one", f)
		}
	}
	// Anonymous visibility consults no membership.
	if _, _, err := s.Namespaces(ctx, store.NamespaceFilter{Visible: &store.Viewer{MinVisibility: keygate.Public}}); err != nil {
		t.Errorf("Namespaces(anonymous Visible without Now) = %v, want nil", err)
	}
	if _, _, err := s.Projects(ctx, store.ProjectFilter{Visible: &store.Viewer{MinVisibility: keygate.Public}}); err != nil {
		t.Errorf("Projects(anonymous Visible without Now) = %v, want nil", err)
	}
}

// testResourceMarker: writes that can take access away move the Marker; creating
// namespaces and projects and adding members does not.
func testResourceMarker(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	u := createUser(t, s, newUser("owner"))
	victim := createUser(t, s, newUser("victim"))
	ns := createNamespace(t, s, newGroup("top", "Top", 0, keygate.Private))
	doomed := createNamespace(t, s, newGroup("doomed", "Doomed", 0, keygate.Private))
	p := createProject(t, s, newProject(ns.ID, "proj", "Proj", keygate.Private))
	gone := createProject(t, s, newProject(ns.ID, "gone", "Gone", keygate.Private))
	m := addMember(t, s, newMember(keygate.SourceProject, p.ID, u.ID, keygate.Developer, nil))
	cases := []struct {
		write     string
		fn        func(ctx context.Context, tx store.Tx) error
		wantMoved bool
	}{
		{"CreateNamespace", func(ctx context.Context, tx store.Tx) error {
			n := newGroup("sub", "Sub", ns.ID, keygate.Private)
			return tx.CreateNamespace(ctx, &n)
		}, false},
		{"CreateProject", func(ctx context.Context, tx store.Tx) error {
			p := newProject(ns.ID, "another", "Another", keygate.Private)
			return tx.CreateProject(ctx, &p)
		}, false},
		{"AddMember", func(ctx context.Context, tx store.Tx) error {
			m := newMember(keygate.SourceNamespace, ns.ID, u.ID, keygate.Guest, nil)
			return tx.AddMember(ctx, &m)
		}, false},
		{"reads only", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.MaxAccess(ctx, u.ID, p.ID, ns.TraversalIDs, t0)
			return err
		}, false},
		{"UpdateNamespace", func(ctx context.Context, tx store.Tx) error {
			n := ns
			n.Visibility = keygate.Internal
			return tx.UpdateNamespace(ctx, n)
		}, true},
		{"UpdateProject", func(ctx context.Context, tx store.Tx) error {
			q := p
			q.Visibility = keygate.Internal
			return tx.UpdateProject(ctx, q)
		}, true},
		{"UpdateMember", func(ctx context.Context, tx store.Tx) error {
			n := m
			n.AccessLevel = keygate.Guest
			return tx.UpdateMember(ctx, n)
		}, true},
		{"RemoveMember", func(ctx context.Context, tx store.Tx) error {
			return tx.RemoveMember(ctx, keygate.SourceProject, p.ID, u.ID)
		}, true},
		{"DeleteProject", func(ctx context.Context, tx store.Tx) error { return tx.DeleteProject(ctx, gone.ID) }, true},
		{"DeleteNamespace", func(ctx context.Context, tx store.Tx) error { return tx.DeleteNamespace(ctx, doomed.ID) }, true},
		{"DeleteUser", func(ctx context.Context, tx store.Tx) error { return tx.DeleteUser(ctx, victim.ID) }, true},
	}
	for _, c := range cases {
		before := marker(t, s)
		inTx(t, s, c.fn)
		after := marker(t, s)
		if moved := after != before; moved != c.wantMoved {
			t.Errorf("Marker() after %s: %d → %d, moved = %v, want %v", c.write, before, after, moved, c.wantMoved)
		}
	}
}

// testConcurrentRenames: renaming a group while another process creates or renames
// namespaces below it (PostgreSQL: another node) leaves every full path and full name
// consistent with its parent's.
func testConcurrentRenames(t *testing.T, open func(*testing.T) store.Store) {
	s1 := open(t)
	s2 := open(t)
	ctx := t.Context()
	top := createNamespace(t, s1, newGroup("top", "Top", 0, keygate.Private))
	mid := createNamespace(t, s1, newGroup("mid", "Mid", top.ID, keygate.Private))
	leaf := createNamespace(t, s1, newGroup("leaf", "Leaf", mid.ID, keygate.Private))
	for i := range 20 {
		start := make(chan struct{})
		errs := make([]error, 3)
		var wg sync.WaitGroup
		wg.Go(func() {
			<-start
			errs[0] = s1.InTx(ctx, func(tx store.Tx) error {
				n := top
				n.Path, n.Name = fmt.Sprintf("top%d", i), fmt.Sprintf("Top %d", i)
				return tx.UpdateNamespace(ctx, n)
			})
		})
		wg.Go(func() {
			<-start
			errs[1] = s2.InTx(ctx, func(tx store.Tx) error {
				n := newGroup(fmt.Sprintf("c%d", i), fmt.Sprintf("C%d", i), leaf.ID, keygate.Private)
				return tx.CreateNamespace(ctx, &n)
			})
		})
		wg.Go(func() {
			<-start
			errs[2] = s2.InTx(ctx, func(tx store.Tx) error {
				n := mid
				n.Name = fmt.Sprintf("Mid %d", i)
				return tx.UpdateNamespace(ctx, n)
			})
		})
		close(start)
		wg.Wait()
		for g, err := range errs {
			if err != nil {
				t.Fatalf("round %d: writer %d = %v", i, g, err)
			}
		}
	}
	all, _, err := s1.Namespaces(ctx, store.NamespaceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]keygate.Namespace{}
	for _, n := range all {
		byID[n.ID] = n
	}
	for _, n := range all {
		wantPath, wantName := n.Path, n.Name
		if p, ok := byID[n.ParentID]; ok {
			wantPath, wantName = p.FullPath+"/"+n.Path, p.FullName+" / "+n.Name
		}
		if n.FullPath != wantPath || n.FullName != wantName {
			t.Errorf("Namespace(%d) = %q, %q, want %q, %q (from its parent)", n.ID, n.FullPath, n.FullName, wantPath, wantName)
		}
	}
}
