package authz_test

import (
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

func TestRegistryAbilitiesFor(t *testing.T) {
	for _, tc := range []struct {
		scopes keygate.Scopes
		want   authz.RegistryAbilities
	}{
		{keygate.Scopes{keygate.ScopeAPI}, authz.RegistryAbilities{Pull: true, Push: true, Admin: true}},
		{keygate.Scopes{keygate.ScopeReadAPI}, authz.RegistryAbilities{Pull: true}},
		{keygate.Scopes{keygate.ScopeReadRegistry}, authz.RegistryAbilities{Pull: true}},
		{keygate.Scopes{keygate.ScopeWriteRegistry}, authz.RegistryAbilities{Push: true}},
		{keygate.Scopes{keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry}, authz.RegistryAbilities{Pull: true, Push: true}},
		{keygate.Scopes{keygate.ScopeReadRepository, keygate.ScopeWriteRepository, keygate.ScopeReadUser}, authz.RegistryAbilities{}},
		{nil, authz.RegistryAbilities{}},
	} {
		if got := authz.RegistryAbilitiesFor(tc.scopes); got != tc.want {
			t.Errorf("RegistryAbilitiesFor(%v) = %+v, want %+v", tc.scopes, got, tc.want)
		}
	}
	if (authz.RegistryAbilities{}).Any() || !authz.AnonymousRegistryAbilities().Any() {
		t.Error("Any() of none / anonymous abilities wrong")
	}
}

func TestDecideRegistry(t *testing.T) {
	alice := keygate.User{ID: 2, Username: "alice", State: keygate.UserActive, Type: keygate.UserHuman}
	ext := keygate.User{ID: 3, Username: "ext", State: keygate.UserActive, Type: keygate.UserHuman, External: true}
	root := keygate.User{ID: 1, Username: "root", State: keygate.UserActive, Type: keygate.UserHuman, Admin: true}
	user := func(u keygate.User) authz.Subject { return gitSubject(u) }
	job := authz.Subject{User: alice, JobProjectID: 10}
	full := authz.RegistryAbilities{Pull: true, Push: true, Admin: true}
	rw := authz.RegistryAbilities{Pull: true, Push: true}
	pull := authz.RegistryAbilities{Pull: true}
	push := authz.RegistryAbilities{Push: true}
	anon := authz.AnonymousRegistryAbilities()
	jobAb := authz.JobRegistryAbilities()
	target := func(id int64, vis keygate.Visibility, access keygate.AccessLevel, level keygate.RegistryAccessLevel) authz.RegistryTarget {
		return authz.RegistryTarget{Resource: authz.Resource{Kind: authz.KindProject, ID: id, Visibility: vis, Access: access}, Level: level}
	}
	priv := func(access keygate.AccessLevel) authz.RegistryTarget { return target(10, keygate.Private, access, "") }
	allowlisted := target(11, keygate.Private, keygate.Reporter, keygate.RegistryEnabled)
	allowlisted.JobAllowlisted = true
	for _, tc := range []struct {
		name   string
		sub    authz.Subject
		ab     authz.RegistryAbilities
		t      authz.RegistryTarget
		action authz.RegistryAction
		want   bool
		code   keygate.Code
	}{
		{"Reporter pulls", user(alice), rw, priv(keygate.Reporter), authz.RegistryPull, true, ""},
		{"Reporter may not push", user(alice), rw, priv(keygate.Reporter), authz.RegistryPush, false, keygate.CodeForbidden},
		{"Guest may not pull a private project", user(alice), rw, priv(keygate.Guest), authz.RegistryPull, false, keygate.CodeForbidden},
		{"non-member of a private project: hidden", user(alice), rw, priv(keygate.NoAccess), authz.RegistryPull, false, keygate.CodeNotFound},
		{"non-member push on a private project: hidden", user(alice), rw, priv(keygate.NoAccess), authz.RegistryPush, false, keygate.CodeNotFound},
		{"Developer pushes", user(alice), rw, priv(keygate.Developer), authz.RegistryPush, true, ""},
		{"Developer may not delete", user(alice), full, priv(keygate.Developer), authz.RegistryDelete, false, keygate.CodeForbidden},
		{"Maintainer deletes with api", user(alice), full, priv(keygate.Maintainer), authz.RegistryDelete, true, ""},
		{"Maintainer without api may not delete", user(alice), rw, priv(keygate.Maintainer), authz.RegistryDelete, false, keygate.CodeInsufficientScope},
		{"Maintainer gets * with api", user(alice), full, priv(keygate.Maintainer), authz.RegistryAll, true, ""},
		{"Developer no *", user(alice), full, priv(keygate.Developer), authz.RegistryAll, false, keygate.CodeForbidden},
		{"write_registry alone may not pull", user(alice), push, priv(keygate.Owner), authz.RegistryPull, false, keygate.CodeInsufficientScope},
		{"write_registry alone pushes", user(alice), push, priv(keygate.Developer), authz.RegistryPush, true, ""},
		{"read_registry may not push", user(alice), pull, priv(keygate.Owner), authz.RegistryPush, false, keygate.CodeInsufficientScope},
		{"unknown action", user(alice), full, priv(keygate.Owner), "tag", false, keygate.CodeForbidden},
		{"disabled registry: Owner refused", user(alice), full, target(10, keygate.Public, keygate.Owner, keygate.RegistryDisabled), authz.RegistryPull, false, keygate.CodeForbidden},
		{"disabled registry: admin refused", user(root), full, target(10, keygate.Public, keygate.NoAccess, keygate.RegistryDisabled), authz.RegistryPull, false, keygate.CodeForbidden},
		{"anyone pulls a public project", user(alice), pull, target(10, keygate.Public, keygate.NoAccess, ""), authz.RegistryPull, true, ""},
		{"anonymous pulls a public project", authz.Subject{}, anon, target(10, keygate.Public, keygate.NoAccess, ""), authz.RegistryPull, true, ""},
		{"anonymous may not pull a private project", authz.Subject{}, anon, priv(keygate.NoAccess), authz.RegistryPull, false, keygate.CodeNotFound},
		{"anonymous may not push", authz.Subject{}, anon, target(10, keygate.Public, keygate.NoAccess, ""), authz.RegistryPush, false, keygate.CodeInsufficientScope},
		{"anonymous may not pull an internal project", authz.Subject{}, anon, target(10, keygate.Internal, keygate.NoAccess, ""), authz.RegistryPull, false, keygate.CodeNotFound},
		{"signed-in pulls an internal project", user(alice), pull, target(10, keygate.Internal, keygate.NoAccess, ""), authz.RegistryPull, true, ""},
		{"external user may not pull an internal project", user(ext), pull, target(10, keygate.Internal, keygate.NoAccess, ""), authz.RegistryPull, false, keygate.CodeNotFound},
		{"private registry: non-member refused on a public project", user(alice), pull, target(10, keygate.Public, keygate.Guest, keygate.RegistryPrivate), authz.RegistryPull, false, keygate.CodeForbidden},
		{"private registry: anonymous refused", authz.Subject{}, anon, target(10, keygate.Public, keygate.NoAccess, keygate.RegistryPrivate), authz.RegistryPull, false, keygate.CodeForbidden},
		{"private registry: Reporter pulls", user(alice), pull, target(10, keygate.Public, keygate.Reporter, keygate.RegistryPrivate), authz.RegistryPull, true, ""},
		{"admin pulls and pushes anywhere", user(root), full, priv(keygate.NoAccess), authz.RegistryPush, true, ""},
		{"admin pulls a private registry", user(root), pull, target(10, keygate.Private, keygate.NoAccess, keygate.RegistryPrivate), authz.RegistryPull, true, ""},
		{"job pulls its own project", job, jobAb, priv(keygate.Developer), authz.RegistryPull, true, ""},
		{"job pushes its own project", job, jobAb, priv(keygate.Developer), authz.RegistryPush, true, ""},
		{"job deletes in its own project", job, jobAb, priv(keygate.Developer), authz.RegistryDelete, true, ""},
		{"job never *", job, jobAb, priv(keygate.Owner), authz.RegistryAll, false, keygate.CodeForbidden},
		{"job may not push another project", job, jobAb, target(11, keygate.Private, keygate.Owner, ""), authz.RegistryPush, false, keygate.CodeForbidden},
		{"job may not delete in another project", job, jobAb, target(11, keygate.Public, keygate.Owner, ""), authz.RegistryDelete, false, keygate.CodeForbidden},
		{"job pulls another private project when allowlisted", job, jobAb, allowlisted, authz.RegistryPull, true, ""},
		{"job may not pull another private project unless allowlisted", job, jobAb, target(11, keygate.Private, keygate.Reporter, ""), authz.RegistryPull, false, keygate.CodeForbidden},
		{"job allowlisted but its user a Guest", job, jobAb, func() authz.RegistryTarget { t := allowlisted; t.Resource.Access = keygate.Guest; return t }(), authz.RegistryPull, false, keygate.CodeForbidden},
		{"job pulls another public project", job, jobAb, target(11, keygate.Public, keygate.NoAccess, ""), authz.RegistryPull, true, ""},
		{"job on a disabled registry", job, jobAb, target(10, keygate.Private, keygate.Owner, keygate.RegistryDisabled), authz.RegistryPull, false, keygate.CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := authz.DecideRegistry(tc.sub, tc.ab, tc.t, tc.action)
			if d.Allowed != tc.want || (!tc.want && (d.Code != tc.code || len(d.Reasons) == 0)) {
				t.Errorf("DecideRegistry(%s) = %+v, want allowed %v code %q with reasons", tc.action, d, tc.want, tc.code)
			}
		})
	}
}

func TestRegistryRoleAndScopes(t *testing.T) {
	for a, want := range map[authz.RegistryAction]keygate.AccessLevel{
		authz.RegistryPull: keygate.Reporter, authz.RegistryPush: keygate.Developer,
		authz.RegistryDelete: keygate.Maintainer, authz.RegistryAll: keygate.Maintainer,
	} {
		if got, ok := authz.RegistryRole(a); !ok || got != want {
			t.Errorf("RegistryRole(%s) = %v, %v, want %v", a, got, ok, want)
		}
		if len(authz.RegistryScopesFor(a)) == 0 {
			t.Errorf("RegistryScopesFor(%s) empty", a)
		}
	}
	if _, ok := authz.RegistryRole("tag"); ok {
		t.Error("RegistryRole(tag) ok")
	}
}

func TestCanReadRegistryCatalog(t *testing.T) {
	root := keygate.User{ID: 1, State: keygate.UserActive, Admin: true}
	alice := keygate.User{ID: 2, State: keygate.UserActive}
	for _, tc := range []struct {
		name string
		sub  authz.Subject
		want bool
	}{
		{"admin", gitSubject(root), true},
		{"user", gitSubject(alice), false},
		{"anonymous", authz.Subject{}, false},
		{"admin's job", authz.Subject{User: root, JobProjectID: 3}, false},
		{"admin mode without the scope", authz.Subject{User: root, Token: &keygate.Token{Scopes: keygate.Scopes{keygate.ScopeAPI}}, AdminMode: true}, false},
	} {
		if got := authz.CanReadRegistryCatalog(tc.sub); got != tc.want {
			t.Errorf("CanReadRegistryCatalog(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
