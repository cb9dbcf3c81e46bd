package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/clock"
)

func TestThrottleRules(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := newThrottle(DefaultBanConfig(), clk)
	const ip = "203.0.113.7"
	for i := range 29 {
		th.failed(ip)
		if err := th.check(ip); err != nil {
			t.Fatalf("banned after %d failures, want 30", i+1)
		}
	}
	th.failed(ip)
	var te *ErrThrottled
	if err := th.check(ip); !errors.As(err, &te) || te.RetryAfter != time.Hour {
		t.Fatalf("check after 30 failures = %v, want a 1 h ban", err)
	}
	if err := th.check("203.0.113.8"); err != nil {
		t.Errorf("another address is banned too: %v", err)
	}
	for _, lo := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1"} {
		for range 40 {
			th.failed(lo)
		}
		if err := th.check(lo); err != nil {
			t.Errorf("loopback %s banned: %v", lo, err)
		}
	}
	clk.Advance(time.Hour)
	if err := th.check(ip); err != nil {
		t.Errorf("still banned after the ban time: %v", err)
	}
	// Failures spread over more than the window never ban; a success resets the count.
	for range 20 {
		th.failed(ip)
	}
	clk.Advance(61 * time.Second)
	for range 20 {
		th.failed(ip)
	}
	th.succeeded(ip)
	for range 20 {
		th.failed(ip)
	}
	if err := th.check(ip); err != nil {
		t.Errorf("banned without 30 failures in one window: %v", err)
	}
	off := newThrottle(BanConfig{Disabled: true}, clk)
	for range 100 {
		off.failed(ip)
	}
	if err := off.check(ip); err != nil {
		t.Errorf("disabled throttle banned: %v", err)
	}
}

// TestThrottleAuthenticate: garbage tokens from one address ban it, a valid token from
// another address keeps working, and the banned address is refused even with a valid one.
func TestThrottleAuthenticate(t *testing.T) {
	svc, clk := testService(t)
	ctx := context.Background()
	iss, err := svc.CreatePersonalToken(ctx, authz.SystemSubject(), 1, TokenInput{Name: "x", Scopes: keygate.Scopes{keygate.ScopeAPI}})
	if err != nil {
		t.Fatal(err)
	}
	good := iss.Secret.Reveal()
	for range 30 {
		if _, err := svc.Authenticate(ctx, Credential{Token: "glpat-garbage", IP: "198.51.100.1"}); err != keygate.ErrTokenInvalid {
			t.Fatalf("garbage token = %v", err)
		}
	}
	var te *ErrThrottled
	if _, err := svc.Authenticate(ctx, Credential{Token: good, IP: "198.51.100.1"}); !errors.As(err, &te) {
		t.Fatalf("banned address with a valid token = %v, want throttled", err)
	}
	if _, err := svc.Authenticate(ctx, Credential{Token: good, IP: "198.51.100.2"}); err != nil {
		t.Fatalf("other address refused: %v", err)
	}
	for range 40 {
		_, _ = svc.Authenticate(ctx, Credential{Token: "glpat-garbage", IP: "198.51.100.3", Uncounted: true})
	}
	if _, err := svc.Authenticate(ctx, Credential{Token: good, IP: "198.51.100.3"}); err != nil {
		t.Fatalf("uncounted failures banned the address: %v", err)
	}
	clk.Advance(time.Hour)
	if _, err := svc.Authenticate(ctx, Credential{Token: good, IP: "198.51.100.1"}); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
}

func BenchmarkThrottleCheckNoBans(b *testing.B) {
	th := newThrottle(DefaultBanConfig(), clock.System{})
	b.ReportAllocs()
	for b.Loop() {
		_ = th.check("203.0.113.9")
	}
}
