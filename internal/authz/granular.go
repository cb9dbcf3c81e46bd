package authz

import (
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// BoundaryKind is where a fine-grained permission is checked: on one project, one group
// (with what is below it), the token's own user, or the instance.
type BoundaryKind string

// The boundary kinds, in GitLab's resolution order.
const (
	BoundaryProject  BoundaryKind = "project"
	BoundaryGroup    BoundaryKind = "group"
	BoundaryUser     BoundaryKind = "user"
	BoundaryInstance BoundaryKind = "instance"
)

// Permission is one assignable fine-grained permission: what a user picks when creating
// a token, and the boundaries it applies to. Keygate's assignable and raw permissions
// are one layer: each assignable permission bundles exactly the raw permission of the
// same name (docs/fine-grained.md).
type Permission struct {
	Name        string
	Description string
	Boundaries  []BoundaryKind
	// Outside names what the permission opens outside the API route table (Git over
	// HTTP; a registry or another surface added later), for permissions no API route
	// declares.
	Outside string
	// Extension marks a permission GitLab does not have (a Keygate route's).
	Extension bool
}

// Label is the permission as GitLab's denial messages name it: "Member: Read" for
// read_member.
func (p Permission) Label() string { return PermissionLabel(p.Name) }

// PermissionLabel turns action_resource into "Resource: Action".
func PermissionLabel(name string) string {
	action, resource, ok := strings.Cut(name, "_")
	if !ok {
		return titleWords(name)
	}
	return titleWords(resource) + ": " + titleWords(action)
}

func titleWords(s string) string {
	words := strings.Split(s, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

var (
	onProject   = []BoundaryKind{BoundaryProject}
	onGroup     = []BoundaryKind{BoundaryGroup}
	onNamespace = []BoundaryKind{BoundaryGroup, BoundaryProject}
	onUser      = []BoundaryKind{BoundaryUser}
	onInstance  = []BoundaryKind{BoundaryInstance}
)

// catalogue is every assignable permission, sorted by name. The route tables declare
// which of them each route needs; a test keeps the two in step.
var catalogue = []Permission{
	{Name: "block_user", Description: "Block and unblock users (admin)", Boundaries: onInstance},
	{Name: "create_group", Description: "Create top-level groups and subgroups", Boundaries: onUser},
	{Name: "create_impersonation_token", Description: "Create impersonation tokens (admin)", Boundaries: onInstance},
	{Name: "create_job", Description: "Start CI jobs and receive their job tokens", Boundaries: onProject, Extension: true},
	{Name: "create_member", Description: "Add members to projects and groups", Boundaries: onNamespace},
	{Name: "create_personal_access_token", Description: "Create personal access tokens (for yourself; at instance level, for any user)", Boundaries: []BoundaryKind{BoundaryUser, BoundaryInstance}},
	{Name: "create_project", Description: "Create projects", Boundaries: onUser},
	{Name: "create_resource_access_token", Description: "Create project and group access tokens", Boundaries: onNamespace},
	{Name: "create_service_account", Description: "Create service accounts", Boundaries: []BoundaryKind{BoundaryGroup, BoundaryInstance}},
	{Name: "create_user", Description: "Create users (admin)", Boundaries: onInstance},
	{Name: "create_webhook", Description: "Add webhooks to projects and groups", Boundaries: onNamespace},
	{Name: "delete_container_repository", Description: "Delete container images and tags from the registry", Boundaries: onNamespace, Outside: "Registry: /jwt/auth delete (never push)"},
	{Name: "delete_group", Description: "Delete groups", Boundaries: onGroup},
	{Name: "delete_member", Description: "Remove members from projects and groups", Boundaries: onNamespace},
	{Name: "delete_project", Description: "Delete projects", Boundaries: onProject},
	{Name: "delete_resource_access_token", Description: "Revoke project and group access tokens", Boundaries: onNamespace},
	{Name: "delete_service_account", Description: "Delete service accounts", Boundaries: onGroup},
	{Name: "delete_webhook", Description: "Remove webhooks of projects and groups", Boundaries: onNamespace},
	{Name: "download_code", Description: "Clone and pull repositories over Git", Boundaries: onProject, Outside: "Git: git-upload-pack (clone, fetch, pull)"},
	{Name: "push_code", Description: "Push to repositories over Git", Boundaries: onProject, Outside: "Git: git-receive-pack (push)"},
	{Name: "read_application_setting", Description: "Read the application settings (admin)", Boundaries: onInstance},
	{Name: "read_audit_event", Description: "Read audit events (of a project or group; at instance level, all)", Boundaries: []BoundaryKind{BoundaryGroup, BoundaryProject, BoundaryInstance}},
	{Name: "read_code", Description: "Read repository branches, trees and files through the API", Boundaries: onProject},
	{Name: "read_container_repository", Description: "Pull container images from the registry", Boundaries: onNamespace, Outside: "Registry: /jwt/auth pull (never push)"},
	{Name: "read_group", Description: "List and read groups", Boundaries: []BoundaryKind{BoundaryGroup, BoundaryUser}},
	{Name: "read_impersonation_token", Description: "List and read impersonation tokens (admin)", Boundaries: onInstance},
	{Name: "read_job_token_scope", Description: "Read a project's CI/CD job token settings, allowlists and authentication log", Boundaries: onProject, Extension: true},
	{Name: "read_member", Description: "List and read members of projects and groups", Boundaries: onNamespace},
	{Name: "read_personal_access_token", Description: "List and read personal access tokens and their use (at instance level, any token by its value)", Boundaries: []BoundaryKind{BoundaryUser, BoundaryInstance}},
	{Name: "read_project", Description: "List and read projects", Boundaries: []BoundaryKind{BoundaryGroup, BoundaryProject, BoundaryUser}},
	{Name: "read_resource_access_token", Description: "List and read project and group access tokens", Boundaries: onNamespace},
	{Name: "read_service_account", Description: "List service accounts and their tokens", Boundaries: []BoundaryKind{BoundaryGroup, BoundaryInstance}},
	{Name: "read_user", Description: "Read users (your own user; at instance level, all users)", Boundaries: []BoundaryKind{BoundaryUser, BoundaryInstance}},
	{Name: "read_webhook", Description: "List and read webhooks, their deliveries and expiry-webhook settings", Boundaries: onNamespace},
	{Name: "revoke_impersonation_token", Description: "Revoke impersonation tokens (admin)", Boundaries: onInstance},
	{Name: "revoke_personal_access_token", Description: "Revoke personal access tokens (at instance level, any token by its value)", Boundaries: []BoundaryKind{BoundaryUser, BoundaryInstance}},
	{Name: "rotate_personal_access_token", Description: "Rotate personal access tokens, the presented one included", Boundaries: onUser},
	{Name: "rotate_resource_access_token", Description: "Rotate project and group access tokens", Boundaries: onNamespace},
	{Name: "update_application_setting", Description: "Change the application settings (admin)", Boundaries: onInstance},
	{Name: "update_group", Description: "Change groups and their settings", Boundaries: onGroup},
	{Name: "update_job", Description: "Finish CI jobs", Boundaries: onProject, Extension: true},
	{Name: "update_job_token_scope", Description: "Change a project's CI/CD job token settings and allowlists", Boundaries: onProject, Extension: true},
	{Name: "update_member", Description: "Change members of projects and groups", Boundaries: onNamespace},
	{Name: "update_project", Description: "Change projects", Boundaries: onProject},
	{Name: "update_service_account", Description: "Change service accounts and manage their tokens", Boundaries: []BoundaryKind{BoundaryGroup, BoundaryInstance}},
	{Name: "update_user", Description: "Change, deactivate and activate users (admin)", Boundaries: onInstance},
	{Name: "update_webhook", Description: "Change webhooks and expiry-webhook settings", Boundaries: onNamespace},
}

// Permissions returns the catalogue of assignable permissions, sorted by name.
func Permissions() []Permission { return slices.Clone(catalogue) }

// LookupPermission finds an assignable permission by name.
func LookupPermission(name string) (Permission, bool) {
	i, ok := slices.BinarySearchFunc(catalogue, name, func(p Permission, n string) int { return strings.Compare(p.Name, n) })
	if !ok {
		return Permission{}, false
	}
	return catalogue[i], true
}

// FineRule is a route's fine-grained declaration (GitLab's route_setting
// :authorization): the permissions a fine-grained token needs, on which boundary, and
// where the boundary comes from; or, with no permissions, why the route has none.
type FineRule struct {
	Permissions []string
	Boundary    BoundaryKind
	// Param is the path parameter naming the project or group boundary ("id").
	Param string
	// Open: fine-grained tokens pass without a permission (the route reveals nothing
	// a token does not already know); the reason says why.
	Open string
	// Unsupported: fine-grained tokens are refused (spec §3.2 step 3); the reason says
	// why.
	Unsupported string
}

// Declared reports whether the rule says something: permissions, or a reason for none.
func (r FineRule) Declared() bool {
	return len(r.Permissions) > 0 || r.Open != "" || r.Unsupported != ""
}

// Boundary is the resolved boundary of one request, as the engine sees it.
type Boundary struct {
	Kind BoundaryKind
	// Found is false when the route's project or group does not exist (or is of the
	// wrong type); user and instance boundaries always resolve.
	Found bool
	// ID is the project or group.
	ID int64
	// Namespaces are the self-and-ancestor namespace IDs: a group's traversal IDs, or
	// the traversal IDs of a project's namespace.
	Namespaces []int64
	// Access is the subject's effective role there (members, inherited included).
	Access keygate.AccessLevel
	// Readable: the subject may see the project or group at all (CanRead).
	Readable bool
}

// ProjectBoundary is the boundary of project p for a subject whose access is r.
func ProjectBoundary(s Subject, p keygate.Project, r Resource) Boundary {
	return Boundary{Kind: BoundaryProject, Found: true, ID: p.ID, Namespaces: p.Namespace.TraversalIDs, Access: r.Access, Readable: CanRead(s, r)}
}

// GroupBoundary is the boundary of group g for a subject whose access is r.
func GroupBoundary(s Subject, g keygate.Group, r Resource) Boundary {
	return Boundary{Kind: BoundaryGroup, Found: true, ID: g.ID, Namespaces: g.TraversalIDs, Access: r.Access, Readable: CanRead(s, r)}
}

// MsgGranularUnsupported is spec §3.2 step 3.
const MsgGranularUnsupported = "This operation doesn't support fine-grained personal access tokens."

// GranularApplies reports whether the fine-grained checks hold for the subject: a
// fine-grained token, or a legacy token of a human user under an enforcing group.
func GranularApplies(s Subject, enforced bool) bool {
	if s.Token == nil || s.System || s.JobProjectID != 0 {
		return false
	}
	if s.Token.Granular {
		return true
	}
	return enforced && s.User.Type == keygate.UserHuman
}

// DecideGranular judges a request under its route's fine-grained rule, in GitLab's
// order (spec §3.2): legacy tokens pass unless enforced; a missing boundary is 404; a
// route without permissions refuses (unless open); a scope covering every permission on
// the boundary, where the user is a member, allows; an unreadable boundary is 404;
// anything else is 403 naming the permissions.
func DecideGranular(s Subject, r FineRule, b Boundary, enforced bool) Decision {
	if !GranularApplies(s, enforced) {
		return allow()
	}
	if len(r.Permissions) == 0 {
		if r.Open != "" {
			return allow()
		}
		reason := "the route is not open to fine-grained tokens"
		if r.Unsupported != "" {
			reason += ": " + r.Unsupported
		}
		return Decision{Status: 403, Code: keygate.CodeInsufficientGranularScope, Message: MsgGranularUnsupported, Reasons: []string{reason}}
	}
	if (b.Kind == BoundaryProject || b.Kind == BoundaryGroup) && !b.Found {
		return Decision{Status: 404, Code: keygate.CodeNotFound, Message: boundaryNotFound(b.Kind), Reasons: []string{"the " + string(b.Kind) + " does not exist"}}
	}
	var scopes []keygate.GranularScope
	if s.Token.Granular {
		scopes = s.Token.GranularScopes
	}
	missing := missingPermissions(s, scopes, r.Permissions, b)
	if len(missing) == 0 {
		return allow()
	}
	if (b.Kind == BoundaryProject || b.Kind == BoundaryGroup) && !b.Readable {
		return Decision{Status: 404, Code: keygate.CodeNotFound, Message: boundaryNotFound(b.Kind), Reasons: []string{"the " + string(b.Kind) + " does not exist or you cannot see it"}}
	}
	return Decision{
		Status: 403, Code: keygate.CodeInsufficientGranularScope,
		Message: GranularMessage(b.Kind, r.Permissions),
		Reasons: granularReasons(s, scopes, missing, b, enforced),
	}
}

func boundaryNotFound(k BoundaryKind) string {
	if k == BoundaryGroup {
		return "404 Group Not Found"
	}
	return "404 Project Not Found"
}

// GranularMessage is spec §3.2 step 6: the permissions' labels sorted and comma-joined.
func GranularMessage(k BoundaryKind, perms []string) string {
	labels := make([]string, len(perms))
	for i, p := range perms {
		labels[i] = PermissionLabel(p)
	}
	slices.Sort(labels)
	return "This operation requires a fine-grained personal access token with the following " +
		string(k) + " permissions: [" + strings.Join(labels, ", ") + "]."
}

// member reports whether the subject holds a role on the boundary (spec §3.4): members
// of projects and groups (inherited included), administrators everywhere; user and
// instance boundaries need no membership (the route's own rule still applies).
func member(s Subject, b Boundary) bool {
	switch b.Kind {
	case BoundaryProject, BoundaryGroup:
		return s.Admin() || b.Access >= keygate.Guest
	}
	return true
}

// ScopeCovers reports whether one stored scope reaches boundary b (GitLab's matching,
// spec §1.3): user and instance boundaries match their own access value; a project or
// group boundary matches all_memberships, or a selected or personal scope on the
// project itself or on a namespace among its ancestors.
func ScopeCovers(sc keygate.GranularScope, b Boundary) bool {
	switch b.Kind {
	case BoundaryUser:
		return sc.Access == keygate.AccessUser
	case BoundaryInstance:
		return sc.Access == keygate.AccessInstance
	case BoundaryProject, BoundaryGroup:
		switch sc.Access {
		case keygate.AccessAllMemberships:
			return true
		case keygate.AccessSelectedMemberships:
			if sc.ProjectID != 0 {
				return b.Kind == BoundaryProject && sc.ProjectID == b.ID
			}
			return sc.GroupID != 0 && slices.Contains(b.Namespaces, sc.GroupID)
		case keygate.AccessPersonalProjects:
			return b.Kind == BoundaryProject && sc.NamespaceID != 0 && slices.Contains(b.Namespaces, sc.NamespaceID)
		}
	}
	return false
}

// missingPermissions returns the permissions no scope grants on b (all of them when the
// subject is no member there).
func missingPermissions(s Subject, scopes []keygate.GranularScope, perms []string, b Boundary) []string {
	if !member(s, b) {
		return perms
	}
	var missing []string
	for _, p := range perms {
		if !granted(scopes, p, b) {
			missing = append(missing, p)
		}
	}
	return missing
}

func granted(scopes []keygate.GranularScope, perm string, b Boundary) bool {
	if b.Kind != BoundaryProject && b.Kind != BoundaryGroup {
		for i := range scopes {
			if ScopeCovers(scopes[i], b) && slices.Contains(scopes[i].Permissions, perm) {
				return true
			}
		}
		return false
	}
	// The hot path (a project or group route): ScopeCovers unrolled on the ID fields,
	// which only selected and personal scopes set, so most scopes cost one integer
	// comparison and no string comparison.
	project := b.Kind == BoundaryProject
	for i := range scopes {
		sc := &scopes[i]
		var covers bool
		switch {
		case sc.ProjectID != 0:
			covers = project && sc.ProjectID == b.ID && sc.Access == keygate.AccessSelectedMemberships
		case sc.GroupID != 0:
			covers = slices.Contains(b.Namespaces, sc.GroupID) && sc.Access == keygate.AccessSelectedMemberships
		case sc.NamespaceID != 0:
			covers = project && slices.Contains(b.Namespaces, sc.NamespaceID) && sc.Access == keygate.AccessPersonalProjects
		default:
			covers = sc.Access == keygate.AccessAllMemberships
		}
		if covers && slices.Contains(sc.Permissions, perm) {
			return true
		}
	}
	return false
}

func granularReasons(s Subject, scopes []keygate.GranularScope, missing []string, b Boundary, enforced bool) []string {
	var out []string
	if !s.Token.Granular && enforced {
		out = append(out, "the group enforces fine-grained tokens and this is a legacy token")
	}
	where := "the " + string(b.Kind)
	if !member(s, b) {
		out = append(out, "missing role: you are not a member of "+where+" (fine-grained permissions hold only where you are a member)")
	}
	for _, p := range missing {
		reason := "missing permission: " + p + " (" + PermissionLabel(p) + ") on " + where
		if slices.ContainsFunc(scopes, func(sc keygate.GranularScope) bool { return slices.Contains(sc.Permissions, p) }) {
			reason += "; the token holds it on other boundaries only"
		}
		out = append(out, reason)
	}
	return out
}
