package service

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"strconv"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// TestOwnRevocationEvictsOnlyThatToken: revoking one token through this service keeps
// every other verified token cached, and the revoked one is refused at once.
func TestOwnRevocationEvictsOnlyThatToken(t *testing.T) {
	svc, _ := testService(t)
	ctx := context.Background()
	var raws []string
	for range 5 {
		iss, err := svc.CreatePersonalToken(ctx, authz.SystemSubject(), 1, TokenInput{Name: "t", Scopes: keygate.Scopes{keygate.ScopeAPI}})
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, iss.Secret.Reveal())
	}
	var victim Principal
	for i, raw := range raws {
		p, err := svc.Authenticate(ctx, Credential{Token: raw})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			victim = p
		}
	}
	if n := svc.cache.len(); n != 5 {
		t.Fatalf("cached %d tokens, want 5", n)
	}
	if err := svc.RevokeSelf(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, Credential{Token: raws[0]}); err != keygate.ErrTokenRevoked {
		t.Fatalf("revoked token = %v, want ErrTokenRevoked", err)
	}
	for _, raw := range raws[1:] {
		tok, _ := secret.Parse(raw)
		if _, ok := svc.cache.get(svc.dig.Digest(tok)); !ok {
			t.Fatal("another token was evicted by one revocation")
		}
		if _, err := svc.Authenticate(ctx, Credential{Token: raw}); err != nil {
			t.Fatal(err)
		}
	}
	// A change this service did not make (here: a settings write through the store,
	// as another process would) still empties the cache.
	st, _ := svc.Settings(ctx)
	if err := svc.store.InTx(ctx, func(tx store.Tx) error { return tx.PutSettings(ctx, st) }); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, Credential{Token: raws[1]}); err != nil {
		t.Fatal(err)
	}
	if n := svc.cache.len(); n != 1 {
		t.Fatalf("after an outside change the cache holds %d tokens, want only the one used since", n)
	}
}

// TestCacheSharesOwners: tokens of one owner point at one cached copy of the owner, the
// bound holds for owners as for tokens, and a marker move forgets both.
func TestCacheSharesOwners(t *testing.T) {
	c := newTokenCache(4)
	c.sync(1)
	var ds []secret.Digest
	for i := range 6 {
		var d secret.Digest
		d[0] = byte(i + 1)
		ds = append(ds, d)
		u := keygate.User{ID: int64(i%2 + 1), Username: "u"}
		c.put(1, d, keygate.Token{ID: int64(i), UserID: u.ID, Digest: d[:]}, u)
	}
	if len(c.entries) != 4 || len(c.users) != 2 {
		t.Fatalf("entries %d, users %d; want 4 and 2", len(c.entries), len(c.users))
	}
	owners := map[int64]*keygate.User{}
	for _, e := range c.entries {
		if prev, ok := owners[e.user.ID]; ok && prev != e.user {
			t.Fatalf("user %d cached twice", e.user.ID)
		}
		owners[e.user.ID] = e.user
	}
	// Loaded under an older marker: returned for this request, not stored.
	e := c.put(0, ds[0], keygate.Token{ID: 99}, keygate.User{ID: 7})
	if e.token.ID != 99 || e.user.ID != 7 || c.users[7] != nil {
		t.Fatalf("stale put = %+v, users %v", e, c.users)
	}
	c.sync(2)
	if len(c.entries) != 0 || len(c.users) != 0 {
		t.Fatalf("after a marker move: entries %d, users %d", len(c.entries), len(c.users))
	}
}

// BenchmarkCacheMemory reports the heap one cached token costs with its owner's share,
// three tokens per owner as in the 300k-token load of docs/performance.md.
func BenchmarkCacheMemory(b *testing.B) {
	const n = 30_000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := newTokenCache(n)
		c.sync(1)
		for i := range n {
			var d secret.Digest
			binary.BigEndian.PutUint64(d[:], uint64(i))
			u := keygate.User{ID: int64(i / 3), Username: "user" + strconv.Itoa(i/3), Name: "User " + strconv.Itoa(i/3),
				Email: "user" + strconv.Itoa(i/3) + "@example.com", State: keygate.UserActive, Type: keygate.UserHuman}
			tok := keygate.Token{ID: int64(i), UserID: u.ID, Name: "load", Scopes: keygate.Scopes{keygate.ScopeAPI}, Digest: bytes.Clone(d[:])}
			c.put(1, d, tok, u)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/entry")
		runtime.KeepAlive(c)
	}
}
