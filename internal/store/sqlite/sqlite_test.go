package sqlite

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/keygate/keygate"
)

// TestOpenConcurrent opens one fresh file from several Stores at once, as the server and
// `keygate admin` may: every Open succeeds and each migration is recorded once.
func TestOpenConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keygate.db")
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), path)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open(%q) #%d = %v, want nil", path, i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var count, distinct int
	err = stores[0].read.QueryRowContext(t.Context(),
		"SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&count, &distinct)
	if err != nil || count != len(ms) || distinct != len(ms) {
		t.Errorf("schema_migrations rows, versions = %d, %d, %v, want %d, %d, nil", count, distinct, err, len(ms), len(ms))
	}
	var mode string
	if err := stores[0].read.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("PRAGMA journal_mode = %q, %v, want wal, nil", mode, err)
	}
}

// TestSettingsDecodedOverDefaults: a settings row written before a field existed reads
// back with that field's default, not its zero value.
func TestSettingsDecodedOverDefaults(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "keygate.db"))
	if _, err := s.write.ExecContext(t.Context(),
		`INSERT INTO settings (id, data) VALUES (1, '{"AdminMode":true}')`); err != nil {
		t.Fatal(err)
	}
	want := keygate.DefaultSettings()
	want.AdminMode = true
	if got, err := s.Settings(t.Context()); err != nil || got != want {
		t.Errorf("Settings() over a partial row = %+v, %v, want %+v, nil", got, err, want)
	}
}

// TestReadersAreReadOnly: the reader pool refuses writes, so a write can only go through
// InTx and its BEGIN IMMEDIATE.
func TestReadersAreReadOnly(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "keygate.db"))
	if _, err := s.read.ExecContext(t.Context(), "UPDATE revision SET seq = seq + 1"); err == nil {
		t.Error("UPDATE through the reader pool = nil, want an error (query_only)")
	}
}
