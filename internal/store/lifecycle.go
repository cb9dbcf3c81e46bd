package store

import (
	"context"
	"time"

	"github.com/keygate/keygate"
)

// LifecycleReader holds the audit, webhook and outbox queries; Reader embeds it.
type LifecycleReader interface {
	// AuditEvents returns one page of audit events, newest first, and the total matching.
	AuditEvents(ctx context.Context, f AuditFilter) ([]keygate.AuditEvent, int, error)
	// AuditEvent returns one audit event.
	AuditEvent(ctx context.Context, id int64) (keygate.AuditEvent, error)
	// TokenFingerprint returns the audit fingerprint stored for a token (ErrNotFound for
	// tokens issued before fingerprints were kept).
	TokenFingerprint(ctx context.Context, tokenID int64) (string, error)
	// Hook returns one webhook.
	Hook(ctx context.Context, id int64) (keygate.Hook, error)
	// Hooks lists the webhooks of a project or group, by ID.
	Hooks(ctx context.Context, src keygate.SourceType, srcID int64) ([]keygate.Hook, error)
	// Outbox returns one page of outbox entries, newest first, and the total matching.
	Outbox(ctx context.Context, f OutboxFilter) ([]keygate.Outbound, int, error)
	// NoticeCandidates returns up to limit tokens (by ID) that are not revoked, not
	// impersonation tokens, expire within [today, today+60 days], and have no claim for
	// the notice due today (keygate.NoticeThreshold): the scheduler's work, so that a pass
	// between thresholds reads nothing.
	NoticeCandidates(ctx context.Context, today keygate.Date, limit int) ([]keygate.Token, error)
	// ResourceLifecycle returns a project's or group's lifecycle settings (defaults when
	// none were saved).
	ResourceLifecycle(ctx context.Context, src keygate.SourceType, srcID int64) (keygate.ResourceLifecycle, error)
}

// LifecycleTx holds the audit, notice, webhook and outbox writes; Tx embeds it. None of
// them moves the Marker: they take no access away.
type LifecycleTx interface {
	// CreateAuditEvent inserts e and sets e.ID.
	CreateAuditEvent(ctx context.Context, e *keygate.AuditEvent) error
	// PutTokenFingerprint records a token's audit fingerprint.
	PutTokenFingerprint(ctx context.Context, tokenID int64, fingerprint string) error
	// ClaimNotice records that the notice of threshold for the token is being sent and
	// reports whether this call claimed it (false: it was already claimed). Claims are
	// rows under a unique key, so of several nodes exactly one wins.
	ClaimNotice(ctx context.Context, tokenID int64, threshold int, at time.Time) (bool, error)
	// CreateHook inserts h and sets h.ID (ErrNotFound if the source does not exist).
	CreateHook(ctx context.Context, h *keygate.Hook) error
	// UpdateHook writes every field of hook h.ID but its source (ErrNotFound if none).
	UpdateHook(ctx context.Context, h keygate.Hook) error
	// DeleteHook removes a hook and its deliveries (ErrNotFound if none).
	DeleteHook(ctx context.Context, id int64) error
	// Enqueue inserts o (due at o.NextAttemptAt) and sets o.ID.
	Enqueue(ctx context.Context, o *keygate.Outbound) error
	// ClaimDue returns up to limit undelivered entries due at now and moves each one's
	// next attempt to now+lease, so that another node does not take it meanwhile.
	ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]keygate.Outbound, error)
	// FinishAttempt records one attempt at entry id: attempts+1, the status and error,
	// and either delivered (next nil, delivered at) or the next attempt's time.
	FinishAttempt(ctx context.Context, id int64, at time.Time, status int, errText string, next *time.Time) error
	// PutResourceLifecycle stores a project's or group's lifecycle settings.
	PutResourceLifecycle(ctx context.Context, l keygate.ResourceLifecycle) error
}

// AuditFilter selects audit events. Zero values select everything.
type AuditFilter struct {
	EntityType keygate.AuditEntity
	EntityID   int64 // with EntityType
	// AuthorID, when set, keeps only events by this author (GitLab's view for members
	// without the role to see everyone's).
	AuthorID      int64
	Fingerprint   string
	Name          string
	CreatedAfter  *time.Time // on or after
	CreatedBefore *time.Time // on or before
	Page          Page
}

// OutboxFilter selects outbox entries. Zero values select everything.
type OutboxFilter struct {
	Kind   keygate.OutboxKind
	UserID int64
	HookID int64
	Page   Page
}
