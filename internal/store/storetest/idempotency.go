package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/store"
)

func idemRecord(key string, created time.Time) store.IdempotencyRecord {
	return store.IdempotencyRecord{
		KeyDigest: []byte("key:" + key), CredentialDigest: []byte("cred"), RequestDigest: []byte("req"),
		CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour),
	}
}

func testIdempotencyRecords(t *testing.T, open func(t *testing.T) store.Store) {
	s, ctx := open(t), context.Background()
	if _, err := s.IdempotencyRecord(ctx, []byte("key:none")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("IdempotencyRecord(missing) = %v, want ErrNotFound", err)
	}
	rec := idemRecord("a", t0)
	if err := s.CreateIdempotencyRecord(ctx, rec); err != nil {
		t.Fatalf("CreateIdempotencyRecord: %v", err)
	}
	if err := s.CreateIdempotencyRecord(ctx, rec); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateIdempotencyRecord(again) = %v, want ErrConflict", err)
	}
	got, err := s.IdempotencyRecord(ctx, rec.KeyDigest)
	if err != nil {
		t.Fatalf("IdempotencyRecord: %v", err)
	}
	if got.Status != 0 || got.SealedBody != nil || !got.CreatedAt.Equal(utc(t0)) || got.CreatedAt.Location() != time.UTC ||
		!got.ExpiresAt.Equal(utc(t0.Add(24*time.Hour))) || !bytes.Equal(got.CredentialDigest, rec.CredentialDigest) ||
		!bytes.Equal(got.RequestDigest, rec.RequestDigest) {
		t.Fatalf("IdempotencyRecord = %+v, want the unanswered record of %+v", got, rec)
	}
	body := []byte{0, 1, 2, 255}
	if err := s.CompleteIdempotencyRecord(ctx, rec.KeyDigest, 200, body); err != nil {
		t.Fatalf("CompleteIdempotencyRecord: %v", err)
	}
	if err := s.CompleteIdempotencyRecord(ctx, rec.KeyDigest, 200, body); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CompleteIdempotencyRecord(answered) = %v, want ErrNotFound", err)
	}
	if err := s.CompleteIdempotencyRecord(ctx, []byte("key:none"), 200, body); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CompleteIdempotencyRecord(missing) = %v, want ErrNotFound", err)
	}
	got, err = s.IdempotencyRecord(ctx, rec.KeyDigest)
	if err != nil || got.Status != 200 || !bytes.Equal(got.SealedBody, body) {
		t.Fatalf("IdempotencyRecord(answered) = %+v, %v; want status 200 and the body", got, err)
	}
	// A second process sees the record (the retry may reach another node).
	if got, err := open(t).IdempotencyRecord(ctx, rec.KeyDigest); err != nil || got.Status != 200 {
		t.Fatalf("second store: IdempotencyRecord = %+v, %v", got, err)
	}
	if err := s.DeleteIdempotencyRecord(ctx, rec.KeyDigest); err != nil {
		t.Fatalf("DeleteIdempotencyRecord: %v", err)
	}
	if err := s.DeleteIdempotencyRecord(ctx, rec.KeyDigest); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteIdempotencyRecord(again) = %v, want ErrNotFound", err)
	}
}

func testPurgeIdempotencyRecords(t *testing.T, open func(t *testing.T) store.Store) {
	s, ctx := open(t), context.Background()
	old, fresh := idemRecord("old", t0), idemRecord("fresh", t0.Add(time.Hour))
	for _, r := range []store.IdempotencyRecord{old, fresh} {
		if err := s.CreateIdempotencyRecord(ctx, r); err != nil {
			t.Fatalf("CreateIdempotencyRecord: %v", err)
		}
	}
	m0, err := s.Marker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly at the old record's end: it goes (the window is half-open), fresh stays.
	n, err := s.PurgeIdempotencyRecords(ctx, old.ExpiresAt)
	if err != nil || n != 1 {
		t.Fatalf("PurgeIdempotencyRecords = %d, %v; want 1", n, err)
	}
	if _, err := s.IdempotencyRecord(ctx, old.KeyDigest); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("purged record: %v, want ErrNotFound", err)
	}
	if _, err := s.IdempotencyRecord(ctx, fresh.KeyDigest); err != nil {
		t.Fatalf("fresh record: %v", err)
	}
	if m1, _ := s.Marker(ctx); m1 != m0 {
		t.Fatalf("Marker moved from %d to %d: idempotency records take no access away", m0, m1)
	}
}

func testConcurrentIdempotencyCreate(t *testing.T, open func(t *testing.T) store.Store) {
	s, ctx := open(t), context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateIdempotencyRecord(ctx, idemRecord("race", t0))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("CreateIdempotencyRecord: %v, want nil or ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing creates won, want exactly 1", won)
	}
}

// testIdempotencyInTx: a rotation answers its record in its own transaction, so a
// rollback leaves the record unanswered and a commit answers it.
func testIdempotencyInTx(t *testing.T, open func(t *testing.T) store.Store) {
	s, ctx := open(t), context.Background()
	rec := idemRecord("tx", t0)
	if err := s.CreateIdempotencyRecord(ctx, rec); err != nil {
		t.Fatalf("CreateIdempotencyRecord: %v", err)
	}
	rollback := errors.New("rolled back")
	err := s.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CompleteIdempotencyRecord(ctx, rec.KeyDigest, 200, []byte("lost")); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("InTx = %v, want the rollback", err)
	}
	if got, err := s.IdempotencyRecord(ctx, rec.KeyDigest); err != nil || got.Status != 0 || got.SealedBody != nil {
		t.Fatalf("IdempotencyRecord after a rollback = %+v, %v; want it unanswered", got, err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.CompleteIdempotencyRecord(ctx, rec.KeyDigest, 200, []byte("kept"))
	})
	if got, err := s.IdempotencyRecord(ctx, rec.KeyDigest); err != nil || got.Status != 200 || string(got.SealedBody) != "kept" {
		t.Fatalf("IdempotencyRecord after a commit = %+v, %v; want the answer", got, err)
	}
	err = s.InTx(ctx, func(tx store.Tx) error { return tx.CompleteIdempotencyRecord(ctx, rec.KeyDigest, 200, []byte("again")) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Tx.CompleteIdempotencyRecord(answered) = %v, want ErrNotFound", err)
	}
}
