package keygate

import (
	"fmt"
	"time"
)

// GranularAccess is what a fine-grained token scope covers (GitLab's granular scope
// access enum: personal_projects=0, all_memberships=1, selected_memberships=2, user=3,
// instance=4).
type GranularAccess string

// The five access values of a fine-grained scope.
const (
	AccessPersonalProjects    GranularAccess = "personal_projects"
	AccessAllMemberships      GranularAccess = "all_memberships"
	AccessSelectedMemberships GranularAccess = "selected_memberships"
	AccessUser                GranularAccess = "user"
	AccessInstance            GranularAccess = "instance"
)

// GranularAccesses lists the access values in GitLab's enum order.
var GranularAccesses = []GranularAccess{
	AccessPersonalProjects, AccessAllMemberships, AccessSelectedMemberships, AccessUser, AccessInstance,
}

// ParseGranularAccess reads an access value.
func ParseGranularAccess(s string) (GranularAccess, error) {
	for _, a := range GranularAccesses {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown access %q", s)
}

// GranularScope is one stored scope of a fine-grained token: an access value, the
// assignable permissions it grants, and for selected_memberships the one project or group
// it names (for personal_projects, the owner's personal namespace).
type GranularScope struct {
	Access      GranularAccess
	Permissions []string
	// ProjectID is set for a selected_memberships scope on one project.
	ProjectID int64
	// GroupID is set for a selected_memberships scope on a group (and its descendants).
	GroupID int64
	// NamespaceID is the personal namespace of a personal_projects scope.
	NamespaceID int64
}

// ScopeGranular is the one legacy scope a fine-grained token reports (GitLab stores
// scopes: ["granular"]). It is never accepted as input.
const ScopeGranular Scope = "granular"

// GranularEnforcement is the "fine-grained tokens only" policy of an instance or a
// top-level group (GitLab's enforce_granular_tokens and granular_tokens_enforced_after).
type GranularEnforcement struct {
	Enforce bool
	// After is the first UTC date on which the policy holds; nil means at once.
	After *Date
}

// Active reports whether the policy holds at now.
func (e GranularEnforcement) Active(now time.Time) bool {
	if !e.Enforce {
		return false
	}
	return e.After == nil || !now.Before(e.After.Start())
}

// PermissionUse is one aggregated line of a token's use (Keygate extension): how often on
// one UTC day a route (its "METHOD PATTERN", or "GIT <service>") was allowed to the
// token on one boundary. It is a count, not a request log.
type PermissionUse struct {
	TokenID      int64
	Day          Date
	Route        string
	BoundaryKind string // project, group, user, instance
	BoundaryID   int64  // the project or group; 0 for user and instance
	Uses         int64
	LastUsedAt   time.Time
}
