package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// txn implements store.Tx over one *sql.Tx.
type txn struct {
	reader
	tx *sql.Tx
	// moved records that a write took access away; the Marker is moved once, at commit.
	moved bool
}

// savepoint runs one statement under a savepoint, so that its failure (a unique
// violation the caller may handle) leaves the transaction usable. Errors come back
// unclassified; the caller classifies once. PostgreSQL aborts a
// transaction on any failed statement and SQLite does not; without this the contract
// would depend on the backend.
func (t *txn) savepoint(ctx context.Context, fn func() error) error {
	if _, err := t.tx.ExecContext(ctx, "SAVEPOINT keygate_stmt"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if _, rbErr := t.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT keygate_stmt"); rbErr != nil {
			return fmt.Errorf("%w (and rollback to savepoint: %v)", err, rbErr)
		}
		_, _ = t.tx.ExecContext(ctx, "RELEASE SAVEPOINT keygate_stmt")
		return err
	}
	_, err := t.tx.ExecContext(ctx, "RELEASE SAVEPOINT keygate_stmt")
	return err
}

func (t *txn) timeArg(v time.Time) any { return t.d.Time(Normalize(v)) }

func (t *txn) nullTimeArg(v *time.Time) any {
	if v == nil {
		return nil
	}
	return t.timeArg(*v)
}

func (t *txn) nullDateArg(v *keygate.Date) any {
	if v == nil {
		return nil
	}
	return t.d.Date(*v)
}

// userArgs are the written columns in userColumns order, without id.
func (t *txn) userArgs(u *keygate.User) []any {
	return []any{u.Username, u.Name, u.Email, string(u.State), string(u.Type), u.Admin,
		u.External, u.PasswordHash, u.Bio, u.Location, u.PublicEmail, u.WebsiteURL,
		u.Organization, u.JobTitle, u.Pronouns, u.Note, u.ProjectsLimit, u.CanCreateGroup,
		u.PrivateProfile, t.timeArg(u.CreatedAt), t.nullTimeArg(u.ConfirmedAt),
		t.nullDateArg(u.LastActivityOn), string(u.BotSourceType), u.BotSourceID, u.CreatedByID}
}

// CreateUser inserts u and sets u.ID. A taken username or email is store.ErrConflict.
func (t *txn) CreateUser(ctx context.Context, u *keygate.User) error {
	q := t.d.Rebind(`INSERT INTO users (username, name, email, state, user_type, admin,
		external, password_hash, bio, location, public_email, website_url, organization,
		job_title, pronouns, note, projects_limit, can_create_group, private_profile,
		created_at, confirmed_at, last_activity_on, bot_source_type, bot_source_id,
		created_by_id, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id`)
	args := append(t.userArgs(u), t.timeArg(u.CreatedAt))
	var id int64
	err := t.savepoint(ctx, func() error {
		return t.tx.QueryRowContext(ctx, q, args...).Scan(&id)
	})
	if err != nil {
		return fmt.Errorf("store: create user %q: %w", u.Username, t.d.Classify(err))
	}
	u.ID = id
	return nil
}

// UpdateUser overwrites every stored field of user u.ID and moves the Marker.
func (t *txn) UpdateUser(ctx context.Context, u keygate.User) error {
	q := t.d.Rebind(`UPDATE users SET username = ?, name = ?, email = ?, state = ?,
		user_type = ?, admin = ?, external = ?, password_hash = ?, bio = ?, location = ?,
		public_email = ?, website_url = ?, organization = ?, job_title = ?, pronouns = ?,
		note = ?, projects_limit = ?, can_create_group = ?, private_profile = ?,
		created_at = ?, confirmed_at = ?, last_activity_on = ?, bot_source_type = ?,
		bot_source_id = ?, created_by_id = ?, updated_at = ?
		WHERE id = ?`)
	// keygate.User carries no UpdatedAt and UpdateUser takes no clock, so updated_at is
	// the wall clock here; it only orders lists (UserFilter.OrderBy "updated_at").
	args := append(t.userArgs(&u), t.timeArg(time.Now()), u.ID)
	var n int64
	err := t.savepoint(ctx, func() error {
		res, err := t.tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("store: update user %d: %w", u.ID, t.d.Classify(err))
	}
	if n == 0 {
		return fmt.Errorf("store: update %w", notFound("user", u.ID))
	}
	t.moved = true
	return nil
}

// CreateToken inserts tok and sets tok.ID. A digest already stored is store.ErrConflict;
// an owner or predecessor that does not exist is store.ErrNotFound.
func (t *txn) CreateToken(ctx context.Context, tok *keygate.Token) error {
	q := t.d.Rebind(`INSERT INTO personal_access_tokens (user_id, name, description, scopes,
		impersonation, revoked, expires_at, created_at, updated_at, last_used_at,
		previous_personal_access_token_id, token_digest, granular, granular_scopes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	updated := tok.UpdatedAt
	if updated.IsZero() {
		updated = tok.CreatedAt
	}
	var prev any
	if tok.PreviousID != 0 {
		prev = tok.PreviousID
	}
	if len(tok.Digest) == 0 {
		// Drivers disagree on whether a nil []byte is NULL or an empty BLOB; refuse it
		// here so both backends answer alike.
		return fmt.Errorf("store: create token %q of user %d: empty digest", tok.Name, tok.UserID)
	}
	scopes, granular := tok.Scopes.String(), ""
	if tok.Granular {
		scopes = string(keygate.ScopeGranular) // GitLab's stored form
		var err error
		if granular, err = granularText(tok.GranularScopes); err != nil {
			return fmt.Errorf("store: create token %q of user %d: %w", tok.Name, tok.UserID, err)
		}
	}
	var id int64
	err := t.savepoint(ctx, func() error {
		return t.tx.QueryRowContext(ctx, q, tok.UserID, tok.Name, tok.Description,
			scopes, tok.Impersonation, tok.Revoked, t.nullDateArg(tok.ExpiresAt),
			t.timeArg(tok.CreatedAt), t.timeArg(updated), t.nullTimeArg(tok.LastUsedAt), prev,
			tok.Digest, tok.Granular, granular).Scan(&id)
	})
	if err != nil {
		return fmt.Errorf("store: create token %q of user %d: %w", tok.Name, tok.UserID, t.d.Classify(err))
	}
	tok.ID = id
	if tok.UpdatedAt.IsZero() {
		tok.UpdatedAt = tok.CreatedAt
	}
	return nil
}

// RevokeToken marks the token revoked at now and reports whether this call did it. The
// WHERE revoked = false makes two concurrent revocations (a rotation race) agree on one
// winner: the loser's UPDATE matches no row.
func (t *txn) RevokeToken(ctx context.Context, id int64, now time.Time) (bool, error) {
	q := t.d.Rebind(`UPDATE personal_access_tokens SET revoked = ?, updated_at = ?
		WHERE id = ? AND revoked = ?`)
	res, err := t.tx.ExecContext(ctx, q, true, t.timeArg(now), id, false)
	if err != nil {
		return false, fmt.Errorf("store: revoke token %d: %w", id, t.d.Classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: revoke token %d: %w", id, err)
	}
	if n > 0 {
		t.moved = true
		return true, nil
	}
	var one int
	err = t.tx.QueryRowContext(ctx, t.d.Rebind("SELECT 1 FROM personal_access_tokens WHERE id = ?"), id).Scan(&one)
	if isNoRows(err) {
		return false, fmt.Errorf("store: revoke %w", notFound("token", id))
	}
	if err != nil {
		return false, fmt.Errorf("store: revoke token %d: %w", id, t.d.Classify(err))
	}
	return false, nil
}

// RevokeDescendants revokes every unrevoked token whose chain of predecessors leads back
// to id. UNION (not UNION ALL) makes the walk terminate even on a corrupt, cyclic chain.
func (t *txn) RevokeDescendants(ctx context.Context, id int64, now time.Time) (int, error) {
	q := t.d.Rebind(`WITH RECURSIVE descendants(id) AS (
			SELECT id FROM personal_access_tokens WHERE previous_personal_access_token_id = ?
			UNION
			SELECT p.id FROM personal_access_tokens p
			JOIN descendants d ON p.previous_personal_access_token_id = d.id
		)
		UPDATE personal_access_tokens SET revoked = ?, updated_at = ?
		WHERE revoked = ? AND id IN (SELECT id FROM descendants)`)
	res, err := t.tx.ExecContext(ctx, q, id, true, t.timeArg(now), false)
	if err != nil {
		return 0, fmt.Errorf("store: revoke descendants of token %d: %w", id, t.d.Classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: revoke descendants of token %d: %w", id, err)
	}
	if n > 0 {
		t.moved = true
	}
	return int(n), nil
}

// PutSettings stores s as JSON (so a new field needs no migration) and moves the Marker.
func (t *txn) PutSettings(ctx context.Context, s keygate.Settings) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: put settings: %w", err)
	}
	q := t.d.Rebind(`INSERT INTO settings (id, data) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data`)
	if _, err := t.tx.ExecContext(ctx, q, string(data)); err != nil {
		return fmt.Errorf("store: put settings: %w", t.d.Classify(err))
	}
	t.moved = true
	return nil
}

// DeleteUser removes user id. Foreign keys take its tokens (and their addresses), its
// memberships and its personal namespace with that namespace's projects; the memberships
// other users hold in that namespace and its projects have no foreign key to follow and
// are deleted first.
func (t *txn) DeleteUser(ctx context.Context, id int64) error {
	if err := t.deleteSubtreeMembers(ctx, "r.owner_id = ?", id); err != nil {
		return fmt.Errorf("store: delete user %d: %w", id, err)
	}
	n, err := t.affected(ctx, t.d.Rebind("DELETE FROM users WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("store: delete user %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete %w", notFound("user", id))
	}
	t.moved = true
	return nil
}

// affected runs q and returns how many rows it touched; errors come back classified.
func (t *txn) affected(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, t.d.Classify(err)
	}
	return res.RowsAffected()
}

var _ store.Tx = (*txn)(nil)

// prepare readies statements a batch write runs once per row: without it each row's
// statement is parsed again (on SQLite most of a batch's cost).
func (t *txn) prepare(ctx context.Context, queries ...string) ([]*sql.Stmt, error) {
	out := make([]*sql.Stmt, 0, len(queries))
	for _, q := range queries {
		st, err := t.tx.PrepareContext(ctx, q)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("store: prepare batch statement: %w", t.d.Classify(err))
		}
		out = append(out, st)
	}
	return out, nil
}

func closeAll(st []*sql.Stmt) {
	for _, s := range st {
		_ = s.Close()
	}
}
