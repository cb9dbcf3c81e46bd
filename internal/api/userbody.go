package api

import (
	"sync"

	"github.com/keygate/keygate"
)

// maxUserBodies bounds the encoded GET /user answers kept (about 1 KB each).
const maxUserBodies = 4096

// userBodies keeps the encoded GET /user answer per user: it is the most requested
// route, and building and reflect-encoding the same object on every request was a
// fifth of Keygate's own CPU per request. An answer is reused only for a caller equal,
// field for field, to the user it was built from (a changed user, or one loaded afresh
// from the store, misses), so it is never stale.
type userBodies struct {
	mu sync.RWMutex
	m  map[userBodyKey]userBody
}

type userBodyKey struct {
	id    int64
	admin bool // the admin view adds is_admin and note
}

type userBody struct {
	from keygate.User
	body []byte
}

func (c *userBodies) get(u keygate.User, admin bool) ([]byte, bool) {
	c.mu.RLock()
	e, ok := c.m[userBodyKey{u.ID, admin}]
	c.mu.RUnlock()
	if !ok || e.from != u {
		return nil, false
	}
	return e.body, true
}

func (c *userBodies) put(u keygate.User, admin bool, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[userBodyKey]userBody)
	}
	k := userBodyKey{u.ID, admin}
	if _, ok := c.m[k]; !ok && len(c.m) >= maxUserBodies {
		for old := range c.m { // any one: a full cache is rare and refills itself
			delete(c.m, old)
			break
		}
	}
	c.m[k] = userBody{from: u, body: body}
}
