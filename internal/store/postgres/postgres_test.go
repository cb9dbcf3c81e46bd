package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// TestOpenConcurrent opens one fresh schema from several Stores at once, as nodes
// starting together do: every Open succeeds and each migration is recorded once.
func TestOpenConcurrent(t *testing.T) {
	url := testSchema(t, testDatabase(t), schemaName(randomHex(t), t.Name()))
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), url)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d = %v, want nil", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var count, distinct int
	err = stores[0].db.QueryRowContext(t.Context(),
		"SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&count, &distinct)
	if err != nil || count != len(ms) || distinct != len(ms) {
		t.Errorf("schema_migrations rows, versions = %d, %d, %v, want %d, %d, nil", count, distinct, err, len(ms), len(ms))
	}
}

// TestInTxRetries: a serialization failure or deadlock re-runs the transaction, at most
// maxAttempts times; any other error is returned at once.
func TestInTxRetries(t *testing.T) {
	s := openTest(t, testSchema(t, testDatabase(t), schemaName(randomHex(t), t.Name())))
	cases := []struct {
		name         string
		failures     int // attempts that fail before one succeeds
		code         string
		wantAttempts int
		wantErr      bool
	}{
		{"serialization failure once", 1, serializationFailure, 2, false},
		{"deadlock twice", 2, deadlockDetected, 3, false},
		{"always failing", 100, serializationFailure, maxAttempts, true},
		{"not retryable", 100, uniqueViolation, 1, true},
	}
	for _, c := range cases {
		attempts := 0
		err := s.InTx(t.Context(), func(tx store.Tx) error {
			attempts++
			if _, err := tx.Settings(t.Context()); err != nil {
				return err
			}
			if attempts <= c.failures {
				return &pgconn.PgError{Code: c.code}
			}
			return nil
		})
		if attempts != c.wantAttempts || (err != nil) != c.wantErr {
			t.Errorf("InTx(%s) ran %d times, returned %v; want %d times, error %v", c.name, attempts, err, c.wantAttempts, c.wantErr)
		}
	}
}

// TestListenerReconnects: when the listener's connection dies, Marker keeps answering
// (from the database) and the listener comes back and serves it again.
func TestListenerReconnects(t *testing.T) {
	url := testSchema(t, testDatabase(t), schemaName(randomHex(t), t.Name()))
	server, cli := openTest(t, url), openTest(t, url)
	ctx := t.Context()
	pid := waitListener(t, server, 0)

	var killed bool
	if err := cli.db.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(listener %d) = %v, %v", pid, killed, err)
	}
	for _, step := range []string{"while the listener reconnects", "after it reconnected"} {
		before, err := server.Marker(ctx)
		if err != nil {
			t.Fatalf("Marker() %s = %v", step, err)
		}
		err = cli.InTx(ctx, func(tx store.Tx) error { return tx.PutSettings(ctx, keygate.DefaultSettings()) })
		if err != nil {
			t.Fatal(err)
		}
		waitMarker(t, server, before)
		if step == "while the listener reconnects" {
			waitListener(t, server, pid)
		}
	}
}

// poll calls f every millisecond until it reports true or 10 seconds pass.
func poll(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not the case after 10s", what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// waitListener waits until s has a healthy listener on a backend other than old.
func waitListener(t *testing.T, s *Store, old uint32) uint32 {
	t.Helper()
	var pid uint32
	poll(t, "listener connected", func() bool {
		pid = s.listenerPID.Load()
		return pid != 0 && pid != old && s.listening.Load()
	})
	return pid
}

func waitMarker(t *testing.T, s *Store, from int64) {
	t.Helper()
	poll(t, "Marker moved", func() bool {
		m, err := s.Marker(context.WithoutCancel(t.Context()))
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Marker() = %v", err)
		}
		return m != from
	})
}
