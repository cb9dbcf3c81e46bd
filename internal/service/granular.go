package service

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/store"
)

// GranularRequest is one entry of a create call's granular_scopes, as parsed by the
// transport: ids matter only for selected_memberships.
type GranularRequest struct {
	Access      keygate.GranularAccess
	Permissions []string
	ProjectIDs  []int64
	GroupIDs    []int64
}

// MsgLegacyEnforced refuses a legacy personal access token once the instance enforces
// fine-grained tokens (spec §5).
const MsgLegacyEnforced = "Legacy personal access tokens can no longer be created or rotated: this instance requires fine-grained personal access tokens"

// MsgBotPersonalProjects: bots and service accounts have no personal projects to grant.
const MsgBotPersonalProjects = "personal_projects access is only available to tokens of human users"

// errGranularEscalation is spec §1.5's refusal of a broader token by a fine-grained caller.
var errGranularEscalation = &keygate.Error{Code: keygate.CodeForbidden, Message: authz.MsgGranularEscalation}

// expandGranular turns request entries into stored scopes for owner: one scope per
// selected project or group (each readable by the owner, else the resource's 404),
// personal_projects on the owner's namespace. It validates the result and, for a
// fine-grained actor, the equal-or-lesser rule. reader is who must be able to see the
// selected projects and groups: the owner, or for a bot not yet created its creator.
func (s *Service) expandGranular(ctx context.Context, actor authz.Subject, owner, reader keygate.User, reqs []GranularRequest) ([]keygate.GranularScope, error) {
	var (
		out   []keygate.GranularScope
		index []int
		above = map[int][]int64{}
	)
	ownerSub := authz.Subject{User: reader}
	for i, r := range reqs {
		base := keygate.GranularScope{Access: r.Access, Permissions: r.Permissions}
		switch r.Access {
		case keygate.AccessSelectedMemberships:
			if len(r.ProjectIDs) == 0 && len(r.GroupIDs) == 0 {
				return nil, invalid("granular_scopes", authz.MsgGranularNoScopes)
			}
			for _, id := range r.ProjectIDs {
				p, err := s.store.Project(ctx, id)
				if errors.Is(err, store.ErrNotFound) {
					return nil, ErrProjectNotFound
				}
				if err != nil {
					return nil, internal("find project", err)
				}
				res, err := s.ProjectAccess(ctx, ownerSub, p)
				if err != nil {
					return nil, err
				}
				if !authz.CanRead(ownerSub, res) {
					return nil, ErrProjectNotFound
				}
				sc := base
				sc.ProjectID = p.ID
				above[len(out)] = p.Namespace.TraversalIDs
				out, index = append(out, sc), append(index, i)
			}
			for _, id := range r.GroupIDs {
				g, err := s.Group(ctx, itoa(id))
				if err != nil {
					return nil, err
				}
				res, err := s.GroupAccess(ctx, ownerSub, g)
				if err != nil {
					return nil, err
				}
				if !authz.CanRead(ownerSub, res) {
					return nil, ErrGroupNotFound
				}
				sc := base
				sc.GroupID = g.ID
				above[len(out)] = g.TraversalIDs
				out, index = append(out, sc), append(index, i)
			}
		case keygate.AccessPersonalProjects:
			if owner.Type != keygate.UserHuman {
				return nil, invalid("granular_scopes", MsgBotPersonalProjects)
			}
			n, err := s.personalNamespace(ctx, owner)
			if err != nil {
				return nil, err
			}
			sc := base
			sc.NamespaceID = n.ID
			above[len(out)] = []int64{n.ID}
			out, index = append(out, sc), append(index, i)
		default:
			out, index = append(out, base), append(index, i)
		}
	}
	if msg, ok := authz.ValidateGranularScopes(owner, out, index); !ok {
		return nil, invalid("granular_scopes", "%s", msg)
	}
	if actor.Token != nil && actor.Token.Granular {
		pos := func(sc keygate.GranularScope) []int64 {
			for i := range out {
				if out[i].Access == sc.Access && out[i].ProjectID == sc.ProjectID && out[i].GroupID == sc.GroupID && out[i].NamespaceID == sc.NamespaceID {
					return above[i]
				}
			}
			return nil
		}
		if !authz.Lesser(actor.Token.GranularScopes, out, pos) {
			return nil, errGranularEscalation
		}
	}
	return out, nil
}

// legacyRefused reports whether the instance policy refuses a new legacy token for
// owner now (human users only; bots and service accounts keep legacy tokens).
func legacyRefused(st keygate.Settings, owner keygate.User, now time.Time) bool {
	return owner.Type == keygate.UserHuman && st.GranularEnforcement().Active(now)
}

// GranularEnforced reports whether the top-level group above namespaces (a boundary's
// self-and-ancestor IDs) holds legacy tokens to the fine-grained checks now. Only legacy
// tokens of human users ask; the policy is cached until the change marker moves.
func (s *Service) GranularEnforced(ctx context.Context, sub authz.Subject, namespaces []int64) (bool, error) {
	if len(namespaces) == 0 || !authz.GranularApplies(sub, true) || sub.Token.Granular {
		return false, nil
	}
	root := namespaces[0]
	pol, ok := s.cache.getRoot(root)
	if !ok {
		n, err := s.store.Namespace(ctx, root)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, internal("group policy", err)
		}
		pol = n.GranularEnforcement
		s.cache.putRoot(root, pol)
	}
	return pol.Active(s.clock.Now()), nil
}

// copyGranular gives a successor its predecessor's grant.
func copyGranular(next *keygate.Token, old keygate.Token) {
	next.Granular = old.Granular
	next.GranularScopes = slices.Clone(old.GranularScopes)
}

// checkNotBroader refuses a fine-grained actor a token it would get the secret of (by
// rotation) when that token can do more than the actor: a legacy token, or a grant not
// within the actor's (spec §1.5's equal-or-lesser rule, applied to rotation too, so that
// a token holding only rotate permissions cannot turn itself into a broader one). A
// token rotating itself is its own equal.
func (s *Service) checkNotBroader(ctx context.Context, actor authz.Subject, t keygate.Token) error {
	return s.CheckNotBroader(ctx, actor, t)
}

// CheckNotBroader is checkNotBroader for transports that act as Keygate itself on a
// requester's behalf (service-account token rotation).
func (s *Service) CheckNotBroader(ctx context.Context, actor authz.Subject, t keygate.Token) error {
	if actor.Token == nil || !actor.Token.Granular || actor.Token.ID == t.ID {
		return nil
	}
	if !t.Granular || !authz.Lesser(actor.Token.GranularScopes, t.GranularScopes, func(sc keygate.GranularScope) []int64 { return s.scopeAncestors(ctx, sc) }) {
		return errGranularEscalation
	}
	return nil
}

// scopeAncestors is the namespace chain at and above a stored scope's project or group
// (nil when it no longer exists: then nothing lies within it).
func (s *Service) scopeAncestors(ctx context.Context, sc keygate.GranularScope) []int64 {
	switch {
	case sc.ProjectID != 0:
		if p, err := s.store.Project(ctx, sc.ProjectID); err == nil {
			return p.Namespace.TraversalIDs
		}
	case sc.GroupID != 0:
		if n, err := s.store.Namespace(ctx, sc.GroupID); err == nil {
			return n.TraversalIDs
		}
	case sc.NamespaceID != 0:
		return []int64{sc.NamespaceID}
	}
	return nil
}
