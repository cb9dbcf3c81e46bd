package sqlite

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/keygate/keygate/internal/store"
	"github.com/keygate/keygate/internal/store/storetest"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, dbPath(dir, t)) })
}

// dbPath names one file per test, so that a second open in the same test reaches the
// same database (storetest.Run's contract).
func dbPath(dir string, t *testing.T) string {
	return filepath.Join(dir, unsafeChars.ReplaceAllString(t.Name(), "_")+".db")
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}
