package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// testSessions: web sessions round-trip by digest, conflict on a reused digest, die
// one by one, per user, by expiry, and with their user.
func testSessions(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var ds digests
	alice := createUser(t, s, newUser("alice"))
	bob := createUser(t, s, newUser("bob"))
	mk := func(u keygate.User, exp time.Time) keygate.Session {
		sess := keygate.Session{Digest: ds.next(), UserID: u.ID, CreatedAt: t0, ExpiresAt: exp, IP: "192.0.2.1", UserAgent: "test"}
		inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateSession(ctx, &sess) })
		if sess.ID == 0 {
			t.Fatal("CreateSession left ID 0")
		}
		return sess
	}
	a1 := mk(alice, t0.Add(time.Hour))
	a2 := mk(alice, t0.Add(2*time.Hour))
	b1 := mk(bob, t0.Add(-time.Minute))

	got, err := s.Session(ctx, a1.Digest)
	if err != nil {
		t.Fatalf("Session = %v", err)
	}
	want := a1
	want.CreatedAt, want.ExpiresAt = utc(a1.CreatedAt), utc(a1.ExpiresAt)
	if got.ID != want.ID || got.UserID != want.UserID || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || got.IP != want.IP || got.UserAgent != want.UserAgent || string(got.Digest) != string(want.Digest) {
		t.Errorf("Session = %+v, want %+v", got, want)
	}
	if got.ExpiresAt.Location() != time.UTC {
		t.Errorf("Session ExpiresAt in %v, want UTC", got.ExpiresAt.Location())
	}
	if _, err := s.Session(ctx, ds.next()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session(unknown) = %v, want ErrNotFound", err)
	}
	dup := keygate.Session{Digest: a1.Digest, UserID: bob.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateSession(ctx, &dup) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSession(same digest) = %v, want ErrConflict", err)
	}

	var n int
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		n, err = tx.DeleteExpiredSessions(ctx, t0)
		return err
	})
	if n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, want 1", n)
	}
	if _, err := s.Session(ctx, b1.Digest); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session still there: %v", err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteSession(ctx, a1.Digest) })
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteSession(ctx, a1.Digest) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSession twice = %v, want ErrNotFound", err)
	}
	if _, err := s.Session(ctx, a2.Digest); err != nil {
		t.Errorf("DeleteSession took another session: %v", err)
	}
	b2 := mk(bob, t0.Add(time.Hour))
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		n, err = tx.DeleteUserSessions(ctx, alice.ID)
		return err
	})
	if n != 1 {
		t.Errorf("DeleteUserSessions = %d, want 1", n)
	}
	if _, err := s.Session(ctx, a2.Digest); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alice's session survived DeleteUserSessions: %v", err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteUser(ctx, bob.ID) })
	if _, err := s.Session(ctx, b2.Digest); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session survived its user: %v", err)
	}
}
