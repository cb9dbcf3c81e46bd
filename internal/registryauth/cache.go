package registryauth

import (
	"context"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// Resolved repository names are remembered until the change marker moves (any write
// that can take access away) and for at most targetTTL, as /-/gate does: a warm
// /jwt/auth answer then costs no query but the marker's.
const (
	targetTTL        = 30 * time.Second
	maxTargetEntries = 50_000
)

// resolved is what Resolve learns from the store about one name for one caller.
type resolved struct {
	found          bool
	project        keygate.Project
	res            authz.Resource
	enforced       bool // a human's legacy token under a group enforcing fine-grained tokens
	jobAllowlisted bool
	at             time.Time
}

type targetKey struct {
	userID, jobProjectID int64
	admin, granular      bool
	name                 string
}

// targetCache is owned by one Handler.
type targetCache struct {
	mu      sync.RWMutex
	marker  int64
	entries map[targetKey]resolved
}

func newTargetCache() *targetCache { return &targetCache{entries: map[targetKey]resolved{}} }

// NewAuthorizer returns an Authorizer with its own cache of resolved names (a Handler
// has one; a zero Authorizer asks the store every time).
func NewAuthorizer(svc *service.Service) Authorizer {
	return Authorizer{Service: svc, cache: newTargetCache()}
}

func keyOf(c Caller, name string) targetKey {
	s := c.Subject
	k := targetKey{userID: s.User.ID, jobProjectID: s.JobProjectID, admin: s.Admin(), name: name}
	if s.Token != nil {
		k.granular = s.Token.Granular
	}
	return k
}

// lookup returns the cached resolution of name for c, or loads and keeps it.
func (a Authorizer) lookup(ctx context.Context, c Caller, name string) (resolved, error) {
	if a.cache == nil {
		return a.load(ctx, c, name)
	}
	m, err := a.Service.ChangeMarker(ctx)
	if err != nil {
		return resolved{}, err
	}
	now := a.Service.Clock().Now()
	k := keyOf(c, name)
	a.cache.mu.RLock()
	e, ok := a.cache.entries[k]
	fresh := ok && a.cache.marker == m && now.Sub(e.at) < targetTTL && !now.Before(e.at)
	a.cache.mu.RUnlock()
	if fresh {
		return e, nil
	}
	if e, err = a.load(ctx, c, name); err != nil {
		return resolved{}, err
	}
	e.at = now
	a.cache.mu.Lock()
	if a.cache.marker != m {
		clear(a.cache.entries)
		a.cache.marker = m
	}
	if len(a.cache.entries) >= maxTargetEntries {
		clear(a.cache.entries) // a bound, not a policy
	}
	a.cache.entries[k] = e
	a.cache.mu.Unlock()
	return e, nil
}

// load asks the store: the project of the longest matching path, the caller's access on
// it, the fine-grained enforcement of its top-level group, and a job's allowlist.
func (a Authorizer) load(ctx context.Context, c Caller, name string) (resolved, error) {
	p, found, err := a.Service.ProjectByLongestPath(ctx, ProjectCandidates(name))
	if err != nil || !found {
		return resolved{}, err
	}
	r := resolved{found: true, project: p}
	if r.res, err = a.Service.ProjectAccess(ctx, c.Subject, p); err != nil {
		return resolved{}, err
	}
	if s := c.Subject; s.Token != nil && c.Job == nil && !s.Token.Granular {
		if r.enforced, err = a.Service.GranularEnforced(ctx, s, p.Namespace.TraversalIDs); err != nil {
			return resolved{}, err
		}
	}
	if c.Job != nil && p.ID != c.Job.Project.ID {
		switch err := a.Service.JobReach(ctx, *c.Job, p); {
		case err == nil:
			r.jobAllowlisted = true
		case keygate.ErrorCode(err) != keygate.CodeForbidden:
			return resolved{}, err
		}
	}
	return r, nil
}
