package service

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

// BenchmarkLifecyclePassIdle is the scheduler's steady state: a pass over 1,000 tokens
// inside the 60-day window whose notices were already claimed (what `keygate serve` does
// every 5 s between thresholds).
func BenchmarkLifecyclePassIdle(b *testing.B) {
	svc, _ := benchService(b)
	ctx := context.Background()
	exp := keygate.DateOf(time.Now()).AddDays(20)
	for i := range 1000 {
		if _, err := svc.CreatePersonalToken(ctx, authz.SystemSubject(), 1, TokenInput{
			Name: "t" + string(rune('a'+i%26)), Scopes: keygate.Scopes{keygate.ScopeAPI}, ExpiresAt: &exp,
		}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := svc.RunLifecycle(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.RunLifecycle(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateTokenAudited is a token creation with what issue 6 adds to its
// transaction: the fingerprint row, the audit event and the owner's mail in the outbox.
func BenchmarkCreateTokenAudited(b *testing.B) {
	svc, _ := benchService(b)
	ctx := context.Background()
	exp := keygate.DateOf(time.Now()).AddDays(200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.CreatePersonalToken(ctx, authz.SystemSubject(), 1, TokenInput{
			Name: "bench", Scopes: keygate.Scopes{keygate.ScopeAPI}, ExpiresAt: &exp,
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuditEvent is one Service.Audit call (its own transaction).
func BenchmarkAuditEvent(b *testing.B) {
	svc, _ := benchService(b)
	ctx := WithOrigin(context.Background(), Origin{IP: "192.0.2.1", RequestID: "req"})
	b.ReportAllocs()
	for b.Loop() {
		if err := svc.Audit(ctx, keygate.AuditEvent{Name: keygate.AuditSudo, AuthorID: 1, EntityType: keygate.AuditUser, EntityID: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
