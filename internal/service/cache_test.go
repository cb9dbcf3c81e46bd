package service

import (
	"context"
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
