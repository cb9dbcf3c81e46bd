package service

import (
	"context"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

// PermissionUseRetentionDays is how long aggregated permission use is kept (Keygate
// extension): the window suggestions can look back over.
const PermissionUseRetentionDays = 90

// permissionUses aggregates which routes on which boundaries each token's requests
// passed, in memory, for the use recorder's background flush: a request only bumps a
// counter. Past maxPending distinct lines per flush, new lines are dropped.
type permissionUses struct {
	mu      sync.Mutex
	pending map[permissionUseKey]keygate.PermissionUse
}

type permissionUseKey struct {
	token int64
	day   keygate.Date
	route string
	kind  authz.BoundaryKind
	id    int64
}

func (p *permissionUses) add(tokenID int64, route string, b authz.Boundary, at time.Time) {
	k := permissionUseKey{tokenID, keygate.DateOf(at), route, b.Kind, b.ID}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[permissionUseKey]keygate.PermissionUse{}
	}
	cur, ok := p.pending[k]
	if !ok {
		if len(p.pending) >= maxPending {
			return
		}
		cur = keygate.PermissionUse{TokenID: tokenID, Day: k.day, Route: route, BoundaryKind: string(b.Kind), BoundaryID: b.ID}
	}
	cur.Uses++
	if at.After(cur.LastUsedAt) {
		cur.LastUsedAt = at
	}
	p.pending[k] = cur
}

func (p *permissionUses) take() []keygate.PermissionUse {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]keygate.PermissionUse, 0, len(p.pending))
	for _, u := range p.pending {
		out = append(out, u)
	}
	p.pending = nil
	return out
}

// RecordPermissionUse notes, off the request path, that a token's request on route
// (its "METHOD PATTERN", or "GIT <service>") passed on boundary b.
func (s *Service) RecordPermissionUse(tokenID int64, route string, b authz.Boundary) {
	s.uses.perms.add(tokenID, route, b, s.clock.Now())
}

// flushPermissionUses writes the pending lines and prunes those past the retention.
func (r *useRecorder) flushPermissionUses(ctx context.Context, now time.Time) error {
	batch := r.perms.take()
	keepFrom := keygate.DateOf(now).AddDays(-PermissionUseRetentionDays)
	if len(batch) == 0 {
		return nil
	}
	return r.store.RecordPermissionUses(ctx, batch, keepFrom)
}

// PermissionUses returns a token's aggregated uses over the last days days (at most the
// retention), after flushing what is pending.
func (s *Service) PermissionUses(ctx context.Context, tokenID int64, days int) ([]keygate.PermissionUse, error) {
	if err := s.FlushUses(ctx); err != nil {
		return nil, internal("flush uses", err)
	}
	days = min(max(days, 1), PermissionUseRetentionDays)
	since := keygate.DateOf(s.clock.Now()).AddDays(-(days - 1))
	uses, err := s.store.PermissionUses(ctx, tokenID, since)
	if err != nil {
		return nil, internal("permission uses", err)
	}
	return uses, nil
}
