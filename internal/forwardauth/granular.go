package forwardauth

import (
	"slices"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

// Fine-grained tokens at the gate (docs/gate.md): such a token's only scope is
// "granular", so scopes_any never judges it; a service's permissions do, on its
// member_of project or group, or without member_of on the user boundary. Legacy tokens
// are judged by scopes alone.

// fineScopes is the scope list a fine-grained token reports (GitLab stores
// scopes: ["granular"]).
var fineScopes = keygate.Scopes{keygate.ScopeGranular}

// userBoundary is where a service without member_of checks its permissions.
var userBoundary = authz.Boundary{Kind: authz.BoundaryUser, Found: true, Readable: true}

// fineGrained reports a fine-grained token (never a CI/CD job token).
func (id *identity) fineGrained() bool {
	return id.job == nil && id.subject.Token != nil && id.subject.Token.Granular
}

// noPermissionsReason explains why a service with scopes_any and no permissions refuses
// every fine-grained token.
func noPermissionsReason(req Require) string {
	return "this service does not accept fine-grained tokens: it requires one of the scopes " +
		req.ScopesAny.String() + ", which judge legacy tokens only, and declares no permissions"
}

// missingPermissions is nil when the token's grant holds every permission of the
// service on b; otherwise the explanation, naming the missing permissions by their
// labels ("[Project: Read]") and, per permission, what the decision engine found. Each
// permission is decided on its own by the API's engine (matching selected groups
// through b's ancestors, all_memberships, personal_projects, membership), so the list
// names exactly what is missing.
func missingPermissions(sub authz.Subject, req Require, b authz.Boundary) []string {
	var labels, details []string
	for _, p := range req.Permissions {
		d := authz.DecideGranular(sub, authz.FineRule{Permissions: []string{p}, Boundary: b.Kind}, b, false)
		if d.Allowed {
			continue
		}
		labels = append(labels, authz.PermissionLabel(p))
		details = append(details, d.Reasons...)
	}
	if labels == nil {
		return nil
	}
	slices.Sort(labels)
	where := "the user level"
	if b.Kind != authz.BoundaryUser {
		where = string(b.Kind) + " " + req.MemberOf
	}
	return append([]string{"the fine-grained token lacks permissions on " + where + ": [" + strings.Join(labels, ", ") + "]"}, details...)
}
