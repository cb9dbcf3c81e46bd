// Package gate puts Keygate in front of a Go HTTP service with one import: a middleware
// that verifies the presented token through Keygate's RFC 7662 introspection
// (POST /oauth/introspect), applies a policy (scopes, token types), and puts the
// caller's identity in the request context.
//
// Positive answers are cached, bounded in size and for at most Config.CacheTTL, and only
// while the revocation stream (GET /api/v4/keygate/revocations/stream) is connected:
// every event on it empties the cache, so a revoked token is refused within about a
// second, and while the stream is down nothing is answered from the cache. When Keygate
// cannot be reached the middleware fails closed with 503.
//
// The token in Config.Token needs Keygate's introspect scope, which only an
// administrator can grant (docs/gate.md).
package gate

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Gate.
type Config struct {
	// URL is Keygate's base URL, e.g. https://keygate.internal.
	URL string
	// Token is a Keygate token with the introspect scope. It is sent only to URL.
	Token string
	// HTTPClient makes the requests to Keygate; nil means a client with Timeout.
	HTTPClient *http.Client
	// Timeout bounds one introspection request (default 5 s).
	Timeout time.Duration
	// CacheTTL is the longest a positive answer is reused (default 30 s; a negative
	// value disables the cache).
	CacheTTL time.Duration
	// CacheSize bounds the cache in entries (default 10,000).
	CacheSize int
	// Logger receives connection problems (never a token); nil discards them.
	Logger *slog.Logger
	// Now is the clock for cache lifetimes; nil means time.Now.
	Now func() time.Time
}

// Identity is the caller a token belongs to, as Keygate reported it.
type Identity struct {
	Username string
	UserID   int64
	TokenID  int64
	// TokenType is Keygate's type: personal, impersonation, project, group,
	// service_account or job.
	TokenType string
	// Scopes are the token's scopes; a fine-grained token's are ["granular"].
	Scopes []string
	// ExpiresAt is when the token stops working; zero when it never expires.
	ExpiresAt time.Time
	// Granular marks a fine-grained token, whose permissions are in GranularScopes.
	Granular bool
	// GranularScopes is a fine-grained token's grant, one entry per stored scope, as
	// Keygate's token objects list it (nil for other tokens).
	GranularScopes []GranularScope
}

// GranularScope is one stored scope of a fine-grained token.
type GranularScope struct {
	// Access is personal_projects, all_memberships, selected_memberships, user or
	// instance.
	Access      string   `json:"access"`
	Permissions []string `json:"permissions"`
	// ProjectID is the selected project (0 otherwise).
	ProjectID int64 `json:"project_id"`
	// GroupID is the selected group, which covers its subgroups and projects (0
	// otherwise).
	GroupID int64 `json:"group_id"`
}

// HasScope reports whether the token carries scope.
func (id Identity) HasScope(scope string) bool { return slices.Contains(id.Scopes, scope) }

// Policy is what the middleware demands of a request.
type Policy struct {
	// ScopesAny: the token needs one of these; empty needs none.
	ScopesAny []string
	// TokenTypes are the accepted Keygate token types; empty accepts any.
	TokenTypes []string
	// Anonymous lets requests without a token through (with no identity in the context).
	Anonymous bool
}

// Errors of Check.
var (
	// ErrInactive: the token is unknown, expired, revoked or otherwise not active.
	ErrInactive = errors.New("gate: token is not active")
	// ErrUnavailable: Keygate could not be asked; the middleware answers 503.
	ErrUnavailable = errors.New("gate: Keygate is unavailable")
)

// Gate verifies tokens against one Keygate. Create it with New and Close it.
type Gate struct {
	base    *url.URL
	token   string
	client  *http.Client
	timeout time.Duration
	ttl     time.Duration
	log     *slog.Logger
	now     func() time.Time
	cache   *cache
	stop    context.CancelFunc
	done    chan struct{}
}

// New starts a Gate and its revocation stream.
func New(cfg Config) (*Gate, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gate: URL %q must be an http or https URL", cfg.URL)
	}
	if cfg.Token == "" {
		return nil, errors.New("gate: Token (with the introspect scope) is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 30 * time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	ctx, stop := context.WithCancel(context.Background())
	g := &Gate{
		base: u, token: cfg.Token, client: cfg.HTTPClient, timeout: cfg.Timeout, ttl: cfg.CacheTTL,
		log: cfg.Logger, now: cfg.Now, cache: newCache(cfg.CacheSize), stop: stop, done: make(chan struct{}),
	}
	go g.watch(ctx)
	return g, nil
}

// Close stops the revocation stream.
func (g *Gate) Close() error {
	g.stop()
	<-g.done
	return nil
}

// CacheLen reports how many positive answers are cached.
func (g *Gate) CacheLen() int { return g.cache.len() }

// Connected reports whether the revocation stream is up (the cache is in use only then).
func (g *Gate) Connected() bool { return g.cache.live() }

type ctxKey struct{}

// IdentityFrom returns the identity the middleware put in the request's context.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// FromContext is IdentityFrom under the name context accessors commonly have.
func FromContext(ctx context.Context) (Identity, bool) { return IdentityFrom(ctx) }

// WithIdentity returns a context carrying id (for tests of handlers behind the gate).
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// Middleware refuses requests the policy does not allow: 401 without a valid token, 403
// when the token lacks what the policy needs, 503 when Keygate cannot be asked. Allowed
// requests reach next with the identity in their context (IdentityFrom).
func (g *Gate) Middleware(p Policy) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw := Credential(r)
			if raw == "" {
				if p.Anonymous {
					next.ServeHTTP(w, r)
					return
				}
				unauthorized(w)
				return
			}
			id, err := g.Check(r.Context(), raw)
			switch {
			case errors.Is(err, ErrInactive):
				unauthorized(w)
				return
			case err != nil:
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "503 Service Unavailable - the token cannot be verified: Keygate is unreachable"})
				return
			}
			if len(p.TokenTypes) > 0 && !slices.Contains(p.TokenTypes, id.TokenType) {
				forbidden(w, "this service does not accept "+id.TokenType+" tokens")
				return
			}
			if len(p.ScopesAny) > 0 && !slices.ContainsFunc(p.ScopesAny, id.HasScope) {
				forbidden(w, "the token's scopes ("+strings.Join(id.Scopes, " ")+") do not include any of: "+strings.Join(p.ScopesAny, " "))
				return
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}

// Credential finds a token where Keygate's API looks (PRIVATE-TOKEN, Authorization:
// Bearer, JOB-TOKEN) and in HTTP Basic as the password.
func Credential(r *http.Request) string {
	for _, h := range []string{"Job-Token", "Private-Token"} {
		if s := strings.TrimSpace(r.Header.Get(h)); s != "" {
			return s
		}
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest
	case strings.EqualFold(scheme, "Basic"):
		dec, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return ""
		}
		_, pass, _ := strings.Cut(string(dec), ":")
		return pass
	}
	return ""
}

// Check verifies one token: from the cache when the revocation stream vouches for it,
// else by introspection. Errors are ErrInactive or ErrUnavailable (wrapped).
func (g *Gate) Check(ctx context.Context, raw string) (Identity, error) {
	key := sha256.Sum256([]byte(raw))
	now := g.now()
	if id, ok := g.cache.get(key, now); ok {
		return id, nil
	}
	epoch := g.cache.epochNow()
	id, err := g.introspect(ctx, raw)
	if err != nil {
		return Identity{}, err
	}
	if g.ttl > 0 {
		until := now.Add(g.ttl)
		if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(until) {
			until = id.ExpiresAt
		}
		g.cache.put(key, id, until, epoch)
	}
	return id, nil
}

type introspection struct {
	Active           bool   `json:"active"`
	Scope            string `json:"scope"`
	Username         string `json:"username"`
	Sub              string `json:"sub"`
	Exp              int64  `json:"exp"`
	KeygateTokenID   int64  `json:"keygate_token_id"`
	KeygateTokenType string `json:"keygate_token_type"`
	// KeygateGranularScopes: a null project_id or group_id decodes as 0.
	KeygateGranularScopes []GranularScope `json:"keygate_granular_scopes"`
}

func (g *Gate) introspect(ctx context.Context, raw string) (Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	form := url.Values{"token": {raw}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base.String()+"/oauth/introspect", strings.NewReader(form))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := g.client.Do(req)
	if err != nil {
		g.log.Warn("gate: introspection failed", "err", err)
		return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		// Our own token is refused or rate-limited: not the caller's fault, and not an
		// answer about the caller's token.
		g.log.Error("gate: Keygate refused the introspection", "status", resp.StatusCode)
		return Identity{}, fmt.Errorf("%w: introspection answered %d", ErrUnavailable, resp.StatusCode)
	}
	var in introspection
	if err := json.Unmarshal(body, &in); err != nil {
		return Identity{}, fmt.Errorf("%w: introspection answer: %v", ErrUnavailable, err)
	}
	if !in.Active {
		return Identity{}, ErrInactive
	}
	uid, _ := strconv.ParseInt(in.Sub, 10, 64)
	id := Identity{Username: in.Username, UserID: uid, TokenID: in.KeygateTokenID, TokenType: in.KeygateTokenType,
		Granular: in.KeygateGranularScopes != nil, GranularScopes: in.KeygateGranularScopes}
	if in.Scope != "" {
		id.Scopes = strings.Fields(in.Scope)
	}
	if in.Exp != 0 {
		id.ExpiresAt = time.Unix(in.Exp, 0)
	}
	return id, nil
}

// watch keeps the revocation stream connected until Close, reconnecting with capped
// backoff. Whenever it is down the cache is out of use.
func (g *Gate) watch(ctx context.Context) {
	defer close(g.done)
	wait := 50 * time.Millisecond
	for {
		connected := g.stream(ctx)
		g.cache.disconnect()
		if ctx.Err() != nil {
			return
		}
		if connected {
			wait = 50 * time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// stream reads one connection of the revocation stream; it reports whether the stream
// got as far as its ready event.
func (g *Gate) stream(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base.String()+"/api/v4/keygate/revocations/stream", nil)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("gate: revocation stream unreachable", "err", err)
		}
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		g.log.Error("gate: revocation stream refused", "status", resp.StatusCode)
		return false
	}
	ready := false
	sc := bufio.NewScanner(resp.Body)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			switch event {
			case "ready":
				ready = true
				g.cache.connect()
			case "revocation":
				g.cache.flush()
			}
			event = ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		}
	}
	return ready
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Add("WWW-Authenticate", `Bearer realm="keygate"`)
	w.Header().Add("WWW-Authenticate", `Basic realm="keygate"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
}

func forbidden(w http.ResponseWriter, reason string) {
	writeJSON(w, http.StatusForbidden, map[string]any{"message": "403 Forbidden", "keygate_explanation": map[string]any{"reasons": []string{reason}}})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// cache holds positive answers by the token's SHA-256. An entry is served only while the
// stream is up and has been up since the entry's introspection began (its epoch), so an
// answer that raced a revocation event or a disconnection is never reused.
type cache struct {
	max int

	mu      sync.Mutex
	epoch   uint64
	up      bool
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	id    Identity
	until time.Time
	epoch uint64
}

func newCache(max int) *cache { return &cache{max: max, entries: map[[32]byte]cacheEntry{}} }

func (c *cache) get(k [32]byte, now time.Time) (Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || !c.up || e.epoch != c.epoch || !now.Before(e.until) {
		if ok {
			delete(c.entries, k)
		}
		return Identity{}, false
	}
	return e.id, true
}

func (c *cache) epochNow() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

func (c *cache) put(k [32]byte, id Identity, until time.Time, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.up || epoch != c.epoch {
		return // a revocation or a disconnection came in between
	}
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		c.evict()
	}
	c.entries[k] = cacheEntry{id: id, until: until, epoch: epoch}
}

// evict drops the entry closest to its end (bounded work: a sample of the map).
func (c *cache) evict() {
	var victim [32]byte
	var soonest time.Time
	n := 0
	for k, e := range c.entries {
		if n == 0 || e.until.Before(soonest) {
			victim, soonest = k, e.until
		}
		if n++; n >= 8 {
			break
		}
	}
	delete(c.entries, victim)
}

// flush forgets every answer (a revocation event).
func (c *cache) flush() {
	c.mu.Lock()
	c.epoch++
	clear(c.entries)
	c.mu.Unlock()
}

func (c *cache) connect() {
	c.mu.Lock()
	c.epoch++
	c.up = true
	clear(c.entries)
	c.mu.Unlock()
}

func (c *cache) disconnect() {
	c.mu.Lock()
	c.epoch++
	c.up = false
	clear(c.entries)
	c.mu.Unlock()
}

func (c *cache) live() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
