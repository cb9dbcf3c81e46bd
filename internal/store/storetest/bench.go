package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// Seeder is implemented by a Store (usually a backend's test wrapper) that can load many
// rows faster than InTx and CreateToken, e.g. with one prepared statement or COPY. It
// creates users users, then for each i in [0, tokens) stores token(owner, i), owner
// being the ID of one of those users.
type Seeder interface {
	Seed(ctx context.Context, users, tokens int, token func(owner int64, i int) keygate.Token) error
}

// Digest is the digest of seeded token i: distinct per i, shaped like the real keyed
// SHA-256 digests.
func Digest(i int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	sum := sha256.Sum256(b[:])
	return sum[:]
}

// seedUsers is how many owners n seeded tokens are spread over.
func seedUsers(n int) int { return max(1, n/100) }

// Seed loads n tokens (SeedToken) into s, through Seeder when s has it and through InTx
// otherwise.
func Seed(tb testing.TB, s store.Store, n int) {
	tb.Helper()
	ctx := tb.Context()
	users := seedUsers(n)
	if sd, ok := s.(Seeder); ok {
		if err := sd.Seed(ctx, users, n, SeedToken); err != nil {
			tb.Fatalf("Seed(%d users, %d tokens) = %v", users, n, err)
		}
		return
	}
	const batch = 5000
	var owners []int64
	err := s.InTx(ctx, func(tx store.Tx) error {
		owners = owners[:0]
		for i := range users {
			u := newUser(fmt.Sprintf("seed%07d", i))
			if err := tx.CreateUser(ctx, &u); err != nil {
				return err
			}
			owners = append(owners, u.ID)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("seeding %d users: %v", users, err)
	}
	for lo := 0; lo < n; lo += batch {
		err := s.InTx(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				tok := SeedToken(owners[i%len(owners)], i)
				if err := tx.CreateToken(ctx, &tok); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("seeding tokens %d..: %v", lo, err)
		}
	}
}

// SeedToken is seeded token i of owner, with digest Digest(i): a typical live token
// (scopes, an expiry, a last use), so the benchmark decodes a realistic row.
func SeedToken(owner int64, i int) keygate.Token {
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	expires := keygate.DateOf(created).AddDays(365)
	return keygate.Token{
		UserID:     owner,
		Name:       fmt.Sprintf("token %d", i),
		Scopes:     keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadRepository},
		ExpiresAt:  &expires,
		CreatedAt:  created,
		UpdatedAt:  created,
		LastUsedAt: &created,
		Digest:     Digest(i),
	}
}

// BenchmarkTokenByDigest seeds n tokens into s and measures TokenByDigest, the
// verification lookup, on tokens picked at random.
func BenchmarkTokenByDigest(b *testing.B, s store.Store, n int) {
	Seed(b, s, n)
	ctx := b.Context()
	// Digests are computed up front so the loop measures the store, not SHA-256; 64k
	// random picks touch far more of a large table than a cache would hold hot.
	rng := rand.New(rand.NewPCG(1, 2))
	picks := make([][]byte, min(n, 1<<16))
	for i := range picks {
		picks[i] = Digest(rng.IntN(n))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.TokenByDigest(ctx, picks[i%len(picks)]); err != nil {
			b.Fatalf("TokenByDigest = %v", err)
		}
		i++
	}
}

// BenchmarkMarker measures Marker when nothing changed, its cost on every request.
func BenchmarkMarker(b *testing.B, s store.Store) {
	ctx := b.Context()
	if _, err := s.Marker(ctx); err != nil {
		b.Fatalf("Marker() = %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Marker(ctx); err != nil {
			b.Fatalf("Marker() = %v", err)
		}
	}
}
