package service

import (
	"context"

	"github.com/keygate/keygate/internal/authz"
)

// TokenPrincipal is the principal a token of the actor's would authenticate as, for
// asking the decision engine what it may do without presenting it (the web UI's "can
// this token do X?"). The actor must be able to manage the token; a token that would
// not authenticate (expired, revoked, owner blocked) is refused with the reason.
func (s *Service) TokenPrincipal(ctx context.Context, actor authz.Subject, id int64) (Principal, error) {
	t, err := s.Token(ctx, actor, id)
	if err != nil {
		return Principal{}, notFound("Token not found")
	}
	u, err := s.User(ctx, t.UserID)
	if err != nil {
		return Principal{}, err
	}
	st, err := s.settings(ctx)
	if err != nil {
		return Principal{}, err
	}
	switch now := s.clock.Now(); {
	case t.Revoked:
		return Principal{}, invalid("token_id", "The token was revoked: it can do nothing")
	case t.Expired(now):
		return Principal{}, invalid("token_id", "The token has expired: it can do nothing")
	case t.Impersonation && !st.ImpersonationEnabled:
		return Principal{}, invalid("token_id", "Impersonation is disabled: the token can do nothing")
	}
	if reason := u.APIBlockReason(s.externalURL); reason != "" {
		return Principal{}, invalid("token_id", "%s", reason)
	}
	return Principal{User: u, Token: t, Type: t.TypeFor(u), AdminMode: st.AdminMode}, nil
}
