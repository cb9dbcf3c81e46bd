package keygate

import "time"

// Expiry-notice thresholds in days before expires_at; NoticeExpired is the expiry day.
const (
	NoticeSixtyDays  = 60
	NoticeThirtyDays = 30
	NoticeSevenDays  = 7
	NoticeExpired    = 0
)

// NoticeThreshold is the one expiry notice due for a token with expires_at exp on day
// today, and whether one is due. GitLab's windows (spec §6.5): 0..7 days left is the
// 7-day notice, 8..30 the 30-day one, 31..60 the 60-day one, so a token first seen with 7
// days left gets only the nearest notice (DESIGN §1.1). The expiry day itself is
// NoticeExpired; a token already past it gets nothing.
func NoticeThreshold(exp, today Date) (int, bool) {
	left := int(exp.Start().Sub(today.Start()) / (24 * time.Hour))
	switch {
	case left < 0:
		return 0, false
	case left == 0:
		return NoticeExpired, true
	case left <= 7:
		return NoticeSevenDays, true
	case left <= 30:
		return NoticeThirtyDays, true
	case left <= 60:
		return NoticeSixtyDays, true
	}
	return 0, false
}

// Hook is a project or group webhook.
type Hook struct {
	ID         int64
	SourceType SourceType // SourceProject or SourceNamespace
	SourceID   int64
	URL        string
	Name       string
	// Description is free text shown with the hook.
	Description string
	// SecretToken is sent as X-Gitlab-Token so the receiver can tell Keygate's calls
	// apart; it is never shown back through the API. Stored, it is the sealed form the
	// service makes (AES-GCM), opened only to deliver.
	SecretToken               string
	ResourceAccessTokenEvents bool
	PushEvents                bool
	EnableSSLVerification     bool
	CreatedAt                 time.Time
}

// OutboxKind tells mails from webhook deliveries.
type OutboxKind string

// The kinds of outbox entries.
const (
	OutboxMail    OutboxKind = "mail"
	OutboxWebhook OutboxKind = "webhook"
)

// Outbound is a mail or a webhook delivery, queued in the same transaction as what it
// reports and retried with backoff until it is delivered.
type Outbound struct {
	ID      int64
	Kind    OutboxKind
	UserID  int64 // mail recipient (the in-app list); 0 for webhooks
	HookID  int64 // webhook; 0 for mails
	TokenID int64
	// Event names what happened: a mail's "token_expiring_60" etc., a webhook's
	// "expiring_access_token".
	Event     string
	Recipient string // mail address, or the hook's URL when queued
	Subject   string
	// BodyText is the mail's plain-text part, or the webhook's JSON payload.
	BodyText       string
	BodyHTML       string
	CreatedAt      time.Time
	Attempts       int
	NextAttemptAt  *time.Time // nil once delivered
	DeliveredAt    *time.Time
	ResponseStatus int // webhooks: the receiver's last HTTP status (0: none)
	LastError      string
}

// ResourceLifecycle holds a project's or group's lifecycle settings.
type ResourceLifecycle struct {
	SourceType SourceType
	SourceID   int64
	// ExtendedExpiryWebhooks also sends the 30- and 60-day webhooks (GitLab's
	// extended_prat_expiry_webhooks_execute / extended_grat_expiry_webhooks_execute).
	ExtendedExpiryWebhooks bool
}
