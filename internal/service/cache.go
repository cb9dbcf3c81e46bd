package service

import (
	"sync"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/secret"
)

// tokenCache remembers verified tokens with their owners, keyed by digest. It is emptied
// whenever the store's change marker moves (a revocation, a user change or a settings
// change anywhere), so it can never make a revoked token work. It holds no plaintext.
type tokenCache struct {
	mu      sync.RWMutex
	marker  int64
	synced  bool
	max     int
	entries map[secret.Digest]*cacheEntry
	// users holds one copy of each cached token's owner, shared by all of the owner's
	// entries: the owner is most of an entry's size, and owners have several tokens.
	users    map[int64]*keygate.User
	settings *keygate.Settings
	// roots holds top-level groups' fine-grained-only policies (GranularEnforced).
	roots map[int64]keygate.GranularEnforcement
}

type cacheEntry struct {
	token keygate.Token
	user  *keygate.User // shared: never modified
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[secret.Digest]*cacheEntry), users: make(map[int64]*keygate.User),
		roots: make(map[int64]keygate.GranularEnforcement)}
}

// reset forgets everything; the caller holds mu.
func (c *tokenCache) reset() {
	clear(c.entries)
	clear(c.users)
	c.settings = nil
	clear(c.roots)
}

// sync empties the cache if marker differs from the one it was filled under.
func (c *tokenCache) sync(marker int64) {
	c.mu.RLock()
	same := c.synced && c.marker == marker
	c.mu.RUnlock()
	if same {
		return
	}
	c.mu.Lock()
	if !c.synced || c.marker != marker {
		c.reset()
		c.marker, c.synced = marker, true
	}
	c.mu.Unlock()
}

// ownWrite records a local commit that wrote marker seq and took away only the tokens
// with these digests. If the cache was current just before (marker seq-1, or already at
// seq), nothing else changed in between — markers grow by one per moving commit — so
// evicting those tokens is enough; otherwise the cache empties as for any other change.
// This keeps one revocation from emptying the cache of every other token.
func (c *tokenCache) ownWrite(seq int64, digests ...[]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq == 0 || !c.synced || (c.marker != seq-1 && c.marker != seq) {
		c.reset()
		c.synced = false
		return
	}
	for _, d := range digests {
		var k secret.Digest
		if len(d) != len(k) {
			// Without the digest the entry cannot be found: be safe and empty it all.
			c.reset()
			c.synced = false
			return
		}
		copy(k[:], d)
		delete(c.entries, k)
	}
	c.marker = seq
}

// invalidate empties the cache after a local write, before the marker is read again.
func (c *tokenCache) invalidate() {
	c.mu.Lock()
	c.reset()
	c.synced = false
	c.mu.Unlock()
}

// get returns a shared entry; callers must not modify it.
func (c *tokenCache) get(d secret.Digest) (*cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.entries[d]
	c.mu.RUnlock()
	return e, ok
}

// put stores a token and its owner loaded under marker and returns the entry; a pair
// loaded before a change is not stored. Under one marker every load of a user gives the
// same row (a change to it moves the marker), so an owner already cached is reused.
func (c *tokenCache) put(marker int64, d secret.Digest, t keygate.Token, u keygate.User) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced || c.marker != marker {
		return &cacheEntry{token: t, user: &u}
	}
	owner, ok := c.users[u.ID]
	if !ok {
		if len(c.users) >= c.max {
			for k := range c.users { // entries keep their pointer; only sharing is lost
				delete(c.users, k)
				break
			}
		}
		owner = &u
		c.users[u.ID] = owner
	}
	if len(c.entries) >= c.max {
		for k := range c.entries { // map order is random: evicts an arbitrary entry
			delete(c.entries, k)
			break
		}
	}
	e := &cacheEntry{token: t, user: owner}
	c.entries[d] = e
	return e
}

func (c *tokenCache) getSettings() (keygate.Settings, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.settings == nil {
		return keygate.Settings{}, false
	}
	return *c.settings, true
}

func (c *tokenCache) putSettings(s keygate.Settings) {
	c.mu.Lock()
	if c.synced {
		c.settings = &s
	}
	c.mu.Unlock()
}

func (c *tokenCache) currentMarker() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.marker
}

// Len reports the number of cached tokens (metrics).
func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// maxRoots bounds the cached group policies; past it the map starts over.
const maxRoots = 10_000

func (c *tokenCache) getRoot(id int64) (keygate.GranularEnforcement, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.roots[id]
	return p, ok
}

func (c *tokenCache) putRoot(id int64, p keygate.GranularEnforcement) {
	c.mu.Lock()
	if c.synced {
		if len(c.roots) >= maxRoots {
			clear(c.roots)
		}
		c.roots[id] = p
	}
	c.mu.Unlock()
}
