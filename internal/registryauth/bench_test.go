package registryauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/registryauth"
	"github.com/keygate/keygate/internal/service"
)

// benchScopes are the names benchmarked: a project, an image below it, two levels below.
var benchScopes = []struct{ name, scope string }{
	{"project", "repository:grp/app:pull,push"},
	{"image", "repository:grp/app/web:pull,push"},
	{"nested_image", "repository:grp/app/a/b:pull,push"},
}

// BenchmarkJWTAuth is a warm /jwt/auth answer (verify the token from the cache, resolve
// the project, decide, sign) for a Developer asking pull,push on one image, through the
// handler without the network. Compare with BenchmarkSign (the RS256 signature alone).
func BenchmarkJWTAuth(b *testing.B) {
	for _, c := range benchScopes {
		b.Run(c.name, func(b *testing.B) {
			w := newWorld(b, keygatetest.Options{Registry: true})
			tok := w.pat("dev", keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry)
			h := registryauth.New(registryauth.Config{Service: w.srv.Service, Signer: w.srv.RegistrySigner})
			req := httptest.NewRequest("GET", registryauth.Path+"?"+scopes(c.scope), nil)
			req.SetBasicAuth("dev", tok)
			req.RemoteAddr = "192.0.2.10:4000"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req) // warm the token cache
			if rec.Code != http.StatusOK {
				b.Fatalf("warm-up = %d %s", rec.Code, rec.Body)
			}
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkJWTAuthWithoutSignature is the handler's work besides the RS256 signature, step
// by step as ServeHTTP does it: verify the token (warm cache), read the settings, resolve
// the project and decide each action, build the claims. It is the "on top of one
// signature" share of a warm /jwt/auth.
func BenchmarkJWTAuthWithoutSignature(b *testing.B) {
	for _, c := range benchScopes {
		b.Run(c.name, func(b *testing.B) {
			w := newWorld(b, keygatetest.Options{Registry: true})
			tok := w.pat("dev", keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry)
			az := registryauth.NewAuthorizer(w.srv.Service) // as the Handler: warm after the first
			ctx := b.Context()
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				pr, err := w.srv.Service.Authenticate(ctx, service.Credential{Token: tok, IP: "192.0.2.10"})
				if err != nil {
					b.Fatal(err)
				}
				caller := registryauth.Caller{Subject: pr.Subject(), Abilities: authz.RegistryAbilitiesFor(pr.Token.Scopes), Username: pr.User.Username}
				scs, _ := registryauth.ParseScopes([]string{c.scope})
				a, ok, err := az.Grant(ctx, caller, scs[0])
				if err != nil || !ok || len(a.Actions) != 2 {
					b.Fatalf("Grant = %+v, %v, %v", a, ok, err)
				}
				st, err := w.srv.Service.Settings(ctx)
				if err != nil {
					b.Fatal(err)
				}
				claims, err := registryauth.NewClaims("keygate-issuer", caller.Username, w.srv.Clock.Now(), time.Duration(st.RegistryTokenMinutes())*time.Minute, []registryauth.Access{a})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(claims); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkSign is one RS256 signature of a registry token with a 2048-bit key.
func BenchmarkSign(b *testing.B) {
	pemKey, err := registryauth.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	key, err := registryauth.ParseKey(pemKey)
	if err != nil {
		b.Fatal(err)
	}
	s, err := registryauth.NewSigner(key, "")
	if err != nil {
		b.Fatal(err)
	}
	c, _ := registryauth.NewClaims("keygate-issuer", "alice", time.Now(), 5*time.Minute,
		[]registryauth.Access{{Type: "repository", Name: "g/p", Actions: []string{"pull", "push"}}})
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if _, err := s.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// cpuClock measures the process's CPU time (user + system, all threads, GC included)
// across a benchmark loop. On a machine shared with other work, wall-clock ns/op
// swings with the load; CPU time per operation is the steadier figure.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{start: processCPU()} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64((processCPU()-c.start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
