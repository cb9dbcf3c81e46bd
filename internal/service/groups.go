package service

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/store"
)

// NamespaceInput carries group or project fields; nil means "not given".
type NamespaceInput struct {
	Name        *string
	Path        *string
	Description *string
	Visibility  *keygate.Visibility
	ParentID    int64 // groups: parent; projects: namespace (0: the caller's own)
	// DefaultBranch applies to projects.
	DefaultBranch *string
	// ResourceAccessTokensAllowed applies to top-level groups.
	ResourceAccessTokensAllowed *bool
	// RegistryAccessLevel applies to projects (container_registry_access_level).
	RegistryAccessLevel *keygate.RegistryAccessLevel
	// Granular applies to top-level groups: the fine-grained-only policy, when given.
	Granular *GranularPolicyInput
}

// GranularPolicyInput changes a top-level group's enforce_granular_tokens and
// granular_tokens_enforced_after; nil fields stay as they are.
type GranularPolicyInput struct {
	Enforce *bool
	// SetAfter: After is the new date (nil clears it).
	SetAfter bool
	After    *keygate.Date
}

// MsgGranularTopLevel refuses the fine-grained-only policy on a subgroup (spec §5).
const MsgGranularTopLevel = "can only be set on top-level groups"

func modelError(field, msg string) error {
	return &keygate.Error{Code: keygate.CodeInvalid, Field: field, Message: msg}
}

// decide turns an authz denial into the error vocabulary.
func decide(d authz.Decision) error {
	if d.Allowed {
		return nil
	}
	switch d.Status {
	case 404:
		if strings.Contains(d.Message, "Group") {
			return ErrGroupNotFound
		}
		return ErrProjectNotFound
	case 401:
		return keygate.ErrTokenInvalid
	}
	return &keygate.Error{Code: keygate.CodeForbidden, Reasons: d.Reasons}
}

// CreateGroup creates a group (top level or under ParentID) and makes the creator its
// Owner.
func (s *Service) CreateGroup(ctx context.Context, sub authz.Subject, in NamespaceInput) (keygate.Group, error) {
	now := s.clock.Now()
	g := keygate.Namespace{Kind: keygate.NamespaceGroup, Visibility: keygate.Private, CreatedAt: now, ResourceAccessTokensAllowed: true}
	if in.Name != nil {
		g.Name = strings.TrimSpace(*in.Name)
	}
	if in.Path != nil {
		g.Path = strings.TrimSpace(*in.Path)
	}
	if in.Description != nil {
		g.Description = *in.Description
	}
	if in.Visibility != nil {
		g.Visibility = *in.Visibility
	}
	if in.ParentID != 0 {
		parent, err := s.Group(ctx, itoa(in.ParentID))
		if err != nil {
			return g, err
		}
		res, err := s.GroupAccess(ctx, sub, parent)
		if err != nil {
			return g, err
		}
		if err := decide(authz.DecideResource(sub, res, authz.ActCreateSubgroup)); err != nil {
			return g, err
		}
		if g.Visibility.Level() > parent.Visibility.Level() {
			return g, modelError("visibility_level", string(g.Visibility)+" is not allowed since the parent group has a "+string(parent.Visibility)+" visibility.")
		}
		g.ParentID = parent.ID
	} else if !sub.Admin() && !sub.User.CanCreateGroup {
		return g, forbidden("")
	}
	if err := validName(g.Name); err != nil {
		return g, err
	}
	if !keygate.ValidPath(g.Path) {
		return g, modelError("path", keygate.PathError)
	}
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateNamespace(ctx, &g); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return modelError("path", "has already been taken")
			}
			return err
		}
		if sub.System || sub.User.ID == 0 {
			return nil
		}
		m := keygate.Member{SourceType: keygate.SourceNamespace, SourceID: g.ID, UserID: sub.User.ID, AccessLevel: keygate.Owner, CreatedAt: now, CreatedByID: sub.User.ID}
		return tx.AddMember(ctx, &m)
	})
	if err != nil {
		return g, internal("create group", err)
	}
	return g, nil
}

func validName(name string) error {
	switch {
	case name == "":
		return modelError("name", "can't be blank")
	case len(name) > 255:
		return modelError("name", "is too long (maximum is 255 characters)")
	}
	return nil
}

// UpdateGroup changes a group's fields; the caller has passed the route's Owner check.
func (s *Service) UpdateGroup(ctx context.Context, sub authz.Subject, g keygate.Group, in NamespaceInput) (keygate.Group, error) {
	before, moves := g, s.repoMoves()
	if in.Name != nil {
		g.Name = strings.TrimSpace(*in.Name)
		if err := validName(g.Name); err != nil {
			return g, err
		}
	}
	if in.Path != nil {
		g.Path = strings.TrimSpace(*in.Path)
		if !keygate.ValidPath(g.Path) {
			return g, modelError("path", keygate.PathError)
		}
	}
	if in.Description != nil {
		g.Description = *in.Description
	}
	if in.ResourceAccessTokensAllowed != nil {
		g.ResourceAccessTokensAllowed = *in.ResourceAccessTokensAllowed
	}
	if gp := in.Granular; gp != nil {
		if g.ParentID != 0 {
			field := "enforce_granular_tokens"
			if gp.Enforce == nil {
				field = "granular_tokens_enforced_after"
			}
			return g, modelError(field, MsgGranularTopLevel)
		}
		if gp.Enforce != nil {
			g.GranularEnforcement.Enforce = *gp.Enforce
		}
		if gp.SetAfter {
			g.GranularEnforcement.After = gp.After
		}
	}
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		if in.Visibility != nil && *in.Visibility != g.Visibility {
			if err := checkGroupVisibility(ctx, tx, g, *in.Visibility); err != nil {
				return err
			}
			g.Visibility = *in.Visibility
		}
		if err := tx.UpdateNamespace(ctx, g); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return modelError("path", "has already been taken")
			}
			return err
		}
		var err error
		if g, err = tx.Namespace(ctx, g.ID); err != nil {
			return err
		}
		return moves.namespace(ctx, before.FullPath, g.FullPath)
	})
	moves.settle(ctx, err)
	s.cache.invalidate()
	if err != nil {
		return g, internal("update group", err)
	}
	return g, nil
}

// checkGroupVisibility keeps a group no more visible than its parent and no less than
// its children (GitLab's visibility_level validations).
func checkGroupVisibility(ctx context.Context, tx store.Tx, g keygate.Group, v keygate.Visibility) error {
	if g.ParentID != 0 {
		parent, err := tx.Namespace(ctx, g.ParentID)
		if err != nil {
			return err
		}
		if v.Level() > parent.Visibility.Level() {
			return modelError("visibility_level", string(v)+" is not allowed since the parent group has a "+string(parent.Visibility)+" visibility.")
		}
	}
	kids, _, err := tx.Namespaces(ctx, store.NamespaceFilter{ParentID: &g.ID})
	if err != nil {
		return err
	}
	for _, k := range kids {
		if k.Visibility.Level() > v.Level() {
			return modelError("visibility_level", string(v)+" is not allowed since there are sub-groups with higher visibility.")
		}
	}
	projects, _, err := tx.Projects(ctx, store.ProjectFilter{NamespaceID: g.ID})
	if err != nil {
		return err
	}
	for _, p := range projects {
		if p.Visibility.Level() > v.Level() {
			return modelError("visibility_level", string(v)+" is not allowed since this group contains projects with higher visibility.")
		}
	}
	return nil
}

// DeleteGroup removes a group with its subgroups, projects and memberships. GitLab
// answers 202 and deletes in the background; Keygate deletes at once.
func (s *Service) DeleteGroup(ctx context.Context, g keygate.Group) error {
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		// The bots of the group's tokens, and of every project inside, go with it
		// (Projects::DestroyService#destroy_project_bots!).
		groups, _, err := tx.Namespaces(ctx, store.NamespaceFilter{DescendantsOf: g.ID})
		if err != nil {
			return err
		}
		for _, n := range append(groups, g) {
			if err := deleteBots(ctx, tx, keygate.SourceNamespace, n.ID); err != nil {
				return err
			}
		}
		projects, _, err := tx.Projects(ctx, store.ProjectFilter{NamespaceID: g.ID, IncludeSubgroups: true})
		if err != nil {
			return err
		}
		for _, p := range projects {
			if err := deleteBots(ctx, tx, keygate.SourceProject, p.ID); err != nil {
				return err
			}
		}
		return tx.DeleteNamespace(ctx, g.ID)
	})
	s.cache.invalidate()
	if err != nil {
		return internal("delete group", err)
	}
	s.removeNamespaceRepositories(ctx, g)
	return nil
}

// GroupListInput selects groups as GET /groups does.
type GroupListInput struct {
	AllAvailable   *bool
	Owned          bool
	MinAccessLevel keygate.AccessLevel
	Search         string
	TopLevelOnly   bool
	ParentID       *int64
	Visibility     keygate.Visibility
	OrderBy, Sort  string
	Page           store.Page
}

// Groups lists the groups the subject sees: administrators all; others the groups they
// belong to (plus public and internal ones with all_available); anonymous callers public
// ones.
func (s *Service) Groups(ctx context.Context, sub authz.Subject, in GroupListInput) ([]keygate.Group, int, error) {
	now := s.clock.Now()
	f := store.NamespaceFilter{Kind: keygate.NamespaceGroup, Search: in.Search, Visibility: in.Visibility, OrderBy: in.OrderBy, Sort: in.Sort, Page: in.Page, ParentID: in.ParentID}
	if in.TopLevelOnly {
		zero := int64(0)
		f.ParentID = &zero
	}
	floor, limited := authz.VisibleFloor(sub)
	all := in.AllAvailable != nil && *in.AllAvailable || in.ParentID != nil
	switch {
	case !limited:
		// administrators see everything
	case !sub.Authenticated():
		f.Visible = &store.Viewer{MinVisibility: keygate.Public, Now: now}
	case all:
		f.Visible = &store.Viewer{MinVisibility: floor, MemberID: sub.User.ID, Now: now}
	default:
		f.Visible = &store.Viewer{MemberID: sub.User.ID, Now: now} // membership only
	}
	if in.Owned && sub.Authenticated() {
		f.MemberOf = &store.Membership{UserID: sub.User.ID, MinLevel: keygate.Owner, Now: now}
	} else if in.MinAccessLevel > 0 && sub.Authenticated() {
		f.MemberOf = &store.Membership{UserID: sub.User.ID, MinLevel: in.MinAccessLevel, Now: now}
	}
	gs, n, err := s.store.Namespaces(ctx, f)
	if err != nil {
		return nil, 0, internal("list groups", err)
	}
	return gs, n, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// deleteBots removes the bot users (and so the tokens) of a project's or group's
// access tokens.
func deleteBots(ctx context.Context, tx store.Tx, src keygate.SourceType, id int64) error {
	bots, _, err := tx.Users(ctx, store.UserFilter{Type: keygate.UserProjectBot, BotSourceType: src, BotSourceID: id})
	if err != nil {
		return err
	}
	for _, b := range bots {
		if err := tx.DeleteUser(ctx, b.ID); err != nil {
			return err
		}
	}
	return nil
}
