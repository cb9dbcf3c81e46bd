package service

import (
	"context"
	"errors"
	"slices"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/store"
)

// Source is what memberships belong to: a project or a group, with the subject's
// access already resolved by the caller.
type Source struct {
	Type      keygate.SourceType
	ID        int64
	Name      string
	Ancestors []keygate.Namespace // namespaces above (a project's namespace chain; a group's parents), top first
	Resource  authz.Resource
	// Personal marks a project in a user's namespace (its ancestors have no members).
	Personal bool
}

// ProjectSource builds the membership source of a project.
func (s *Service) ProjectSource(ctx context.Context, p keygate.Project, res authz.Resource) (Source, error) {
	src := Source{Type: keygate.SourceProject, ID: p.ID, Name: p.Name, Resource: res, Personal: p.Namespace.Kind == keygate.NamespaceUser}
	if !src.Personal {
		anc, err := s.chain(ctx, p.Namespace.TraversalIDs)
		if err != nil {
			return src, err
		}
		src.Ancestors = anc
	}
	return src, nil
}

// GroupSource builds the membership source of a group.
func (s *Service) GroupSource(ctx context.Context, g keygate.Group, res authz.Resource) (Source, error) {
	src := Source{Type: keygate.SourceNamespace, ID: g.ID, Name: g.Name, Resource: res}
	anc, err := s.chain(ctx, g.TraversalIDs[:len(g.TraversalIDs)-1])
	if err != nil {
		return src, err
	}
	src.Ancestors = anc
	return src, nil
}

func (s *Service) chain(ctx context.Context, ids []int64) ([]keygate.Namespace, error) {
	out := make([]keygate.Namespace, 0, len(ids))
	for _, id := range ids {
		n, err := s.store.Namespace(ctx, id)
		if err != nil {
			return nil, internal("load ancestors", err)
		}
		out = append(out, n)
	}
	return out, nil
}

// MemberView is a membership with its user, as the members API shows it.
type MemberView struct {
	Member    keygate.Member
	User      keygate.User
	CreatedBy *keygate.User
	// Inherited is set on /all entries that come from an ancestor group.
	Inherited bool
}

// Members lists active memberships of a source: direct ones, or with all the effective
// ones (inherited from ancestor groups; one entry per user, the highest level wins).
func (s *Service) Members(ctx context.Context, src Source, all bool) ([]MemberView, error) {
	now := s.clock.Now()
	f := store.MemberFilter{SourceType: src.Type, SourceIDs: []int64{src.ID}}
	if all {
		ids := make([]int64, 0, len(src.Ancestors)+1)
		for _, a := range src.Ancestors {
			ids = append(ids, a.ID)
		}
		if src.Type == keygate.SourceProject {
			f = store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: ids, ProjectIDs: []int64{src.ID}}
		} else {
			f = store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: append(ids, src.ID)}
		}
	}
	ms, err := s.store.Members(ctx, f)
	if err != nil {
		return nil, internal("list members", err)
	}
	best := map[int64]keygate.Member{}
	var order []int64
	for _, m := range ms {
		if !m.Active(now) {
			continue
		}
		cur, ok := best[m.UserID]
		if !ok {
			order = append(order, m.UserID)
		}
		if !ok || m.AccessLevel > cur.AccessLevel || m.AccessLevel == cur.AccessLevel && m.SourceType == src.Type && m.SourceID == src.ID {
			best[m.UserID] = m
		}
	}
	slices.Sort(order)
	out := make([]MemberView, 0, len(order))
	users := map[int64]keygate.User{}
	load := func(id int64) (*keygate.User, error) {
		if u, ok := users[id]; ok {
			return &u, nil
		}
		u, err := s.store.User(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, internal("load member", err)
		}
		users[id] = u
		return &u, nil
	}
	for _, uid := range order {
		m := best[uid]
		u, err := load(uid)
		if err != nil {
			return nil, err
		}
		if u == nil {
			continue
		}
		v := MemberView{Member: m, User: *u, Inherited: m.SourceType != src.Type || m.SourceID != src.ID}
		if m.CreatedByID != 0 {
			if v.CreatedBy, err = load(m.CreatedByID); err != nil {
				return nil, err
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// Member returns one active membership of a source (direct, or effective with all).
func (s *Service) Member(ctx context.Context, src Source, userID int64, all bool) (MemberView, error) {
	ms, err := s.Members(ctx, src, all)
	if err != nil {
		return MemberView{}, err
	}
	for _, m := range ms {
		if m.User.ID == userID {
			return m, nil
		}
	}
	return MemberView{}, notFound("Not found")
}

// MemberInput is a membership to add or change.
type MemberInput struct {
	UserID      int64
	Username    string
	AccessLevel keygate.AccessLevel
	ExpiresAt   *keygate.Date
}

// ErrMemberExists is GitLab's 409 for adding someone already a direct member.
var ErrMemberExists = &keygate.Error{Code: keygate.CodeConflict, Message: "Member already exists"}

// validLevel: members get Guest through Owner (Minimal access only on groups).
func validLevel(t keygate.SourceType, l keygate.AccessLevel) bool {
	switch l {
	case keygate.Guest, keygate.Planner, keygate.Reporter, keygate.Developer, keygate.Maintainer, keygate.Owner:
		return true
	case keygate.MinimalAccess:
		return t == keygate.SourceNamespace
	}
	return false
}

// AddMember adds a direct membership, with GitLab's order of checks: the user exists,
// is not already a member (409, before any permission check), then the caller may
// manage members and grant that level, then the model rules.
func (s *Service) AddMember(ctx context.Context, sub authz.Subject, src Source, in MemberInput) (MemberView, error) {
	var u keygate.User
	var err error
	if in.UserID != 0 {
		u, err = s.User(ctx, in.UserID)
	} else {
		u, err = s.UserByUsername(ctx, in.Username)
	}
	if err != nil {
		return MemberView{}, err
	}
	if _, err := s.store.Member(ctx, src.Type, src.ID, u.ID); err == nil {
		return MemberView{}, ErrMemberExists
	} else if !errors.Is(err, store.ErrNotFound) {
		return MemberView{}, internal("find member", err)
	}
	if err := s.canManage(sub, src, in.AccessLevel, 0); err != nil {
		return MemberView{}, err
	}
	if err := s.memberRules(ctx, src, u, in); err != nil {
		return MemberView{}, err
	}
	m := keygate.Member{SourceType: src.Type, SourceID: src.ID, UserID: u.ID, AccessLevel: in.AccessLevel, ExpiresAt: in.ExpiresAt, CreatedAt: s.clock.Now(), CreatedByID: sub.User.ID}
	err = s.store.InTx(ctx, func(tx store.Tx) error { return tx.AddMember(ctx, &m) })
	if errors.Is(err, store.ErrConflict) {
		return MemberView{}, ErrMemberExists
	}
	if err != nil {
		return MemberView{}, internal("add member", err)
	}
	v := MemberView{Member: m, User: u}
	if sub.User.ID != 0 {
		c := sub.User
		v.CreatedBy = &c
	}
	return v, nil
}

// canManage: the caller may manage members of the source (route level), and grant the
// level; only Owners may grant or touch Owner (manage_owners). old is the member's
// current level when changing or removing one.
func (s *Service) canManage(sub authz.Subject, src Source, level, old keygate.AccessLevel) error {
	if err := decide(authz.DecideResource(sub, src.Resource, authz.ActManageMembers)); err != nil {
		return err
	}
	own := src.Resource.Access
	if (level == keygate.Owner || old == keygate.Owner) && !sub.Admin() && own < keygate.Owner {
		return denied("only Owners may grant, change or remove the Owner role (manage_owners); you have " + own.String())
	}
	if level != 0 && !authz.CanAssignLevel(sub, own, level) {
		return denied("you cannot grant " + level.String() + ": it is above your own role (" + own.String() + ")")
	}
	return nil
}

// memberRules are the model validations of a membership.
func (s *Service) memberRules(ctx context.Context, src Source, u keygate.User, in MemberInput) error {
	if !validLevel(src.Type, in.AccessLevel) {
		return modelError("access_level", "is not included in the list")
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(keygate.DateOf(s.clock.Now())) {
		return modelError("expires_at", "cannot be a date in the past")
	}
	if u.Type == keygate.UserProjectBot && !(u.BotSourceType == src.Type && u.BotSourceID == src.ID) {
		return modelError("user_id", "project bots cannot be added to other groups / projects")
	}
	// A direct membership may not be below what the user inherits from an ancestor.
	for _, a := range src.Ancestors {
		m, err := s.store.Member(ctx, keygate.SourceNamespace, a.ID, u.ID)
		if err != nil {
			continue
		}
		if m.Active(s.clock.Now()) && in.AccessLevel < m.AccessLevel {
			return modelError("access_level", "should be greater than or equal to "+m.AccessLevel.String()+" inherited membership from group "+a.Name)
		}
	}
	return nil
}

// UpdateMember changes a direct membership's level and expiry.
func (s *Service) UpdateMember(ctx context.Context, sub authz.Subject, src Source, in MemberInput) (MemberView, error) {
	m, err := s.store.Member(ctx, src.Type, src.ID, in.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return MemberView{}, notFound("Not found")
	}
	if err != nil {
		return MemberView{}, internal("find member", err)
	}
	u, err := s.User(ctx, in.UserID)
	if err != nil {
		return MemberView{}, err
	}
	if err := s.canManage(sub, src, in.AccessLevel, m.AccessLevel); err != nil {
		return MemberView{}, err
	}
	if u.Type == keygate.UserProjectBot && u.BotSourceType == src.Type && u.BotSourceID == src.ID {
		return MemberView{}, denied("this member is the bot of an access token; it keeps the token's role")
	}
	if in.ExpiresAt == nil {
		in.ExpiresAt = m.ExpiresAt
	}
	if err := s.memberRules(ctx, src, u, in); err != nil {
		return MemberView{}, err
	}
	m.AccessLevel, m.ExpiresAt = in.AccessLevel, in.ExpiresAt
	err = s.store.InTx(ctx, func(tx store.Tx) error { return tx.UpdateMember(ctx, m) })
	s.cache.invalidate()
	if err != nil {
		return MemberView{}, internal("update member", err)
	}
	return MemberView{Member: m, User: u}, nil
}

// RemoveMember deletes a direct membership: anyone may leave; managing others needs the
// manage role (Owner to remove an Owner); a group keeps at least one Owner; a token's
// bot leaves only with its token.
func (s *Service) RemoveMember(ctx context.Context, sub authz.Subject, src Source, userID int64) error {
	m, err := s.store.Member(ctx, src.Type, src.ID, userID)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("Not found")
	}
	if err != nil {
		return internal("find member", err)
	}
	u, err := s.User(ctx, userID)
	if err != nil {
		return err
	}
	if u.Type == keygate.UserProjectBot {
		return denied("this member is the bot of an access token; revoke the token instead")
	}
	if userID != sub.User.ID || sub.System {
		if err := s.canManage(sub, src, 0, m.AccessLevel); err != nil {
			return err
		}
	}
	if src.Type == keygate.SourceNamespace && m.AccessLevel == keygate.Owner {
		ms, err := s.store.Members(ctx, store.MemberFilter{SourceType: src.Type, SourceIDs: []int64{src.ID}})
		if err != nil {
			return internal("count owners", err)
		}
		owners := 0
		for _, o := range ms {
			if o.AccessLevel == keygate.Owner && o.Active(s.clock.Now()) {
				owners++
			}
		}
		if owners <= 1 {
			return denied("a group keeps at least one Owner")
		}
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error { return tx.RemoveMember(ctx, src.Type, src.ID, userID) })
	s.cache.invalidate()
	if err != nil {
		return internal("remove member", err)
	}
	return nil
}

// denied is a 403 that explains itself to a caller who asks (X-Keygate-Explain).
func denied(reason string) error {
	return &keygate.Error{Code: keygate.CodeForbidden, Reasons: []string{reason}}
}
