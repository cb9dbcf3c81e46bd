package api

import (
	"net/http"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/registryauth"
)

// registryPathPrefix marks a can_i question about the container registry (Keygate
// extension): method=PUSH&path=registry:group/project/image.
const registryPathPrefix = "registry:"

// canIRegistry answers can_i for a registry action on a repository (or, for "*" on
// registry:catalog, the catalog): what /jwt/auth would grant the calling token, with the
// scopes and the role that would allow it (for a fine-grained token, the permission
// instead of scopes: pull and delete have one, push none). Status is 200 when allowed, 403 when the
// credential or the role falls short, 404 when no project the caller can see holds the
// repository or the registry is off.
func (a *API) canIRegistry(w http.ResponseWriter, r *http.Request, c *call, method, name string) error {
	act := authz.RegistryAction(strings.ToLower(method))
	if _, ok := authz.RegistryRole(act); !ok {
		return paramError("method must be PULL, PUSH, DELETE or * for a registry path")
	}
	out := CanIAnswer{Route: "registry " + registryauth.TypeRepository + ":" + name + ":" + string(act), Reasons: []string{},
		RequiredScopes: authz.RegistryScopesFor(act)}
	lvl, _ := authz.RegistryRole(act)
	out.RequiredRole = &CanIRole{AccessLevel: int(lvl), Name: lvl.String()}
	var ab authz.RegistryAbilities
	if c.subject.Token != nil {
		ab = authz.TokenRegistryAbilities(*c.subject.Token)
	}
	granular := func() {
		out.RequiredScopes, out.RequiredPermissions = nil, nil
		if perm, ok := authz.RegistryPermission(act); ok {
			out.RequiredPermissions = []requiredPermissionJSON{{Permission: perm, Label: authz.PermissionLabel(perm), Boundary: string(authz.BoundaryProject)}}
		}
	}
	if ab.Granular {
		granular()
	}
	deny := func(status int, reasons ...string) error {
		out.Status, out.Reasons = status, append(out.Reasons, reasons...)
		writeJSON(w, 200, out)
		return nil
	}
	if a.registry == "" {
		return deny(404, "the container registry is not enabled on this instance")
	}
	if name == "catalog" && act == authz.RegistryAll {
		out.Route, out.RequiredRole = "registry registry:catalog:*", nil
		if !authz.CanReadRegistryCatalog(c.subject) {
			if ab.Granular {
				return deny(403, "listing the registry catalog is for administrators' legacy tokens: no fine-grained permission reaches the whole registry")
			}
			return deny(403, "listing the registry catalog is for administrators")
		}
		out.Allowed, out.Status = true, 200
		writeJSON(w, 200, out)
		return nil
	}
	norm, ok := registryauth.RepositoryName(name)
	if !ok {
		return deny(404, "not a container repository name: lower-case letters, digits and separators, two to 19 segments under a project's path")
	}
	out.Route = "registry " + registryauth.TypeRepository + ":" + norm + ":" + string(act)
	if !ab.Any() {
		return deny(403, "the token's scopes ("+c.subject.Token.Scopes.String()+") give no container registry access: "+
			"/jwt/auth answers 403 access forbidden")
	}
	caller := registryauth.Caller{Subject: c.subject, Abilities: ab}
	t, found, err := registryauth.Authorizer{Service: a.svc}.Resolve(r.Context(), caller, norm)
	if err != nil {
		return err
	}
	if !found {
		return deny(404, "the resource does not exist or you cannot see it")
	}
	if t.Abilities.Granular {
		granular()
	}
	d := authz.DecideRegistry(c.subject, t.Abilities, t.Authz, act)
	if !d.Allowed {
		if d.Code == keygate.CodeNotFound {
			return deny(404, "the resource does not exist or you cannot see it")
		}
		return deny(403, d.Reasons...)
	}
	out.Allowed, out.Status = true, 200
	writeJSON(w, 200, out)
	return nil
}
