package authz

import (
	"slices"
	"strconv"

	"github.com/keygate/keygate"
)

// Messages of fine-grained token creation (spec §1.5).
const (
	MsgGranularNoScopes      = "At least one granular scope must be provided"
	MsgGranularSameNamespace = "The token cannot have multiple granular scopes for the same namespace"
	MsgGranularTwoInstance   = "The token cannot have multiple instance-level granular scopes"
	MsgGranularEscalation    = "A granular token can only create tokens with equal or lesser permissions."
	MsgGranularInstanceAdmin = "Instance-level granular scopes can only be granted to administrators"
)

// ScopeBoundaries are the boundary kinds a scope's permissions may apply to: a project
// scope's project; a group or all_memberships scope's groups and the projects below; a
// personal_projects scope's projects; the user; the instance.
func ScopeBoundaries(sc keygate.GranularScope) []BoundaryKind {
	switch sc.Access {
	case keygate.AccessUser:
		return onUser
	case keygate.AccessInstance:
		return onInstance
	case keygate.AccessPersonalProjects:
		return onProject
	case keygate.AccessSelectedMemberships:
		if sc.ProjectID != 0 {
			return onProject
		}
	}
	return onNamespace
}

// ValidateGranularScopes checks a token's scopes as stored (selected_memberships already
// split into one scope per project or group), returning the public message of the first
// problem: empty lists, unknown or duplicate permissions, a permission that does not
// apply to its scope's boundary, two scopes on one namespace, instance scopes for a
// non-administrator owner. index maps a stored scope back to its request entry, for
// messages that name it.
func ValidateGranularScopes(owner keygate.User, scopes []keygate.GranularScope, index []int) (string, bool) {
	if len(scopes) == 0 {
		return MsgGranularNoScopes, false
	}
	type key struct {
		access keygate.GranularAccess
		proj   int64
		group  int64
	}
	seen := map[key]bool{}
	instances := 0
	for i, sc := range scopes {
		field := "granular_scopes[" + strconv.Itoa(index[i]) + "][permissions]"
		if len(sc.Permissions) == 0 {
			return field + " is empty", false
		}
		for j, p := range sc.Permissions {
			perm, ok := LookupPermission(p)
			if !ok {
				return field + " has an unknown permission: " + p, false
			}
			if slices.Contains(sc.Permissions[:j], p) {
				return field + " has a duplicate permission: " + p, false
			}
			if !slices.ContainsFunc(perm.Boundaries, func(k BoundaryKind) bool { return slices.Contains(ScopeBoundaries(sc), k) }) {
				return field + " has a permission that does not apply to " + string(sc.Access) + " access: " + p, false
			}
		}
		if sc.Access == keygate.AccessInstance {
			if instances++; instances > 1 {
				return MsgGranularTwoInstance, false
			}
			if !owner.Admin {
				return MsgGranularInstanceAdmin, false
			}
			continue
		}
		k := key{sc.Access, sc.ProjectID, sc.GroupID}
		if seen[k] {
			return MsgGranularSameNamespace, false
		}
		seen[k] = true
	}
	return "", true
}

// Lesser reports whether a fine-grained caller holding have may create a token with
// want (spec §1.5, "equal or lesser"): every wanted scope is within one held scope that
// grants all its permissions. ancestors gives, for a selected scope, the namespace IDs
// at and above its group (or its project's namespace); a selected project also matches
// a held scope on the same project.
func Lesser(have, want []keygate.GranularScope, ancestors func(keygate.GranularScope) []int64) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h keygate.GranularScope) bool {
			return within(h, w, ancestors) && subset(w.Permissions, h.Permissions)
		}) {
			return false
		}
	}
	return true
}

func within(h, w keygate.GranularScope, ancestors func(keygate.GranularScope) []int64) bool {
	switch w.Access {
	case keygate.AccessUser, keygate.AccessInstance, keygate.AccessAllMemberships:
		return h.Access == w.Access
	case keygate.AccessPersonalProjects:
		return h.Access == keygate.AccessAllMemberships || h.Access == keygate.AccessPersonalProjects && h.NamespaceID == w.NamespaceID
	case keygate.AccessSelectedMemberships:
		if h.Access == keygate.AccessAllMemberships {
			return true
		}
		if h.Access != keygate.AccessSelectedMemberships {
			return false
		}
		if h.ProjectID != 0 {
			return w.ProjectID == h.ProjectID
		}
		return slices.Contains(ancestors(w), h.GroupID)
	}
	return false
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
