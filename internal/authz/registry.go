package authz

import (
	"strings"

	"github.com/keygate/keygate"
)

// RegistryAction is an action of a container registry scope (distribution's token
// spec): pull, push, delete, or "*" for all of them.
type RegistryAction string

// The registry actions GitLab grants.
const (
	RegistryPull   RegistryAction = "pull"
	RegistryPush   RegistryAction = "push"
	RegistryDelete RegistryAction = "delete"
	RegistryAll    RegistryAction = "*"
)

// RegistryAbilities are what a credential itself permits on the container registry,
// before any role is considered (GitLab's authentication abilities read_container_image,
// create_container_image and admin_container_image). Fine-grained tokens fill them from
// their permissions on the project instead of scopes (GranularRegistryAbilities); the
// decision below does not change, only its denial reasons.
type RegistryAbilities struct {
	Pull  bool
	Push  bool
	Admin bool // delete and "*"
	// Granular marks a fine-grained grant (or a legacy token held to the fine-grained
	// checks by its group): denials name the missing permission instead of scopes.
	Granular bool
}

// Any reports whether the credential may log in to the registry at all (GitLab's
// has_registry_ability?). The gate is open to every fine-grained token: what it may
// do is decided per project, from its grant there.
func (a RegistryAbilities) Any() bool { return a.Pull || a.Push || a.Admin || a.Granular }

// The fine-grained permissions of the container registry (spec of fine-grained tokens
// §3.5). There is none for push: fine-grained tokens never push images.
const (
	PermReadContainerRepository   = "read_container_repository"
	PermDeleteContainerRepository = "delete_container_repository"
)

// TokenRegistryAbilities are what a token permits on the registry before any project is
// known: its scopes' abilities, or for a fine-grained token the open gate alone.
func TokenRegistryAbilities(t keygate.Token) RegistryAbilities {
	if t.Granular {
		return RegistryAbilities{Granular: true}
	}
	return RegistryAbilitiesFor(t.Scopes)
}

// GranularRegistryAbilities are a fine-grained token's registry abilities on project
// boundary b: pull with read_container_repository, delete with
// delete_container_repository, where the user is a member; never push, so never "*"
// either. A legacy token held to the checks by its group's policy has none.
func GranularRegistryAbilities(s Subject, b Boundary) RegistryAbilities {
	var scopes []keygate.GranularScope
	if s.Token != nil && s.Token.Granular {
		scopes = s.Token.GranularScopes
	}
	has := func(p string) bool { return len(missingPermissions(s, scopes, []string{p}, b)) == 0 }
	return RegistryAbilities{Pull: has(PermReadContainerRepository), Admin: has(PermDeleteContainerRepository), Granular: true}
}

// RegistryPermission is the fine-grained permission an action needs; ok is false for
// push and "*", which no permission allows.
func RegistryPermission(a RegistryAction) (perm string, ok bool) {
	switch a {
	case RegistryPull:
		return PermReadContainerRepository, true
	case RegistryDelete:
		return PermDeleteContainerRepository, true
	}
	return "", false
}

// RegistryUseRoute is how a granted registry action is recorded among a token's
// permission uses (for the least-privilege advice), like GitUseRoute for Git.
func RegistryUseRoute(a RegistryAction) string { return "REGISTRY " + string(a) }

// RegistryAbilitiesFor maps token scopes to registry abilities (Gitlab::Auth
// abilities_for_scopes): api pulls, pushes and deletes; read_api and read_registry pull;
// write_registry pushes. Other scopes give none.
func RegistryAbilitiesFor(scopes keygate.Scopes) RegistryAbilities {
	var a RegistryAbilities
	for _, s := range scopes {
		switch s {
		case keygate.ScopeAPI:
			a.Pull, a.Push, a.Admin = true, true, true
		case keygate.ScopeReadAPI, keygate.ScopeReadRegistry:
			a.Pull = true
		case keygate.ScopeWriteRegistry:
			a.Push = true
		}
	}
	return a
}

// AnonymousRegistryAbilities are an anonymous caller's (GitLab's read-only abilities):
// pulling public images.
func AnonymousRegistryAbilities() RegistryAbilities { return RegistryAbilities{Pull: true} }

// JobRegistryAbilities are a CI/CD job token's (GitLab's build_* abilities).
func JobRegistryAbilities() RegistryAbilities {
	return RegistryAbilities{Pull: true, Push: true, Admin: true}
}

// RegistryScopesFor lists the token scopes that carry the ability an action needs, for
// explanations (can_i).
func RegistryScopesFor(a RegistryAction) []string {
	switch a {
	case RegistryPull:
		return []string{string(keygate.ScopeReadRegistry), string(keygate.ScopeReadAPI), string(keygate.ScopeAPI)}
	case RegistryPush:
		return []string{string(keygate.ScopeWriteRegistry), string(keygate.ScopeAPI)}
	case RegistryDelete, RegistryAll:
		return []string{string(keygate.ScopeAPI)}
	}
	return nil
}

// RegistryRole is the least project role an action needs (Reporter pull, Developer push,
// Maintainer delete and "*"); ok is false for an unknown action.
func RegistryRole(a RegistryAction) (keygate.AccessLevel, bool) {
	switch a {
	case RegistryPull:
		return keygate.Reporter, true
	case RegistryPush:
		return keygate.Developer, true
	case RegistryDelete, RegistryAll:
		return keygate.Maintainer, true
	}
	return 0, false
}

// RegistryTarget is the project a repository scope names, as the decision needs it.
type RegistryTarget struct {
	// Resource is the project with the subject's effective access on it.
	Resource Resource
	// Level is the project's container_registry_access_level ("" is enabled).
	Level keygate.RegistryAccessLevel
	// JobAllowlisted is set for a job token on another project whose inbound allowlist
	// names the job's project (or a group above it).
	JobAllowlisted bool
}

// DecideRegistry judges one action of a repository scope for a subject whose credential
// carries ab (GitLab's ContainerRegistryAuthenticationService#can_access?): the
// project's registry must be on, then the credential's ability and the role must both
// allow it. Job tokens (Subject.JobProjectID) pull from their own project, and from
// another one their user may pull from if it is public or internal or its allowlist
// names the job's project; they push and delete only in their own project, never "*".
func DecideRegistry(s Subject, ab RegistryAbilities, t RegistryTarget, a RegistryAction) Decision {
	need, ok := RegistryRole(a)
	if !ok {
		return registryDenied(keygate.CodeForbidden, "unknown registry action "+string(a))
	}
	if t.Level.Or() == keygate.RegistryDisabled {
		return registryDenied(keygate.CodeForbidden, "the project's container registry is disabled")
	}
	r := t.Resource
	if s.JobProjectID != 0 {
		return decideJobRegistry(s, t, a)
	}
	if !registryAbility(ab, a) {
		if ab.Granular {
			return granularRegistryDenied(s, r, a)
		}
		return Decision{Status: 403, Code: keygate.CodeInsufficientScope, Reasons: []string{
			"the credential's scopes do not allow " + string(a) + " (it needs one of: " + strings.Join(RegistryScopesFor(a), ", ") + ")"}}
	}
	if a == RegistryPull {
		if canPullImages(s, t) {
			return allow()
		}
		if !CanRead(s, r) {
			return Decision{Status: 404, Code: keygate.CodeNotFound, Reasons: []string{"the project does not exist or you cannot see it"}}
		}
		if t.Level.Or() == keygate.RegistryPrivate {
			return registryDenied(keygate.CodeForbidden, "the project's container registry is open to its members only: pulling needs the Reporter role or higher; you have "+levelName(r.Access))
		}
		return registryDenied(keygate.CodeForbidden, "pulling images of a private project needs the Reporter role or higher; you have "+levelName(r.Access))
	}
	if s.Admin() || r.Access >= need {
		return allow()
	}
	if !CanRead(s, r) {
		return Decision{Status: 404, Code: keygate.CodeNotFound, Reasons: []string{"the project does not exist or you cannot see it"}}
	}
	return registryDenied(keygate.CodeForbidden, string(a)+" needs the "+need.String()+" role or higher; you have "+levelName(r.Access))
}

func decideJobRegistry(s Subject, t RegistryTarget, a RegistryAction) Decision {
	own := t.Resource.ID == s.JobProjectID
	switch a {
	case RegistryPull:
		if own {
			return allow()
		}
		r := t.Resource
		if !(r.Visibility == keygate.Public || r.Visibility == keygate.Internal || t.JobAllowlisted) {
			return registryDenied(keygate.CodeForbidden, "the project's CI/CD job token allowlist does not name the job's project")
		}
		if !canPullImages(s, t) {
			return registryDenied(keygate.CodeForbidden, "the job's user may not pull images of this project")
		}
		return allow()
	case RegistryPush, RegistryDelete:
		if own {
			return allow()
		}
		return registryDenied(keygate.CodeForbidden, "a CI/CD job token may "+string(a)+" only in its own project")
	}
	return registryDenied(keygate.CodeForbidden, "a CI/CD job token is never granted \"*\"")
}

// canPullImages is GitLab's read_container_image on the project for the subject: with
// the registry enabled, whoever can read the code of the project (Reporter on a private
// one, anyone on a public one, signed-in non-external users on an internal one); with
// it private, Reporters and above only. Administrators always.
func canPullImages(s Subject, t RegistryTarget) bool {
	r := t.Resource
	if s.Admin() {
		return true
	}
	if t.Level.Or() == keygate.RegistryPrivate {
		return r.Access >= keygate.Reporter
	}
	return CanReadCode(s, r)
}

func registryAbility(ab RegistryAbilities, a RegistryAction) bool {
	switch a {
	case RegistryPull:
		return ab.Pull
	case RegistryPush:
		return ab.Push
	case RegistryAll:
		// "*" implies push: a fine-grained grant, which cannot push, never gets it.
		return ab.Admin && !ab.Granular
	}
	return ab.Admin
}

// granularRegistryDenied explains a fine-grained refusal in the engine's terms (spec
// §3.2): a project the subject cannot see is 404 before anything that depends on the
// grant; push and "*" have no permission at all; otherwise the missing permission (or
// membership) on the project.
func granularRegistryDenied(s Subject, r Resource, a RegistryAction) Decision {
	if !CanRead(s, r) {
		return Decision{Status: 404, Code: keygate.CodeNotFound, Reasons: []string{"the project does not exist or you cannot see it"}}
	}
	perm, ok := RegistryPermission(a)
	if !ok {
		return Decision{Status: 403, Code: keygate.CodeInsufficientGranularScope, Reasons: []string{
			"fine-grained tokens cannot " + registryVerb(a) + ": no fine-grained permission allows pushing images (use a legacy token with write_registry)"}}
	}
	var scopes []keygate.GranularScope
	if s.Token != nil && s.Token.Granular {
		scopes = s.Token.GranularScopes
	}
	b := Boundary{Kind: BoundaryProject, Found: true, ID: r.ID, Access: r.Access, Readable: true}
	return Decision{Status: 403, Code: keygate.CodeInsufficientGranularScope,
		Message: GranularMessage(BoundaryProject, []string{perm}),
		Reasons: granularReasons(s, scopes, []string{perm}, b, true)}
}

func registryVerb(a RegistryAction) string {
	if a == RegistryAll {
		return "be granted \"*\" (it implies push)"
	}
	return string(a)
}

func registryDenied(code keygate.Code, reason string) Decision {
	return Decision{Status: 403, Code: code, Reasons: []string{reason}}
}

// CanReadRegistryCatalog reports whether the subject may list every repository
// (registry:catalog:*): administrators only, never a job, never a fine-grained token (no
// permission reaches the whole registry).
func CanReadRegistryCatalog(s Subject) bool {
	return s.Authenticated() && s.JobProjectID == 0 && s.Admin() && !(s.Token != nil && s.Token.Granular)
}
