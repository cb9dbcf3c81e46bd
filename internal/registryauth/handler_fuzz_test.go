package registryauth_test

import (
	"net/http/httptest"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/registryauth"
)

// FuzzJWTAuthQuery: whatever the query, a signed-in caller gets 200 (possibly granting
// nothing) or an empty 404 for a wrong service, and an anonymous one 200, 403 or 404;
// never a 500.
func FuzzJWTAuthQuery(f *testing.F) {
	for _, q := range []string{
		scopes("repository:grp/app:pull,push"), scopes("repository:GRP/App/x:pull"), scopes("registry:catalog:*"),
		scopes("repository:grp/app"), scopes("repository:pub/site:pull repository:grp/app:push"), "service=x",
		"service=container_registry&scope=%zz", "scope=repository:a/b:pull", scopes("repository:grp//app:*,delete"),
	} {
		f.Add(q)
	}
	w := newWorld(f, keygatetest.Options{Registry: true})
	tok := w.pat("dev", keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry, keygate.ScopeAPI)
	h := registryauth.New(registryauth.Config{Service: w.srv.Service, Signer: w.srv.RegistrySigner})
	f.Fuzz(func(t *testing.T, query string) {
		for _, signedIn := range []bool{true, false} {
			req := httptest.NewRequest("GET", registryauth.Path, nil)
			req.URL.RawQuery = query
			if signedIn {
				req.SetBasicAuth("dev", tok)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch {
			case rec.Code == 404 && rec.Body.Len() == 0:
			case rec.Code == 200:
			case rec.Code == 403 && !signedIn:
			default:
				t.Fatalf("GET /jwt/auth?%s (signed in %v) = %d %s", query, signedIn, rec.Code, rec.Body)
			}
		}
	})
}
