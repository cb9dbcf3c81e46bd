package api

import (
	"context"
	"net/http"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// Fine-grained enforcement: the route's FineRule judged by authz.DecideGranular on the
// boundary the rule names, where the scope check already ran (wrap) or, for routes on
// their {id} project or group, where resolve has loaded it with the caller's access
// (the same indexed lookup gives the ancestor chain).

// onResource reports whether a rule's boundary is a project or group.
func onResource(f authz.FineRule) bool {
	return f.Boundary == authz.BoundaryProject || f.Boundary == authz.BoundaryGroup
}

// boundaryFor resolves a rule's boundary for sub: user and instance always; a project
// or group from its path value (not found: Found false).
func (a *API) boundaryFor(ctx context.Context, sub authz.Subject, f authz.FineRule, ref string) (authz.Boundary, error) {
	switch f.Boundary {
	case authz.BoundaryProject:
		p, err := a.svc.Project(ctx, ref)
		if keygate.ErrorCode(err) == keygate.CodeNotFound {
			return authz.Boundary{Kind: f.Boundary}, nil
		}
		if err != nil {
			return authz.Boundary{}, err
		}
		res, err := a.svc.ProjectAccess(ctx, sub, p)
		if err != nil {
			return authz.Boundary{}, err
		}
		return authz.ProjectBoundary(sub, p, res), nil
	case authz.BoundaryGroup:
		g, err := a.svc.Group(ctx, ref)
		if keygate.ErrorCode(err) == keygate.CodeNotFound {
			return authz.Boundary{Kind: f.Boundary}, nil
		}
		if err != nil {
			return authz.Boundary{}, err
		}
		res, err := a.svc.GroupAccess(ctx, sub, g)
		if err != nil {
			return authz.Boundary{}, err
		}
		return authz.GroupBoundary(sub, g, res), nil
	}
	return authz.Boundary{Kind: f.Boundary, Found: true}, nil
}

// decideFine judges sub under f on b, with the top-level group's policy.
func (a *API) decideFine(ctx context.Context, sub authz.Subject, f authz.FineRule, b authz.Boundary) (authz.Decision, error) {
	enforced, err := a.svc.GranularEnforced(ctx, sub, b.Namespaces)
	if err != nil {
		return authz.Decision{}, err
	}
	return authz.DecideGranular(sub, f, b, enforced), nil
}

// fineCheck enforces rt.Fine for a token caller. b is the boundary resolve already built;
// nil resolves it here. An allowed use is recorded off the request path.
func (a *API) fineCheck(r *http.Request, c *call, rt Route, b *authz.Boundary) error {
	if c.principal == nil || c.job != nil || c.subject.Token == nil {
		return nil
	}
	ctx := r.Context()
	if b == nil {
		nb, err := a.boundaryFor(ctx, c.subject, rt.Fine, r.PathValue(rt.Fine.Param))
		if err != nil {
			return err
		}
		b = &nb
	}
	d, err := a.decideFine(ctx, c.subject, rt.Fine, *b)
	if err != nil {
		return err
	}
	if !d.Allowed {
		if d.Code == keygate.CodeInsufficientGranularScope {
			a.observe("insufficient_granular_scope")
		}
		return denial(d)
	}
	if len(rt.Fine.Permissions) > 0 {
		a.svc.RecordPermissionUse(c.subject.Token.ID, rt.key, *b)
	}
	return nil
}

// resourceBoundary is the boundary resolve loaded, when the rule is on it.
func resourceBoundary(c *call, rt Route) (authz.Boundary, bool) {
	switch {
	case rt.Kind == authz.KindProject && rt.Fine.Boundary == authz.BoundaryProject:
		return authz.ProjectBoundary(c.subject, c.project, c.res), true
	case rt.Kind == authz.KindGroup && rt.Fine.Boundary == authz.BoundaryGroup:
		return authz.GroupBoundary(c.subject, c.group, c.res), true
	}
	return authz.Boundary{}, false
}

// insufficientGranular is the API guard's answer to a fine-grained denial (spec §3.3).
func insufficientGranular(msg string) *apiError {
	return &apiError{status: 403, body: map[string]any{"error": "insufficient_granular_scope", "error_description": msg}}
}

// granularErr renders the service's fine-grained refusals: escalation is 403 with its
// message, grant validation a 400 with its message.
func granularErr(err error) error {
	ke, ok := err.(*keygate.Error)
	if !ok {
		return err
	}
	switch {
	case ke.Code == keygate.CodeForbidden && ke.Message == authz.MsgGranularEscalation:
		return message(403, ke.Message)
	case ke.Code == keygate.CodeInvalid && (ke.Field == "granular_scopes" || ke.Field == "scopes" && ke.Message == service.MsgLegacyEnforced):
		return message(400, ke.Message)
	}
	return err
}

// requiredPermissionJSON names one permission a route needs, for can_i.
type requiredPermissionJSON struct {
	Permission string `json:"permission"`
	Label      string `json:"label"`
	Boundary   string `json:"boundary_type"`
}

func requiredPermissions(f authz.FineRule) []requiredPermissionJSON {
	out := make([]requiredPermissionJSON, len(f.Permissions))
	for i, p := range f.Permissions {
		out[i] = requiredPermissionJSON{Permission: p, Label: authz.PermissionLabel(p), Boundary: string(f.Boundary)}
	}
	return out
}

// canIFine is the fine-grained decision can_i reports, as the route would make it; a
// lookup that fails counts as not found, as in decideOn.
func (a *API) canIFine(ctx context.Context, c *call, rt Route, ref string) authz.Decision {
	if c.principal == nil || c.subject.Token == nil {
		return authz.Decision{Allowed: true, Status: 200}
	}
	b, err := a.boundaryFor(ctx, c.subject, rt.Fine, ref)
	if err != nil {
		return authz.Decision{Status: 404, Code: keygate.CodeNotFound}
	}
	d, err := a.decideFine(ctx, c.subject, rt.Fine, b)
	if err != nil {
		return authz.Decision{Status: 404, Code: keygate.CodeNotFound}
	}
	return d
}
