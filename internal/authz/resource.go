package authz

import (
	"github.com/keygate/keygate"
)

// ResourceKind is what a route's {id} names.
type ResourceKind string

// The resource kinds routes act on.
const (
	KindNone    ResourceKind = ""
	KindProject ResourceKind = "project"
	KindGroup   ResourceKind = "group"
)

// Action is what a route does to its resource. Each action has the least role it needs,
// per resource kind (roles); reading is judged by visibility and membership first.
type Action string

// The actions on projects and groups.
const (
	ActRead             Action = "read"
	ActUpdate           Action = "update"
	ActDelete           Action = "delete"
	ActReadMembers      Action = "read_members"
	ActManageMembers    Action = "manage_members"
	ActReadTokens       Action = "read_resource_access_tokens"
	ActManageTokens     Action = "manage_resource_access_tokens"
	ActCreateSubgroup   Action = "create_subgroup"
	ActCreateProject    Action = "create_project"
	ActChangeVisibility Action = "change_visibility_level"
	ActRunJob           Action = "create_build"
	ActAdminJobScope    Action = "admin_project"
	ActReadServiceAcc   Action = "read_service_accounts"
	ActAdminServiceAc   Action = "admin_service_accounts"
	// ActReadCode is GitLab's read_code/download_code: Reporter on a private project,
	// any reader of a public or internal one (CanReadCode).
	ActReadCode Action = "read_code"
)

// roles holds GitLab's least role per action (project_policy.rb, group_policy.rb).
var roles = map[ResourceKind]map[Action]keygate.AccessLevel{
	KindProject: {
		ActRead: keygate.Guest, ActReadMembers: keygate.Guest,
		ActUpdate: keygate.Maintainer, ActManageMembers: keygate.Maintainer,
		ActReadTokens: keygate.Maintainer, ActManageTokens: keygate.Maintainer,
		ActDelete: keygate.Owner, ActChangeVisibility: keygate.Owner,
		ActRunJob: keygate.Developer, ActAdminJobScope: keygate.Maintainer,
		ActReadCode: keygate.Reporter,
	},
	KindGroup: {
		ActRead: keygate.Guest, ActReadMembers: keygate.Guest,
		// Defaults of project_creation_level (developer) and subgroup_creation_level
		// (maintainer) for new groups.
		ActCreateProject: keygate.Developer, ActCreateSubgroup: keygate.Maintainer,
		ActUpdate: keygate.Owner, ActDelete: keygate.Owner, ActManageMembers: keygate.Owner,
		ActReadTokens: keygate.Owner, ActManageTokens: keygate.Owner,
		ActReadServiceAcc: keygate.Owner, ActAdminServiceAc: keygate.Owner, ActChangeVisibility: keygate.Owner,
	},
}

// RequiredLevel returns the least role an action needs on a kind of resource.
func RequiredLevel(kind ResourceKind, a Action) (keygate.AccessLevel, bool) {
	l, ok := roles[kind][a]
	return l, ok
}

// Resource is a project or group as the engine sees it: its visibility and the subject's
// effective access level on it (highest of direct and inherited memberships, computed by
// the caller).
type Resource struct {
	Kind       ResourceKind
	ID         int64
	Visibility keygate.Visibility
	Access     keygate.AccessLevel
	// Contains marks a group in which the subject can read some project or subgroup,
	// which lets the subject see the group itself (GitLab shows the path to a readable
	// resource).
	Contains bool
}

// notFoundMessage is the resource's existence-hiding 404 message.
func notFoundMessage(k ResourceKind) string {
	if k == KindGroup {
		return "404 Group Not Found"
	}
	return "404 Project Not Found"
}

// CanRead reports whether the subject may see the resource at all: administrators, public
// resources for everyone, internal ones for signed-in non-external users, private ones
// for members (or those who can read something inside a group).
func CanRead(s Subject, r Resource) bool {
	switch {
	case s.Admin():
		return true
	case r.Visibility == keygate.Public:
		return true
	case r.Access >= keygate.Guest || r.Contains:
		return true
	case r.Visibility == keygate.Internal:
		return s.Authenticated() && !s.User.External
	}
	return false
}

// DecideResource judges an action on a resource after the scope check: a subject who
// cannot read the resource gets the existence-hiding 404 (401 when anonymous and the
// route needs a user), one who can read it but lacks the role gets 403.
func DecideResource(s Subject, r Resource, a Action) Decision {
	if !CanRead(s, r) {
		return Decision{Status: 404, Code: keygate.CodeNotFound, Message: notFoundMessage(r.Kind),
			Reasons: []string{"the " + string(r.Kind) + " does not exist or you cannot see it"}}
	}
	if a == ActReadMembers {
		// Any reader sees a project's members; a private group's members only its
		// members (can_read_group_member?), not those who see it through a project inside.
		if r.Kind == KindGroup && r.Visibility == keygate.Private && r.Access < keygate.Guest && !s.Admin() {
			return Decision{Status: 403, Code: keygate.CodeForbidden, Reasons: []string{"the members of a private group are visible to its members only"}}
		}
		return allow()
	}
	if a == ActReadCode && CanReadCode(s, r) {
		return allow() // public and internal code needs no role
	}
	need, ok := RequiredLevel(r.Kind, a)
	if !ok || a == ActRead {
		if !ok && a != ActRead {
			return Decision{Status: 403, Code: keygate.CodeForbidden, Reasons: []string{"unknown action " + string(a)}}
		}
		return allow()
	}
	if s.Admin() || r.Access >= need {
		return allow()
	}
	if !s.Authenticated() {
		return Decision{Status: 401, Code: keygate.CodeUnauthenticated, Reasons: []string{"sign in to " + string(a)}}
	}
	return Decision{Status: 403, Code: keygate.CodeForbidden, Reasons: []string{
		string(a) + " on this " + string(r.Kind) + " needs the " + need.String() + " role or higher; you have " + levelName(r.Access),
	}}
}

// DecideLevel judges whether the subject holds at least level min on the resource, as the
// gate's member_of asks: hidden (404, with nothing to explain) when the subject cannot see
// it, 403 with the reason when the role is too low. Administrators pass, as everywhere.
func DecideLevel(s Subject, r Resource, min keygate.AccessLevel) Decision {
	if !CanRead(s, r) {
		return Decision{Status: 404, Code: keygate.CodeNotFound, Message: notFoundMessage(r.Kind),
			Reasons: []string{"the " + string(r.Kind) + " does not exist or you cannot see it"}}
	}
	if s.Admin() || r.Access >= min {
		return allow()
	}
	return Decision{Status: 403, Code: keygate.CodeForbidden, Reasons: []string{
		"this service needs the " + min.String() + " role or higher on the " + string(r.Kind) + "; you have " + levelName(r.Access),
	}}
}

func levelName(l keygate.AccessLevel) string {
	if l == keygate.NoAccess {
		return "no membership"
	}
	return l.String()
}

// CanAssignLevel reports whether a subject with level own on a resource may grant level
// (to a member or a resource access token): never above their own, and Planner only by
// an Owner or a Planner (Gitlab::Access.level_encompasses?). Administrators may grant any.
func CanAssignLevel(s Subject, own, level keygate.AccessLevel) bool {
	if s.Admin() {
		return true
	}
	if level == keygate.Planner {
		return own == keygate.Owner || own == keygate.Planner
	}
	if own == keygate.Planner {
		return level <= keygate.Guest
	}
	return level <= own
}

// VisibleFloor is the least visibility the subject sees without any membership:
// everything for administrators (""), internal and public for signed-in non-external
// users, public only for anonymous or external callers.
func VisibleFloor(s Subject) (keygate.Visibility, bool) {
	switch {
	case s.Admin():
		return "", false
	case s.Authenticated() && !s.User.External:
		return keygate.Internal, true
	}
	return keygate.Public, true
}
