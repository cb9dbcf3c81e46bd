package connection

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/remote"
	"github.com/keygate/keygate/internal/secret"
)

// Outcomes of a rotation.
const (
	Rotated   = "rotated"
	Recovered = "recovered" // a rotation interrupted earlier was completed
	NotDue    = "not_due"
	Reauth    = "needs_reauth"
	Failed    = "failed"
)

// RotateResult is one connection's rotation.
type RotateResult struct {
	Name      string  `json:"name"`
	Outcome   string  `json:"outcome"`
	Detail    string  `json:"detail"`
	ExpiresAt *string `json:"expires_at,omitempty"`
	TokenID   int64   `json:"token_id,omitempty"`
}

// ErrCrashed is what Rotate reports when Config.AfterRotate stopped it.
var ErrCrashed = errors.New("rotation interrupted before the successor was saved")

// Rotate self-rotates the named connections (all when none are named) whose token
// expires within `within`, and first completes any rotation an earlier run left
// unfinished. A connection's outcome is in its result; the error is for the registry
// itself (and for an injected crash).
func (r *Registry) Rotate(ctx context.Context, within time.Duration, names ...string) ([]RotateResult, error) {
	conns, err := r.List(ctx, names...)
	if err != nil {
		return nil, err
	}
	out := make([]RotateResult, 0, len(conns))
	for _, c := range conns {
		res, err := r.rotateOne(ctx, c, within)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

func (r *Registry) rotateOne(ctx context.Context, c Connection, within time.Duration) (RotateResult, error) {
	res := RotateResult{Name: c.Name}
	if c.NeedsReauth {
		res.Outcome, res.Detail = Reauth, "re-authorize first: `keygate connections add "+c.Name+" --url "+c.URL+" --replace` with a new token on stdin"
		return res, nil
	}
	cl, _, err := r.client(c)
	if err != nil {
		res.Outcome, res.Detail = Failed, err.Error()
		return res, nil
	}
	if c.RotationPending {
		return r.recover(ctx, cl, c)
	}
	t, err := cl.SelfToken(ctx)
	if err != nil {
		st, detail := classifyError(err)
		res.Outcome, res.Detail = Failed, st+": "+detail
		return res, nil
	}
	d := daysLeft(t.ExpiresAt, r.cfg.Now())
	if d == nil || time.Duration(*d)*24*time.Hour > within {
		res.Outcome, res.Detail = NotDue, "not expiring within "+formatWithin(within)
		if d != nil {
			res.Detail = fmt.Sprintf("%d days left, not within %s", *d, formatWithin(within))
		}
		return res, nil
	}
	r.learn(ctx, cl, &c, t)
	path := "/personal_access_tokens/self/rotate"
	if u, err := cl.User(ctx); err == nil {
		path = remote.SelfRotatePath(u)
	}
	// The intent goes to disk before the request: if this process dies after the server
	// rotated, the next run knows a successor may exist.
	c.rotateKey, c.rotatePath, c.rotateExpires = newKey(), path, r.successorExpiry(t)
	if _, err := r.db.ExecContext(ctx, `UPDATE connections SET rotate_key = ?, rotate_path = ?,
		rotate_expires_at = ?, rotate_started_at = ?, server = ? WHERE name = ?`,
		c.rotateKey, c.rotatePath, c.rotateExpires, r.cfg.Now().UTC().Format(timeLayout), c.Server, c.Name); err != nil {
		return res, fmt.Errorf("connections: record rotation intent of %s: %w", c.Name, err)
	}
	return r.send(ctx, cl, c, Rotated)
}

// send performs (or, with the same key, repeats) the rotation and saves the successor.
func (r *Registry) send(ctx context.Context, cl *remote.Client, c Connection, outcome string) (RotateResult, error) {
	res := RotateResult{Name: c.Name}
	key := ""
	if c.Server == ServerKeygate {
		key = c.rotateKey
	}
	next, err := cl.RotateSelf(ctx, c.rotatePath, c.rotateExpires, key)
	if err != nil {
		if remote.Unreachable(err) {
			// The request may or may not have arrived: keep the intent for the next run.
			res.Outcome, res.Detail = Failed, "unreachable during rotation; run rotate again to finish it: "+err.Error()
			return res, nil
		}
		return r.refused(ctx, cl, c, err)
	}
	if r.cfg.AfterRotate != nil {
		if err := r.cfg.AfterRotate(c.Name); err != nil {
			return res, fmt.Errorf("%s: %w: %v", c.Name, ErrCrashed, err)
		}
	}
	if next.Secret == "" {
		return res, fmt.Errorf("%s: the rotation's answer holds no token", c.Name)
	}
	sealed, err := r.seal(c.Name, secret.Wrap(next.Secret))
	if err != nil {
		return res, err
	}
	if _, err := r.db.ExecContext(ctx, `UPDATE connections SET sealed_token = ?, token_id = ?,
		expires_at = ?, token_created_at = ?, needs_reauth = 0, last_status = ?, last_detail = ?,
		rotate_key = NULL, rotate_path = NULL, rotate_expires_at = NULL, rotate_started_at = NULL
		WHERE name = ?`, sealed, next.ID, next.ExpiresAt, next.CreatedAt, Healthy, "rotated", c.Name); err != nil {
		return res, fmt.Errorf("connections: save successor of %s: %w", c.Name, err)
	}
	res.Outcome, res.TokenID, res.ExpiresAt = outcome, next.ID, next.ExpiresAt
	res.Detail = "successor saved"
	if outcome == Recovered {
		res.Detail = "the interrupted rotation's successor was recovered and saved"
	}
	return res, nil
}

// refused handles a rotation the server answered with an error. If the stored token
// still works, nothing changed and the intent is dropped; otherwise the successor is
// lost and the connection needs re-authorization.
func (r *Registry) refused(ctx context.Context, cl *remote.Client, c Connection, rerr error) (RotateResult, error) {
	res := RotateResult{Name: c.Name, Outcome: Failed, Detail: rerr.Error()}
	if e, ok := remote.AsError(rerr); ok && e.InsufficientScope() {
		res.Detail = "403: self-rotation needs the api or self_rotate scope; create a token with self_rotate"
	}
	if _, err := cl.SelfToken(ctx); err == nil {
		return res, r.clearIntent(ctx, c.Name, false)
	} else if remote.Unreachable(err) {
		return res, nil
	}
	res.Outcome = Reauth
	res.Detail = "the old token no longer works and its successor was lost (" + rerr.Error() + "): re-authorize with `keygate connections add " + c.Name + " --url " + c.URL + " --replace`"
	return res, r.clearIntent(ctx, c.Name, true)
}

// recover finishes a rotation an earlier run started. Against Keygate the same
// Idempotency-Key returns the same successor (or performs the rotation if it never
// arrived). Against GitLab there is no such retry: if the old token still works the
// rotation never happened and runs now; otherwise the successor is lost.
func (r *Registry) recover(ctx context.Context, cl *remote.Client, c Connection) (RotateResult, error) {
	if c.Server == ServerKeygate {
		return r.send(ctx, cl, c, Recovered)
	}
	_, err := cl.SelfToken(ctx)
	switch {
	case err == nil:
		c.rotateKey = newKey()
		return r.send(ctx, cl, c, Rotated)
	case remote.Unreachable(err):
		return RotateResult{Name: c.Name, Outcome: Failed, Detail: "unreachable; an unfinished rotation waits: " + err.Error()}, nil
	}
	if err := r.clearIntent(ctx, c.Name, true); err != nil {
		return RotateResult{}, err
	}
	return RotateResult{Name: c.Name, Outcome: Reauth,
		Detail: "a rotation was interrupted after GitLab revoked the old token, and GitLab cannot replay its successor: re-authorize with `keygate connections add " + c.Name + " --url " + c.URL + " --replace`"}, nil
}

func (r *Registry) clearIntent(ctx context.Context, name string, reauth bool) error {
	q := `UPDATE connections SET rotate_key = NULL, rotate_path = NULL, rotate_expires_at = NULL,
		rotate_started_at = NULL WHERE name = ?`
	args := []any{name}
	if reauth {
		q = `UPDATE connections SET rotate_key = NULL, rotate_path = NULL, rotate_expires_at = NULL,
		rotate_started_at = NULL, needs_reauth = 1, last_status = ?, last_detail = ? WHERE name = ?`
		args = []any{Revoked, "a rotation lost its successor: re-authorize", name}
	}
	_, err := r.db.ExecContext(ctx, q, args...)
	return err
}

// successorExpiry keeps the old token's lifetime (created to expiry), at most 365 days;
// "" (the server's default) when the old token has none.
func (r *Registry) successorExpiry(t remote.Token) string {
	if t.ExpiresAt == nil {
		return ""
	}
	exp, err1 := time.Parse("2006-01-02", *t.ExpiresAt)
	created, err2 := time.Parse(time.RFC3339, t.CreatedAt)
	if err1 != nil || err2 != nil {
		return ""
	}
	days := int(exp.Sub(created.UTC().Truncate(24*time.Hour)).Hours() / 24)
	days = max(1, min(days, 365))
	return r.cfg.Now().UTC().AddDate(0, 0, days).Format("2006-01-02")
}

// ParseWithin reads a horizon like 14d, 36h or 90m.
func ParseWithin(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var d int
		if _, err := fmt.Sscanf(n, "%d", &d); err != nil || d < 0 || fmt.Sprint(d) != n {
			return 0, fmt.Errorf("%q: want a number of days like 14d, or a duration like 36h", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a number of days like 14d, or a duration like 36h", s)
	}
	return d, nil
}

func formatWithin(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
