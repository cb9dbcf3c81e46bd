package registryauth

import (
	"context"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// Caller is a /jwt/auth client as judged: who (the zero Subject is anonymous), what the
// credential permits, and for job tokens the job.
type Caller struct {
	Subject   authz.Subject
	Abilities authz.RegistryAbilities
	// Job is set for a CI/CD job token.
	Job *service.JobPrincipal
	// Username is the JWT's sub ("" for anonymous).
	Username string
	// TokenID names the credential in the access log; 0 for none.
	TokenID int64
	// Fingerprint is the token's audit fingerprint ("" for anonymous).
	Fingerprint string
}

// Anonymous is a caller without credentials: it may pull public images.
func Anonymous() Caller { return Caller{Abilities: authz.AnonymousRegistryAbilities()} }

// Authenticated reports whether the caller signed in (a user or a job).
func (c Caller) Authenticated() bool { return c.Subject.Authenticated() }

// Authorizer grants scopes: it finds the project a repository name belongs to and asks
// authz.DecideRegistry about each action.
type Authorizer struct {
	Service *service.Service
	// cache, when set (the Handler's), remembers resolved names; nil asks the store.
	cache *targetCache
}

// Target is the project a repository name resolved to, with what the decision needs.
type Target struct {
	Project keygate.Project
	Authz   authz.RegistryTarget
	// Abilities are the caller's on this project: the credential's, or for a
	// fine-grained token (or a legacy one under a group enforcing them) its grant here.
	Abilities authz.RegistryAbilities
}

// Resolve finds the project of a normalised repository name: the longest of its
// ProjectCandidates that is a project, in one store lookup. found is false when none is.
func (a Authorizer) Resolve(ctx context.Context, c Caller, name string) (t Target, found bool, err error) {
	r, err := a.lookup(ctx, c, name)
	if err != nil || !r.found {
		return Target{}, false, err
	}
	p := r.project
	t = Target{Project: p, Authz: authz.RegistryTarget{Resource: r.res, Level: p.ContainerRegistryAccessLevel, JobAllowlisted: r.jobAllowlisted}}
	t.Abilities = projectAbilities(c, p, r)
	return t, true, nil
}

// projectAbilities applies the fine-grained checks (spec of fine-grained tokens §3.5,
// §5): a fine-grained token's abilities on p come from its grant on p's boundary, and a
// legacy token of a human under a top-level group enforcing fine-grained tokens is held
// to the same checks, which it cannot pass. Anyone else keeps the credential's.
func projectAbilities(c Caller, p keygate.Project, r resolved) authz.RegistryAbilities {
	s := c.Subject
	if s.Token == nil || c.Job != nil || !authz.GranularApplies(s, r.enforced) {
		return c.Abilities
	}
	return authz.GranularRegistryAbilities(s, authz.ProjectBoundary(s, p, r.res))
}

// Grant judges one scope: the access to put in the token, or ok false when nothing of
// it is granted (GitLab leaves such a scope out of the token). Requested actions are
// kept in their order, each granted on its own.
func (a Authorizer) Grant(ctx context.Context, c Caller, sc Scope) (Access, bool, error) {
	switch sc.Type {
	case TypeRegistry:
		if sc.Name == "catalog" && len(sc.Actions) == 1 && sc.Actions[0] == string(authz.RegistryAll) && authz.CanReadRegistryCatalog(c.Subject) {
			return Access{Type: TypeRegistry, Name: "catalog", Actions: []string{string(authz.RegistryAll)}}, true, nil
		}
		return Access{}, false, nil
	case TypeRepository:
	default:
		return Access{}, false, nil
	}
	name, ok := RepositoryName(sc.Name)
	if !ok {
		return Access{}, false, nil
	}
	t, found, err := a.Resolve(ctx, c, name)
	if err != nil || !found {
		return Access{}, false, err
	}
	var granted []string
	for _, act := range sc.Actions {
		if authz.DecideRegistry(c.Subject, t.Abilities, t.Authz, authz.RegistryAction(act)).Allowed {
			granted = append(granted, act)
		}
	}
	if len(granted) == 0 {
		return Access{}, false, nil
	}
	a.recordUses(c, t, granted)
	return Access{Type: TypeRepository, Name: name, Actions: granted}, true, nil
}

// recordUses counts, for a token's least-privilege advice, the granted actions a
// fine-grained permission covers (pull, delete), on the project's boundary, as API routes
// and Git operations are counted. Push has no permission, so no fine-grained grant could
// be suggested for it.
func (a Authorizer) recordUses(c Caller, t Target, granted []string) {
	s := c.Subject
	if s.Token == nil || c.Job != nil || a.Service == nil {
		return
	}
	b := authz.ProjectBoundary(s, t.Project, t.Authz.Resource)
	for _, act := range granted {
		if _, ok := authz.RegistryPermission(authz.RegistryAction(act)); ok {
			a.Service.RecordPermissionUse(s.Token.ID, authz.RegistryUseRoute(authz.RegistryAction(act)), b)
		}
	}
}
