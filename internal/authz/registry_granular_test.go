package authz_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

func TestTokenRegistryAbilities(t *testing.T) {
	legacy := keygate.Token{Scopes: keygate.Scopes{keygate.ScopeReadRegistry}}
	if got := authz.TokenRegistryAbilities(legacy); got != (authz.RegistryAbilities{Pull: true}) {
		t.Errorf("legacy read_registry = %+v, want pull only", got)
	}
	fine := keygate.Token{Granular: true, Scopes: keygate.Scopes{keygate.ScopeGranular}}
	got := authz.TokenRegistryAbilities(fine)
	if got != (authz.RegistryAbilities{Granular: true}) || !got.Any() {
		t.Errorf("fine-grained = %+v (Any %v), want the open gate and no ability", got, got.Any())
	}
}

func TestGranularRegistryAbilities(t *testing.T) {
	read := []string{authz.PermReadContainerRepository}
	both := []string{authz.PermReadContainerRepository, authz.PermDeleteContainerRepository}
	member := func(b authz.Boundary, l keygate.AccessLevel) authz.Boundary { b.Access = l; return b }
	for _, tc := range []struct {
		name string
		sub  authz.Subject
		b    authz.Boundary
		want authz.RegistryAbilities
	}{
		{"read on the project", fineSubject(false, sel(read, 50, 0)), proj50, authz.RegistryAbilities{Pull: true, Granular: true}},
		{"read on the top group above", fineSubject(false, sel(read, 0, 1)), proj50, authz.RegistryAbilities{Pull: true, Granular: true}},
		{"read on the subgroup above", fineSubject(false, sel(read, 0, 5)), proj50, authz.RegistryAbilities{Pull: true, Granular: true}},
		{"all memberships", fineSubject(false, keygate.GranularScope{Access: keygate.AccessAllMemberships, Permissions: both}), proj50,
			authz.RegistryAbilities{Pull: true, Admin: true, Granular: true}},
		{"personal projects", fineSubject(false, keygate.GranularScope{Access: keygate.AccessPersonalProjects, NamespaceID: 7, Permissions: read}), proj70,
			authz.RegistryAbilities{Pull: true, Granular: true}},
		{"personal projects do not reach a group's project", fineSubject(false, keygate.GranularScope{Access: keygate.AccessPersonalProjects, NamespaceID: 7, Permissions: read}), proj50,
			authz.RegistryAbilities{Granular: true}},
		{"read and delete, never push", fineSubject(false, sel(both, 50, 0)), proj50, authz.RegistryAbilities{Pull: true, Admin: true, Granular: true}},
		{"another project", fineSubject(false, sel(both, 60, 0)), proj50, authz.RegistryAbilities{Granular: true}},
		{"another group", fineSubject(false, sel(both, 0, 2)), proj50, authz.RegistryAbilities{Granular: true}},
		{"unrelated permission", fineSubject(false, sel([]string{"download_code", "push_code"}, 50, 0)), proj50, authz.RegistryAbilities{Granular: true}},
		{"not a member", fineSubject(false, sel(both, 50, 0)), member(proj50, keygate.NoAccess), authz.RegistryAbilities{Granular: true}},
		{"administrator without membership", fineSubject(true, sel(read, 50, 0)), member(proj50, keygate.NoAccess), authz.RegistryAbilities{Pull: true, Granular: true}},
		{"legacy token under enforcement", gitSubject(keygate.User{ID: 2, Type: keygate.UserHuman}), proj50, authz.RegistryAbilities{Granular: true}},
	} {
		if got := authz.GranularRegistryAbilities(tc.sub, tc.b); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestDecideRegistryGranular(t *testing.T) {
	both := []string{authz.PermReadContainerRepository, authz.PermDeleteContainerRepository}
	sub := fineSubject(false, sel(both, 50, 0))
	full := authz.RegistryAbilities{Pull: true, Admin: true, Granular: true}
	none := authz.RegistryAbilities{Granular: true}
	target := func(access keygate.AccessLevel, vis keygate.Visibility) authz.RegistryTarget {
		return authz.RegistryTarget{Resource: authz.Resource{Kind: authz.KindProject, ID: 50, Visibility: vis, Access: access}}
	}
	for _, tc := range []struct {
		name   string
		ab     authz.RegistryAbilities
		t      authz.RegistryTarget
		action authz.RegistryAction
		code   keygate.Code // "" allowed
		reason string       // part of the first reason
	}{
		{"Reporter pulls", full, target(keygate.Reporter, keygate.Private), authz.RegistryPull, "", ""},
		{"Guest of a private project may not pull, permission or not", full, target(keygate.Guest, keygate.Private), authz.RegistryPull, keygate.CodeForbidden, "Reporter"},
		{"Maintainer deletes", full, target(keygate.Maintainer, keygate.Private), authz.RegistryDelete, "", ""},
		{"Developer may not delete, permission or not", full, target(keygate.Developer, keygate.Private), authz.RegistryDelete, keygate.CodeForbidden, "Maintainer"},
		{"never push, even as Owner with both permissions", full, target(keygate.Owner, keygate.Private), authz.RegistryPush, keygate.CodeInsufficientGranularScope, "no fine-grained permission allows pushing"},
		{"never *, even as Owner with both permissions", full, target(keygate.Owner, keygate.Private), authz.RegistryAll, keygate.CodeInsufficientGranularScope, "implies push"},
		{"no read permission", none, target(keygate.Owner, keygate.Private), authz.RegistryPull, keygate.CodeInsufficientGranularScope, "missing permission: read_container_repository (Container Repository: Read) on the project"},
		{"no delete permission", none, target(keygate.Owner, keygate.Private), authz.RegistryDelete, keygate.CodeInsufficientGranularScope, "missing permission: delete_container_repository"},
		{"unseen project: 404 before the grant", none, target(keygate.NoAccess, keygate.Private), authz.RegistryPull, keygate.CodeNotFound, "cannot see"},
		{"non-member of a public project", none, target(keygate.NoAccess, keygate.Public), authz.RegistryPull, keygate.CodeInsufficientGranularScope, "not a member"},
	} {
		d := authz.DecideRegistry(sub, tc.ab, tc.t, tc.action)
		if d.Allowed != (tc.code == "") || (tc.code != "" && d.Code != tc.code) {
			t.Errorf("%s: allowed %v code %q %v, want code %q", tc.name, d.Allowed, d.Code, d.Reasons, tc.code)
			continue
		}
		if tc.reason != "" && !slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, tc.reason) }) {
			t.Errorf("%s: reasons %q, want one containing %q", tc.name, d.Reasons, tc.reason)
		}
	}
	d := authz.DecideRegistry(sub, none, target(keygate.Owner, keygate.Private), authz.RegistryPull)
	if want := "This operation requires a fine-grained personal access token with the following project permissions: [Container Repository: Read]."; d.Message != want {
		t.Errorf("message = %q, want %q", d.Message, want)
	}
}

func TestRegistryPermission(t *testing.T) {
	for a, want := range map[authz.RegistryAction]string{authz.RegistryPull: authz.PermReadContainerRepository, authz.RegistryDelete: authz.PermDeleteContainerRepository,
		authz.RegistryPush: "", authz.RegistryAll: ""} {
		got, ok := authz.RegistryPermission(a)
		if got != want || ok != (want != "") {
			t.Errorf("RegistryPermission(%s) = %q, %v, want %q", a, got, ok, want)
		}
		if want == "" {
			continue
		}
		p, ok := authz.LookupPermission(want)
		if !ok || !slices.Equal(p.Boundaries, []authz.BoundaryKind{authz.BoundaryGroup, authz.BoundaryProject}) || !strings.HasPrefix(p.Outside, "Registry: ") {
			t.Errorf("catalogue entry of %s = %+v, %v, want group and project boundaries, outside the API on the registry", want, p, ok)
		}
	}
}

func TestRegistryCatalogNotForFineGrained(t *testing.T) {
	admin := fineSubject(true, keygate.GranularScope{Access: keygate.AccessInstance, Permissions: []string{"read_user"}})
	if authz.CanReadRegistryCatalog(admin) {
		t.Error("a fine-grained token of an administrator lists the registry catalog")
	}
}
