package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// Credential is a token as presented, with what the transport knows of the request.
type Credential struct {
	Token string
	IP    string
	// RotatePath marks a request to a rotate endpoint: presenting a revoked token there
	// is a reuse, and revokes the token's still-active descendants (spec §6.3).
	RotatePath bool
	// Uncounted keeps a failure out of the failed-authentication ban (GitLab does not
	// count gitlab-ci-token logins).
	Uncounted bool
}

// Principal is an authenticated caller: the token and its owner.
type Principal struct {
	User  keygate.User
	Token keygate.Token
	Type  keygate.TokenType
	// AdminMode is the instance setting at authentication time.
	AdminMode bool
}

// Subject returns the principal as authz sees it.
func (p Principal) Subject() authz.Subject {
	t := p.Token
	return authz.Subject{User: p.User, Token: &t, AdminMode: p.AdminMode}
}

// Authenticate verifies a presented token: shape and checksum (no lookup for garbage),
// keyed digest, cache or one indexed lookup, then expiry, revocation, impersonation and
// the owner's state, in GitLab's order. Errors are the keygate.ErrToken* sentinels or a
// forbidden *keygate.Error naming the account's state.
func (s *Service) Authenticate(ctx context.Context, c Credential) (Principal, error) {
	if err := s.throttle.check(c.IP); err != nil {
		return Principal{}, err
	}
	p, err := s.authenticate(ctx, c)
	switch {
	case err == nil:
		s.throttle.succeeded(c.IP)
	case !c.Uncounted && countsAsFailure(err):
		s.throttle.failed(c.IP)
	}
	return p, err
}

// CountFailure feeds the failed-authentication ban from outside token checks (a Git
// request with a password but no valid token).
func (s *Service) CountFailure(ip string) { s.throttle.failed(ip) }

// CheckBanned refuses an address banned for failed authentications.
func (s *Service) CheckBanned(ip string) error { return s.throttle.check(ip) }

func (s *Service) authenticate(ctx context.Context, c Credential) (Principal, error) {
	m, err := s.store.Marker(ctx)
	if err != nil {
		return Principal{}, internal("read change marker", err)
	}
	s.cache.sync(m)
	p, err := s.verify(ctx, m, c.Token)
	if err != nil {
		if errors.Is(err, keygate.ErrTokenRevoked) && c.RotatePath {
			s.revokeFamily(ctx, p.Token, c)
		}
		return Principal{}, err
	}
	s.uses.record(p.Token.ID, s.clock.Now(), c.IP, OriginFrom(ctx).RequestID)
	return p, nil
}

// verify checks a token against a cache synced at marker m. On ErrTokenRevoked it still
// returns the principal, for reuse detection.
func (s *Service) verify(ctx context.Context, m int64, raw string) (Principal, error) {
	tok, err := secret.Parse(raw)
	if err != nil {
		return Principal{}, keygate.ErrTokenInvalid
	}
	d := s.dig.Digest(tok)
	e, err := s.lookup(ctx, m, d)
	if err != nil {
		return Principal{}, err
	}
	settings, err := s.cachedSettings(ctx)
	if err != nil {
		return Principal{}, err
	}
	now := s.clock.Now()
	switch {
	case e.token.Expired(now):
		return Principal{}, keygate.ErrTokenExpired
	case e.token.Revoked:
		return Principal{Token: e.token}, keygate.ErrTokenRevoked
	case e.token.Impersonation && !settings.ImpersonationEnabled:
		return Principal{}, keygate.ErrImpersonationDisabled
	case settings.DisablePersonalAccessTokens && !e.token.Impersonation && e.user.Type == keygate.UserHuman && !e.user.Admin:
		// Disabled PATs authenticate nothing; administrators' still do, since Keygate has
		// no other way in to turn the setting back off (docs/lifecycle.md).
		return Principal{}, keygate.ErrTokenInvalid
	}
	if reason := e.user.APIBlockReason(s.externalURL); reason != "" {
		return Principal{}, forbidden(reason)
	}
	return Principal{User: *e.user, Token: e.token, Type: e.token.TypeFor(*e.user), AdminMode: settings.AdminMode}, nil
}

// lookup finds a token and its owner by digest, through the cache.
func (s *Service) lookup(ctx context.Context, m int64, d secret.Digest) (*cacheEntry, error) {
	if e, ok := s.cache.get(d); ok && d.Matches(e.token.Digest) {
		return e, nil
	}
	key := d // only the miss path lets a copy escape to the store
	t, err := s.store.TokenByDigest(ctx, key[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, keygate.ErrTokenInvalid
	}
	if err != nil {
		return nil, internal("look up token", err)
	}
	if !d.Matches(t.Digest) {
		return nil, keygate.ErrTokenInvalid
	}
	u, err := s.store.User(ctx, t.UserID)
	if err != nil {
		return nil, internal("load token owner", err)
	}
	return s.cache.put(m, d, t, u), nil
}

// revokeFamily answers a reuse of a rotated-away token: every still-active successor is
// revoked, since a thief or the owner holds a copy that should have died.
func (s *Service) revokeFamily(ctx context.Context, t keygate.Token, c Credential) {
	now := s.clock.Now()
	var n int
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		var err error
		if n, err = tx.RevokeDescendants(ctx, t.ID, now); err != nil {
			return err
		}
		msg := fmt.Sprintf("Revoked token %d presented to a rotate endpoint; %d successor(s) revoked", t.ID, n)
		return s.auditTokenTx(WithOrigin(ctx, Origin{IP: c.IP, RequestID: OriginFrom(ctx).RequestID}), tx, nil,
			keygate.AuditTokenReuse, t, fingerprintOf(c.Token), msg)
	})
	s.cache.invalidate()
	if err != nil {
		s.log.Error("revoke token family after reuse", "token_id", t.ID, "err", err)
		return
	}
	s.log.Warn("revoked token reused on a rotate endpoint; family revoked", "token_id", t.ID, "revoked", n)
}
