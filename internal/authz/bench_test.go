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

// BenchmarkDecideGranular50 is BenchmarkDecide for a fine-grained token with 50 scopes
// (the matching one last, so every scope is examined): the scope rule, the fine-grained
// rule on a project four groups deep, then the role. Target ≤ 1 µs.
func BenchmarkDecideGranular50(b *testing.B) {
	var scopes []keygate.GranularScope
	for i := range 49 {
		scopes = append(scopes, keygate.GranularScope{Access: keygate.AccessSelectedMemberships,
			Permissions: []string{"read_project", "read_member", "read_code"}, ProjectID: int64(1000 + i)})
	}
	scopes = append(scopes, keygate.GranularScope{Access: keygate.AccessSelectedMemberships,
		Permissions: []string{"read_project", "read_member", "update_project"}, GroupID: 3})
	s := authz.Subject{
		User:  keygate.User{ID: 2, Username: "dev", State: keygate.UserActive, Type: keygate.UserHuman},
		Token: &keygate.Token{ID: 7, UserID: 2, Granular: true, GranularScopes: scopes},
	}
	rule := authz.Rule{}
	fine := authz.FineRule{Permissions: []string{"update_project"}, Boundary: authz.BoundaryProject, Param: "id"}
	r := authz.Resource{Kind: authz.KindProject, ID: 5, Visibility: keygate.Private, Access: keygate.Maintainer}
	bd := authz.Boundary{Kind: authz.BoundaryProject, Found: true, ID: 5, Namespaces: []int64{1, 2, 3, 4}, Access: keygate.Maintainer, Readable: true}
	b.ReportAllocs()
	for b.Loop() {
		if d := authz.Decide(s, rule, "PUT"); !d.Allowed {
			b.Fatal(d)
		}
		if d := authz.DecideGranular(s, fine, bd, false); !d.Allowed {
			b.Fatal(d)
		}
		if d := authz.DecideResource(s, r, authz.ActUpdate); !d.Allowed {
			b.Fatal(d)
		}
	}
}
