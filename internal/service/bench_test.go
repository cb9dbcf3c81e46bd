package service

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
	"github.com/keygate/keygate/internal/store/sqlite"
)

func benchService(b testing.TB) (*Service, string) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "k.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	dig, _ := secret.NewDigester([]byte(strings.Repeat("k", 32)))
	svc, err := New(Config{Store: st, Clock: clock.System{}, Digester: dig, PasswordIterations: 1})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx); err != nil {
		b.Fatal(err)
	}
	iss, err := svc.CreatePersonalToken(ctx, authz.SystemSubject(), 1, TokenInput{Name: "b", Scopes: keygate.Scopes{keygate.ScopeAPI}})
	if err != nil {
		b.Fatal(err)
	}
	return svc, iss.Secret.Reveal()
}

// BenchmarkVerify is the hot path behind the cache: parse and checksum, keyed digest,
// warm cache hit, expiry and revocation checks. The store's change marker is measured
// separately (BenchmarkAuthenticate), because its cost is the store's.
func BenchmarkVerify(b *testing.B) {
	svc, raw := benchService(b)
	ctx := context.Background()
	if _, err := svc.Authenticate(ctx, Credential{Token: raw}); err != nil {
		b.Fatal(err)
	}
	m := svc.cache.currentMarker()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.verify(ctx, m, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate is a whole warm authentication including the change-marker read
// that makes cross-process revocation immediate.
func BenchmarkAuthenticate(b *testing.B) {
	svc, raw := benchService(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, Credential{Token: raw, IP: "127.0.0.1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// seedTokens stores n tokens of root through the store and returns their plaintexts.
func seedTokens(b *testing.B, svc *Service, n int) []string {
	b.Helper()
	ctx := context.Background()
	plain := make([]string, n)
	const batch = 5000
	exp := keygate.DateOf(svc.clock.Now()).AddDays(300)
	for lo := 0; lo < n; lo += batch {
		err := svc.store.InTx(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				sec, err := secret.Generate("glpat-")
				if err != nil {
					return err
				}
				d := svc.dig.Digest(sec)
				t := keygate.Token{UserID: 1, Name: "seed", Scopes: keygate.Scopes{keygate.ScopeAPI}, ExpiresAt: &exp,
					CreatedAt: svc.clock.Now(), UpdatedAt: svc.clock.Now(), Digest: d[:]}
				if err := tx.CreateToken(ctx, &t); err != nil {
					return err
				}
				plain[i] = sec.Reveal()
			}
			return nil
		})
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	return plain
}

// benchVerifyCold authenticates random tokens out of n stored ones with a one-entry
// cache, so every verification is a miss: parse, digest, marker, one indexed lookup and
// the owner's row.
func benchVerifyCold(b *testing.B, n int) {
	svc, _ := benchService(b)
	svc.cache = newTokenCache(1)
	plain := seedTokens(b, svc, n)
	ctx := context.Background()
	// A bulk load leaves most new pages in the WAL; checkpoint as an operator would
	// after seeding, so lookups read the B-tree rather than search a long WAL.
	if cp, ok := svc.store.(interface{ Checkpoint(context.Context) error }); ok {
		if err := cp.Checkpoint(ctx); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, Credential{Token: plain[rng.IntN(n)]}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCold10k(b *testing.B) { benchVerifyCold(b, 10_000) }

// BenchmarkVerifyCold1M needs KEYGATE_BENCH_1M=1: seeding a million rows takes minutes.
func BenchmarkVerifyCold1M(b *testing.B) {
	if os.Getenv("KEYGATE_BENCH_1M") == "" {
		b.Skip("set KEYGATE_BENCH_1M=1 to seed 1M tokens")
	}
	benchVerifyCold(b, 1_000_000)
}

// BenchmarkIdempotentReplay is what a retried rotate costs before authentication: key,
// credential and request digests, one primary-key lookup, and opening the sealed answer.
func BenchmarkIdempotentReplay(b *testing.B) {
	svc, raw := benchService(b)
	ctx := context.Background()
	req := IdempotentRequest{Key: "bench-key", Credential: raw, Request: "POST /api/v4/personal_access_tokens/self/rotate\nexpires_at="}
	if err := svc.ReserveIdempotency(ctx, req); err != nil {
		b.Fatal(err)
	}
	body := []byte(strings.Repeat(`{"id":2,"name":"b","token":"glpat-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, 4))
	if err := svc.CompleteIdempotency(ctx, req, Replay{Status: 200, Body: body}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := svc.IdempotentReplay(ctx, req); err != nil || !found {
			b.Fatal(found, err)
		}
	}
}

// BenchmarkIdempotentMiss is the cost a rotate with a fresh key pays before running: the
// replay lookup that finds nothing.
func BenchmarkIdempotentMiss(b *testing.B) {
	svc, raw := benchService(b)
	ctx := context.Background()
	req := IdempotentRequest{Key: "never-used", Credential: raw, Request: "POST /x\nexpires_at="}
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := svc.IdempotentReplay(ctx, req); err != nil || found {
			b.Fatal(found, err)
		}
	}
}
