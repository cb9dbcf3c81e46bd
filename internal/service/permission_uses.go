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
// counter. At permFlushAt distinct lines the writer is woken; past maxPermPending (a
// store that cannot keep up) new lines are dropped.
type permissionUses struct {
	mu      sync.Mutex
	pending map[permissionUseKey]permissionCount
}

// A pending line is kept small (about 90 bytes with the map's own share) since up to
// maxPermPending of them sit in memory between flushes.
type permissionUseKey struct {
	token int64
	id    int64
	day   int32 // days since the Unix epoch
	route string
	kind  authz.BoundaryKind
}

type permissionCount struct {
	uses int64
	last int64 // Unix nanoseconds of the latest use
}

const secondsPerDay = 24 * 60 * 60

// add counts one use and reports whether the pending lines reached permFlushAt.
func (p *permissionUses) add(tokenID int64, route string, b authz.Boundary, at time.Time) bool {
	k := permissionUseKey{token: tokenID, id: b.ID, day: int32(at.Unix() / secondsPerDay), route: route, kind: b.Kind}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[permissionUseKey]permissionCount{}
	}
	cur, ok := p.pending[k]
	if !ok && len(p.pending) >= maxPermPending {
		return true
	}
	cur.uses++
	cur.last = max(cur.last, at.UnixNano())
	p.pending[k] = cur
	return len(p.pending) >= permFlushAt
}

func (p *permissionUses) take() []keygate.PermissionUse {
	p.mu.Lock()
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	out := make([]keygate.PermissionUse, 0, len(pending))
	for k, c := range pending {
		out = append(out, keygate.PermissionUse{
			TokenID: k.token, Day: keygate.DateOf(time.Unix(int64(k.day)*secondsPerDay, 0).UTC()),
			Route: k.route, BoundaryKind: string(k.kind), BoundaryID: k.id,
			Uses: c.uses, LastUsedAt: time.Unix(0, c.last).UTC(),
		})
	}
	return out
}

// RecordPermissionUse notes, off the request path, that a token's request on route
// (its "METHOD PATTERN", or "GIT <service>") passed on boundary b.
func (s *Service) RecordPermissionUse(tokenID int64, route string, b authz.Boundary) {
	if s.uses.perms.add(tokenID, route, b, s.clock.Now()) {
		select {
		case s.uses.wake <- struct{}{}:
		default:
		}
	}
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
