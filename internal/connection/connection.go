// Package connection is the integrator's registry of customer instances: one connection
// per instance (name, URL, token, and what the last check learned of the token), kept in
// an embedded SQLite database in the user's config directory with every token sealed by
// AES-GCM under a key file. It checks all connections in parallel and rotates the ones
// about to expire without ever stranding one: against Keygate a rotation carries an
// Idempotency-Key so a retry gets the same successor; against GitLab the intent is
// written first and a connection whose successor was lost is flagged for
// re-authorization.
package connection

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/remote"
	"github.com/keygate/keygate/internal/secret"
)

// Statuses a check gives a connection.
const (
	Healthy           = "healthy"
	Expiring          = "expiring"
	Expired           = "expired"
	Revoked           = "revoked"
	InsufficientScope = "insufficient_scope"
	Unreachable       = "unreachable"
)

// Server kinds, from /version.
const (
	ServerKeygate = "keygate"
	ServerGitLab  = "gitlab"
)

// EnvDir overrides the registry's directory (as --config-dir does).
const EnvDir = "KEYGATE_CONFIG_DIR"

// DefaultDir is os.UserConfigDir()/keygate.
func DefaultDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("connections: no config directory (set %s or --config-dir): %w", EnvDir, err)
	}
	return filepath.Join(d, "keygate"), nil
}

// Config opens a Registry.
type Config struct {
	// Dir holds the database and the key file; created 0700.
	Dir  string
	HTTP *http.Client
	// Now is the clock for days left and check times (nil: time.Now).
	Now func() time.Time
	// AfterRotate, if set, runs after the server answered a rotation and before its
	// successor is saved; an error stops there as a crash would. Tests inject it.
	AfterRotate func(name string) error
	// Workers bounds parallel checks (0: 8).
	Workers int
}

// Registry is the open registry.
type Registry struct {
	db   *sql.DB
	aead cipher.AEAD
	cfg  Config
}

// Open opens the registry in cfg.Dir, creating it.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Dir == "" {
		return nil, errors.New("connections: empty config directory")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("connections: %w", err)
	}
	aead, err := loadKey(cfg.Dir)
	if err != nil {
		return nil, err
	}
	db, err := openDB(ctx, cfg.Dir)
	if err != nil {
		return nil, err
	}
	return &Registry{db: db, aead: aead, cfg: cfg}, nil
}

// Close closes the database.
func (r *Registry) Close() error { return r.db.Close() }

// Connection is one registered instance, as list and check show it. It never holds the
// token.
type Connection struct {
	Name           string     `json:"name"`
	URL            string     `json:"url"`
	Server         string     `json:"server"`
	Owner          string     `json:"owner"`
	UserID         int64      `json:"user_id"`
	TokenID        int64      `json:"token_id"`
	Type           string     `json:"type"`
	Scopes         []string   `json:"scopes"`
	RequiredScopes []string   `json:"required_scopes"`
	ExpiresAt      *string    `json:"expires_at"`
	DaysLeft       *int       `json:"days_left"`
	LastCheckAt    *time.Time `json:"last_check_at"`
	Status         string     `json:"status"`
	Detail         string     `json:"detail"`
	NeedsReauth    bool       `json:"needs_reauth"`
	// RotationPending: a rotation was sent and its successor not yet saved.
	RotationPending bool `json:"rotation_pending"`

	tokenCreatedAt string
	sealed         []byte
	rotateKey      string
	rotatePath     string
	rotateExpires  string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidName checks a connection name: 1 to 64 letters, digits, '.', '_' or '-'.
func ValidName(n string) error {
	if !nameRE.MatchString(n) {
		return fmt.Errorf("connection name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", n)
	}
	return nil
}

// AddInput is a new connection.
type AddInput struct {
	Name, URL string
	Token     secret.Token
	// RequiredScopes are the scopes the integration needs; a token without one of them
	// checks as insufficient_scope.
	RequiredScopes []string
	// Replace overwrites an existing connection of that name (re-authorization).
	Replace bool
}

// ErrExists refuses to add a name already registered without Replace.
var ErrExists = errors.New("connection exists (pass --replace to re-authorize it with a new token)")

// ErrNotFound: no connection of that name.
var ErrNotFound = errors.New("no such connection")

// Add verifies the token against the instance and registers it.
func (r *Registry) Add(ctx context.Context, in AddInput) (Connection, error) {
	if err := ValidName(in.Name); err != nil {
		return Connection{}, err
	}
	tok := strings.TrimSpace(in.Token.Reveal())
	if tok == "" {
		return Connection{}, errors.New("empty token on stdin")
	}
	in.Token = secret.Wrap(tok)
	base, err := remote.APIBase(in.URL)
	if err != nil {
		return Connection{}, err
	}
	url := strings.TrimSuffix(base, "/api/v4")
	if !in.Replace {
		if _, err := r.get(ctx, in.Name); err == nil {
			return Connection{}, fmt.Errorf("%s: %w", in.Name, ErrExists)
		}
	}
	c := Connection{Name: in.Name, URL: url, RequiredScopes: in.RequiredScopes}
	cl, err := remote.New(url, in.Token, r.cfg.HTTP)
	if err != nil {
		return Connection{}, err
	}
	t, err := cl.SelfToken(ctx)
	if err != nil {
		st, detail := classifyError(err)
		return Connection{}, fmt.Errorf("%s refused the token (%s): %s", url, st, detail)
	}
	r.learn(ctx, cl, &c, t)
	c.Status, c.Detail = classify(t, c.RequiredScopes, r.cfg.Now(), 0)
	sealed, err := r.seal(c.Name, in.Token)
	if err != nil {
		return Connection{}, err
	}
	now := r.cfg.Now().UTC()
	c.LastCheckAt = &now
	_, err = r.db.ExecContext(ctx, `INSERT INTO connections (name, url, sealed_token, server, owner,
		user_id, token_id, token_type, scopes, required_scopes, expires_at, token_created_at,
		added_at, last_check_at, last_status, last_detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET url = excluded.url, sealed_token = excluded.sealed_token,
		server = excluded.server, owner = excluded.owner, user_id = excluded.user_id,
		token_id = excluded.token_id, token_type = excluded.token_type, scopes = excluded.scopes,
		required_scopes = excluded.required_scopes, expires_at = excluded.expires_at,
		token_created_at = excluded.token_created_at, last_check_at = excluded.last_check_at,
		last_status = excluded.last_status, last_detail = excluded.last_detail, needs_reauth = 0,
		rotate_key = NULL, rotate_path = NULL, rotate_expires_at = NULL, rotate_started_at = NULL`,
		c.Name, c.URL, sealed, c.Server, c.Owner, c.UserID, c.TokenID, c.Type, strings.Join(c.Scopes, ","),
		strings.Join(c.RequiredScopes, ","), c.ExpiresAt, c.tokenCreatedAt, now.Format(timeLayout),
		now.Format(timeLayout), c.Status, c.Detail)
	if err != nil {
		return Connection{}, fmt.Errorf("connections: save %s: %w", c.Name, err)
	}
	c.DaysLeft = daysLeft(c.ExpiresAt, r.cfg.Now())
	return c, nil
}

// learn fills what the instance tells of the token and its owner; what the token may
// not read (/user without read_user) stays as it was.
func (r *Registry) learn(ctx context.Context, cl *remote.Client, c *Connection, t remote.Token) {
	c.TokenID, c.Scopes, c.ExpiresAt, c.tokenCreatedAt, c.UserID = t.ID, t.Scopes, t.ExpiresAt, t.CreatedAt, t.UserID
	if c.Type == "" {
		c.Type = "personal"
	}
	if u, err := cl.User(ctx); err == nil {
		c.Owner, c.UserID, c.Type = u.Username, u.ID, remote.TokenType(u)
	}
	if v, err := cl.Version(ctx); err == nil {
		c.Server = ServerGitLab
		if v.Keygate() {
			c.Server = ServerKeygate
		}
	} else if c.Server == "" {
		c.Server = ServerGitLab // unknown: assume no Idempotency-Key support
	}
}

// classify judges a token the instance answered for. within is the expiring horizon
// (0: 30 days, as doctor warns).
func classify(t remote.Token, required []string, now time.Time, within time.Duration) (string, string) {
	if within <= 0 {
		within = 30 * 24 * time.Hour
	}
	if !t.Active {
		if t.Revoked {
			return Revoked, "the token was revoked"
		}
		return Expired, "the token is not active"
	}
	var missing []string
	for _, s := range required {
		if !t.HasScope(s) && !(s == "read_api" && t.HasScope("api")) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return InsufficientScope, "403 means a missing scope: the token lacks " + strings.Join(missing, ", ")
	}
	if d := daysLeft(t.ExpiresAt, now); d != nil {
		if *d <= 0 {
			return Expired, "the token expired on " + *t.ExpiresAt
		}
		if time.Duration(*d)*24*time.Hour <= within {
			return Expiring, fmt.Sprintf("%d days left (expires %s): rotate it", *d, *t.ExpiresAt)
		}
		return Healthy, fmt.Sprintf("%d days left", *d)
	}
	return Healthy, "never expires"
}

// classifyError judges a failed token check.
func classifyError(err error) (string, string) {
	if remote.Unreachable(err) {
		return Unreachable, err.Error()
	}
	e, ok := remote.AsError(err)
	switch {
	case !ok:
		return Unreachable, err.Error()
	case e.Expired():
		return Expired, "401: the token has expired"
	case e.Revoked():
		return Revoked, "401: the token was revoked (or rotated away)"
	case e.Status == 401:
		return Revoked, "401: the instance does not know the token (revoked and deleted, or never valid)"
	case e.InsufficientScope():
		return InsufficientScope, "403: the token lacks scope " + e.Scope
	case e.Status == 404 || e.Status >= 500:
		return Unreachable, fmt.Sprintf("%d from the API: wrong URL, or the instance is down", e.Status)
	}
	return Unreachable, e.Error()
}

func daysLeft(exp *string, now time.Time) *int {
	d, ok := remote.DaysLeft(exp, now)
	if !ok {
		return nil
	}
	return &d
}

const columns = `name, url, sealed_token, server, owner, user_id, token_id, token_type, scopes,
	required_scopes, expires_at, token_created_at, last_check_at, last_status, last_detail,
	needs_reauth, rotate_key, rotate_path, rotate_expires_at`

func (r *Registry) scan(row interface{ Scan(...any) error }) (Connection, error) {
	var c Connection
	var scopes, required string
	var exp, created, checked, rkey, rpath, rexp sql.NullString
	err := row.Scan(&c.Name, &c.URL, &c.sealed, &c.Server, &c.Owner, &c.UserID, &c.TokenID, &c.Type,
		&scopes, &required, &exp, &created, &checked, &c.Status, &c.Detail, &c.NeedsReauth, &rkey, &rpath, &rexp)
	if err != nil {
		return c, err
	}
	c.Scopes, c.RequiredScopes = split(scopes), split(required)
	if exp.Valid {
		c.ExpiresAt = &exp.String
	}
	c.tokenCreatedAt = created.String
	if checked.Valid {
		if t, err := time.Parse(timeLayout, checked.String); err == nil {
			c.LastCheckAt = &t
		}
	}
	c.rotateKey, c.rotatePath, c.rotateExpires = rkey.String, rpath.String, rexp.String
	c.RotationPending = rkey.Valid
	c.DaysLeft = daysLeft(c.ExpiresAt, r.cfg.Now())
	return c, nil
}

func split(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func (r *Registry) get(ctx context.Context, name string) (Connection, error) {
	c, err := r.scan(r.db.QueryRowContext(ctx, "SELECT "+columns+" FROM connections WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return c, err
}

// Get returns one connection.
func (r *Registry) Get(ctx context.Context, name string) (Connection, error) { return r.get(ctx, name) }

// List returns every connection by name, or the named ones (ErrNotFound for a missing
// name).
func (r *Registry) List(ctx context.Context, names ...string) ([]Connection, error) {
	if len(names) > 0 {
		out := make([]Connection, 0, len(names))
		for _, n := range names {
			c, err := r.get(ctx, n)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	rows, err := r.db.QueryContext(ctx, "SELECT "+columns+" FROM connections ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Connection{}
	for rows.Next() {
		c, err := r.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Remove deletes a connection (its sealed token with it).
func (r *Registry) Remove(ctx context.Context, name string) error {
	res, err := r.db.ExecContext(ctx, "DELETE FROM connections WHERE name = ?", name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return nil
}

func (r *Registry) client(c Connection) (*remote.Client, secret.Token, error) {
	tok, err := r.open(c.Name, c.sealed)
	if err != nil {
		return nil, secret.Token{}, err
	}
	cl, err := remote.New(c.URL, tok, r.cfg.HTTP)
	return cl, tok, err
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "keygate-rotate-" + hex.EncodeToString(b[:])
}
