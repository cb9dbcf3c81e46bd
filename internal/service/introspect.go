package service

import (
	"context"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/secret"
)

// Introspection is what Keygate tells an introspecting caller about a token that is
// active (RFC 7662). An inactive token yields no Introspection at all.
type Introspection struct {
	TokenID   int64
	User      keygate.User
	Type      keygate.TokenType
	Scopes    keygate.Scopes
	CreatedAt time.Time
	// ExpiresAt is the instant the token stops working; nil when it never expires.
	ExpiresAt *time.Time
	// JobProjectID is the job's project for a CI/CD job token.
	JobProjectID int64
	// Granular marks a fine-grained token: Scopes is then ["granular"] (its stored
	// scopes) and GranularScopes its grant.
	Granular       bool
	GranularScopes []keygate.GranularScope
}

// Introspect reports whether raw is an active token, for a caller that already holds the
// introspect scope. Every inactive case (garbage, unknown, expired, revoked, a blocked
// owner, a finished job, impersonation turned off) is the same false, so a caller learns
// nothing more than RFC 7662 allows. It does not count toward the failed-authentication
// ban: the caller is a gateway, not the token's holder.
func (s *Service) Introspect(ctx context.Context, raw string) (Introspection, bool, error) {
	tok, err := secret.Parse(raw)
	if err != nil {
		return Introspection{}, false, nil
	}
	if tok.Prefix() == secret.PrefixJob {
		jp, err := s.AuthenticateJob(ctx, raw, "")
		if err != nil {
			return Introspection{}, false, onlyInternal(err)
		}
		end := jp.Job.StartedAt.Add(jp.Job.Timeout) // a job token dies with its job's timeout
		return Introspection{
			TokenID: jp.Job.ID, User: jp.User, Type: keygate.TokenJob, CreatedAt: jp.Job.StartedAt,
			ExpiresAt: &end, JobProjectID: jp.Project.ID,
		}, true, nil
	}
	m, err := s.store.Marker(ctx)
	if err != nil {
		return Introspection{}, false, internal("read change marker", err)
	}
	s.cache.sync(m)
	p, err := s.verify(ctx, m, raw)
	if err != nil {
		return Introspection{}, false, onlyInternal(err)
	}
	s.uses.record(p.Token.ID, s.clock.Now(), "", OriginFrom(ctx).RequestID)
	in := Introspection{TokenID: p.Token.ID, User: p.User, Type: p.Type, Scopes: p.Token.Scopes, CreatedAt: p.Token.CreatedAt}
	if p.Token.Granular {
		// In memory a fine-grained token has no legacy scopes; it reports the one GitLab
		// stores for it, as its token objects do.
		in.Scopes = keygate.Scopes{keygate.ScopeGranular}
		in.Granular, in.GranularScopes = true, p.Token.GranularScopes
	}
	if p.Token.ExpiresAt != nil {
		end := p.Token.ExpiresAt.Start()
		in.ExpiresAt = &end
	}
	return in, true, nil
}

// onlyInternal keeps a store failure (which must be a 500, not a false "inactive") and
// drops every verdict about the token.
func onlyInternal(err error) error {
	if keygate.ErrorCode(err) == keygate.CodeInternal {
		if _, ok := err.(*ErrThrottled); !ok {
			return err
		}
	}
	return nil
}

// ChangeMarker is the store's change marker: it moves on every write that can take access
// away (a revocation, a block, a membership change), in this process or another. The
// revocation stream watches it.
func (s *Service) ChangeMarker(ctx context.Context) (int64, error) {
	m, err := s.store.Marker(ctx)
	if err != nil {
		return 0, internal("read change marker", err)
	}
	return m, nil
}

// RateLimit is a per-caller request budget: at most Requests per Window.
type RateLimit struct {
	Requests int
	Window   time.Duration
}

// DefaultIntrospectLimit is the budget of one introspecting token: 6000 requests a minute
// (100 a second), which a gateway that caches its answers never reaches.
var DefaultIntrospectLimit = RateLimit{Requests: 6000, Window: time.Minute}

// Limiter counts requests per caller in fixed windows on the service clock. It is bounded:
// past maxTracked callers the oldest windows are forgotten.
type Limiter struct {
	limit RateLimit
	now   func() time.Time
	mu    sync.Mutex
	win   map[int64]*limitWindow
}

type limitWindow struct {
	start time.Time
	n     int
}

// NewLimiter builds a limiter on the service clock.
func (s *Service) NewLimiter(l RateLimit) *Limiter {
	return &Limiter{limit: l, now: s.clock.Now, win: map[int64]*limitWindow{}}
}

// Allow counts one request of caller and reports whether it is within the budget; when
// not, it also reports how long until the window reopens.
func (l *Limiter) Allow(caller int64) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.win[caller]
	if !ok || now.Sub(w.start) >= l.limit.Window || now.Before(w.start) {
		if !ok && len(l.win) >= maxTracked {
			for k, old := range l.win {
				if now.Sub(old.start) >= l.limit.Window {
					delete(l.win, k)
				}
			}
			if len(l.win) >= maxTracked {
				clear(l.win)
			}
		}
		w = &limitWindow{start: now}
		l.win[caller] = w
	}
	if w.n >= l.limit.Requests {
		return false, w.start.Add(l.limit.Window).Sub(now)
	}
	w.n++
	return true, 0
}
