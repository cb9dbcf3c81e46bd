package authz

import (
	"cmp"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// Need is what one request needed: a route's permissions on one boundary (ID is the
// project or group, 0 for user and instance).
type Need struct {
	Permissions []string
	Kind        BoundaryKind
	ID          int64
}

// SuggestedScope is one entry of a suggested grant, in the create request's shape
// (spec §1.2): selected_memberships entries list the projects and groups that need the
// same permissions.
type SuggestedScope struct {
	Access      keygate.GranularAccess
	Permissions []string
	ProjectIDs  []int64
	GroupIDs    []int64
}

// Suggest returns the smallest grant that allows every need (Keygate extension): the
// union of permissions per boundary, a user and an instance entry when needed, and one
// selected_memberships entry per distinct permission set, naming exactly the projects
// and groups that need it. Nothing broader (no ancestor group, no all_memberships) is
// proposed: a grant is only ever as wide as the use it was built from. The order is
// deterministic: user, instance, then entries by permission set.
func Suggest(needs []Need) []SuggestedScope {
	type target struct {
		kind BoundaryKind
		id   int64
	}
	perms := map[target][]string{}
	for _, n := range needs {
		t := target{n.Kind, n.ID}
		for _, p := range n.Permissions {
			if !slices.Contains(perms[t], p) {
				perms[t] = append(perms[t], p)
			}
		}
	}
	var out []SuggestedScope
	for _, k := range []BoundaryKind{BoundaryUser, BoundaryInstance} {
		if ps, ok := perms[target{k, 0}]; ok {
			slices.Sort(ps)
			acc := keygate.AccessUser
			if k == BoundaryInstance {
				acc = keygate.AccessInstance
			}
			out = append(out, SuggestedScope{Access: acc, Permissions: ps})
		}
	}
	bySet := map[string]*SuggestedScope{}
	var keys []string
	for t, ps := range perms {
		if t.kind != BoundaryProject && t.kind != BoundaryGroup {
			continue
		}
		slices.Sort(ps)
		key := strings.Join(ps, ",")
		s, ok := bySet[key]
		if !ok {
			s = &SuggestedScope{Access: keygate.AccessSelectedMemberships, Permissions: ps}
			bySet[key] = s
			keys = append(keys, key)
		}
		if t.kind == BoundaryProject {
			s.ProjectIDs = append(s.ProjectIDs, t.id)
		} else {
			s.GroupIDs = append(s.GroupIDs, t.id)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := bySet[k]
		slices.Sort(s.ProjectIDs)
		slices.Sort(s.GroupIDs)
		out = append(out, *s)
	}
	return out
}

// Expand turns a suggested grant into stored scopes (one per selected project or
// group), the form DecideGranular reads.
func Expand(grant []SuggestedScope) []keygate.GranularScope {
	var out []keygate.GranularScope
	for _, s := range grant {
		if s.Access != keygate.AccessSelectedMemberships {
			out = append(out, keygate.GranularScope{Access: s.Access, Permissions: s.Permissions})
			continue
		}
		for _, id := range s.ProjectIDs {
			out = append(out, keygate.GranularScope{Access: s.Access, Permissions: s.Permissions, ProjectID: id})
		}
		for _, id := range s.GroupIDs {
			out = append(out, keygate.GranularScope{Access: s.Access, Permissions: s.Permissions, GroupID: id})
		}
	}
	slices.SortStableFunc(out, func(a, b keygate.GranularScope) int { return cmp.Compare(a.Access, b.Access) })
	return out
}
