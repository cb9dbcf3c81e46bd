package keygate_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

var parseScopesCases = []struct {
	name    string
	items   []string
	want    keygate.Scopes
	wantErr bool
}{
	{name: "no items", items: nil, want: nil},
	{name: "one empty item", items: []string{""}, want: nil},
	{name: "only commas and spaces", items: []string{" , ,, "}, want: nil},
	{name: "single", items: []string{"api"}, want: keygate.Scopes{keygate.ScopeAPI}},
	{name: "comma list", items: []string{"api,read_user"}, want: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadUser}},
	{name: "repeated items", items: []string{"read_api", "read_user"}, want: keygate.Scopes{keygate.ScopeReadAPI, keygate.ScopeReadUser}},
	{name: "items holding comma lists", items: []string{"api,sudo", "admin_mode"}, want: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeSudo, keygate.ScopeAdminMode}},
	{name: "spaces around names", items: []string{" api , read_user ", "\tsudo\n"}, want: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadUser, keygate.ScopeSudo}},
	{name: "trailing and doubled commas", items: []string{"api,,read_api,"}, want: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadAPI}},
	{name: "duplicates dropped, first order kept", items: []string{"read_user,api", "api", "read_user"}, want: keygate.Scopes{keygate.ScopeReadUser, keygate.ScopeAPI}},
	{name: "every scope", items: []string{strings.Join(keygate.Scopes(keygate.AllScopes).Strings(), ",")}, want: keygate.AllScopes},
	{name: "unknown scope", items: []string{"api,write_everything"}, wantErr: true},
	{name: "unknown in second item", items: []string{"api", "nope"}, wantErr: true},
	{name: "case matters", items: []string{"API"}, wantErr: true},
	{name: "inner space is not a separator", items: []string{"api read_api"}, wantErr: true},
	{name: "space-separated is not a list", items: []string{"read api"}, wantErr: true},
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	for _, tc := range parseScopesCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keygate.ParseScopes(tc.items...)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseScopes(%q) = %v, nil, want an error", tc.items, got)
				}
				if got != nil {
					t.Errorf("ParseScopes(%q) = %v with error, want nil scopes", tc.items, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseScopes(%q) error = %v, want nil", tc.items, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ParseScopes(%q) = %#v, want %#v", tc.items, got, tc.want)
			}
			if tc.want == nil && got != nil {
				t.Errorf("ParseScopes(%q) = %#v (non-nil), want nil", tc.items, got)
			}
		})
	}
}

func TestParseScopesErrorNamesScope(t *testing.T) {
	t.Parallel()
	_, err := keygate.ParseScopes("api,bogus_scope")
	if err == nil || !strings.Contains(err.Error(), `"bogus_scope"`) {
		t.Errorf(`ParseScopes("api,bogus_scope") error = %v, want one naming "bogus_scope"`, err)
	}
}

func TestScopeValidAdmin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		scope        keygate.Scope
		valid, admin bool
	}{
		{keygate.ScopeAPI, true, false},
		{keygate.ScopeReadAPI, true, false},
		{keygate.ScopeReadUser, true, false},
		{keygate.ScopeReadRepository, true, false},
		{keygate.ScopeWriteRepository, true, false},
		{keygate.ScopeReadRegistry, true, false},
		{keygate.ScopeWriteRegistry, true, false},
		{keygate.ScopeCreateRunner, true, false},
		{keygate.ScopeManageRunner, true, false},
		{keygate.ScopeK8sProxy, true, false},
		{keygate.ScopeSelfRotate, true, false},
		{keygate.ScopeAIFeatures, true, false},
		{keygate.ScopeSudo, true, true},
		{keygate.ScopeAdminMode, true, true},
		{"", false, false},
		{"API", false, false},
		{" api", false, false},
		{"admin", false, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.scope), func(t *testing.T) {
			if got := tc.scope.Valid(); got != tc.valid {
				t.Errorf("Scope(%q).Valid() = %v, want %v", tc.scope, got, tc.valid)
			}
			if got := tc.scope.Admin(); got != tc.admin {
				t.Errorf("Scope(%q).Admin() = %v, want %v", tc.scope, got, tc.admin)
			}
		})
	}
}

func TestAllScopesDistinctAndValid(t *testing.T) {
	t.Parallel()
	if got, want := len(keygate.AllScopes), 15; got != want {
		t.Errorf("len(AllScopes) = %d, want %d", got, want)
	}
	seen := map[keygate.Scope]bool{}
	for _, s := range keygate.AllScopes {
		if seen[s] {
			t.Errorf("AllScopes lists %q twice", s)
		}
		seen[s] = true
		if !s.Valid() {
			t.Errorf("Scope(%q).Valid() = false, want true for a member of AllScopes", s)
		}
	}
}

func TestScopesStringStringsHas(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		ss     keygate.Scopes
		str    string
		strs   []string
		has    []keygate.Scope
		hasNot []keygate.Scope
	}{
		{name: "nil", ss: nil, str: "", strs: []string{}, hasNot: []keygate.Scope{keygate.ScopeAPI, ""}},
		{name: "empty", ss: keygate.Scopes{}, str: "", strs: []string{}, hasNot: []keygate.Scope{keygate.ScopeAPI}},
		{name: "one", ss: keygate.Scopes{keygate.ScopeAPI}, str: "api", strs: []string{"api"}, has: []keygate.Scope{keygate.ScopeAPI}, hasNot: []keygate.Scope{keygate.ScopeReadAPI}},
		{
			name: "order kept", ss: keygate.Scopes{keygate.ScopeReadUser, keygate.ScopeAPI, keygate.ScopeSudo},
			str: "read_user,api,sudo", strs: []string{"read_user", "api", "sudo"},
			has:    []keygate.Scope{keygate.ScopeReadUser, keygate.ScopeAPI, keygate.ScopeSudo},
			hasNot: []keygate.Scope{keygate.ScopeAdminMode, "Api"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ss.String(); got != tc.str {
				t.Errorf("%#v.String() = %q, want %q", tc.ss, got, tc.str)
			}
			got := tc.ss.Strings()
			if got == nil || !slices.Equal(got, tc.strs) {
				t.Errorf("%#v.Strings() = %#v, want %#v", tc.ss, got, tc.strs)
			}
			for _, s := range tc.has {
				if !tc.ss.Has(s) {
					t.Errorf("%#v.Has(%q) = false, want true", tc.ss, s)
				}
			}
			for _, s := range tc.hasNot {
				if tc.ss.Has(s) {
					t.Errorf("%#v.Has(%q) = true, want false", tc.ss, s)
				}
			}
		})
	}
}

func FuzzParseScopes(f *testing.F) {
	for _, tc := range parseScopesCases {
		// The fuzzer takes a fixed number of arguments; the table's items are joined
		// into two so a repeated-item case stays a repeated-item case.
		a, b := "", ""
		if len(tc.items) > 0 {
			a = tc.items[0]
		}
		if len(tc.items) > 1 {
			b = strings.Join(tc.items[1:], ",")
		}
		f.Add(a, b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := keygate.ParseScopes(a, b)
		if err != nil {
			if got != nil {
				t.Fatalf("ParseScopes(%q, %q) = %v, %v; want nil scopes with an error", a, b, got, err)
			}
			return
		}
		seen := map[keygate.Scope]bool{}
		for _, s := range got {
			if !s.Valid() {
				t.Fatalf("ParseScopes(%q, %q) = %v, holds invalid %q", a, b, got, s)
			}
			if seen[s] {
				t.Fatalf("ParseScopes(%q, %q) = %v, holds %q twice", a, b, got, s)
			}
			seen[s] = true
		}
		if len(got) == 0 && got != nil {
			t.Fatalf("ParseScopes(%q, %q) = %#v, want nil for an empty result", a, b, got)
		}
		again, err := keygate.ParseScopes(got.String())
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseScopes(%q) = %v, %v; want %v (round trip of ParseScopes(%q, %q))", got.String(), again, err, got, a, b)
		}
		// Splitting the same text differently must not change the set.
		joined, err := keygate.ParseScopes(a + "," + b)
		if err != nil || !slices.Equal(joined, got) {
			t.Fatalf("ParseScopes(%q) = %v, %v; want %v as for two items", a+","+b, joined, err, got)
		}
	})
}
