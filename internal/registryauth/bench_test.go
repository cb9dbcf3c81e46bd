package registryauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/registryauth"
	"github.com/keygate/keygate/internal/service"
)

// BenchmarkJWTAuth is a warm /jwt/auth answer (verify the token from the cache, resolve
// the project, decide, sign) for a Developer asking pull,push on one image, through the
// handler without the network. Compare with BenchmarkSign (the RS256 signature alone).
func BenchmarkJWTAuth(b *testing.B) {
	for _, c := range []struct {
		name, scope string
	}{
		{"project", "repository:grp/app:pull,push"},
		{"image", "repository:grp/app/web:pull,push"},
		{"nested_image", "repository:grp/app/a/b:pull,push"},
	} {
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
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkJWTAuthWithoutSignature is the handler's work besides the RS256 signature, step
// by step as ServeHTTP does it: verify the token (warm cache), read the settings, resolve
// the project and decide each action, build the claims. It is the "on top of one
// signature" share of a warm /jwt/auth.
func BenchmarkJWTAuthWithoutSignature(b *testing.B) {
	w := newWorld(b, keygatetest.Options{Registry: true})
	tok := w.pat("dev", keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry)
	az := registryauth.Authorizer{Service: w.srv.Service}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		scs, _ := registryauth.ParseScopes([]string{"repository:grp/app/web:pull,push"})
		sc := scs[0]
		pr, err := w.srv.Service.Authenticate(ctx, service.Credential{Token: tok, IP: "192.0.2.10"})
		if err != nil {
			b.Fatal(err)
		}
		c := registryauth.Caller{Subject: pr.Subject(), Abilities: authz.RegistryAbilitiesFor(pr.Token.Scopes), Username: pr.User.Username}
		a, ok, err := az.Grant(ctx, c, sc)
		if err != nil || !ok || len(a.Actions) != 2 {
			b.Fatalf("Grant = %+v, %v, %v", a, ok, err)
		}
		st, err := w.srv.Service.Settings(ctx)
		if err != nil {
			b.Fatal(err)
		}
		claims, err := registryauth.NewClaims("keygate-issuer", c.Username, w.srv.Clock.Now(), time.Duration(st.RegistryTokenMinutes())*time.Minute, []registryauth.Access{a})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(claims); err != nil {
			b.Fatal(err)
		}
	}
}
