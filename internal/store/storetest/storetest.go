// Package storetest is the one contract suite every store.Store backend passes (DESIGN
// rule 17), plus the benchmarks they share. A backend's test calls Run with a function
// that opens its Store; nothing here knows which backend it runs against.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// Run runs the contract suite, one parallel subtest per case.
//
// open must return a Store on a new, empty database the first time it is called with a
// given t, and another Store on that same database when called again with the same t:
// the second Store stands for a second process (the admin CLI beside a running server).
// open registers the Store's Close with t.Cleanup and fails t itself if it cannot open.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"RootGetsIDOne", testRootGetsIDOne},
		{"UserRoundTrip", testUserRoundTrip},
		{"NotFound", testNotFound},
		{"UserLookupCaseInsensitive", testUserLookupCaseInsensitive},
		{"UserConflicts", testUserConflicts},
		{"ConflictLeavesTxUsable", testConflictLeavesTxUsable},
		{"RollbackOnError", testRollbackOnError},
		{"UpdateUser", testUpdateUser},
		{"TokenRoundTrip", testTokenRoundTrip},
		{"TokenConflicts", testTokenConflicts},
		{"RevokeToken", testRevokeToken},
		{"RevokeDescendants", testRevokeDescendants},
		{"ConcurrentRotation", testConcurrentRotation},
		{"Marker", testMarker},
		{"MarkerSeesOtherStore", testMarkerSeesOtherStore},
		{"RecordUsesInterval", testRecordUsesInterval},
		{"RecordUsesAddresses", testRecordUsesAddresses},
		{"Settings", testSettings},
		{"UsersFilter", testUsersFilter},
		{"UsersOrder", testUsersOrder},
		{"UsersPagination", testUsersPagination},
		{"TokensFilter", testTokensFilter},
		{"TokensSort", testTokensSort},
		{"TokensPagination", testTokensPagination},
		{"Ping", testPing},
		{"UsersBotFilter", testUsersBotFilter},
		{"TokensOwnerFilter", testTokensOwnerFilter},
		{"NamespaceCreate", testNamespaceCreate},
		{"NamespaceConflicts", testNamespaceConflicts},
		{"SubtreeByteOrder", testSubtreeByteOrder},
		{"UpdateNamespace", testUpdateNamespace},
		{"ConcurrentRenames", testConcurrentRenames},
		{"DeleteNamespace", testDeleteNamespace},
		{"ProjectRoundTrip", testProjectRoundTrip},
		{"UpdateProject", testUpdateProject},
		{"DeleteProject", testDeleteProject},
		{"ProjectRegistryAccess", testProjectRegistryAccess},
		{"ProjectByLongestPath", testProjectByLongestPath},
		{"DeleteUser", testDeleteUser},
		{"Members", testMembers},
		{"MembersFilter", testMembersFilter},
		{"MaxAccess", testMaxAccess},
		{"CountChildren", testCountChildren},
		{"NamespacesFilter", testNamespacesFilter},
		{"NamespacesOrder", testNamespacesOrder},
		{"NamespacesPagination", testNamespacesPagination},
		{"ProjectsFilter", testProjectsFilter},
		{"ProjectsOrder", testProjectsOrder},
		{"ProjectsPagination", testProjectsPagination},
		{"MembershipNeedsNow", testMembershipNeedsNow},
		{"ResourceMarker", testResourceMarker},
		{"JobRoundTrip", testJobRoundTrip},
		{"JobNotFound", testJobNotFound},
		{"JobConflicts", testJobConflicts},
		{"FinishJob", testFinishJob},
		{"ConcurrentFinish", testConcurrentFinish},
		{"JobTokenScope", testJobTokenScope},
		{"AllowedProjects", testAllowedProjects},
		{"AllowedGroups", testAllowedGroups},
		{"JobCascade", testJobCascade},
		{"Fsck", testFsck},
		{"JobTokenAuthLog", testJobTokenAuthLog},
		{"RecordJobTokenAuthsConcurrent", testRecordJobTokenAuthsConcurrent},
		{"JobMarker", testJobMarker},
		{"IdempotencyRecords", testIdempotencyRecords},
		{"PurgeIdempotencyRecords", testPurgeIdempotencyRecords},
		{"ConcurrentIdempotencyCreate", testConcurrentIdempotencyCreate},
		{"IdempotencyInTx", testIdempotencyInTx},
		{"Sessions", testSessions},
		{"GranularTokenRoundTrip", testGranularTokenRoundTrip},
		{"GranularGroupPolicy", testGranularGroupPolicy},
		{"PermissionUses", testPermissionUses},
	}
	cases = append(cases, lifecycleCases()...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open)
		})
	}
}

// A zone far from UTC, so a backend that stores local wall time instead of the instant
// fails the round trips.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// t0 is the suite's reference instant, with sub-microsecond digits that must be
// truncated, given in a non-UTC zone.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, zone)

// utc is how a backend must return t: UTC, microsecond precision.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

func date(s string) *keygate.Date {
	d, err := keygate.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return &d
}

// digests hands out distinct token digests within one test.
type digests struct{ n atomic.Int64 }

func (d *digests) next() []byte {
	sum := sha256.Sum256([]byte("storetest-" + strconv.FormatInt(d.n.Add(1), 10)))
	return sum[:]
}

func inTx(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.InTx(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("InTx = %v, want nil", err)
	}
}

func newUser(username string) keygate.User {
	return keygate.User{
		Username:  username,
		Name:      "User " + username,
		Email:     username + "@example.com",
		State:     keygate.UserActive,
		Type:      keygate.UserHuman,
		CreatedAt: t0,
	}
}

func createUser(t *testing.T, s store.Store, u keygate.User) keygate.User {
	t.Helper()
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateUser(ctx, &u) })
	return u
}

func newToken(userID int64, name string, digest []byte) keygate.Token {
	return keygate.Token{
		UserID:    userID,
		Name:      name,
		Scopes:    keygate.Scopes{keygate.ScopeAPI},
		CreatedAt: t0,
		UpdatedAt: t0,
		Digest:    digest,
	}
}

func createToken(t *testing.T, s store.Store, tok keygate.Token) keygate.Token {
	t.Helper()
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateToken(ctx, &tok) })
	return tok
}

// wantUser is u as a store must return it.
func wantUser(u keygate.User) keygate.User {
	u.CreatedAt = utc(u.CreatedAt)
	if u.ConfirmedAt != nil {
		u.ConfirmedAt = ptr(utc(*u.ConfirmedAt))
	}
	return u
}

// wantToken is tok as a store must return it.
func wantToken(tok keygate.Token) keygate.Token {
	tok.CreatedAt = utc(tok.CreatedAt)
	tok.UpdatedAt = utc(tok.UpdatedAt)
	if tok.LastUsedAt != nil {
		tok.LastUsedAt = ptr(utc(*tok.LastUsedAt))
	}
	return tok
}

func ids(toks []keygate.Token) []int64 {
	out := []int64{}
	for _, t := range toks {
		out = append(out, t.ID)
	}
	return out
}

func usernames(us []keygate.User) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.Username)
	}
	return out
}

func testRootGetsIDOne(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	root := createUser(t, s, newUser("root"))
	if root.ID != 1 {
		t.Errorf("CreateUser(root) on a fresh store: ID = %d, want 1", root.ID)
	}
	next := createUser(t, s, newUser("alice"))
	if next.ID != 2 {
		t.Errorf("CreateUser(alice) after root: ID = %d, want 2", next.ID)
	}
}

func testUserRoundTrip(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	full := keygate.User{
		Username: "Full.User", Name: "Fülle Üser", Email: "Full@Example.com",
		State: keygate.UserBlocked, Type: keygate.UserServiceAccount, Admin: true, External: true,
		PasswordHash: "$2a$10$hash", Bio: "bio", Location: "loc", PublicEmail: "pub@example.com",
		WebsiteURL: "https://example.com", Organization: "org", JobTitle: "job",
		Pronouns: "they/them", Note: "note", ProjectsLimit: 42, CanCreateGroup: true,
		PrivateProfile: true, CreatedAt: t0, ConfirmedAt: ptr(t0.Add(time.Hour)),
		LastActivityOn: date("2025-03-15"), BotSourceType: keygate.SourceNamespace,
		BotSourceID: 77, CreatedByID: 1,
	}
	bare := keygate.User{Username: "bare", Email: "bare@example.com", CreatedAt: t0}
	for _, u := range []keygate.User{full, bare} {
		created := createUser(t, s, u)
		if created.ID == 0 {
			t.Fatalf("CreateUser(%q) left ID 0", u.Username)
		}
		want := wantUser(u)
		want.ID = created.ID
		got, err := s.User(ctx, created.ID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("User(%d) = %+v, %v, want %+v, nil", created.ID, got, err, want)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("User(%d).CreatedAt location = %v, want UTC", created.ID, got.CreatedAt.Location())
		}
	}
}

func testNotFound(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	var d digests
	u := createUser(t, s, newUser("present"))
	createToken(t, s, newToken(u.ID, "present", d.next()))
	cases := []struct {
		call string
		fn   func(ctx context.Context) error
	}{
		{"User(999)", func(ctx context.Context) error { _, err := s.User(ctx, 999); return err }},
		{`UserByUsername("absent")`, func(ctx context.Context) error { _, err := s.UserByUsername(ctx, "absent"); return err }},
		{`UserByEmail("absent@example.com")`, func(ctx context.Context) error {
			_, err := s.UserByEmail(ctx, "absent@example.com")
			return err
		}},
		{"Token(999)", func(ctx context.Context) error { _, err := s.Token(ctx, 999); return err }},
		{"TokenByDigest(unknown)", func(ctx context.Context) error { _, err := s.TokenByDigest(ctx, d.next()); return err }},
		{"Tx.User(999)", func(ctx context.Context) error {
			return s.InTx(ctx, func(tx store.Tx) error { _, err := tx.User(ctx, 999); return err })
		}},
		{"UpdateUser(id 999)", func(ctx context.Context) error {
			return s.InTx(ctx, func(tx store.Tx) error {
				u := newUser("ghost")
				u.ID = 999
				return tx.UpdateUser(ctx, u)
			})
		}},
		{"RevokeToken(999)", func(ctx context.Context) error {
			return s.InTx(ctx, func(tx store.Tx) error { _, err := tx.RevokeToken(ctx, 999, t0); return err })
		}},
		{"CreateToken(owner 999)", func(ctx context.Context) error {
			return s.InTx(ctx, func(tx store.Tx) error {
				tok := newToken(999, "orphan", d.next())
				return tx.CreateToken(ctx, &tok)
			})
		}},
	}
	for _, c := range cases {
		if err := c.fn(t.Context()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s = %v, want %v", c.call, err, store.ErrNotFound)
		}
	}
}

func testUserLookupCaseInsensitive(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	u := newUser("MixedCase")
	u.Email = "Mixed.Case@Example.COM"
	u = createUser(t, s, u)
	for _, name := range []string{"MixedCase", "mixedcase", "MIXEDCASE"} {
		if got, err := s.UserByUsername(ctx, name); err != nil || got.ID != u.ID {
			t.Errorf("UserByUsername(%q) = %d, %v, want %d, nil", name, got.ID, err, u.ID)
		}
	}
	for _, email := range []string{"Mixed.Case@Example.COM", "mixed.case@example.com"} {
		if got, err := s.UserByEmail(ctx, email); err != nil || got.ID != u.ID {
			t.Errorf("UserByEmail(%q) = %d, %v, want %d, nil", email, got.ID, err, u.ID)
		}
	}
	// LIKE wildcards in an exact lookup match only themselves.
	if _, err := s.UserByUsername(ctx, "Mixed%"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf(`UserByUsername("Mixed%%") = %v, want %v`, err, store.ErrNotFound)
	}
}

func testUserConflicts(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	createUser(t, s, newUser("taken"))
	other := createUser(t, s, newUser("other"))
	cases := []struct {
		name            string
		username, email string
	}{
		{"same username", "taken", "fresh1@example.com"},
		{"username other case", "TAKEN", "fresh2@example.com"},
		{"same email", "fresh3", "taken@example.com"},
		{"email other case", "fresh4", "Taken@EXAMPLE.com"},
	}
	for _, c := range cases {
		u := newUser(c.username)
		u.Email = c.email
		err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateUser(ctx, &u) })
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateUser(%s: %q, %q) = %v, want %v", c.name, c.username, c.email, err, store.ErrConflict)
		}
		other.Username, other.Email = c.username, c.email
		err = s.InTx(ctx, func(tx store.Tx) error { return tx.UpdateUser(ctx, other) })
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("UpdateUser(%s: %q, %q) = %v, want %v", c.name, c.username, c.email, err, store.ErrConflict)
		}
	}
}

// testConflictLeavesTxUsable: a refused write does not poison the transaction, on every
// backend (PostgreSQL would abort it without a savepoint), so a caller may handle the
// conflict and go on.
func testConflictLeavesTxUsable(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	createUser(t, s, newUser("taken"))
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		dup := newUser("taken")
		if err := tx.CreateUser(ctx, &dup); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateUser(taken) = %v, want %v", err, store.ErrConflict)
		}
		fresh := newUser("fresh")
		return tx.CreateUser(ctx, &fresh)
	})
	if _, err := s.UserByUsername(ctx, "fresh"); err != nil {
		t.Errorf(`UserByUsername("fresh") after the transaction = %v, want nil`, err)
	}
}

func testRollbackOnError(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx store.Tx) error {
		u := newUser("rolledback")
		if err := tx.CreateUser(ctx, &u); err != nil {
			return err
		}
		if _, err := tx.User(ctx, u.ID); err != nil {
			return fmt.Errorf("Tx.User sees its own insert: %w", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx(fn returning boom) = %v, want boom", err)
	}
	if _, err := s.UserByUsername(ctx, "rolledback"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf(`UserByUsername("rolledback") after a failed transaction = %v, want %v`, err, store.ErrNotFound)
	}
}

func testUpdateUser(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	u := createUser(t, s, newUser("before"))
	u.Username, u.Name, u.Email = "after", "After", "after@example.com"
	u.State, u.Admin, u.Bio, u.ProjectsLimit = keygate.UserDeactivated, true, "new bio", 7
	u.ConfirmedAt, u.LastActivityOn = ptr(t0.Add(time.Minute)), date("2025-04-01")
	u.Type, u.BotSourceType, u.BotSourceID, u.CreatedByID = keygate.UserProjectBot, keygate.SourceProject, 9, 3
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateUser(ctx, u) })
	if got, err := s.User(ctx, u.ID); err != nil || !reflect.DeepEqual(got, wantUser(u)) {
		t.Errorf("User(%d) after UpdateUser = %+v, %v, want %+v, nil", u.ID, got, err, wantUser(u))
	}
	// Clearing the nullable fields writes NULLs.
	u.ConfirmedAt, u.LastActivityOn = nil, nil
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateUser(ctx, u) })
	if got, err := s.User(ctx, u.ID); err != nil || got.ConfirmedAt != nil || got.LastActivityOn != nil {
		t.Errorf("User(%d) after clearing = ConfirmedAt %v, LastActivityOn %v, %v, want nil, nil, nil",
			u.ID, got.ConfirmedAt, got.LastActivityOn, err)
	}
}

func testTokenRoundTrip(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	u := createUser(t, s, newUser("owner"))
	first := createToken(t, s, newToken(u.ID, "first", d.next()))
	full := keygate.Token{
		UserID: u.ID, Name: "full", Description: "all the fields",
		Scopes:        keygate.Scopes{keygate.ScopeReadRepository, keygate.ScopeAPI, keygate.ScopeSelfRotate},
		Impersonation: true, Revoked: true, ExpiresAt: date("2026-01-31"),
		CreatedAt: t0, UpdatedAt: t0.Add(time.Second), LastUsedAt: ptr(t0.Add(time.Minute)),
		PreviousID: first.ID, Digest: d.next(),
	}
	bare := keygate.Token{UserID: u.ID, Name: "bare", CreatedAt: t0, UpdatedAt: t0, Digest: d.next()}
	for _, tok := range []keygate.Token{full, bare} {
		created := createToken(t, s, tok)
		want := wantToken(tok)
		want.ID = created.ID
		got, err := s.Token(ctx, created.ID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Token(%d) = %+v, %v, want %+v, nil", created.ID, got, err, want)
		}
		got, err = s.TokenByDigest(ctx, tok.Digest)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("TokenByDigest(%x) = %+v, %v, want %+v, nil", tok.Digest, got, err, want)
		}
	}
	// UpdatedAt defaults to CreatedAt.
	noUpdated := newToken(u.ID, "no updated_at", d.next())
	noUpdated.UpdatedAt = time.Time{}
	created := createToken(t, s, noUpdated)
	if got, err := s.Token(ctx, created.ID); err != nil || !got.UpdatedAt.Equal(utc(t0)) {
		t.Errorf("Token(%d).UpdatedAt with none given = %v, %v, want %v, nil", created.ID, got.UpdatedAt, err, utc(t0))
	}
}

func testTokenConflicts(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	u := createUser(t, s, newUser("owner"))
	digest := d.next()
	createToken(t, s, newToken(u.ID, "first", digest))
	dup := newToken(u.ID, "second", digest)
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateToken(ctx, &dup) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateToken(duplicate digest) = %v, want %v", err, store.ErrConflict)
	}
	noDigest := newToken(u.ID, "no digest", nil)
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateToken(ctx, &noDigest) }); err == nil {
		t.Errorf("CreateToken(no digest) = nil, want an error")
	}
}

func testRevokeToken(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	u := createUser(t, s, newUser("owner"))
	tok := createToken(t, s, newToken(u.ID, "tok", d.next()))
	at := t0.Add(time.Hour)
	cases := []struct {
		id      int64
		want    bool
		wantErr error
	}{
		{tok.ID, true, nil},
		{tok.ID, false, nil},
		{999, false, store.ErrNotFound},
	}
	for _, c := range cases {
		var got bool
		err := s.InTx(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.RevokeToken(ctx, c.id, at)
			return err
		})
		if got != c.want || !errors.Is(err, c.wantErr) {
			t.Errorf("RevokeToken(%d) = %v, %v, want %v, %v", c.id, got, err, c.want, c.wantErr)
		}
	}
	got, err := s.Token(ctx, tok.ID)
	if err != nil || !got.Revoked || !got.UpdatedAt.Equal(utc(at)) {
		t.Errorf("Token(%d) after RevokeToken = Revoked %v, UpdatedAt %v, %v, want true, %v, nil",
			tok.ID, got.Revoked, got.UpdatedAt, err, utc(at))
	}
}

func testRevokeDescendants(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	u := createUser(t, s, newUser("owner"))
	mk := func(name string, prev int64, revoked bool) keygate.Token {
		tok := newToken(u.ID, name, d.next())
		tok.PreviousID, tok.Revoked = prev, revoked
		return createToken(t, s, tok)
	}
	// a → b → c → e, and a branch b → d; c is already revoked (a rotation did that).
	a := mk("a", 0, true)
	b := mk("b", a.ID, true)
	c := mk("c", b.ID, true)
	dd := mk("d", b.ID, false)
	e := mk("e", c.ID, false)
	other := mk("unrelated", 0, false)

	at := t0.Add(2 * time.Hour)
	revoke := func(id int64) int {
		t.Helper()
		var n int
		inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			n, err = tx.RevokeDescendants(ctx, id, at)
			return err
		})
		return n
	}
	if n := revoke(e.ID); n != 0 {
		t.Errorf("RevokeDescendants(leaf e) = %d, want 0", n)
	}
	// From b: c (already revoked), d and e (through revoked c). a is an ancestor.
	if n := revoke(b.ID); n != 2 {
		t.Errorf("RevokeDescendants(b) = %d, want 2", n)
	}
	for _, c := range []struct {
		tok         keygate.Token
		wantRevoked bool
	}{{a, true}, {b, true}, {c, true}, {dd, true}, {e, true}, {other, false}} {
		got, err := s.Token(ctx, c.tok.ID)
		if err != nil || got.Revoked != c.wantRevoked {
			t.Errorf("Token(%s).Revoked after RevokeDescendants(b) = %v, %v, want %v, nil", c.tok.Name, got.Revoked, err, c.wantRevoked)
		}
	}
	if got, _ := s.Token(ctx, e.ID); !got.UpdatedAt.Equal(utc(at)) {
		t.Errorf("Token(e).UpdatedAt = %v, want %v", got.UpdatedAt, utc(at))
	}
	if n := revoke(a.ID); n != 0 {
		t.Errorf("RevokeDescendants(a) when all are revoked = %d, want 0", n)
	}
}

// errAlreadyRevoked is what a losing rotation returns from its transaction.
var errAlreadyRevoked = errors.New("already revoked")

// testConcurrentRotation is the rotation race (spec §6.3): two rotations of one token at
// once, in one process and in two. Exactly one may revoke it and create a successor.
func testConcurrentRotation(t *testing.T, open func(*testing.T) store.Store) {
	s1 := open(t)
	s2 := open(t)
	var d digests
	u := createUser(t, s1, newUser("owner"))
	for _, pair := range []struct {
		name string
		a, b store.Store
	}{{"one store", s1, s1}, {"two stores", s1, s2}} {
		for i := range 20 {
			old := createToken(t, s1, newToken(u.ID, fmt.Sprintf("%s %d", pair.name, i), d.next()))
			errs := make([]error, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for g, s := range []store.Store{pair.a, pair.b} {
				digest := d.next()
				wg.Go(func() {
					<-start
					ctx := t.Context()
					errs[g] = s.InTx(ctx, func(tx store.Tx) error {
						ok, err := tx.RevokeToken(ctx, old.ID, t0)
						if err != nil {
							return err
						}
						if !ok {
							return errAlreadyRevoked
						}
						succ := newToken(u.ID, old.Name+" successor", digest)
						succ.PreviousID = old.ID
						return tx.CreateToken(ctx, &succ)
					})
				})
			}
			close(start)
			wg.Wait()
			won, lost := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case errors.Is(err, errAlreadyRevoked):
					lost++
				default:
					t.Errorf("%s, round %d: rotation = %v, want nil or %v", pair.name, i, err, errAlreadyRevoked)
				}
			}
			if won != 1 || lost != 1 {
				t.Errorf("%s, round %d: rotations won %d, lost %d, want 1, 1", pair.name, i, won, lost)
			}
			toks, _, err := s1.Tokens(t.Context(), store.TokenFilter{UserID: u.ID})
			if err != nil {
				t.Fatalf("Tokens(owner) = %v", err)
			}
			successors := 0
			for _, tok := range toks {
				if tok.PreviousID == old.ID {
					successors++
				}
			}
			if successors != 1 {
				t.Errorf("%s, round %d: successors of token %d = %d, want 1", pair.name, i, old.ID, successors)
			}
		}
	}
}

func marker(t *testing.T, s store.Store) int64 {
	t.Helper()
	m, err := s.Marker(t.Context())
	if err != nil {
		t.Fatalf("Marker() = %v", err)
	}
	return m
}

func testMarker(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	var d digests
	u := createUser(t, s, newUser("owner"))
	revoked := newToken(u.ID, "already revoked", d.next())
	revoked.Revoked = true
	revoked = createToken(t, s, revoked)
	tok := createToken(t, s, newToken(u.ID, "tok", d.next()))
	child := newToken(u.ID, "child", d.next())
	child.PreviousID = tok.ID
	createToken(t, s, child)

	cases := []struct {
		write     string
		fn        func(ctx context.Context, tx store.Tx) error
		wantMoved bool
	}{
		{"CreateUser", func(ctx context.Context, tx store.Tx) error {
			v := newUser("another")
			return tx.CreateUser(ctx, &v)
		}, false},
		{"CreateToken", func(ctx context.Context, tx store.Tx) error {
			v := newToken(u.ID, "another", d.next())
			return tx.CreateToken(ctx, &v)
		}, false},
		{"reads only", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.User(ctx, u.ID)
			return err
		}, false},
		{"UpdateUser", func(ctx context.Context, tx store.Tx) error {
			u.State = keygate.UserBlocked
			return tx.UpdateUser(ctx, u)
		}, true},
		{"RevokeToken of a revoked token", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.RevokeToken(ctx, revoked.ID, t0)
			return err
		}, false},
		{"RevokeDescendants with none", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.RevokeDescendants(ctx, revoked.ID, t0)
			return err
		}, false},
		{"RevokeToken", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.RevokeToken(ctx, tok.ID, t0)
			return err
		}, true},
		{"RevokeDescendants", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.RevokeDescendants(ctx, tok.ID, t0)
			return err
		}, true},
		{"PutSettings", func(ctx context.Context, tx store.Tx) error {
			st := keygate.DefaultSettings()
			st.AdminMode = true
			return tx.PutSettings(ctx, st)
		}, true},
		{"UpdateUser and RevokeToken in one transaction", func(ctx context.Context, tx store.Tx) error {
			u.State = keygate.UserActive
			if err := tx.UpdateUser(ctx, u); err != nil {
				return err
			}
			_, err := tx.RevokeToken(ctx, tok.ID, t0)
			return err
		}, true},
	}
	for _, c := range cases {
		before := marker(t, s)
		inTx(t, s, c.fn)
		after := marker(t, s)
		if moved := after != before; moved != c.wantMoved {
			t.Errorf("Marker() after %s: %d → %d, moved = %v, want %v", c.write, before, after, moved, c.wantMoved)
		}
	}

	before := marker(t, s)
	err := s.RecordUses(t.Context(), []store.Use{{TokenID: tok.ID, At: t0, IP: "192.0.2.1"}})
	if err != nil {
		t.Fatalf("RecordUses = %v", err)
	}
	if after := marker(t, s); after != before {
		t.Errorf("Marker() after RecordUses: %d → %d, want unchanged", before, after)
	}

	before = marker(t, s)
	err = s.InTx(t.Context(), func(tx store.Tx) error {
		if _, err := tx.RevokeToken(t.Context(), revoked.ID, t0); err != nil {
			return err
		}
		u.State = keygate.UserBlocked
		if err := tx.UpdateUser(t.Context(), u); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("InTx(failing fn) = nil")
	}
	if after := marker(t, s); after != before {
		t.Errorf("Marker() after a rolled-back UpdateUser: %d → %d, want unchanged", before, after)
	}
}

// markerStaleness bounds how long a Store may take to see another process's write in
// Marker (PostgreSQL learns of it by notification; SQLite sees it at once).
const markerStaleness = 10 * time.Second

// waitMarker waits until s.Marker() differs from from, within markerStaleness.
func waitMarker(t *testing.T, s store.Store, from int64) int64 {
	t.Helper()
	if m := marker(t, s); m != from {
		return m
	}
	deadline := time.NewTimer(markerStaleness)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			t.Fatalf("Marker() stayed %d for %v after another Store's write", from, markerStaleness)
		case <-tick.C:
			if m := marker(t, s); m != from {
				return m
			}
		}
	}
}

// testMarkerSeesOtherStore: a write through a second Store on the same database (the
// admin CLI while the server runs) moves the first Store's Marker.
func testMarkerSeesOtherStore(t *testing.T, open func(*testing.T) store.Store) {
	server := open(t)
	cli := open(t)
	ctx := t.Context()
	var d digests
	u := createUser(t, server, newUser("owner"))
	tok := createToken(t, server, newToken(u.ID, "tok", d.next()))
	if got, err := cli.Token(ctx, tok.ID); err != nil || got.Name != "tok" {
		t.Fatalf("second Store: Token(%d) = %q, %v, want tok, nil", tok.ID, got.Name, err)
	}

	before := marker(t, server)
	inTx(t, cli, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.RevokeToken(ctx, tok.ID, t0)
		return err
	})
	mid := waitMarker(t, server, before)
	if got, err := server.TokenByDigest(ctx, tok.Digest); err != nil || !got.Revoked {
		t.Errorf("TokenByDigest after the other Store revoked it = Revoked %v, %v, want true, nil", got.Revoked, err)
	}

	inTx(t, cli, func(ctx context.Context, tx store.Tx) error {
		u.State = keygate.UserBlocked
		return tx.UpdateUser(ctx, u)
	})
	waitMarker(t, server, mid)
}

func testRecordUsesInterval(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	u := createUser(t, s, newUser("owner"))
	tok := createToken(t, s, newToken(u.ID, "tok", d.next()))
	other := createToken(t, s, newToken(u.ID, "other", d.next()))
	base := t0
	steps := []struct {
		at   time.Time
		want time.Time
	}{
		{base, base},                             // first use: written
		{base.Add(5 * time.Minute), base},        // within the interval
		{base.Add(store.LastUsedInterval), base}, // exactly the interval: not older
		{base.Add(store.LastUsedInterval + time.Second), base.Add(store.LastUsedInterval + time.Second)},
		{base, base.Add(store.LastUsedInterval + time.Second)}, // an older use never goes back
	}
	for _, st := range steps {
		if err := s.RecordUses(ctx, []store.Use{{TokenID: tok.ID, At: st.at}}); err != nil {
			t.Fatalf("RecordUses(at %v) = %v", st.at, err)
		}
		got, err := s.Token(ctx, tok.ID)
		if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(utc(st.want)) {
			t.Errorf("RecordUses(at %v); Token().LastUsedAt = %v, %v, want %v", st.at, got.LastUsedAt, err, utc(st.want))
		}
	}
	// A batch: an unknown token is skipped without failing the others.
	err := s.RecordUses(ctx, []store.Use{
		{TokenID: 999, At: base, IP: "192.0.2.9"},
		{TokenID: other.ID, At: base, IP: "192.0.2.1"},
	})
	if err != nil {
		t.Fatalf("RecordUses(unknown token and other) = %v, want nil", err)
	}
	got, err := s.Token(ctx, other.ID)
	if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(utc(base)) ||
		!reflect.DeepEqual(got.LastUsedIPs, []string{"192.0.2.1"}) {
		t.Errorf("Token(other) after a batch = LastUsedAt %v, IPs %v, %v, want %v, [192.0.2.1], nil",
			got.LastUsedAt, got.LastUsedIPs, err, utc(base))
	}
	if err := s.RecordUses(ctx, nil); err != nil {
		t.Errorf("RecordUses(nil) = %v, want nil", err)
	}
}

func testRecordUsesAddresses(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	u := createUser(t, s, newUser("owner"))
	tok := createToken(t, s, newToken(u.ID, "tok", d.next()))
	use := func(sec int, ip string) store.Use {
		return store.Use{TokenID: tok.ID, At: t0.Add(time.Duration(sec) * time.Second), IP: ip}
	}
	steps := []struct {
		uses []store.Use
		want []string
	}{
		{[]store.Use{use(1, "10.0.0.1")}, []string{"10.0.0.1"}},
		{[]store.Use{use(2, "")}, []string{"10.0.0.1"}},
		{[]store.Use{
			use(3, "10.0.0.2"), use(4, "10.0.0.3"), use(5, "2001:db8::1"),
			use(6, "10.0.0.5"), use(7, "10.0.0.6"),
		}, []string{"10.0.0.6", "10.0.0.5", "2001:db8::1", "10.0.0.3", "10.0.0.2"}},
		// A known address seen again moves to the front; nothing is dropped.
		{[]store.Use{use(8, "10.0.0.3")}, []string{"10.0.0.3", "10.0.0.6", "10.0.0.5", "2001:db8::1", "10.0.0.2"}},
		// A new one pushes out the oldest.
		{[]store.Use{use(9, "10.0.0.1")}, []string{"10.0.0.1", "10.0.0.3", "10.0.0.6", "10.0.0.5", "2001:db8::1"}},
		// An older sighting of a known address does not make it more recent.
		{[]store.Use{use(0, "10.0.0.5")}, []string{"10.0.0.1", "10.0.0.3", "10.0.0.6", "10.0.0.5", "2001:db8::1"}},
	}
	for i, st := range steps {
		if err := s.RecordUses(ctx, st.uses); err != nil {
			t.Fatalf("step %d: RecordUses = %v", i, err)
		}
		got, err := s.Token(ctx, tok.ID)
		if err != nil || !reflect.DeepEqual(got.LastUsedIPs, st.want) {
			t.Errorf("step %d: Token().LastUsedIPs = %q, %v, want %q, nil", i, got.LastUsedIPs, err, st.want)
		}
		if len(got.LastUsedIPs) > store.MaxLastUsedIPs {
			t.Errorf("step %d: %d addresses kept, want at most %d", i, len(got.LastUsedIPs), store.MaxLastUsedIPs)
		}
	}
	if got, err := s.TokenByDigest(ctx, tok.Digest); err != nil || got.LastUsedIPs != nil {
		t.Errorf("TokenByDigest().LastUsedIPs = %q, %v, want nil (not loaded), nil", got.LastUsedIPs, err)
	}
}

func testSettings(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	got, err := s.Settings(ctx)
	if want := keygate.DefaultSettings(); err != nil || got != want {
		t.Errorf("Settings() on a fresh store = %+v, %v, want %+v, nil", got, err, want)
	}
	want := keygate.Settings{
		PersonalAccessTokenPrefix: "kgpat-", RequirePersonalAccessTokenExpiry: false,
		MaxPersonalAccessTokenLifetime: 90, AdminMode: true, ImpersonationEnabled: false,
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutSettings(ctx, want) })
	if got, err := s.Settings(ctx); err != nil || got != want {
		t.Errorf("Settings() after PutSettings = %+v, %v, want %+v, nil", got, err, want)
	}
	want.AdminMode = false
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.PutSettings(ctx, want); err != nil {
			return err
		}
		if got, err := tx.Settings(ctx); err != nil || got != want {
			return fmt.Errorf("Tx.Settings() after PutSettings = %+v, %v, want %+v", got, err, want)
		}
		return nil
	})
	if got, err := s.Settings(ctx); err != nil || got != want {
		t.Errorf("Settings() after a second PutSettings = %+v, %v, want %+v, nil", got, err, want)
	}
}

// userFixture creates the users the filter and order cases select from, in ID order.
func userFixture(t *testing.T, s store.Store) map[string]keygate.User {
	t.Helper()
	mk := func(username, name, email string, mod func(*keygate.User), hours int) keygate.User {
		u := newUser(username)
		u.Name, u.Email, u.CreatedAt = name, email, t0.Add(time.Duration(hours)*time.Hour)
		if mod != nil {
			mod(&u)
		}
		return u
	}
	us := []keygate.User{
		mk("root", "Administrator", "admin@example.com", func(u *keygate.User) { u.Admin = true }, 0),
		mk("alice", "Alice Liddell", "alice@example.com", nil, 1),
		mk("bob", "Bob Builder", "bob@example.org", func(u *keygate.User) { u.State = keygate.UserBlocked }, 2),
		mk("carol_bot", "Carol 50% Bot", "carol@bots.example.com", func(u *keygate.User) { u.Type = keygate.UserProjectBot }, 3),
		// dave's address would match an unescaped "l_b".
		mk("dave", "Dave Davis", "dave.lxb@example.com", func(u *keygate.User) {
			u.State, u.Admin = keygate.UserDeactivated, true
		}, 4),
	}
	out := map[string]keygate.User{}
	for _, u := range us {
		out[u.Username] = createUser(t, s, u)
	}
	return out
}

func testUsersFilter(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	userFixture(t, s)
	cases := []struct {
		name string
		f    store.UserFilter
		want []string // default order: id descending
	}{
		{"all", store.UserFilter{}, []string{"dave", "carol_bot", "bob", "alice", "root"}},
		{"username any case", store.UserFilter{Username: "ALICE"}, []string{"alice"}},
		{"username is exact", store.UserFilter{Username: "ali"}, []string{}},
		{"search name", store.UserFilter{Search: "LIDDELL"}, []string{"alice"}},
		{"search email", store.UserFilter{Search: "example.org"}, []string{"bob"}},
		{"search username", store.UserFilter{Search: "Bo"}, []string{"carol_bot", "bob"}},
		{"search % is literal", store.UserFilter{Search: "50%"}, []string{"carol_bot"}},
		{"search _ is literal", store.UserFilter{Search: "l_b"}, []string{"carol_bot"}},
		{"search lone %", store.UserFilter{Search: "%"}, []string{"carol_bot"}},
		{"state", store.UserFilter{State: keygate.UserBlocked}, []string{"bob"}},
		{"admins", store.UserFilter{Admins: true}, []string{"dave", "root"}},
		{"humans", store.UserFilter{ExcludeBots: true}, []string{"dave", "bob", "alice", "root"}},
		{"created after, inclusive", store.UserFilter{CreatedAfter: ptr(t0.Add(3 * time.Hour))}, []string{"dave", "carol_bot"}},
		{"created before, inclusive", store.UserFilter{CreatedBefore: ptr(t0.Add(time.Hour))}, []string{"alice", "root"}},
		{"combined", store.UserFilter{Admins: true, State: keygate.UserActive, Search: "admin"}, []string{"root"}},
	}
	for _, c := range cases {
		got, total, err := s.Users(t.Context(), c.f)
		if err != nil || !reflect.DeepEqual(usernames(got), c.want) || total != len(c.want) {
			t.Errorf("Users(%s: %+v) = %q, %d, %v, want %q, %d, nil", c.name, c.f, usernames(got), total, err, c.want, len(c.want))
		}
	}
}

func testUsersOrder(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	us := userFixture(t, s)
	// erin shares alice's name (the id tiebreak); bob's update makes his updated_at latest.
	erin := newUser("erin")
	erin.Name, erin.CreatedAt = "Alice Liddell", t0.Add(5*time.Hour)
	createUser(t, s, erin)
	bob := us["bob"]
	bob.Bio = "updated"
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateUser(ctx, bob) })
	cases := []struct {
		orderBy, sort string
		want          []string
	}{
		{"", "", []string{"erin", "dave", "carol_bot", "bob", "alice", "root"}},
		{"id", "asc", []string{"root", "alice", "bob", "carol_bot", "dave", "erin"}},
		{"bogus", "ASC", []string{"root", "alice", "bob", "carol_bot", "dave", "erin"}},
		{"username", "asc", []string{"alice", "bob", "carol_bot", "dave", "erin", "root"}},
		{"username", "desc", []string{"root", "erin", "dave", "carol_bot", "bob", "alice"}},
		{"name", "asc", []string{"root", "alice", "erin", "bob", "carol_bot", "dave"}},
		{"name", "desc", []string{"dave", "carol_bot", "bob", "erin", "alice", "root"}},
		{"created_at", "asc", []string{"root", "alice", "bob", "carol_bot", "dave", "erin"}},
		{"created_at", "desc", []string{"erin", "dave", "carol_bot", "bob", "alice", "root"}},
		{"updated_at", "desc", []string{"bob", "erin", "dave", "carol_bot", "alice", "root"}},
	}
	for _, c := range cases {
		got, _, err := s.Users(t.Context(), store.UserFilter{OrderBy: c.orderBy, Sort: c.sort})
		if err != nil || !reflect.DeepEqual(usernames(got), c.want) {
			t.Errorf("Users(OrderBy %q, Sort %q) = %q, %v, want %q, nil", c.orderBy, c.sort, usernames(got), err, c.want)
		}
	}
}

func testUsersPagination(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	for i := range 12 {
		createUser(t, s, newUser(fmt.Sprintf("user%02d", i)))
	}
	cases := []struct {
		page      store.Page
		wantFirst string
		wantLen   int
	}{
		{store.Page{Number: 1, Size: 5}, "user00", 5},
		{store.Page{Number: 2, Size: 5}, "user05", 5},
		{store.Page{Number: 3, Size: 5}, "user10", 2},
		{store.Page{Number: 4, Size: 5}, "", 0},
		{store.Page{Number: 0, Size: 5}, "user00", 5}, // number below 1 is the first page
		{store.Page{}, "user00", 12},                  // no size: everything
	}
	for _, c := range cases {
		got, total, err := s.Users(t.Context(), store.UserFilter{OrderBy: "id", Sort: "asc", Page: c.page})
		first := ""
		if len(got) > 0 {
			first = got[0].Username
		}
		if err != nil || len(got) != c.wantLen || first != c.wantFirst || total != 12 {
			t.Errorf("Users(page %+v) = %d users from %q, total %d, %v, want %d from %q, total 12, nil",
				c.page, len(got), first, total, err, c.wantLen, c.wantFirst)
		}
	}
}

// tokenFixture creates the tokens the filter and sort cases select from. Now is
// 2025-06-15T12:00Z: "gamma" expires today (inactive), "Alpha two" expired yesterday.
func tokenFixture(t *testing.T, s store.Store) (now time.Time, owners [2]int64, toks []keygate.Token) {
	t.Helper()
	var d digests
	now = time.Date(2025, 6, 15, 17, 30, 0, 0, zone) // 12:00 UTC
	u1 := createUser(t, s, newUser("one"))
	u2 := createUser(t, s, newUser("two"))
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, zone)
	used := time.Date(2025, 6, 1, 8, 0, 0, 0, zone)
	mk := func(owner int64, name string, hours int, expires *keygate.Date, lastUsed *time.Time, mod func(*keygate.Token)) keygate.Token {
		tok := newToken(owner, name, d.next())
		tok.CreatedAt, tok.UpdatedAt = created.Add(time.Duration(hours)*time.Hour), created
		tok.ExpiresAt, tok.LastUsedAt = expires, lastUsed
		if mod != nil {
			mod(&tok)
		}
		return createToken(t, s, tok)
	}
	toks = []keygate.Token{
		mk(u1.ID, "alpha", 0, date("2025-07-01"), ptr(used), nil),
		mk(u1.ID, "beta", 1, nil, nil, func(t *keygate.Token) { t.Revoked = true }),
		mk(u1.ID, "gamma", 2, date("2025-06-15"), ptr(used.Add(time.Hour)), nil),
		mk(u1.ID, "delta_50%", 3, date("2025-06-16"), nil, func(t *keygate.Token) { t.Impersonation = true }),
		mk(u2.ID, "Alpha two", 4, date("2025-06-14"), ptr(used.Add(2*time.Hour)), nil),
		mk(u2.ID, "beta", 5, nil, nil, nil),
	}
	return now, [2]int64{u1.ID, u2.ID}, toks
}

func testTokensFilter(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	now, owners, toks := tokenFixture(t, s)
	id := func(is ...int) []int64 {
		out := []int64{}
		for _, i := range is {
			out = append(out, toks[i-1].ID)
		}
		return out
	}
	used := *toks[0].LastUsedAt
	cases := []struct {
		name string
		f    store.TokenFilter
		want []int64 // default order: id ascending
	}{
		{"all", store.TokenFilter{}, id(1, 2, 3, 4, 5, 6)},
		{"owner", store.TokenFilter{UserID: owners[1]}, id(5, 6)},
		{"impersonation", store.TokenFilter{Impersonation: ptr(true)}, id(4)},
		{"not impersonation", store.TokenFilter{Impersonation: ptr(false)}, id(1, 2, 3, 5, 6)},
		{"revoked", store.TokenFilter{Revoked: ptr(true)}, id(2)},
		{"not revoked", store.TokenFilter{Revoked: ptr(false)}, id(1, 3, 4, 5, 6)},
		{"active", store.TokenFilter{State: "active", Now: now}, id(1, 4, 6)},
		{"inactive", store.TokenFilter{State: "inactive", Now: now}, id(2, 3, 5)},
		{"active at the last instant of the day before expiry",
			store.TokenFilter{State: "active", Now: time.Date(2025, 6, 14, 23, 59, 59, 0, time.UTC)}, id(1, 3, 4, 6)},
		{"owner and active", store.TokenFilter{UserID: owners[0], State: "active", Now: now}, id(1, 4)},
		{"search any case", store.TokenFilter{Search: "ALPHA"}, id(1, 5)},
		{"search wildcards are literal", store.TokenFilter{Search: "_50%"}, id(4)},
		{"search lone %", store.TokenFilter{Search: "%"}, id(4)},
		{"created after, inclusive", store.TokenFilter{CreatedAfter: ptr(toks[3].CreatedAt)}, id(4, 5, 6)},
		{"created before, inclusive", store.TokenFilter{CreatedBefore: ptr(toks[1].CreatedAt)}, id(1, 2)},
		{"last used after, inclusive", store.TokenFilter{LastUsedAfter: ptr(used.Add(time.Hour))}, id(3, 5)},
		{"last used before, inclusive", store.TokenFilter{LastUsedBefore: ptr(used.Add(time.Hour))}, id(1, 3)},
		{"expires after, inclusive", store.TokenFilter{ExpiresAfter: date("2025-06-16")}, id(1, 4)},
		{"expires before, exclusive", store.TokenFilter{ExpiresBefore: date("2025-06-16")}, id(3, 5)},
	}
	for _, c := range cases {
		got, total, err := s.Tokens(t.Context(), c.f)
		if err != nil || !reflect.DeepEqual(ids(got), c.want) || total != len(c.want) {
			t.Errorf("Tokens(%s: %+v) = %v, %d, %v, want %v, %d, nil", c.name, c.f, ids(got), total, err, c.want, len(c.want))
		}
	}
	// Tokens returns whole rows (without addresses), like TokenByDigest.
	got, _, err := s.Tokens(t.Context(), store.TokenFilter{Search: "delta"})
	if want := wantToken(toks[3]); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("Tokens(search delta) = %+v, %v, want [%+v], nil", got, err, want)
	}
}

func testTokensSort(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	_, _, toks := tokenFixture(t, s)
	id := func(is ...int) []int64 {
		out := []int64{}
		for _, i := range is {
			out = append(out, toks[i-1].ID)
		}
		return out
	}
	// Expiry: 5 (06-14) < 3 (06-15) < 4 (06-16) < 1 (07-01); 2 and 6 never expire.
	// Last used: 1 < 3 < 5; 2, 4 and 6 never used. NULL sorts as the greatest value.
	// Names: "Alpha two"(5) < "alpha"(1) < "beta"(2, 6) < "delta_50%"(4) < "gamma"(3).
	cases := []struct {
		sort string
		want []int64
	}{
		{"", id(1, 2, 3, 4, 5, 6)},
		{"bogus", id(1, 2, 3, 4, 5, 6)},
		{"created_asc", id(1, 2, 3, 4, 5, 6)},
		{"created_desc", id(6, 5, 4, 3, 2, 1)},
		{"expires_asc", id(5, 3, 4, 1, 6, 2)},
		{"expires_desc", id(6, 2, 1, 4, 3, 5)},
		{"last_used_asc", id(1, 3, 5, 6, 4, 2)},
		{"last_used_desc", id(6, 4, 2, 5, 3, 1)},
		{"name_asc", id(5, 1, 6, 2, 4, 3)},
		{"name_desc", id(3, 4, 6, 2, 1, 5)},
	}
	for _, c := range cases {
		got, total, err := s.Tokens(t.Context(), store.TokenFilter{Sort: c.sort})
		if err != nil || !reflect.DeepEqual(ids(got), c.want) || total != 6 {
			t.Errorf("Tokens(Sort %q) = %v, %d, %v, want %v, 6, nil", c.sort, ids(got), total, err, c.want)
		}
	}
}

func testTokensPagination(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	var d digests
	u := createUser(t, s, newUser("owner"))
	other := createUser(t, s, newUser("other"))
	var first int64
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		for i := range 25 {
			tok := newToken(u.ID, fmt.Sprintf("tok%02d", i), d.next())
			if err := tx.CreateToken(ctx, &tok); err != nil {
				return err
			}
			if i == 0 {
				first = tok.ID
			}
		}
		tok := newToken(other.ID, "not counted", d.next())
		return tx.CreateToken(ctx, &tok)
	})
	cases := []struct {
		page      store.Page
		wantFirst int64 // offset from the first token's ID; -1 for an empty page
		wantLen   int
	}{
		{store.Page{Number: 1, Size: 10}, 0, 10},
		{store.Page{Number: 2, Size: 10}, 10, 10},
		{store.Page{Number: 3, Size: 10}, 20, 5},
		{store.Page{Number: 4, Size: 10}, -1, 0},
		{store.Page{Number: 1, Size: 100}, 0, 25},
		{store.Page{}, 0, 25},
	}
	for _, c := range cases {
		got, total, err := s.Tokens(t.Context(), store.TokenFilter{UserID: u.ID, Page: c.page})
		gotFirst := int64(-1)
		if len(got) > 0 {
			gotFirst = got[0].ID - first
		}
		if err != nil || len(got) != c.wantLen || gotFirst != c.wantFirst || total != 25 {
			t.Errorf("Tokens(page %+v) = %d tokens from +%d, total %d, %v, want %d from +%d, total 25, nil",
				c.page, len(got), gotFirst, total, err, c.wantLen, c.wantFirst)
		}
	}
}

func testPing(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
}
