package service

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/store"
)

// ErrProjectNotFound and ErrGroupNotFound are the existence-hiding answers: a missing
// resource and one the caller may not see look the same.
var (
	ErrProjectNotFound = &keygate.Error{Code: keygate.CodeNotFound, Message: "Project"}
	ErrGroupNotFound   = &keygate.Error{Code: keygate.CodeNotFound, Message: "Group"}
)

// Project finds a project by numeric ID or (URL-encoded) full path, without a visibility
// check; callers pair it with ProjectAccess and authz.
func (s *Service) Project(ctx context.Context, ref string) (keygate.Project, error) {
	var p keygate.Project
	var err error
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		p, err = s.store.Project(ctx, id)
	} else {
		path, uerr := url.PathUnescape(ref)
		if uerr != nil {
			return p, ErrProjectNotFound
		}
		p, err = s.store.ProjectByPath(ctx, strings.Trim(path, "/"))
	}
	if errors.Is(err, store.ErrNotFound) {
		return p, ErrProjectNotFound
	}
	if err != nil {
		return p, internal("find project", err)
	}
	return p, nil
}

// Group finds a group by numeric ID or (URL-encoded) full path. Personal namespaces are
// not groups.
func (s *Service) Group(ctx context.Context, ref string) (keygate.Group, error) {
	var g keygate.Namespace
	var err error
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		g, err = s.store.Namespace(ctx, id)
	} else {
		path, uerr := url.PathUnescape(ref)
		if uerr != nil {
			return g, ErrGroupNotFound
		}
		g, err = s.store.NamespaceByPath(ctx, strings.Trim(path, "/"))
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && g.Kind != keygate.NamespaceGroup {
		return keygate.Group{}, ErrGroupNotFound
	}
	if err != nil {
		return g, internal("find group", err)
	}
	return g, nil
}

// ProjectAccess is the subject's effective level on a project: Owner of a personal
// namespace's projects, else the highest active membership of the project and its
// ancestor groups — one indexed query.
func (s *Service) ProjectAccess(ctx context.Context, sub authz.Subject, p keygate.Project) (authz.Resource, error) {
	r := authz.Resource{Kind: authz.KindProject, ID: p.ID, Visibility: p.Visibility}
	if !sub.Authenticated() || sub.System {
		return r, nil
	}
	if p.Namespace.Kind == keygate.NamespaceUser && p.Namespace.OwnerID == sub.User.ID {
		r.Access = keygate.Owner
		return r, nil
	}
	lvl, err := s.store.MaxAccess(ctx, sub.User.ID, p.ID, groupChain(p.Namespace), s.clock.Now())
	if err != nil {
		return r, internal("effective access", err)
	}
	r.Access = lvl
	return r, nil
}

// groupChain is the namespace IDs whose memberships reach into a namespace: its group
// ancestors and itself (a personal namespace has no members).
func groupChain(n keygate.Namespace) []int64 {
	if n.Kind != keygate.NamespaceGroup {
		return nil
	}
	return n.TraversalIDs
}

// GroupAccess is the subject's effective level on a group, and whether the subject can
// read something inside it (which makes a private group visible to them).
func (s *Service) GroupAccess(ctx context.Context, sub authz.Subject, g keygate.Group) (authz.Resource, error) {
	r := authz.Resource{Kind: authz.KindGroup, ID: g.ID, Visibility: g.Visibility}
	if !sub.Authenticated() || sub.System {
		return r, nil
	}
	lvl, err := s.store.MaxAccess(ctx, sub.User.ID, 0, g.TraversalIDs, s.clock.Now())
	if err != nil {
		return r, internal("effective access", err)
	}
	r.Access = lvl
	if lvl == keygate.NoAccess && g.Visibility != keygate.Public {
		now := s.clock.Now()
		mem := &store.Membership{UserID: sub.User.ID, Now: now}
		_, nsub, err := s.store.Namespaces(ctx, store.NamespaceFilter{DescendantsOf: g.ID, MemberOf: mem, Page: store.Page{Number: 1, Size: 1}})
		if err != nil {
			return r, internal("group contents", err)
		}
		_, nproj, err := s.store.Projects(ctx, store.ProjectFilter{NamespaceID: g.ID, IncludeSubgroups: true, MemberOf: mem, Page: store.Page{Number: 1, Size: 1}})
		if err != nil {
			return r, internal("group contents", err)
		}
		r.Contains = nsub+nproj > 0
	}
	return r, nil
}
