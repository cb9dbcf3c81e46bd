package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

const sessionColumns = "id, session_digest, user_id, created_at, expires_at, ip, user_agent"

// Session returns the web session whose ID has the given digest, expired or not (the
// service judges expiry on its clock).
func (r reader) Session(ctx context.Context, digest []byte) (keygate.Session, error) {
	var s keygate.Session
	err := r.q.QueryRowContext(ctx, r.d.Rebind("SELECT "+sessionColumns+" FROM web_sessions WHERE session_digest = ?"), digest).
		Scan(&s.ID, &s.Digest, &s.UserID, timeCol{&s.CreatedAt}, timeCol{&s.ExpiresAt}, &s.IP, &s.UserAgent)
	if isNoRows(err) {
		return keygate.Session{}, notFound("session with digest", "(redacted)") // the digest stays out of errors
	}
	if err != nil {
		return keygate.Session{}, fmt.Errorf("store: session: %w", r.d.Classify(err))
	}
	return s, nil
}

// CreateSession inserts s and sets s.ID; a digest already stored is store.ErrConflict.
func (t *txn) CreateSession(ctx context.Context, s *keygate.Session) error {
	q := t.d.Rebind(`INSERT INTO web_sessions (session_digest, user_id, created_at, expires_at, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`)
	err := t.savepoint(ctx, func() error {
		return t.tx.QueryRowContext(ctx, q, s.Digest, s.UserID, t.timeArg(s.CreatedAt), t.timeArg(s.ExpiresAt), s.IP, s.UserAgent).Scan(&s.ID)
	})
	if err != nil {
		return fmt.Errorf("store: create session: %w", t.d.Classify(err))
	}
	return nil
}

// DeleteSession removes the session with the digest; store.ErrNotFound if there is none.
func (t *txn) DeleteSession(ctx context.Context, digest []byte) error {
	res, err := t.tx.ExecContext(ctx, t.d.Rebind("DELETE FROM web_sessions WHERE session_digest = ?"), digest)
	if err != nil {
		return fmt.Errorf("store: delete session: %w", t.d.Classify(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("store: delete session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteUserSessions removes every session of the user and reports how many.
func (t *txn) DeleteUserSessions(ctx context.Context, userID int64) (int, error) {
	return t.deleteSessions(ctx, "user_id = ?", userID)
}

// DeleteExpiredSessions removes the sessions that expired at or before now.
func (t *txn) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return t.deleteSessions(ctx, "expires_at <= ?", t.timeArg(now))
}

func (t *txn) deleteSessions(ctx context.Context, where string, arg any) (int, error) {
	res, err := t.tx.ExecContext(ctx, t.d.Rebind("DELETE FROM web_sessions WHERE "+where), arg)
	if err != nil {
		return 0, fmt.Errorf("store: delete sessions: %w", t.d.Classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete sessions: %w", t.d.Classify(err))
	}
	return int(n), nil
}
