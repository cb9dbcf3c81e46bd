package service

import (
	"context"
	"errors"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/store"
)

// CreateProject creates a project in the caller's personal namespace or in a group they
// may create projects in (Developer by default, GitLab's project_creation_level). The
// owner of a personal namespace becomes the project's Owner; a group member whose
// inherited role is below Maintainer becomes its Maintainer, so they can manage what
// they made.
func (s *Service) CreateProject(ctx context.Context, sub authz.Subject, in NamespaceInput) (keygate.Project, error) {
	now := s.clock.Now()
	p := keygate.Project{Visibility: keygate.Private, DefaultBranch: "main", CreatedAt: now, LastActivityAt: now, CreatorID: sub.User.ID}
	if in.Name != nil {
		p.Name = strings.TrimSpace(*in.Name)
	}
	if in.Path != nil {
		p.Path = strings.TrimSpace(*in.Path)
	}
	if p.Path == "" {
		p.Path = pathFromName(p.Name)
	}
	if p.Name == "" {
		p.Name = p.Path
	}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.Visibility != nil {
		p.Visibility = *in.Visibility
	}
	if in.DefaultBranch != nil && *in.DefaultBranch != "" {
		p.DefaultBranch = *in.DefaultBranch
	}
	if in.RegistryAccessLevel != nil {
		p.ContainerRegistryAccessLevel = *in.RegistryAccessLevel
	}
	var ns keygate.Namespace
	var inherited keygate.AccessLevel
	if in.ParentID != 0 {
		n, err := s.store.Namespace(ctx, in.ParentID)
		if errors.Is(err, store.ErrNotFound) {
			return p, errNamespaceInvalid
		}
		if err != nil {
			return p, internal("find namespace", err)
		}
		ns = n
	} else {
		if sub.System || sub.User.ID == 0 {
			return p, modelError("namespace", "is not valid")
		}
		n, err := s.personalNamespace(ctx, sub.User)
		if err != nil {
			return p, err
		}
		ns = n
	}
	switch {
	case ns.Kind == keygate.NamespaceUser:
		if ns.OwnerID != sub.User.ID && !sub.Admin() {
			return p, modelError("namespace", "is not valid")
		}
	default:
		res, err := s.GroupAccess(ctx, sub, ns)
		if err != nil {
			return p, err
		}
		if !authz.CanRead(sub, res) {
			return p, errNamespaceInvalid
		}
		if d := authz.DecideResource(sub, res, authz.ActCreateProject); !d.Allowed {
			return p, modelError("namespace", "is not valid")
		}
		inherited = res.Access
		if p.Visibility.Level() > ns.Visibility.Level() {
			return p, modelError("visibility_level", string(p.Visibility)+" is not allowed in a "+string(ns.Visibility)+" group.")
		}
	}
	if err := validName(p.Name); err != nil {
		return p, err
	}
	if !keygate.ValidPath(p.Path) {
		return p, modelError("path", keygate.PathError)
	}
	p.NamespaceID, p.Namespace = ns.ID, ns
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateProject(ctx, &p); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return modelError("path", "has already been taken")
			}
			return err
		}
		level := keygate.NoAccess
		switch {
		case ns.Kind == keygate.NamespaceUser:
			level = keygate.Owner
		case !sub.System && inherited < keygate.Maintainer && sub.User.ID != 0:
			level = keygate.Maintainer
		}
		if level == keygate.NoAccess {
			return nil
		}
		uid := sub.User.ID
		if ns.Kind == keygate.NamespaceUser {
			uid = ns.OwnerID
		}
		m := keygate.Member{SourceType: keygate.SourceProject, SourceID: p.ID, UserID: uid, AccessLevel: level, CreatedAt: now, CreatedByID: sub.User.ID}
		return tx.AddMember(ctx, &m)
	})
	if err != nil {
		return p, internal("create project", err)
	}
	if err := s.createRepository(ctx, p); err != nil {
		return p, err
	}
	return p, nil
}

// errNamespaceInvalid answers a namespace_id the caller cannot use, missing or hidden
// alike (Projects::CreateService#deny_namespace).
var errNamespaceInvalid = &keygate.Error{Code: keygate.CodeInvalid, Field: "namespace", Message: "is not valid"}

// pathFromName derives a path from a name as GitLab does: lower case, runs of other
// characters become '-'.
func pathFromName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.'
		if ok {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-.")
}

// personalNamespace returns the user's own namespace, creating it for users that predate
// namespaces.
func (s *Service) personalNamespace(ctx context.Context, u keygate.User) (keygate.Namespace, error) {
	n, err := s.store.NamespaceByPath(ctx, u.Username)
	if err == nil && n.Kind == keygate.NamespaceUser && n.OwnerID == u.ID {
		return n, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return n, internal("personal namespace", err)
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error { return createPersonalNamespace(ctx, tx, u) })
	if err != nil {
		return n, internal("personal namespace", err)
	}
	n, err = s.store.NamespaceByPath(ctx, u.Username)
	if err != nil {
		return n, internal("personal namespace", err)
	}
	return n, nil
}

// UpdateProject changes a project's fields. The route checked Maintainer; changing the
// visibility needs Owner (change_visibility_level).
func (s *Service) UpdateProject(ctx context.Context, sub authz.Subject, p keygate.Project, res authz.Resource, in NamespaceInput) (keygate.Project, error) {
	before, moves := p, s.repoMoves()
	if in.Name != nil {
		p.Name = strings.TrimSpace(*in.Name)
		if err := validName(p.Name); err != nil {
			return p, err
		}
	}
	if in.Path != nil {
		p.Path = strings.TrimSpace(*in.Path)
		if !keygate.ValidPath(p.Path) {
			return p, modelError("path", keygate.PathError)
		}
	}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.DefaultBranch != nil && *in.DefaultBranch != "" {
		p.DefaultBranch = *in.DefaultBranch
	}
	if in.RegistryAccessLevel != nil {
		p.ContainerRegistryAccessLevel = *in.RegistryAccessLevel
	}
	if in.Visibility != nil && *in.Visibility != p.Visibility {
		if err := decide(authz.DecideResource(sub, res, authz.ActChangeVisibility)); err != nil {
			return p, err
		}
		if p.Namespace.Kind == keygate.NamespaceGroup && in.Visibility.Level() > p.Namespace.Visibility.Level() {
			return p, modelError("visibility_level", string(*in.Visibility)+" is not allowed in a "+string(p.Namespace.Visibility)+" group.")
		}
		p.Visibility = *in.Visibility
	}
	p.LastActivityAt = s.clock.Now()
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.UpdateProject(ctx, p); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return modelError("path", "has already been taken")
			}
			return err
		}
		var err error
		if p, err = tx.Project(ctx, p.ID); err != nil {
			return err
		}
		return moves.project(ctx, before, p)
	})
	moves.settle(ctx, err)
	s.cache.invalidate()
	if err != nil {
		return p, internal("update project", err)
	}
	return p, nil
}

// DeleteProject removes a project, its memberships and its repository.
func (s *Service) DeleteProject(ctx context.Context, p keygate.Project) error {
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		if err := deleteBots(ctx, tx, keygate.SourceProject, p.ID); err != nil {
			return err
		}
		return tx.DeleteProject(ctx, p.ID)
	})
	s.cache.invalidate()
	if err != nil {
		return internal("delete project", err)
	}
	s.removeRepository(ctx, p)
	return nil
}

// ProjectListInput selects projects as GET /projects does.
type ProjectListInput struct {
	Owned          bool
	Membership     bool
	MinAccessLevel keygate.AccessLevel
	Search         string
	Visibility     keygate.Visibility
	NamespaceID    int64
	WithSubgroups  bool
	OrderBy, Sort  string
	Page           store.Page
}

// Projects lists the projects the subject sees: administrators all; signed-in users
// public, internal and their own; anonymous callers public ones.
func (s *Service) Projects(ctx context.Context, sub authz.Subject, in ProjectListInput) ([]keygate.Project, int, error) {
	now := s.clock.Now()
	f := store.ProjectFilter{
		NamespaceID: in.NamespaceID, IncludeSubgroups: in.WithSubgroups, Search: in.Search,
		Visibility: in.Visibility, OrderBy: in.OrderBy, Sort: in.Sort, Page: in.Page, Now: now,
	}
	floor, limited := authz.VisibleFloor(sub)
	if limited {
		v := &store.Viewer{MinVisibility: floor, Now: now}
		if sub.Authenticated() {
			v.MemberID = sub.User.ID
		}
		f.Visible = v
	}
	if sub.Authenticated() && !sub.System {
		switch {
		case in.Owned:
			f.OwnedBy = sub.User.ID
		case in.Membership || in.MinAccessLevel > 0:
			f.MemberOf = &store.Membership{UserID: sub.User.ID, MinLevel: in.MinAccessLevel, Now: now}
		}
	}
	ps, n, err := s.store.Projects(ctx, f)
	if err != nil {
		return nil, 0, internal("list projects", err)
	}
	return ps, n, nil
}

// UserProjects lists the projects in a user's personal namespace that the subject sees.
func (s *Service) UserProjects(ctx context.Context, sub authz.Subject, u keygate.User, in ProjectListInput) ([]keygate.Project, int, error) {
	n, err := s.store.NamespaceByPath(ctx, u.Username)
	if errors.Is(err, store.ErrNotFound) || err == nil && (n.Kind != keygate.NamespaceUser || n.OwnerID != u.ID) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, internal("user namespace", err)
	}
	in.NamespaceID, in.WithSubgroups = n.ID, false
	return s.Projects(ctx, sub, in)
}

// Permissions is the caller's direct project level and highest level in the project's
// group ancestry (the "permissions" object of GitLab's ProjectWithAccess).
type Permissions struct {
	Project keygate.AccessLevel
	Group   keygate.AccessLevel
}

// Permissions computes the caller's permissions object for a project.
func (s *Service) Permissions(ctx context.Context, sub authz.Subject, p keygate.Project) (Permissions, error) {
	var out Permissions
	if !sub.Authenticated() || sub.System {
		return out, nil
	}
	now := s.clock.Now()
	direct, err := s.store.MaxAccess(ctx, sub.User.ID, p.ID, nil, now)
	if err != nil {
		return out, internal("permissions", err)
	}
	out.Project = direct
	if p.Namespace.Kind == keygate.NamespaceGroup {
		if out.Group, err = s.store.MaxAccess(ctx, sub.User.ID, 0, p.Namespace.TraversalIDs, now); err != nil {
			return out, internal("permissions", err)
		}
	}
	return out, nil
}
