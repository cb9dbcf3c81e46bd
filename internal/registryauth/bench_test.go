package registryauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/registryauth"
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
