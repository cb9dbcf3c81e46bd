package service

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// useRecorder takes token uses off the request path: Authenticate hands it a use without
// blocking, it throttles them in memory (last_used_at at most once per
// store.LastUsedInterval, addresses at most once a minute per token) and a background
// loop writes batches. A full queue drops the use rather than slow a request.
type useRecorder struct {
	store store.Store
	log   *slog.Logger

	mu       sync.Mutex
	pending  []store.Use
	seen     map[int64]useMark
	jobAuths map[[2]int64]keygate.JobTokenAuth // (target, source) → pending log line
	// sightings are the queued address uses, with the request that made them, for the
	// "used from a new IP" audit event; sighted judges them before they are written.
	sightings []sighting
	sighted   func(ctx context.Context, s []sighting)
	perms     permissionUses // fine-grained use, aggregated
	now       func() time.Time

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
}

// useMark is kept for up to maxSeen tokens, so it is small (24 bytes): times as Unix
// nanoseconds and the address as a hash, which only has to tell "same as last time".
type useMark struct {
	at     int64 // last_used_at last queued
	ipAt   int64 // an address last queued
	ipHash uint64
}

// ipSeed keys the address hashes of one process.
var ipSeed = maphash.MakeSeed()

const (
	ipInterval    = time.Minute
	maxPending    = 10_000
	maxSeen       = 100_000
	flushInterval = time.Second
	// Permission use is a per-day aggregate, so it is written once a minute (or as soon
	// as permFlushAt lines are pending): flushing it every second made the writes scale
	// with the request rate instead of with the number of tokens in use.
	permFlushInterval = time.Minute
	permFlushAt       = 25_000
	maxPermPending    = 2 * permFlushAt
)

func newUseRecorder(s store.Store, log *slog.Logger, now func() time.Time) *useRecorder {
	return &useRecorder{
		store: s, log: log, seen: make(map[int64]useMark), now: now,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// sighting is one queued use of a token from an address.
type sighting struct {
	tokenID   int64
	ip        string
	requestID string
	at        time.Time
}

// record queues a use when it is due under the throttles.
func (r *useRecorder) record(tokenID int64, at time.Time, ip, requestID string) {
	now := at.UnixNano()
	r.mu.Lock()
	m, ok := r.seen[tokenID]
	dueAt := !ok || now-m.at >= int64(store.LastUsedInterval)
	// The address is hashed only once a minute has passed since the last one queued:
	// within it nothing about the address can be due.
	var ipHash uint64
	dueIP := false
	if ip != "" && (!ok || now-m.ipAt >= int64(ipInterval)) {
		ipHash = maphash.String(ipSeed, ip)
		dueIP = !ok || ipHash != m.ipHash
	}
	if !dueAt && !dueIP {
		r.mu.Unlock()
		return
	}
	if len(r.pending) >= maxPending {
		r.mu.Unlock()
		return
	}
	if len(r.seen) >= maxSeen {
		clear(r.seen)
	}
	if dueAt {
		m.at = now
	}
	u := store.Use{TokenID: tokenID, At: at}
	if dueIP {
		m.ipAt, m.ipHash, u.IP = now, ipHash, ip
		if len(r.sightings) < maxPending {
			r.sightings = append(r.sightings, sighting{tokenID: tokenID, ip: ip, requestID: requestID, at: at})
		}
	}
	r.seen[tokenID] = m
	r.pending = append(r.pending, u)
	r.mu.Unlock()
}

// recordJobAuth queues one cross-project job-token use for the authentication log.
func (r *useRecorder) recordJobAuth(e keygate.JobTokenAuth) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobAuths == nil {
		r.jobAuths = map[[2]int64]keygate.JobTokenAuth{}
	}
	k := [2]int64{e.ProjectID, e.SourceProjectID}
	cur, ok := r.jobAuths[k]
	if !ok && len(r.jobAuths) >= maxPending {
		return
	}
	cur.ProjectID, cur.SourceProjectID = e.ProjectID, e.SourceProjectID
	cur.Count += e.Count
	if e.LastAt.After(cur.LastAt) {
		cur.LastAt = e.LastAt
	}
	r.jobAuths[k] = cur
}

func (r *useRecorder) start(ctx context.Context) {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return
	}
	r.started = true
	r.mu.Unlock()
	go func() {
		defer close(r.done)
		t := time.NewTicker(flushInterval)
		defer t.Stop()
		permsAt := r.now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.stop:
				return
			case <-t.C:
				if err := r.flushLastUsed(context.WithoutCancel(ctx)); err != nil {
					r.log.Warn("write last-used data", "err", err)
				}
				if r.now().Sub(permsAt) < permFlushInterval {
					continue
				}
				permsAt = r.now()
				if err := r.flushPermissionUses(context.WithoutCancel(ctx), permsAt); err != nil {
					r.log.Warn("write permission-use data", "err", err)
				}
			case <-r.wake:
				permsAt = r.now()
				if err := r.flushPermissionUses(context.WithoutCancel(ctx), permsAt); err != nil {
					r.log.Warn("write permission-use data", "err", err)
				}
			}
		}
	}()
}

// flush writes everything pending.
func (r *useRecorder) flush(ctx context.Context) error {
	return errors.Join(r.flushLastUsed(ctx), r.flushPermissionUses(ctx, r.now()))
}

// flushLastUsed writes the queued last-used times, addresses and job-token uses.
func (r *useRecorder) flushLastUsed(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	auths := make([]keygate.JobTokenAuth, 0, len(r.jobAuths))
	for _, e := range r.jobAuths {
		auths = append(auths, e)
	}
	r.jobAuths = nil
	seen := r.sightings
	r.sightings = nil
	r.mu.Unlock()
	if len(seen) > 0 && r.sighted != nil {
		// Before the write, so the stored addresses are the ones known until now.
		r.sighted(ctx, seen)
	}
	var err error
	if len(batch) > 0 {
		err = r.store.RecordUses(ctx, batch)
	}
	if len(auths) > 0 {
		err = errors.Join(err, r.store.RecordJobTokenAuths(ctx, auths))
	}
	return err
}

func (r *useRecorder) close(ctx context.Context) error {
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if started {
		select {
		case <-r.stop:
		default:
			close(r.stop)
		}
		<-r.done
	}
	return r.flush(ctx)
}
