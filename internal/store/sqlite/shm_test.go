package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// TestMarkerFastPathSeesEveryCommit: with the WAL-index fast path primed, a commit by
// another Store on the same file (as the admin CLI would make) must move Marker on the
// very next call, every time.
func TestMarkerFastPathSeesEveryCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "k.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.shm == nil {
		t.Fatal("the WAL index was not mapped; the fast path is off")
	}
	prev, err := a.Marker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if again, _ := a.Marker(ctx); again != prev {
			t.Fatalf("Marker moved without a write: %d → %d", prev, again)
		}
		st := keygate.DefaultSettings()
		st.MaxPersonalAccessTokenLifetime = i%300 + 1
		if err := b.InTx(ctx, func(tx store.Tx) error { return tx.PutSettings(ctx, st) }); err != nil {
			t.Fatal(err)
		}
		next, err := a.Marker(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if next == prev {
			t.Fatalf("write %d by another Store: Marker = %d, want it moved", i, next)
		}
		prev = next
	}
}

func BenchmarkMarkerFastPath(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "k.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Marker(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
