package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// The cases of fine-grained tokens: their scopes on the token row, the granular filter,
// the group policy on the namespace, and aggregated permission use.

func granularToken(userID int64, name string, digest []byte) keygate.Token {
	tok := newToken(userID, name, digest)
	tok.Scopes = nil
	tok.Granular = true
	tok.GranularScopes = []keygate.GranularScope{
		{Access: keygate.AccessSelectedMemberships, Permissions: []string{"read_project", "read_member"}, GroupID: 3},
		{Access: keygate.AccessSelectedMemberships, Permissions: []string{"read_project"}, ProjectID: 12},
		{Access: keygate.AccessPersonalProjects, Permissions: []string{"push_code"}, NamespaceID: 7},
		{Access: keygate.AccessUser, Permissions: []string{"read_user"}},
	}
	return tok
}

func testGranularTokenRoundTrip(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	u := createUser(t, s, newUser("fine"))
	tok := createToken(t, s, granularToken(u.ID, "fine", d.next()))
	legacy := createToken(t, s, newToken(u.ID, "legacy", d.next()))
	for _, get := range []struct {
		name string
		fn   func() (keygate.Token, error)
	}{
		{"Token", func() (keygate.Token, error) { return s.Token(ctx, tok.ID) }},
		{"TokenByDigest", func() (keygate.Token, error) { return s.TokenByDigest(ctx, tok.Digest) }},
	} {
		got, err := get.fn()
		if err != nil {
			t.Fatalf("%s = %v", get.name, err)
		}
		if want := wantToken(tok); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %+v, want %+v", get.name, got, want)
		}
	}
	got, err := s.Token(ctx, legacy.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Granular || got.GranularScopes != nil || !reflect.DeepEqual(got.Scopes, legacy.Scopes) {
		t.Errorf("legacy token = %+v, want not granular with scopes %v", got, legacy.Scopes)
	}
	for _, c := range []struct {
		granular *bool
		want     []int64
	}{{nil, []int64{tok.ID, legacy.ID}}, {ptr(true), []int64{tok.ID}}, {ptr(false), []int64{legacy.ID}}} {
		list, n, err := s.Tokens(ctx, store.TokenFilter{UserID: u.ID, Granular: c.granular, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids(list), c.want) || n != len(c.want) {
			t.Errorf("Tokens(granular %v) = %v (%d), want %v", c.granular, ids(list), n, c.want)
		}
	}
}

func testGranularGroupPolicy(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	g := newGroup("strict", "Strict", 0, keygate.Private)
	g.GranularEnforcement = keygate.GranularEnforcement{Enforce: true, After: date("2026-01-01")}
	g = createNamespace(t, s, g)
	got, err := s.Namespace(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.GranularEnforcement, g.GranularEnforcement) {
		t.Errorf("created policy = %+v, want %+v", got.GranularEnforcement, g.GranularEnforcement)
	}
	got.GranularEnforcement = keygate.GranularEnforcement{}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateNamespace(ctx, got) })
	again, err := s.Namespace(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.GranularEnforcement.Enforce || again.GranularEnforcement.After != nil {
		t.Errorf("updated policy = %+v, want off", again.GranularEnforcement)
	}
}

func testPermissionUses(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var dg digests
	u := createUser(t, s, newUser("used"))
	tok := createToken(t, s, granularToken(u.ID, "used", dg.next()))
	d1, d2 := *date("2025-03-01"), *date("2025-03-02")
	at := time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)
	before, err := s.Marker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batch := []keygate.PermissionUse{
		{TokenID: tok.ID, Day: d2, Route: "GET /projects/{id}", BoundaryKind: "project", BoundaryID: 5, Uses: 2, LastUsedAt: at},
		{TokenID: tok.ID, Day: d1, Route: "GET /user", BoundaryKind: "user", Uses: 1, LastUsedAt: at.Add(-24 * time.Hour)},
		{TokenID: tok.ID, Day: d2, Route: "GET /projects/{id}", BoundaryKind: "project", BoundaryID: 5, Uses: 3, LastUsedAt: at.Add(time.Minute)},
		{TokenID: tok.ID + 1000, Day: d2, Route: "GET /user", BoundaryKind: "user", Uses: 1, LastUsedAt: at}, // no such token
	}
	if err := s.RecordPermissionUses(ctx, batch, d1); err != nil {
		t.Fatalf("RecordPermissionUses = %v", err)
	}
	if err := s.RecordPermissionUses(ctx, batch[:1], d1); err != nil {
		t.Fatalf("RecordPermissionUses again = %v", err)
	}
	if after, _ := s.Marker(ctx); after != before {
		t.Errorf("Marker moved %d → %d, want unchanged", before, after)
	}
	got, err := s.PermissionUses(ctx, tok.ID, d1)
	if err != nil {
		t.Fatal(err)
	}
	want := []keygate.PermissionUse{
		{TokenID: tok.ID, Day: d1, Route: "GET /user", BoundaryKind: "user", Uses: 1, LastUsedAt: at.Add(-24 * time.Hour)},
		{TokenID: tok.ID, Day: d2, Route: "GET /projects/{id}", BoundaryKind: "project", BoundaryID: 5, Uses: 7, LastUsedAt: at.Add(time.Minute)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PermissionUses = %+v, want %+v", got, want)
	}
	if got, _ := s.PermissionUses(ctx, tok.ID, d2); len(got) != 1 {
		t.Errorf("PermissionUses(since %s) = %+v, want the one line of that day", d2, got)
	}
	// Pruning: keeping from d2 drops d1's line.
	if err := s.RecordPermissionUses(ctx, nil, d2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.PermissionUses(ctx, tok.ID, d1); len(got) != 1 || got[0].Day != d2 {
		t.Errorf("after pruning PermissionUses = %+v, want only %s", got, d2)
	}
}
