package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

const auditColumns = `id, event_name, author_id, author_name, author_email, entity_type,
	entity_id, entity_path, target_id, target_type, target_details, ip_address, request_id,
	fingerprint, message, created_at`

func auditDest(e *keygate.AuditEvent) []any {
	return []any{&e.ID, &e.Name, &e.AuthorID, &e.AuthorName, &e.AuthorEmail, &e.EntityType,
		&e.EntityID, &e.EntityPath, &e.TargetID, &e.TargetType, &e.TargetDetails, &e.IP,
		&e.RequestID, &e.Fingerprint, &e.Message, timeCol{&e.CreatedAt}}
}

const hookColumns = `id, project_id, group_id, url, name, description, secret_token,
	resource_access_token_events, push_events, enable_ssl_verification, created_at`

// hookRow carries the two nullable source columns a Hook folds into one.
type hookRow struct{ project, group *int64 }

func hookDest(h *keygate.Hook, r *hookRow) []any {
	return []any{&h.ID, &r.project, &r.group, &h.URL, &h.Name, &h.Description, &h.SecretToken,
		&h.ResourceAccessTokenEvents, &h.PushEvents, &h.EnableSSLVerification, timeCol{&h.CreatedAt}}
}

func (r hookRow) finish(h *keygate.Hook) {
	if r.project != nil {
		h.SourceType, h.SourceID = keygate.SourceProject, *r.project
	} else if r.group != nil {
		h.SourceType, h.SourceID = keygate.SourceNamespace, *r.group
	}
}

const outboxColumns = `id, kind, user_id, hook_id, token_id, event, recipient, subject,
	body_text, body_html, created_at, attempts, next_attempt_at, delivered_at,
	response_status, last_error`

// outboxRow carries the nullable owner columns.
type outboxRow struct{ user, hook *int64 }

func outboxDest(o *keygate.Outbound, r *outboxRow) []any {
	return []any{&o.ID, &o.Kind, &r.user, &r.hook, &o.TokenID, &o.Event, &o.Recipient,
		&o.Subject, &o.BodyText, &o.BodyHTML, timeCol{&o.CreatedAt}, &o.Attempts,
		nullTimeCol{&o.NextAttemptAt}, nullTimeCol{&o.DeliveredAt}, &o.ResponseStatus, &o.LastError}
}

func (r outboxRow) finish(o *keygate.Outbound) {
	if r.user != nil {
		o.UserID = *r.user
	}
	if r.hook != nil {
		o.HookID = *r.hook
	}
}

// AuditEvents returns one page of audit events, newest first.
func (r reader) AuditEvents(ctx context.Context, f store.AuditFilter) ([]keygate.AuditEvent, int, error) {
	var w where
	if f.EntityType != "" {
		w.add("entity_type = ?", string(f.EntityType))
		if f.EntityID != 0 {
			w.add("entity_id = ?", f.EntityID)
		}
	}
	if f.AuthorID != 0 {
		w.add("author_id = ?", f.AuthorID)
	}
	if f.Fingerprint != "" {
		w.add("fingerprint = ?", f.Fingerprint)
	}
	if f.Name != "" {
		w.add("event_name = ?", f.Name)
	}
	if f.CreatedAfter != nil {
		w.add("created_at >= ?", r.d.Time(Normalize(*f.CreatedAfter)))
	}
	if f.CreatedBefore != nil {
		w.add("created_at <= ?", r.d.Time(Normalize(*f.CreatedBefore)))
	}
	var out []keygate.AuditEvent
	total, err := r.page(ctx, "audit_events", auditColumns, w, "id DESC", f.Page,
		func(s scanner, total *int) error {
			var e keygate.AuditEvent
			if err := s.Scan(append(auditDest(&e), total)...); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, 0, fmt.Errorf("store: audit events: %w", err)
	}
	return out, total, nil
}

// AuditEvent returns audit event id.
func (r reader) AuditEvent(ctx context.Context, id int64) (keygate.AuditEvent, error) {
	var e keygate.AuditEvent
	err := r.q.QueryRowContext(ctx, r.d.Rebind("SELECT "+auditColumns+" FROM audit_events WHERE id = ?"), id).Scan(auditDest(&e)...)
	if isNoRows(err) {
		return e, notFound("audit event", id)
	}
	if err != nil {
		return e, fmt.Errorf("store: audit event %d: %w", id, r.d.Classify(err))
	}
	return e, nil
}

// TokenFingerprint returns the audit fingerprint recorded for a token.
func (r reader) TokenFingerprint(ctx context.Context, tokenID int64) (string, error) {
	var fp string
	err := r.q.QueryRowContext(ctx, r.d.Rebind("SELECT fingerprint FROM token_fingerprints WHERE token_id = ?"), tokenID).Scan(&fp)
	if isNoRows(err) {
		return "", notFound("token fingerprint", tokenID)
	}
	if err != nil {
		return "", fmt.Errorf("store: token fingerprint %d: %w", tokenID, r.d.Classify(err))
	}
	return fp, nil
}

// Hook returns webhook id.
func (r reader) Hook(ctx context.Context, id int64) (keygate.Hook, error) {
	var (
		h   keygate.Hook
		row hookRow
	)
	err := r.q.QueryRowContext(ctx, r.d.Rebind("SELECT "+hookColumns+" FROM web_hooks WHERE id = ?"), id).Scan(hookDest(&h, &row)...)
	if isNoRows(err) {
		return h, notFound("hook", id)
	}
	if err != nil {
		return h, fmt.Errorf("store: hook %d: %w", id, r.d.Classify(err))
	}
	row.finish(&h)
	return h, nil
}

// hookSourceColumn is the column that names a hook's source of type src.
func hookSourceColumn(src keygate.SourceType) string {
	if src == keygate.SourceNamespace {
		return "group_id"
	}
	return "project_id"
}

// Hooks lists the webhooks of a project or group.
func (r reader) Hooks(ctx context.Context, src keygate.SourceType, srcID int64) ([]keygate.Hook, error) {
	q := "SELECT " + hookColumns + " FROM web_hooks WHERE " + hookSourceColumn(src) + " = ? ORDER BY id"
	rows, err := r.q.QueryContext(ctx, r.d.Rebind(q), srcID)
	if err != nil {
		return nil, fmt.Errorf("store: hooks of %s %d: %w", src, srcID, r.d.Classify(err))
	}
	defer rows.Close()
	var out []keygate.Hook
	for rows.Next() {
		var (
			h   keygate.Hook
			row hookRow
		)
		if err := rows.Scan(hookDest(&h, &row)...); err != nil {
			return nil, fmt.Errorf("store: hooks of %s %d: %w", src, srcID, err)
		}
		row.finish(&h)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: hooks of %s %d: %w", src, srcID, r.d.Classify(err))
	}
	return out, nil
}

// Outbox returns one page of outbox entries, newest first.
func (r reader) Outbox(ctx context.Context, f store.OutboxFilter) ([]keygate.Outbound, int, error) {
	var w where
	if f.Kind != "" {
		w.add("kind = ?", string(f.Kind))
	}
	if f.UserID != 0 {
		w.add("user_id = ?", f.UserID)
	}
	if f.HookID != 0 {
		w.add("hook_id = ?", f.HookID)
	}
	var out []keygate.Outbound
	total, err := r.page(ctx, "outbox", outboxColumns, w, "id DESC", f.Page,
		func(s scanner, total *int) error {
			var (
				o   keygate.Outbound
				row outboxRow
			)
			if err := s.Scan(append(outboxDest(&o, &row), total)...); err != nil {
				return err
			}
			row.finish(&o)
			out = append(out, o)
			return nil
		})
	if err != nil {
		return nil, 0, fmt.Errorf("store: outbox: %w", err)
	}
	return out, total, nil
}

// ResourceLifecycle returns the lifecycle settings of a project or group.
func (r reader) ResourceLifecycle(ctx context.Context, src keygate.SourceType, srcID int64) (keygate.ResourceLifecycle, error) {
	l := keygate.ResourceLifecycle{SourceType: src, SourceID: srcID}
	err := r.q.QueryRowContext(ctx, r.d.Rebind(`SELECT extended_expiry_webhooks FROM resource_lifecycle_settings
		WHERE source_type = ? AND source_id = ?`), string(src), srcID).Scan(&l.ExtendedExpiryWebhooks)
	if isNoRows(err) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("store: lifecycle settings of %s %d: %w", src, srcID, r.d.Classify(err))
	}
	return l, nil
}

// CreateAuditEvent inserts e and sets e.ID.
func (t *txn) CreateAuditEvent(ctx context.Context, e *keygate.AuditEvent) error {
	q := t.d.Rebind(`INSERT INTO audit_events (event_name, author_id, author_name, author_email,
		entity_type, entity_id, entity_path, target_id, target_type, target_details, ip_address,
		request_id, fingerprint, message, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	err := t.tx.QueryRowContext(ctx, q, e.Name, e.AuthorID, e.AuthorName, e.AuthorEmail,
		string(e.EntityType), e.EntityID, e.EntityPath, e.TargetID, e.TargetType, e.TargetDetails,
		e.IP, e.RequestID, e.Fingerprint, e.Message, t.timeArg(e.CreatedAt)).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("store: create audit event %q: %w", e.Name, t.d.Classify(err))
	}
	e.CreatedAt = Normalize(e.CreatedAt)
	return nil
}

// PutTokenFingerprint records a token's audit fingerprint (the last one written wins).
func (t *txn) PutTokenFingerprint(ctx context.Context, tokenID int64, fp string) error {
	q := t.d.Rebind(`INSERT INTO token_fingerprints (token_id, fingerprint) VALUES (?, ?)
		ON CONFLICT (token_id) DO UPDATE SET fingerprint = excluded.fingerprint`)
	if _, err := t.tx.ExecContext(ctx, q, tokenID, fp); err != nil {
		return fmt.Errorf("store: token fingerprint %d: %w", tokenID, t.d.Classify(err))
	}
	return nil
}

// ClaimNotice inserts the claim row; ON CONFLICT DO NOTHING makes the losing node's
// insert touch no row, which both backends report as zero rows affected.
func (t *txn) ClaimNotice(ctx context.Context, tokenID int64, threshold int, at time.Time) (bool, error) {
	q := t.d.Rebind(`INSERT INTO token_expiry_notices (token_id, threshold, sent_at) VALUES (?, ?, ?)
		ON CONFLICT (token_id, threshold) DO NOTHING`)
	n, err := t.affected(ctx, q, tokenID, threshold, t.timeArg(at))
	if err != nil {
		return false, fmt.Errorf("store: claim notice %d/%d: %w", tokenID, threshold, err)
	}
	return n == 1, nil
}

// hookSource returns the (project_id, group_id) arguments of a hook.
func hookSource(h keygate.Hook) (any, any) {
	if h.SourceType == keygate.SourceNamespace {
		return nil, h.SourceID
	}
	return h.SourceID, nil
}

// CreateHook inserts h and sets h.ID.
func (t *txn) CreateHook(ctx context.Context, h *keygate.Hook) error {
	p, g := hookSource(*h)
	q := t.d.Rebind(`INSERT INTO web_hooks (project_id, group_id, url, name, description,
		secret_token, resource_access_token_events, push_events, enable_ssl_verification, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	err := t.savepoint(ctx, func() error {
		return t.tx.QueryRowContext(ctx, q, p, g, h.URL, h.Name, h.Description, h.SecretToken,
			h.ResourceAccessTokenEvents, h.PushEvents, h.EnableSSLVerification, t.timeArg(h.CreatedAt)).Scan(&h.ID)
	})
	if err != nil {
		return fmt.Errorf("store: create hook of %s %d: %w", h.SourceType, h.SourceID, t.d.Classify(err))
	}
	h.CreatedAt = Normalize(h.CreatedAt)
	return nil
}

// UpdateHook writes every field of hook h.ID but its source.
func (t *txn) UpdateHook(ctx context.Context, h keygate.Hook) error {
	q := t.d.Rebind(`UPDATE web_hooks SET url = ?, name = ?, description = ?, secret_token = ?,
		resource_access_token_events = ?, push_events = ?, enable_ssl_verification = ? WHERE id = ?`)
	n, err := t.affected(ctx, q, h.URL, h.Name, h.Description, h.SecretToken,
		h.ResourceAccessTokenEvents, h.PushEvents, h.EnableSSLVerification, h.ID)
	if err != nil {
		return fmt.Errorf("store: update hook %d: %w", h.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: update %w", notFound("hook", h.ID))
	}
	return nil
}

// DeleteHook removes hook id; its deliveries go by foreign key.
func (t *txn) DeleteHook(ctx context.Context, id int64) error {
	n, err := t.affected(ctx, t.d.Rebind("DELETE FROM web_hooks WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("store: delete hook %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete %w", notFound("hook", id))
	}
	return nil
}

// Enqueue inserts o and sets o.ID.
func (t *txn) Enqueue(ctx context.Context, o *keygate.Outbound) error {
	q := t.d.Rebind(`INSERT INTO outbox (kind, user_id, hook_id, token_id, event, recipient,
		subject, body_text, body_html, created_at, attempts, next_attempt_at, delivered_at,
		response_status, last_error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	err := t.savepoint(ctx, func() error {
		return t.tx.QueryRowContext(ctx, q, string(o.Kind), nullID(o.UserID), nullID(o.HookID),
			o.TokenID, o.Event, o.Recipient, o.Subject, o.BodyText, o.BodyHTML, t.timeArg(o.CreatedAt),
			o.Attempts, t.nullTimeArg(o.NextAttemptAt), t.nullTimeArg(o.DeliveredAt),
			o.ResponseStatus, o.LastError).Scan(&o.ID)
	})
	if err != nil {
		return fmt.Errorf("store: enqueue %s %q: %w", o.Kind, o.Event, t.d.Classify(err))
	}
	return nil
}

// ClaimDue leases the due entries to this transaction's caller. Each lease is an
// UPDATE guarded by the next_attempt_at it read, so two nodes reading the same row agree
// on one winner whatever the isolation level.
func (t *txn) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]keygate.Outbound, error) {
	q := t.d.Rebind(`SELECT ` + outboxColumns + ` FROM outbox
		WHERE delivered_at IS NULL AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?
		ORDER BY next_attempt_at, id LIMIT ?`)
	rows, err := t.tx.QueryContext(ctx, q, t.timeArg(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due outbox: %w", t.d.Classify(err))
	}
	var due []keygate.Outbound
	for rows.Next() {
		var (
			o   keygate.Outbound
			row outboxRow
		)
		if err := rows.Scan(outboxDest(&o, &row)...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: due outbox: %w", err)
		}
		row.finish(&o)
		due = append(due, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: due outbox: %w", t.d.Classify(err))
	}
	until := now.Add(lease)
	upd := t.d.Rebind("UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND next_attempt_at = ? AND delivered_at IS NULL")
	out := due[:0]
	for _, o := range due {
		n, err := t.affected(ctx, upd, t.timeArg(until), o.ID, t.timeArg(*o.NextAttemptAt))
		if err != nil {
			return nil, fmt.Errorf("store: lease outbox %d: %w", o.ID, err)
		}
		if n == 1 {
			out = append(out, o)
		}
	}
	return out, nil
}

// FinishAttempt records one attempt at entry id.
func (t *txn) FinishAttempt(ctx context.Context, id int64, at time.Time, status int, errText string, next *time.Time) error {
	var delivered any
	if next == nil {
		delivered = t.timeArg(at)
	}
	q := t.d.Rebind(`UPDATE outbox SET attempts = attempts + 1, response_status = ?, last_error = ?,
		next_attempt_at = ?, delivered_at = ? WHERE id = ?`)
	n, err := t.affected(ctx, q, status, errText, t.nullTimeArg(next), delivered, id)
	if err != nil {
		return fmt.Errorf("store: finish attempt %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("store: finish attempt %w", notFound("outbox entry", id))
	}
	return nil
}

// PutResourceLifecycle stores a project's or group's lifecycle settings.
func (t *txn) PutResourceLifecycle(ctx context.Context, l keygate.ResourceLifecycle) error {
	q := t.d.Rebind(`INSERT INTO resource_lifecycle_settings (source_type, source_id, extended_expiry_webhooks)
		VALUES (?, ?, ?) ON CONFLICT (source_type, source_id) DO UPDATE
		SET extended_expiry_webhooks = excluded.extended_expiry_webhooks`)
	if _, err := t.tx.ExecContext(ctx, q, string(l.SourceType), l.SourceID, l.ExtendedExpiryWebhooks); err != nil {
		return fmt.Errorf("store: lifecycle settings of %s %d: %w", l.SourceType, l.SourceID, t.d.Classify(err))
	}
	return nil
}

// NoticeCandidates: the tokens whose due notice is unclaimed. The CASE is
// keygate.NoticeThreshold in SQL (0 on the expiry day, 7 up to a week, 30 up to 30 days,
// 60 beyond); the expires_at index bounds the scan to the 60-day window.
func (r reader) NoticeCandidates(ctx context.Context, today keygate.Date, limit int) ([]keygate.Token, error) {
	q := r.d.Rebind(`SELECT ` + tokenColumns + ` FROM personal_access_tokens t
		WHERE t.revoked = ? AND t.impersonation = ? AND t.expires_at >= ? AND t.expires_at <= ?
		AND NOT EXISTS (SELECT 1 FROM token_expiry_notices n WHERE n.token_id = t.id AND n.threshold =
			CASE WHEN t.expires_at = ? THEN 0 WHEN t.expires_at <= ? THEN 7 WHEN t.expires_at <= ? THEN 30 ELSE 60 END)
		ORDER BY t.id LIMIT ?`)
	d := r.d.Date
	rows, err := r.q.QueryContext(ctx, q, false, false, d(today), d(today.AddDays(keygate.NoticeSixtyDays)),
		d(today), d(today.AddDays(keygate.NoticeSevenDays)), d(today.AddDays(keygate.NoticeThirtyDays)), limit)
	if err != nil {
		return nil, fmt.Errorf("store: notice candidates: %w", r.d.Classify(err))
	}
	defer rows.Close()
	var out []keygate.Token
	for rows.Next() {
		var (
			t   keygate.Token
			row tokenRow
		)
		if err := rows.Scan(tokenDest(&t, &row)...); err != nil {
			return nil, fmt.Errorf("store: notice candidates: %w", err)
		}
		row.finish(&t)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: notice candidates: %w", r.d.Classify(err))
	}
	return out, nil
}
