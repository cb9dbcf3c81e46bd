// Package store defines the persistence contract Keygate's services rely on and the error
// kinds every backend returns. The backends (sqlite, postgres) pass the one contract suite
// in storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/keygate/keygate"
)

// Error kinds. Backends classify driver errors by code into these.
var (
	// ErrNotFound: no row matched (also an owner-scoped update or delete that touched none).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique constraint refused the write.
	ErrConflict = errors.New("store: conflict")
)

// Store is a Keygate database. Reads outside a transaction see committed data; every
// write happens inside InTx.
type Store interface {
	Reader
	// InTx runs fn in one transaction, committing when fn returns nil. Backends retry
	// serialization failures a bounded number of times, so fn must be safe to re-run.
	InTx(ctx context.Context, fn func(Tx) error) error
	// Marker returns a number that changes whenever any process committed a write that can
	// take access away (revocation, user state, settings). Callers compare it before
	// trusting a cache; it must be cheap enough to call on every request.
	Marker(ctx context.Context) (int64, error)
	// RecordUses writes last-used times and addresses. Each Use sets last_used_at only when
	// the stored value is absent or older than At minus LastUsedInterval, and records IP
	// among the token's five most recent addresses. It runs outside request paths.
	RecordUses(ctx context.Context, uses []Use) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Reader holds the queries available both on a Store and inside a Tx.
type Reader interface {
	User(ctx context.Context, id int64) (keygate.User, error)
	// UserByUsername matches case-insensitively, as GitLab does.
	UserByUsername(ctx context.Context, username string) (keygate.User, error)
	// UserByEmail matches case-insensitively.
	UserByEmail(ctx context.Context, email string) (keygate.User, error)
	// Users returns one page of users and the total number matching the filter.
	Users(ctx context.Context, f UserFilter) ([]keygate.User, int, error)

	// Token returns a token with its last-used IPs (most recent first).
	Token(ctx context.Context, id int64) (keygate.Token, error)
	// TokenByDigest is the verification lookup; it does not load last-used IPs.
	TokenByDigest(ctx context.Context, digest []byte) (keygate.Token, error)
	// Tokens returns one page of tokens and the total number matching the filter.
	Tokens(ctx context.Context, f TokenFilter) ([]keygate.Token, int, error)

	// Settings returns the instance settings, keygate.DefaultSettings() when none were saved.
	Settings(ctx context.Context) (keygate.Settings, error)
}

// Tx is a transaction's view: the reads plus the writes.
type Tx interface {
	Reader
	// CreateUser inserts u and sets u.ID. A taken username or email is ErrConflict.
	CreateUser(ctx context.Context, u *keygate.User) error
	// UpdateUser overwrites every stored field of the user u.ID; ErrNotFound if none.
	// It moves the Marker (a block or an admin change must reach every cache).
	UpdateUser(ctx context.Context, u keygate.User) error
	// CreateToken inserts t and sets t.ID. A digest already stored is ErrConflict.
	CreateToken(ctx context.Context, t *keygate.Token) error
	// RevokeToken marks the token revoked at now. It reports whether this call revoked
	// it (false: it already was). ErrNotFound if no such token. It moves the Marker.
	RevokeToken(ctx context.Context, id int64, now time.Time) (bool, error)
	// RevokeDescendants revokes every still-active token whose rotation chain leads back to
	// id (reuse detection, spec §6.3) and returns how many it revoked. It moves the Marker.
	RevokeDescendants(ctx context.Context, id int64, now time.Time) (int, error)
	// PutSettings stores the instance settings. It moves the Marker.
	PutSettings(ctx context.Context, s keygate.Settings) error
}

// Use is one authenticated use of a token, batched by the service.
type Use struct {
	TokenID int64
	At      time.Time
	IP      string // "" when unknown
}

// LastUsedInterval is the least time between two writes of one token's last_used_at.
const LastUsedInterval = 10 * time.Minute

// MaxLastUsedIPs is how many distinct recent addresses are kept per token.
const MaxLastUsedIPs = 5

// Page selects one page of a list. Number starts at 1.
type Page struct {
	Number int
	Size   int
}

// Offset is the number of rows before the page.
func (p Page) Offset() int { return (p.Number - 1) * p.Size }

// UserFilter selects users. Zero values select everything.
type UserFilter struct {
	Username      string // exact, case-insensitive
	Search        string // substring of username, name or email, case-insensitive
	State         keygate.UserState
	Admins        bool
	ExcludeBots   bool // humans only
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	OrderBy       string // id, name, username, created_at, updated_at; default id
	Sort          string // asc, desc; default desc
	Page          Page
}

// TokenFilter selects tokens. Zero values select everything.
type TokenFilter struct {
	UserID         int64 // 0: any owner
	Impersonation  *bool // nil: both
	Revoked        *bool
	State          string // "active", "inactive" or ""; judged at Now
	Now            time.Time
	Search         string // substring of the name, case-insensitive
	CreatedAfter   *time.Time
	CreatedBefore  *time.Time
	LastUsedAfter  *time.Time
	LastUsedBefore *time.Time
	ExpiresAfter   *keygate.Date
	ExpiresBefore  *keygate.Date
	// Sort is one of GitLab's token sorts (created_asc, created_desc, expires_asc,
	// expires_desc, last_used_asc, last_used_desc, name_asc, name_desc); "" (and any
	// other value) is id ascending, the order GitLab's offset pagination falls back to.
	Sort string
	Page Page
}
