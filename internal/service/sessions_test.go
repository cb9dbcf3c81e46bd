package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/store"
)

func TestSignInLimiter(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cases := []struct {
		name    string
		fails   int
		advance time.Duration
		ok      bool // a success, then the same failures again
		locked  bool
	}{
		{"below the limit", SignInMaxAttempts - 1, 0, false, false},
		{"at the limit", SignInMaxAttempts, 0, false, true},
		{"lock still on", SignInMaxAttempts, SignInLockTime - time.Second, false, true},
		{"lock ran out", SignInMaxAttempts, SignInLockTime, false, false},
		{"success resets", SignInMaxAttempts - 1, 0, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newSignInLimiter(clk)
			for range c.fails {
				l.failed("user:1")
			}
			if c.ok { // a right password, then as many wrong ones again: not locked
				l.succeeded("user:1")
				for range c.fails {
					l.failed("user:1")
				}
			}
			clk.Advance(c.advance)
			if got := l.locked("user:1"); got != c.locked {
				t.Errorf("locked = %v, want %v", got, c.locked)
			}
			if l.locked("user:2") {
				t.Error("another account is locked too")
			}
		})
	}
	l := newSignInLimiter(clk)
	for range SignInMaxAttempts {
		l.failed("user:1")
	}
	clk.Advance(SignInLockTime)
	l.failed("user:1")
	if l.locked("user:1") {
		t.Error("one failure after the lock ran out locks again; want a fresh count")
	}
}

func TestSessionRefusesMalformedIDs(t *testing.T) {
	s := &Service{}
	for _, id := range []string{"", string(make([]byte, 129))} {
		if _, err := s.Session(t.Context(), id); !errors.Is(err, ErrNoSession) {
			t.Errorf("Session(%d bytes) = %v, want ErrNoSession", len(id), err)
		}
	}
}

// TestSignInAudited: a sign-in, a wrong password, the lock it ends in and a password
// change each leave an audit event under the user, with the address.
func TestSignInAudited(t *testing.T) {
	svc, _ := testService(t)
	ctx := context.Background()
	pw := "correct-horse-1"
	u, err := svc.CreateUser(ctx, authz.SystemSubject(), UserInput{Username: ptrTo("ann"), Email: ptrTo("ann@example.com"), Name: ptrTo("Ann"), Password: &pw})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := svc.SignIn(ctx, SignInInput{Login: "ann", Password: pw, IP: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ChangePassword(ctx, ws, PasswordChange{Current: pw, New: "battery-staple-2", Confirmation: "battery-staple-2", IP: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	for range SignInMaxAttempts {
		if _, err := svc.SignIn(ctx, SignInInput{Login: "ann", Password: "wrong", IP: "192.0.2.8"}); err == nil {
			t.Fatal("a wrong password signed in")
		}
	}
	_, _ = svc.SignIn(ctx, SignInInput{Login: "nobody", Password: "x", IP: "192.0.2.9"})
	evs, _, err := svc.AuditEvents(ctx, authz.SystemSubject(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range evs {
		count[e.Name]++
		if e.IP == "" {
			t.Errorf("%s without an address", e.Name)
		}
		if e.Name != keygate.AuditSignInFailed || e.TargetDetails == "ann" {
			if e.EntityType != keygate.AuditUser || e.EntityID != u.ID {
				t.Errorf("%s filed under %s %d, want the user", e.Name, e.EntityType, e.EntityID)
			}
		}
	}
	want := map[string]int{keygate.AuditSignedIn: 1, keygate.AuditPasswordChanged: 1, keygate.AuditSignInFailed: SignInMaxAttempts + 1, keygate.AuditAccessLocked: 1}
	for name, n := range want {
		if count[name] != n {
			t.Errorf("%s events = %d, want %d (all: %v)", name, count[name], n, count)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
