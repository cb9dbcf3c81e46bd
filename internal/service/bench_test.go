package service

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store/sqlite"
)

func benchService(b *testing.B) (*Service, string) {
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
