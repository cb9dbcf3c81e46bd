package service

import (
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/clock"
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
