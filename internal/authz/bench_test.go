package authz_test

import (
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

// BenchmarkDecide is the engine's share of a typical resource request: the scope rule of
// a plain API route (a Developer's api+read_repository token on PUT /projects/:id, the
// worst case: every grant examined), then the role on the project. Target ≤ 1 µs.
func BenchmarkDecide(b *testing.B) {
	s := authz.Subject{
		User:  keygate.User{ID: 2, Username: "dev", State: keygate.UserActive, Type: keygate.UserHuman},
		Token: &keygate.Token{ID: 7, UserID: 2, Scopes: keygate.Scopes{keygate.ScopeReadRepository, keygate.ScopeAPI}},
	}
	rule := authz.Rule{}
	r := authz.Resource{Kind: authz.KindProject, ID: 5, Visibility: keygate.Private, Access: keygate.Maintainer}
	b.ReportAllocs()
	for b.Loop() {
		if d := authz.Decide(s, rule, "PUT"); !d.Allowed {
			b.Fatal(d)
		}
		if d := authz.DecideResource(s, r, authz.ActUpdate); !d.Allowed {
			b.Fatal(d)
		}
	}
}

// BenchmarkDecideDenied is a refusal with its reasons built (a Developer updating).
func BenchmarkDecideDenied(b *testing.B) {
	s := authz.Subject{
		User:  keygate.User{ID: 2, Username: "dev", State: keygate.UserActive, Type: keygate.UserHuman},
		Token: &keygate.Token{ID: 7, UserID: 2, Scopes: keygate.Scopes{keygate.ScopeAPI}},
	}
	r := authz.Resource{Kind: authz.KindProject, ID: 5, Visibility: keygate.Private, Access: keygate.Developer}
	b.ReportAllocs()
	for b.Loop() {
		if d := authz.Decide(s, authz.Rule{}, "PUT"); !d.Allowed {
			b.Fatal(d)
		}
		if d := authz.DecideResource(s, r, authz.ActUpdate); d.Allowed {
			b.Fatal(d)
		}
	}
}
