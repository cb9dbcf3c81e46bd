package authz_test

import (
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

func TestDecideLevel(t *testing.T) {
	t.Parallel()
	proj, grp := authz.KindProject, authz.KindGroup
	cases := []struct {
		name   string
		sub    authz.Subject
		res    authz.Resource
		min    keygate.AccessLevel
		status int
	}{
		{"developer at developer", aliceAPI, res(proj, keygate.Private, keygate.Developer), keygate.Developer, 200},
		{"maintainer above developer", aliceAPI, res(grp, keygate.Private, keygate.Maintainer), keygate.Developer, 200},
		{"guest below developer", aliceAPI, res(proj, keygate.Private, keygate.Guest), keygate.Developer, 403},
		{"non-member of a private project is hidden", aliceAPI, res(proj, keygate.Private, keygate.NoAccess), keygate.Guest, 404},
		{"non-member of a public group sees why", aliceAPI, res(grp, keygate.Public, keygate.NoAccess), keygate.Guest, 403},
		{"external user on internal is hidden", extAPI, res(proj, keygate.Internal, keygate.NoAccess), keygate.Guest, 404},
		{"admin passes without membership", rootAPI, res(proj, keygate.Private, keygate.NoAccess), keygate.Owner, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := authz.DecideLevel(tc.sub, tc.res, tc.min)
			if d.Status != tc.status || d.Allowed != (tc.status == 200) {
				t.Errorf("DecideLevel = %+v, want status %d", d, tc.status)
			}
			if !d.Allowed && len(d.Reasons) == 0 {
				t.Errorf("DecideLevel refused without a reason")
			}
		})
	}
}

func TestExclusiveRule(t *testing.T) {
	t.Parallel()
	r := authz.Rule{Grants: []authz.Grant{{Scope: keygate.ScopeIntrospect}}, Exclusive: true}
	cases := []struct {
		scopes keygate.Scopes
		method string
		want   bool
	}{
		{keygate.Scopes{keygate.ScopeIntrospect}, "GET", true},
		{keygate.Scopes{keygate.ScopeAPI}, "GET", false},
		{keygate.Scopes{keygate.ScopeReadAPI}, "GET", false},
		{keygate.Scopes{keygate.ScopeAPI, keygate.ScopeSudo, keygate.ScopeAdminMode}, "POST", false},
	}
	for _, tc := range cases {
		if got := authz.ScopeAllows(r, tc.method, tc.scopes); got != tc.want {
			t.Errorf("ScopeAllows(exclusive introspect, %s, %v) = %v, want %v", tc.method, tc.scopes, got, tc.want)
		}
	}
	if got := authz.ScopesFor(r); got != "introspect" {
		t.Errorf("ScopesFor(exclusive) = %q, want introspect alone", got)
	}
}
