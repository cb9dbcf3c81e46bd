package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// ResourceBotScopes are the scopes project and group access tokens may carry: every
// non-admin scope except read_user (spec §2.1).
func ResourceBotScope(s keygate.Scope) bool {
	return s.Valid() && !s.Admin() && !s.GrantedByAdmin() && s != keygate.ScopeReadUser
}

// ResourceToken is a project or group access token with its bot's level.
type ResourceToken struct {
	Token       keygate.Token
	AccessLevel keygate.AccessLevel
	Secret      secret.Token // only on create and rotate
}

// ResourceTokenInput asks for a new project or group access token.
type ResourceTokenInput struct {
	TokenInput
	AccessLevel keygate.AccessLevel // 0: Maintainer, GitLab's default
}

func kindName(t keygate.SourceType) string {
	if t == keygate.SourceNamespace {
		return "group"
	}
	return "project"
}

// errNoCreate is GitLab's refusal of a resource token by the creator's permissions.
func errNoCreate(t keygate.SourceType) error {
	return invalid("", "User does not have permission to create %s access token", kindName(t))
}

// canManageResourceTokens: the role (Maintainer on projects, Owner on groups), the
// top-level group setting, and never a bot: resource tokens cannot mint tokens.
func (s *Service) canManageResourceTokens(ctx context.Context, sub authz.Subject, src Source) (bool, error) {
	if sub.User.Bot() && !sub.Admin() {
		return false, nil
	}
	if !authz.DecideResource(sub, src.Resource, authz.ActManageTokens).Allowed {
		return false, nil
	}
	st, err := s.settings(ctx)
	if err != nil {
		return false, err
	}
	if st.DisablePersonalAccessTokens {
		return false, nil // GitLab turns resource tokens off with personal ones
	}
	allowed, err := s.resourceTokensAllowed(ctx, src)
	return allowed || sub.Admin(), err
}

// resourceTokensAllowed reads the top-level group's "users can create project and group
// access tokens" setting; personal namespaces always allow them.
func (s *Service) resourceTokensAllowed(ctx context.Context, src Source) (bool, error) {
	var top keygate.Namespace
	switch {
	case len(src.Ancestors) > 0:
		top = src.Ancestors[0]
	case src.Type == keygate.SourceNamespace:
		g, err := s.store.Namespace(ctx, src.ID)
		if err != nil {
			return false, internal("load group", err)
		}
		top = g
	default:
		return true, nil
	}
	return top.ResourceAccessTokensAllowed, nil
}

// CreateResourceToken creates a bot user for the project or group, makes it a member at
// the token's level and issues the token it owns, in one transaction.
func (s *Service) CreateResourceToken(ctx context.Context, sub authz.Subject, src Source, in ResourceTokenInput) (ResourceToken, error) {
	ok, err := s.canManageResourceTokens(ctx, sub, src)
	if err != nil {
		return ResourceToken{}, err
	}
	if !ok {
		return ResourceToken{}, errNoCreate(src.Type)
	}
	if in.AccessLevel == 0 {
		in.AccessLevel = keygate.Maintainer
	}
	if !authz.CanAssignLevel(sub, src.Resource.Access, in.AccessLevel) {
		return ResourceToken{}, invalid("access_level", "Access level of the token contains permissions not held by the creating user")
	}
	st, err := s.settings(ctx)
	if err != nil {
		return ResourceToken{}, err
	}
	now := s.clock.Now()
	var grant []keygate.GranularScope
	if in.Granular != nil {
		// Keygate extension: the bot's role on its source still caps what the grant opens.
		if grant, err = s.expandGranular(ctx, sub, keygate.User{Type: keygate.UserProjectBot}, sub.User, in.Granular); err != nil {
			return ResourceToken{}, err
		}
		in.Scopes = keygate.Scopes{keygate.ScopeGranular}
	} else if sub.Token != nil && sub.Token.Granular {
		return ResourceToken{}, errGranularEscalation
	}
	if err := validateTokenInput(in.TokenInput, keygate.User{}, st, now); err != nil {
		return ResourceToken{}, err
	}
	exp := in.ExpiresAt
	if exp == nil && st.RequirePersonalAccessTokenExpiry {
		d := keygate.DateOf(now).AddDays(st.TokenLifetimeDays())
		exp = &d
	}
	var suffix [16]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return ResourceToken{}, internal("bot name", err)
	}
	username := fmt.Sprintf("%s_%d_bot_%s", kindName(src.Type), src.ID, hex.EncodeToString(suffix[:]))
	bot := keygate.User{
		Username: username, Name: in.Name, Email: username + "@noreply." + s.host(),
		State: keygate.UserActive, Type: keygate.UserProjectBot, External: sub.User.External,
		BotSourceType: src.Type, BotSourceID: src.ID, CreatedByID: sub.User.ID,
		CreatedAt: now, ConfirmedAt: &now,
	}
	t := keygate.Token{Name: in.Name, Description: in.Description, Scopes: in.Scopes, ExpiresAt: exp, CreatedAt: now, UpdatedAt: now}
	if grant != nil {
		t.Scopes, t.Granular, t.GranularScopes = nil, true, grant
	}
	var sec secret.Token
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateUser(ctx, &bot); err != nil {
			return err
		}
		m := keygate.Member{SourceType: src.Type, SourceID: src.ID, UserID: bot.ID, AccessLevel: in.AccessLevel, CreatedAt: now, CreatedByID: sub.User.ID}
		if err := tx.AddMember(ctx, &m); err != nil {
			return err
		}
		t.UserID = bot.ID
		var err error
		if sec, err = s.insertToken(ctx, tx, st, &t); err != nil {
			return err
		}
		return s.auditIssued(ctx, tx, actorUser(sub), keygate.AuditTokenCreated, t, bot, sec, "Created")
	})
	if err != nil {
		return ResourceToken{}, internal("create resource token", err)
	}

	return ResourceToken{Token: t, AccessLevel: in.AccessLevel, Secret: sec}, nil
}

// host is the external URL's host name, for bot e-mail addresses.
func (s *Service) host() string {
	u, err := url.Parse(s.externalURL)
	if err != nil || u.Hostname() == "" {
		return "keygate.local"
	}
	return u.Hostname()
}

// ErrResourceTokenNotVisible: listing or reading a source's tokens without the role.
// GitLab answers 401 there, not 403.
var ErrResourceTokenNotVisible = &keygate.Error{Code: keygate.CodeUnauthenticated, Message: "401 Unauthorized"}

// canReadResourceTokens: Maintainer on projects, Owner on groups, or an administrator.
func canReadResourceTokens(sub authz.Subject, src Source) bool {
	return authz.DecideResource(sub, src.Resource, authz.ActReadTokens).Allowed
}

// ResourceTokens lists the tokens of a source's bots.
func (s *Service) ResourceTokens(ctx context.Context, sub authz.Subject, src Source, f store.TokenFilter) ([]ResourceToken, int, error) {
	if !canReadResourceTokens(sub, src) {
		return nil, 0, ErrResourceTokenNotVisible
	}
	f.OwnerType, f.OwnerSourceType, f.OwnerSourceID = keygate.UserProjectBot, src.Type, src.ID
	no := false
	f.Impersonation = &no
	f.Now = s.clock.Now()
	ts, n, err := s.store.Tokens(ctx, f)
	if err != nil {
		return nil, 0, internal("list resource tokens", err)
	}
	out := make([]ResourceToken, 0, len(ts))
	for _, t := range ts {
		lvl, err := s.botLevel(ctx, src, t.UserID)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, ResourceToken{Token: t, AccessLevel: lvl})
	}
	return out, n, nil
}

func (s *Service) botLevel(ctx context.Context, src Source, botID int64) (keygate.AccessLevel, error) {
	m, err := s.store.Member(ctx, src.Type, src.ID, botID)
	if errors.Is(err, store.ErrNotFound) {
		return keygate.NoAccess, nil
	}
	if err != nil {
		return 0, internal("bot membership", err)
	}
	return m.AccessLevel, nil
}

// errTokenNotFound is "404 project Access Token Not Found" (GitLab's lowercase type).
func errTokenNotFound(t keygate.SourceType) error {
	return &keygate.Error{Code: keygate.CodeNotFound, Message: kindName(t) + " Access Token"}
}

// resourceToken loads token id if it belongs to a bot of the source.
func (s *Service) resourceToken(ctx context.Context, src Source, id int64) (keygate.Token, keygate.User, error) {
	t, err := s.store.Token(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return t, keygate.User{}, errTokenNotFound(src.Type)
	}
	if err != nil {
		return t, keygate.User{}, internal("get token", err)
	}
	bot, err := s.store.User(ctx, t.UserID)
	if err != nil {
		return t, bot, internal("token owner", err)
	}
	if bot.Type != keygate.UserProjectBot || bot.BotSourceType != src.Type || bot.BotSourceID != src.ID || t.Impersonation {
		return t, bot, errTokenNotFound(src.Type)
	}
	return t, bot, nil
}

// ResourceTokenByID returns one of the source's tokens.
func (s *Service) ResourceTokenByID(ctx context.Context, sub authz.Subject, src Source, id int64) (ResourceToken, error) {
	if !canReadResourceTokens(sub, src) {
		return ResourceToken{}, ErrResourceTokenNotVisible
	}
	t, _, err := s.resourceToken(ctx, src, id)
	if err != nil {
		return ResourceToken{}, err
	}
	lvl, err := s.botLevel(ctx, src, t.UserID)
	return ResourceToken{Token: t, AccessLevel: lvl}, err
}

// RotateResourceToken rotates one of the source's tokens (manage role; non-admins get
// 401 where GitLab gives it, for a missing token too).
func (s *Service) RotateResourceToken(ctx context.Context, sub authz.Subject, src Source, id int64, exp *keygate.Date) (ResourceToken, error) {
	ok, err := s.canManageResourceTokens(ctx, sub, src)
	if err != nil {
		return ResourceToken{}, err
	}
	var hidden error = ErrResourceTokenNotVisible
	if sub.Admin() {
		hidden = notFound("Not Found") // not_found! without a name
	}
	if !ok {
		return ResourceToken{}, hidden
	}
	t, _, err := s.resourceToken(ctx, src, id)
	if err != nil {
		if keygate.ErrorCode(err) == keygate.CodeNotFound {
			return ResourceToken{}, hidden
		}
		return ResourceToken{}, err
	}
	if err := s.checkNotBroader(ctx, sub, t); err != nil {
		return ResourceToken{}, err
	}
	return s.rotateResource(ctx, actorUser(sub), src, t, exp)
}

// RotateResourceTokenSelf rotates the calling token, which must be a bot token of this
// source: another kind of token is 405, another resource's bot 401 (spec §4.3).
func (s *Service) RotateResourceTokenSelf(ctx context.Context, p Principal, src Source, exp *keygate.Date) (ResourceToken, error) {
	if p.User.Type != keygate.UserProjectBot || p.Token.Impersonation {
		return ResourceToken{}, &keygate.Error{Code: keygate.CodeNotAllowed}
	}
	if p.User.BotSourceType != src.Type || p.User.BotSourceID != src.ID {
		return ResourceToken{}, ErrResourceTokenNotVisible
	}
	return s.rotateResource(ctx, &p.User, src, p.Token, exp)
}

// RotatedResource is the result of a resource token's rotation with its source, as an
// idempotent request's answer is rendered from it.
type RotatedResource struct {
	Source Source
	Token  ResourceToken
}

func (s *Service) rotateResource(ctx context.Context, actor *keygate.User, src Source, t keygate.Token, exp *keygate.Date) (ResourceToken, error) {
	lvl, err := s.botLevel(ctx, src, t.UserID)
	if err != nil {
		return ResourceToken{}, err
	}
	m, merr := s.store.Member(ctx, src.Type, src.ID, t.UserID)
	iss, err := s.rotate(ctx, actor, t, exp, func(tx store.Tx, iss Issued) (any, error) {
		// Rotation keeps the bot's membership and clears its expiry (17.9), in the
		// rotation's transaction: nothing can fail once the successor is committed.
		if merr == nil && m.ExpiresAt != nil {
			m.ExpiresAt = nil
			if err := tx.UpdateMember(ctx, m); err != nil {
				return nil, fmt.Errorf("clear bot membership expiry: %w", err)
			}
		}
		return RotatedResource{Source: src, Token: ResourceToken{Token: iss.Token, AccessLevel: lvl, Secret: iss.Secret}}, nil
	})
	if err != nil {
		return ResourceToken{}, err
	}
	return ResourceToken{Token: iss.Token, AccessLevel: lvl, Secret: iss.Secret}, nil
}

// RevokeResourceToken revokes one of the source's tokens. Without the manage role the
// refusal is GitLab's "<caller> cannot delete <bot>".
func (s *Service) RevokeResourceToken(ctx context.Context, sub authz.Subject, src Source, id int64) error {
	t, bot, err := s.resourceToken(ctx, src, id)
	if err != nil {
		return err
	}
	ok, err := s.canManageResourceTokens(ctx, sub, src)
	if err != nil {
		return err
	}
	if !ok {
		name := sub.User.Name
		if name == "" {
			name = sub.User.Username
		}
		return invalid("", "%s cannot delete %s", name, bot.Name)
	}
	return s.revoke(ctx, actorUser(sub), t)
}

// RevokeResourceTokenSelf revokes the calling bot token of this source (Keygate offers
// the `self` form on resource paths too).
func (s *Service) RevokeResourceTokenSelf(ctx context.Context, p Principal, src Source) error {
	if p.User.Type != keygate.UserProjectBot || p.Token.Impersonation {
		return &keygate.Error{Code: keygate.CodeNotAllowed}
	}
	if p.User.BotSourceType != src.Type || p.User.BotSourceID != src.ID {
		return ErrResourceTokenNotVisible
	}
	return s.revoke(ctx, &p.User, p.Token)
}

// PurgeInactiveBots deletes the bots of project and group tokens whose every token went
// inactive more than the retention period ago (instance setting
// inactive_resource_access_tokens_delete_after_days, default 30; 0 never). It returns how
// many bots it removed.
func (s *Service) PurgeInactiveBots(ctx context.Context) (int, error) {
	st, err := s.settings(ctx)
	if err != nil {
		return 0, err
	}
	days := st.InactiveResourceTokensDeleteAfterDays
	if days <= 0 {
		return 0, nil
	}
	now := s.clock.Now()
	cutoff := now.AddDate(0, 0, -days)
	bots, _, err := s.store.Users(ctx, store.UserFilter{Type: keygate.UserProjectBot})
	if err != nil {
		return 0, internal("list bots", err)
	}
	removed := 0
	for _, b := range bots {
		ts, _, err := s.store.Tokens(ctx, store.TokenFilter{UserID: b.ID})
		if err != nil {
			return removed, internal("bot tokens", err)
		}
		if len(ts) == 0 {
			continue
		}
		keep := false
		for _, t := range ts {
			// Inactive since: revocation (updated_at) or the start of the expiry date.
			since := t.UpdatedAt
			if !t.Revoked && t.ExpiresAt != nil {
				since = t.ExpiresAt.Start()
			}
			if t.Active(now) || since.After(cutoff) {
				keep = true
				break
			}
		}
		if keep {
			continue
		}
		if err := s.store.InTx(ctx, func(tx store.Tx) error { return tx.DeleteUser(ctx, b.ID) }); err != nil {
			return removed, internal("delete bot", err)
		}
		removed++
	}
	if removed > 0 {
		s.cache.invalidate()
		s.log.Info("removed bots of inactive resource tokens", "count", removed, "retention_days", days)
	}
	return removed, nil
}
