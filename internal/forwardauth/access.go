package forwardauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// errNoResource: member_of names neither a project nor a group.
var errNoResource = errors.New("member_of names no group or project")

// accessCache keeps the effective access of a caller on a member_of resource, so a warm
// decision costs no query. Like the token cache it is emptied whenever the store's change
// marker moves (a membership, a block, a visibility change anywhere), and an entry lives
// at most accessTTL on the service clock, because a membership can expire with no write.
type accessCache struct {
	now     func() time.Time
	mu      sync.RWMutex
	marker  int64
	entries map[accessKey]accessEntry
}

type accessKey struct {
	userID       int64
	jobProjectID int64
	admin        bool
	path         string
}

type accessEntry struct {
	res     authz.Resource
	project keygate.Project
	// boundary is the resource as the fine-grained checks see it (its ancestors).
	boundary authz.Boundary
	at       time.Time
}

const (
	accessTTL        = 30 * time.Second
	maxAccessEntries = 50_000
)

func newAccessCache(now func() time.Time) *accessCache {
	return &accessCache{now: now, entries: map[accessKey]accessEntry{}}
}

func (c *accessCache) get(ctx context.Context, svc *service.Service, id *identity, path string) (accessEntry, error) {
	m, err := svc.ChangeMarker(ctx)
	if err != nil {
		return accessEntry{}, err
	}
	key := accessKey{userID: id.user.ID, jobProjectID: id.subject.JobProjectID, admin: id.subject.Admin(), path: path}
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[key]
	fresh := ok && c.marker == m && now.Sub(e.at) < accessTTL && !now.Before(e.at)
	c.mu.RUnlock()
	if fresh {
		return e, nil
	}
	e, err = resolve(ctx, svc, id.subject, path)
	if err != nil {
		return accessEntry{}, err
	}
	e.at = now
	c.mu.Lock()
	if c.marker != m {
		clear(c.entries)
		c.marker = m
	}
	if len(c.entries) >= maxAccessEntries {
		clear(c.entries) // rare: a bound, not a policy
	}
	c.entries[key] = e
	c.mu.Unlock()
	return e, nil
}

// resolve finds the project or group at path and the subject's access on it, through
// the same service calls and decision engine as the API.
func resolve(ctx context.Context, svc *service.Service, sub authz.Subject, path string) (accessEntry, error) {
	p, err := svc.Project(ctx, path)
	if err == nil {
		res, err := svc.ProjectAccess(ctx, sub, p)
		return accessEntry{res: res, project: p, boundary: authz.ProjectBoundary(sub, p, res)}, err
	}
	if !errors.Is(err, service.ErrProjectNotFound) {
		return accessEntry{}, err
	}
	g, err := svc.Group(ctx, path)
	if errors.Is(err, service.ErrGroupNotFound) {
		return accessEntry{}, errNoResource
	}
	if err != nil {
		return accessEntry{}, err
	}
	res, err := svc.GroupAccess(ctx, sub, g)
	return accessEntry{res: res, boundary: authz.GroupBoundary(sub, g, res)}, err
}
