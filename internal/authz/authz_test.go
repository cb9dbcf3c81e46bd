package authz_test

import (
	"slices"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

func tokenWith(scopes ...keygate.Scope) *keygate.Token {
	return &keygate.Token{ID: 7, UserID: 2, Scopes: scopes}
}

var (
	alice = keygate.User{ID: 2, Username: "alice", State: keygate.UserActive, Type: keygate.UserHuman}
	root  = keygate.User{ID: 1, Username: "root", State: keygate.UserActive, Type: keygate.UserHuman, Admin: true}

	blockedRoot     = keygate.User{ID: 3, Username: "broot", State: keygate.UserBlocked, Type: keygate.UserHuman, Admin: true}
	deactivatedRoot = keygate.User{ID: 4, Username: "droot", State: keygate.UserDeactivated, Type: keygate.UserHuman, Admin: true}

	plainRule    = authz.Rule{}
	readUserRule = authz.Rule{Grants: []authz.Grant{{Scope: keygate.ScopeReadUser, ReadOnly: true}}}
	anyScopeRule = authz.Rule{AnyScope: true}
	rotateRule   = authz.Rule{Grants: []authz.Grant{{Scope: keygate.ScopeAPI}, {Scope: keygate.ScopeSelfRotate}}}
	adminRule    = authz.Rule{Admin: true}
	publicRule   = authz.Rule{Anonymous: true}
)

func TestDecide(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		s      authz.Subject
		r      authz.Rule
		method string
		// want
		allowed bool
		status  int
		code    keygate.Code
		scope   string
	}{
		{name: "anonymous on protected rule", s: authz.Subject{}, r: plainRule, method: "GET", status: 401, code: keygate.CodeUnauthenticated},
		{name: "anonymous on admin rule", s: authz.Subject{}, r: adminRule, method: "GET", status: 401, code: keygate.CodeUnauthenticated},
		{name: "anonymous on any-scope rule", s: authz.Subject{}, r: anyScopeRule, method: "GET", status: 401, code: keygate.CodeUnauthenticated},
		{name: "anonymous on public rule", s: authz.Subject{}, r: publicRule, method: "GET", allowed: true, status: 200},
		{name: "token with only a user ID 0 is anonymous", s: authz.Subject{Token: tokenWith(keygate.ScopeAPI)}, r: plainRule, method: "GET", status: 401, code: keygate.CodeUnauthenticated},

		{name: "api token GET", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, r: plainRule, method: "GET", allowed: true, status: 200},
		{name: "api token POST", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, r: plainRule, method: "POST", allowed: true, status: 200},
		{name: "api token DELETE", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, r: plainRule, method: "DELETE", allowed: true, status: 200},
		{name: "read_api token GET", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadAPI)}, r: plainRule, method: "GET", allowed: true, status: 200},
		{name: "read_api token HEAD", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadAPI)}, r: plainRule, method: "HEAD", allowed: true, status: 200},
		{name: "read_api token POST", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadAPI)}, r: plainRule, method: "POST", status: 403, code: keygate.CodeInsufficientScope, scope: "api read_api"},
		{name: "read_api token PUT", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadAPI)}, r: plainRule, method: "PUT", status: 403, code: keygate.CodeInsufficientScope, scope: "api read_api"},
		{name: "read_api token DELETE", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadAPI)}, r: plainRule, method: "DELETE", status: 403, code: keygate.CodeInsufficientScope, scope: "api read_api"},
		{name: "read_api token lowercase get is not safe", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadAPI)}, r: plainRule, method: "get", status: 403, code: keygate.CodeInsufficientScope, scope: "api read_api"},
		{name: "read_user token on plain rule", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadUser)}, r: plainRule, method: "GET", status: 403, code: keygate.CodeInsufficientScope, scope: "api read_api"},
		{name: "token without scopes", s: authz.Subject{User: alice, Token: tokenWith()}, r: plainRule, method: "GET", status: 403, code: keygate.CodeInsufficientScope, scope: "api read_api"},
		{name: "user without token (session) skips scopes", s: authz.Subject{User: alice}, r: plainRule, method: "POST", allowed: true, status: 200},

		{name: "read_user token on read_user rule GET", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadUser)}, r: readUserRule, method: "GET", allowed: true, status: 200},
		{name: "read_user token on read_user rule HEAD", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadUser)}, r: readUserRule, method: "HEAD", allowed: true, status: 200},
		{name: "read_user token on read_user rule POST", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadUser)}, r: readUserRule, method: "POST", status: 403, code: keygate.CodeInsufficientScope, scope: "read_user api read_api"},
		{name: "api token on read_user rule POST", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, r: readUserRule, method: "POST", allowed: true, status: 200},
		{name: "read_repository token on read_user rule", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadRepository)}, r: readUserRule, method: "GET", status: 403, code: keygate.CodeInsufficientScope, scope: "read_user api read_api"},

		{name: "any scope accepts read_repository POST", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadRepository)}, r: anyScopeRule, method: "POST", allowed: true, status: 200},
		{name: "any scope accepts k8s_proxy GET", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeK8sProxy)}, r: anyScopeRule, method: "GET", allowed: true, status: 200},
		{name: "any scope accepts scopeless token", s: authz.Subject{User: alice, Token: tokenWith()}, r: anyScopeRule, method: "GET", allowed: true, status: 200},

		{name: "self_rotate token POST on rotate rule", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeSelfRotate)}, r: rotateRule, method: "POST", allowed: true, status: 200},
		{name: "api token POST on rotate rule", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, r: rotateRule, method: "POST", allowed: true, status: 200},
		{name: "read_api token POST on rotate rule", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadAPI)}, r: rotateRule, method: "POST", status: 403, code: keygate.CodeInsufficientScope, scope: "api self_rotate api read_api"},
		{name: "read_user token POST on rotate rule", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadUser)}, r: rotateRule, method: "POST", status: 403, code: keygate.CodeInsufficientScope, scope: "api self_rotate api read_api"},
		{name: "self_rotate token on plain rule", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeSelfRotate)}, r: plainRule, method: "POST", status: 403, code: keygate.CodeInsufficientScope, scope: "api read_api"},

		{name: "non-admin on admin rule", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, r: adminRule, method: "GET", status: 403, code: keygate.CodeForbidden},
		{name: "admin on admin rule", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI)}, r: adminRule, method: "GET", allowed: true, status: 200},
		{name: "admin read_api POST on admin rule is a scope failure first", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeReadAPI)}, r: adminRule, method: "POST", status: 403, code: keygate.CodeInsufficientScope, scope: "api read_api"},
		{name: "non-admin read_api POST on admin rule is a scope failure first", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadAPI)}, r: adminRule, method: "POST", status: 403, code: keygate.CodeInsufficientScope, scope: "api read_api"},
		{name: "admin mode on, token without admin_mode", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI), AdminMode: true}, r: adminRule, method: "GET", status: 403, code: keygate.CodeForbidden},
		{name: "admin mode on, token with admin_mode", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI, keygate.ScopeAdminMode), AdminMode: true}, r: adminRule, method: "GET", allowed: true, status: 200},
		{name: "admin mode off, token with admin_mode", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI, keygate.ScopeAdminMode)}, r: adminRule, method: "DELETE", allowed: true, status: 200},
		{name: "admin mode on, non-admin with admin_mode", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI, keygate.ScopeAdminMode), AdminMode: true}, r: adminRule, method: "GET", status: 403, code: keygate.CodeForbidden},
		{name: "admin mode on, admin session without token", s: authz.Subject{User: root, AdminMode: true}, r: adminRule, method: "GET", allowed: true, status: 200},
		{name: "admin mode on does not matter off admin rules", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI), AdminMode: true}, r: plainRule, method: "POST", allowed: true, status: 200},
		{name: "blocked admin is not admin", s: authz.Subject{User: blockedRoot, Token: tokenWith(keygate.ScopeAPI)}, r: adminRule, method: "GET", status: 403, code: keygate.CodeForbidden},
		{name: "deactivated admin is not admin", s: authz.Subject{User: deactivatedRoot, Token: tokenWith(keygate.ScopeAPI)}, r: adminRule, method: "GET", status: 403, code: keygate.CodeForbidden},
		{name: "system subject on admin rule", s: authz.SystemSubject(), r: adminRule, method: "POST", allowed: true, status: 200},
		{name: "system subject on plain rule", s: authz.SystemSubject(), r: plainRule, method: "DELETE", allowed: true, status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := authz.Decide(tc.s, tc.r, tc.method)
			if got.Allowed != tc.allowed || got.Status != tc.status || got.Code != tc.code || got.Scope != tc.scope {
				t.Errorf("Decide(%s, %+v, %q) = {Allowed:%v Status:%d Code:%q Scope:%q}, want {Allowed:%v Status:%d Code:%q Scope:%q}",
					tc.name, tc.r, tc.method, got.Allowed, got.Status, got.Code, got.Scope, tc.allowed, tc.status, tc.code, tc.scope)
			}
			if !got.Allowed && len(got.Reasons) == 0 {
				t.Errorf("Decide(%s, %+v, %q).Reasons = none, want an explanation for a denial", tc.name, tc.r, tc.method)
			}
		})
	}
}

func TestDecideReasons(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		s      authz.Subject
		r      authz.Rule
		method string
		want   []string
	}{
		{
			name: "read_api on POST names the read-only grant",
			s:    authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadAPI)}, r: plainRule, method: "POST",
			want: []string{"the token's scopes (read_api) do not include any of: api read_api (read_api allows only GET and HEAD)"},
		},
		{
			name: "read_user on a read_user POST",
			s:    authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadUser, keygate.ScopeReadRepository)}, r: readUserRule, method: "POST",
			want: []string{"the token's scopes (read_user,read_repository) do not include any of: read_user api read_api (read_user allows only GET and HEAD)"},
		},
		{
			name: "unrelated scope has no note",
			s:    authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadRepository)}, r: plainRule, method: "GET",
			want: []string{"the token's scopes (read_repository) do not include any of: api read_api"},
		},
		{
			name: "non-admin",
			s:    authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, r: adminRule, method: "GET",
			want: []string{"the route is for administrators"},
		},
		{
			name: "admin mode",
			s:    authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI), AdminMode: true}, r: adminRule, method: "GET",
			want: []string{"admin mode is on and the token lacks the admin_mode scope"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := authz.Decide(tc.s, tc.r, tc.method).Reasons; !slices.Equal(got, tc.want) {
				t.Errorf("Decide(%s, %+v, %q).Reasons = %q, want %q", tc.name, tc.r, tc.method, got, tc.want)
			}
		})
	}
}

// Decide must not change the rule it is given: route tables share their Grants slices.
func TestDecideLeavesRuleAlone(t *testing.T) {
	t.Parallel()
	grants := make([]authz.Grant, 1, 4)
	grants[0] = authz.Grant{Scope: keygate.ScopeReadUser, ReadOnly: true}
	r := authz.Rule{Grants: grants}
	_ = authz.Decide(authz.Subject{User: alice, Token: tokenWith(keygate.ScopeReadUser)}, r, "POST")
	if got := grants[:cap(grants)][1]; got != (authz.Grant{}) {
		t.Errorf("Decide wrote %+v past the rule's Grants, want the backing array untouched", got)
	}
}

func TestScopesFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		r    authz.Rule
		want string
	}{
		{"plain", plainRule, "api read_api"},
		{"read_user", readUserRule, "read_user api read_api"},
		{"rotate keeps repeats", rotateRule, "api self_rotate api read_api"},
		{"admin", adminRule, "api read_api"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := authz.ScopesFor(tc.r); got != tc.want {
				t.Errorf("ScopesFor(%+v) = %q, want %q", tc.r, got, tc.want)
			}
		})
	}
}

func TestSubjectAdmin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		s    authz.Subject
		auth bool
		want bool
	}{
		{"anonymous", authz.Subject{}, false, false},
		{"system", authz.SystemSubject(), true, true},
		{"system with admin mode", authz.Subject{System: true, AdminMode: true, Token: tokenWith(keygate.ScopeAPI)}, true, true},
		{"user", authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, true, false},
		{"admin", authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI)}, true, true},
		{"admin, admin mode, no admin_mode scope", authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI), AdminMode: true}, true, false},
		{"admin, admin mode, admin_mode scope", authz.Subject{User: root, Token: tokenWith(keygate.ScopeAdminMode), AdminMode: true}, true, true},
		{"blocked admin", authz.Subject{User: blockedRoot, Token: tokenWith(keygate.ScopeAPI)}, true, false},
		{"deactivated admin", authz.Subject{User: deactivatedRoot, Token: tokenWith(keygate.ScopeAPI)}, true, false},
		{"admin with empty state", authz.Subject{User: keygate.User{ID: 9, Admin: true}}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Authenticated(); got != tc.auth {
				t.Errorf("Subject(%s).Authenticated() = %v, want %v", tc.name, got, tc.auth)
			}
			if got := tc.s.Admin(); got != tc.want {
				t.Errorf("Subject(%s).Admin() = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

func TestSudo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		s       authz.Subject
		allowed bool
		status  int
		code    keygate.Code
		scope   string
		reason  string
	}{
		{name: "not authenticated", s: authz.Subject{}, status: 401, code: keygate.CodeUnauthenticated},
		{name: "not authenticated, sudo token", s: authz.Subject{Token: tokenWith(keygate.ScopeSudo)}, status: 401, code: keygate.CodeUnauthenticated},
		{name: "not admin", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, status: 403, code: keygate.CodeForbidden, reason: "Must be admin to use sudo"},
		{name: "not admin, with sudo scope", s: authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI, keygate.ScopeSudo)}, status: 403, code: keygate.CodeForbidden, reason: "Must be admin to use sudo"},
		{name: "not admin, no token", s: authz.Subject{User: alice}, status: 403, code: keygate.CodeForbidden, reason: "Must be admin to use sudo"},
		{name: "blocked admin", s: authz.Subject{User: blockedRoot, Token: tokenWith(keygate.ScopeSudo)}, status: 403, code: keygate.CodeForbidden, reason: "Must be admin to use sudo"},
		{name: "admin without token", s: authz.Subject{User: root}, status: 403, code: keygate.CodeForbidden, reason: "Must be authenticated using an OAuth or personal access token to use sudo"},
		{name: "system without token", s: authz.SystemSubject(), status: 403, code: keygate.CodeForbidden, reason: "Must be authenticated using an OAuth or personal access token to use sudo"},
		{name: "admin without sudo scope", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI)}, status: 403, code: keygate.CodeInsufficientScope, scope: "sudo"},
		{name: "admin with sudo scope", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI, keygate.ScopeSudo)}, allowed: true, status: 200},
		{name: "admin with only sudo scope", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeSudo)}, allowed: true, status: 200},
		{name: "admin mode on, sudo without admin_mode", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeSudo), AdminMode: true}, status: 403, code: keygate.CodeForbidden, reason: "Must be admin to use sudo"},
		{name: "admin mode on, sudo with admin_mode", s: authz.Subject{User: root, Token: tokenWith(keygate.ScopeSudo, keygate.ScopeAdminMode), AdminMode: true}, allowed: true, status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := authz.Sudo(tc.s)
			if got.Allowed != tc.allowed || got.Status != tc.status || got.Code != tc.code || got.Scope != tc.scope {
				t.Errorf("Sudo(%s) = {Allowed:%v Status:%d Code:%q Scope:%q}, want {Allowed:%v Status:%d Code:%q Scope:%q}",
					tc.name, got.Allowed, got.Status, got.Code, got.Scope, tc.allowed, tc.status, tc.code, tc.scope)
			}
			if tc.reason != "" && (len(got.Reasons) == 0 || got.Reasons[0] != tc.reason) {
				t.Errorf("Sudo(%s).Reasons = %q, want first %q", tc.name, got.Reasons, tc.reason)
			}
		})
	}
}

func TestCanManageTokensOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		s     authz.Subject
		owner int64
		want  bool
	}{
		{"own tokens", authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, alice.ID, true},
		{"someone else's", authz.Subject{User: alice, Token: tokenWith(keygate.ScopeAPI)}, root.ID, false},
		{"admin, someone else's", authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI)}, alice.ID, true},
		{"admin, own", authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI)}, root.ID, true},
		{"admin in admin mode without admin_mode, someone else's", authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI), AdminMode: true}, alice.ID, false},
		{"admin in admin mode without admin_mode, own", authz.Subject{User: root, Token: tokenWith(keygate.ScopeAPI), AdminMode: true}, root.ID, true},
		{"blocked admin, someone else's", authz.Subject{User: blockedRoot, Token: tokenWith(keygate.ScopeAPI)}, alice.ID, false},
		{"system", authz.SystemSubject(), alice.ID, true},
		{"anonymous, owner 0", authz.Subject{}, 0, false},
		{"anonymous, real owner", authz.Subject{}, alice.ID, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := authz.CanManageTokensOf(tc.s, tc.owner); got != tc.want {
				t.Errorf("CanManageTokensOf(%s, %d) = %v, want %v", tc.name, tc.owner, got, tc.want)
			}
		})
	}
}

func TestAllowedScopesFor(t *testing.T) {
	t.Parallel()
	var nonAdmin []keygate.Scope
	for _, s := range keygate.AllScopes {
		if s != keygate.ScopeSudo && s != keygate.ScopeAdminMode {
			nonAdmin = append(nonAdmin, s)
		}
	}
	cases := []struct {
		name  string
		owner keygate.User
		want  []keygate.Scope
	}{
		{"user", alice, nonAdmin},
		{"bot", keygate.User{ID: 5, Type: keygate.UserProjectBot, State: keygate.UserActive}, nonAdmin},
		{"admin", root, keygate.AllScopes},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := authz.AllowedScopesFor(tc.owner)
			if !slices.Equal(got, tc.want) {
				t.Errorf("AllowedScopesFor(%s) = %v, want %v", tc.name, got, tc.want)
			}
			if len(got) > 0 && &got[0] == &keygate.AllScopes[0] {
				t.Errorf("AllowedScopesFor(%s) returned AllScopes itself, want a copy", tc.name)
			}
		})
	}
}

func FuzzDecide(f *testing.F) {
	f.Add("read_api", "POST", false, false, false, false)
	f.Add("api,admin_mode", "GET", true, true, true, false)
	f.Add("read_user", "GET", false, false, false, true)
	f.Add("self_rotate", "POST", false, false, false, true)
	f.Fuzz(func(t *testing.T, scopes, method string, admin, adminRoute, adminMode, readUser bool) {
		ss, err := keygate.ParseScopes(scopes)
		if err != nil {
			return
		}
		user := alice
		user.Admin = admin
		r := authz.Rule{Admin: adminRoute}
		if readUser {
			r.Grants = []authz.Grant{{Scope: keygate.ScopeReadUser, ReadOnly: true}}
		}
		s := authz.Subject{User: user, Token: tokenWith(ss...), AdminMode: adminMode}
		d := authz.Decide(s, r, method)
		if d.Allowed != (d.Status == 200) {
			t.Fatalf("Decide(%q, %q) = %+v, want Allowed exactly when Status is 200", scopes, method, d)
		}
		if d.Allowed && !authz.ScopeAllows(r, method, ss) {
			t.Fatalf("Decide(%q, %q) allowed, but ScopeAllows is false", scopes, method)
		}
		if d.Allowed && adminRoute && !s.Admin() {
			t.Fatalf("Decide(%q, %q) allowed a non-admin on an admin route", scopes, method)
		}
		// api opens every non-admin route for every method.
		if ss.Has(keygate.ScopeAPI) && !adminRoute && !d.Allowed {
			t.Fatalf("Decide(%q, %q) = %+v, want an api token allowed", scopes, method, d)
		}
		if d.Code == keygate.CodeInsufficientScope && d.Scope != authz.ScopesFor(r) {
			t.Fatalf("Decide(%q, %q).Scope = %q, want %q", scopes, method, d.Scope, authz.ScopesFor(r))
		}
	})
}
