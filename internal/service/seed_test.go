package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// TestSeed: seeded users are real users with personal namespaces; seeded tokens
// authenticate as their owner, carry the default expiry, and stop working once revoked.
func TestSeed(t *testing.T) {
	svc, clk := testService(t)
	ctx := context.Background()
	opts := SeedOptions{Batch: 3, Workers: 2}
	var users []keygate.User
	err := svc.SeedUsers(ctx, "lt", 7, opts, func(b []keygate.User) error {
		users = append(users, b...)
		return nil
	})
	if err != nil || len(users) != 7 {
		t.Fatalf("SeedUsers = %d users, %v; want 7", len(users), err)
	}
	for _, u := range users {
		got, err := svc.UserByUsername(ctx, u.Username)
		if err != nil || got.ID != u.ID || got.Admin || got.Email != u.Username+"@example.com" {
			t.Fatalf("UserByUsername(%s) = %+v, %v", u.Username, got, err)
		}
		if n, err := svc.store.NamespaceByPath(ctx, u.Username); err != nil || n.OwnerID != u.ID || n.Kind != keygate.NamespaceUser {
			t.Fatalf("personal namespace of %s = %+v, %v", u.Username, n, err)
		}
	}
	// A second run with the same prefix collides and says so.
	err = svc.SeedUsers(ctx, "lt", 2, opts, func([]keygate.User) error { return nil })
	if ke := (*keygate.Error)(nil); !errors.As(err, &ke) || ke.Code != keygate.CodeConflict {
		t.Errorf("SeedUsers with a taken prefix = %v, want a conflict", err)
	}

	in := TokenInput{Name: "seed", Scopes: keygate.Scopes{keygate.ScopeAPI}}
	var issued []Issued
	err = svc.SeedTokens(ctx, users, 20, in, opts, func(b []Issued) error {
		issued = append(issued, b...)
		return nil
	})
	if err != nil || len(issued) != 20 {
		t.Fatalf("SeedTokens = %d, %v; want 20", len(issued), err)
	}
	wantExp := keygate.DateOf(clk.Now()).AddDays(keygate.DefaultTokenLifetimeDays)
	owners := map[int64]int{}
	ids := make([]int64, len(issued))
	for i, iss := range issued {
		p, err := svc.Authenticate(ctx, Credential{Token: iss.Secret.Reveal()})
		if err != nil || p.Token.ID != iss.Token.ID || p.User.ID != iss.Token.UserID {
			t.Fatalf("Authenticate(seeded %d) = %+v, %v", i, p.Token, err)
		}
		if p.Token.ExpiresAt == nil || *p.Token.ExpiresAt != wantExp || !strings.HasPrefix(iss.Secret.Reveal(), "glpat-") {
			t.Errorf("seeded token expires %v, want %v", p.Token.ExpiresAt, wantExp)
		}
		owners[iss.Token.UserID]++
		ids[i] = iss.Token.ID
	}
	if len(owners) != 7 {
		t.Errorf("tokens spread over %d owners, want 7", len(owners))
	}
	ts, _, err := svc.store.Tokens(ctx, store.TokenFilter{Page: store.Page{Number: 1, Size: 100}})
	if err != nil || len(ts) != 20 {
		t.Fatalf("stored tokens = %d, %v", len(ts), err)
	}

	// Admin-only scopes are refused for non-admin owners, as CreatePersonalToken does.
	err = svc.SeedTokens(ctx, users[:1], 1, TokenInput{Name: "x", Scopes: keygate.Scopes{keygate.ScopeSudo}}, opts, func([]Issued) error { return nil })
	if err == nil {
		t.Error("SeedTokens with sudo for a non-admin succeeded")
	}

	if err := svc.RevokeTokens(ctx, append(ids, 999999), opts); err != nil {
		t.Fatalf("RevokeTokens: %v", err)
	}
	for _, iss := range issued {
		if _, err := svc.Authenticate(ctx, Credential{Token: iss.Secret.Reveal()}); !errors.Is(err, keygate.ErrTokenRevoked) {
			t.Fatalf("Authenticate(revoked) = %v, want ErrTokenRevoked", err)
		}
	}
}

// TestSeedStopsOnEmitError: an error from emit ends the seeding with that error.
func TestSeedStopsOnEmitError(t *testing.T) {
	svc, _ := testService(t)
	ctx := context.Background()
	root, _ := svc.User(ctx, 1)
	boom := errors.New("disk full")
	calls := 0
	err := svc.SeedTokens(ctx, []keygate.User{root}, 100, TokenInput{Name: "x", Scopes: keygate.Scopes{keygate.ScopeAPI}},
		SeedOptions{Batch: 10}, func([]Issued) error { calls++; return boom })
	if !errors.Is(err, boom) || calls > 2 {
		t.Errorf("SeedTokens = %v after %d emits, want %v after the first", err, calls, boom)
	}
}
