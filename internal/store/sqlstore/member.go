package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

const memberColumns = `m.id, m.source_type, m.source_id, m.user_id, m.access_level, m.expires_at,
	m.created_at, m.created_by_id`

func memberDest(m *keygate.Member) []any {
	return []any{&m.ID, &m.SourceType, &m.SourceID, &m.UserID, &m.AccessLevel,
		nullDateCol{&m.ExpiresAt}, timeCol{&m.CreatedAt}, &m.CreatedByID}
}

// activeMember is the condition "membership m still counts" with today's date as its
// argument: a membership stops at 00:00 UTC of its expiry date, so on that date it is
// already over (keygate.Member.Active).
const activeMember = "(m.expires_at IS NULL OR m.expires_at > ?)"

// inheritedMember is the condition "the user has an active membership of at least a
// level in namespace ns (an alias) or one of its ancestors". Arguments: user, level,
// today. The ancestors are the namespaces whose subtree holds ns.
func inheritedMember(ns string) string {
	return `EXISTS (SELECT 1 FROM members m JOIN namespaces a ON a.id = m.source_id
		WHERE m.user_id = ? AND m.source_type = 'Namespace' AND m.access_level >= ? AND ` +
		activeMember + ` AND ` + inSubtree(ns+".traversal_ids", "a.traversal_ids") + `)`
}

// errNoNow refuses a membership filter without the time to judge expiry by.
var errNoNow = errors.New("the filter's Now is required to judge membership expiry")

// today is the date argument of activeMember for the instant now.
func (r reader) today(now time.Time) (any, error) {
	if now.IsZero() {
		return nil, errNoNow
	}
	return r.d.Date(keygate.DateOf(now)), nil
}

// Member returns the direct membership of userID in the source.
func (r reader) Member(ctx context.Context, src keygate.SourceType, srcID, userID int64) (keygate.Member, error) {
	var m keygate.Member
	err := r.member.row(ctx, r.q, string(src), srcID, userID).Scan(memberDest(&m)...)
	key := fmt.Sprintf("of user %d in %s %d", userID, src, srcID)
	if isNoRows(err) {
		return keygate.Member{}, notFound("membership", key)
	}
	if err != nil {
		return keygate.Member{}, fmt.Errorf("store: membership %s: %w", key, r.d.Classify(err))
	}
	return m, nil
}

// Members returns the direct memberships f selects, ordered by source then user.
func (r reader) Members(ctx context.Context, f store.MemberFilter) ([]keygate.Member, error) {
	var w where
	if f.SourceIDs == nil && f.ProjectIDs == nil {
		if f.SourceType != "" {
			w.add("m.source_type = ?", string(f.SourceType))
		}
	} else {
		// One (type, IDs) range of members_source_user per list, OR-ed.
		var conds []string
		var args []any
		if len(f.SourceIDs) > 0 {
			cond := "m.source_id IN (" + placeholders(len(f.SourceIDs)) + ")"
			if f.SourceType != "" {
				cond = "m.source_type = ? AND " + cond
				args = append(args, string(f.SourceType))
			}
			conds, args = append(conds, "("+cond+")"), append(args, int64Args(f.SourceIDs)...)
		}
		if len(f.ProjectIDs) > 0 {
			conds = append(conds, "(m.source_type = 'Project' AND m.source_id IN ("+placeholders(len(f.ProjectIDs))+"))")
			args = append(args, int64Args(f.ProjectIDs)...)
		}
		if len(conds) == 0 {
			w.add("1 = 0") // empty lists: no source
		} else {
			w.add("("+strings.Join(conds, " OR ")+")", args...)
		}
	}
	if f.UserID != 0 {
		w.add("m.user_id = ?", f.UserID)
	}
	q := r.d.Rebind("SELECT " + memberColumns + " FROM members m" + w.sql() +
		" ORDER BY m.source_type, m.source_id, m.user_id")
	rows, err := r.q.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: members: %w", r.d.Classify(err))
	}
	defer rows.Close()
	var out []keygate.Member
	for rows.Next() {
		var m keygate.Member
		if err := rows.Scan(memberDest(&m)...); err != nil {
			return nil, fmt.Errorf("store: members: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: members: %w", r.d.Classify(err))
	}
	return out, nil
}

// maxAccessSlots is how many namespace IDs the prepared MaxAccess statement takes:
// GitLab's deepest nesting (20 levels). Unused slots get 0, which no namespace has; a
// longer chain runs the same query built for its length.
const maxAccessSlots = 20

// maxAccessQuery is MaxAccess with n namespace slots. Arguments: user, project, n
// namespace IDs, today. It reads one range of members_user_source.
func maxAccessQuery(n int) string {
	return `SELECT COALESCE(MAX(m.access_level), 0) FROM members m
		WHERE m.user_id = ? AND ((m.source_type = 'Project' AND m.source_id = ?)
			OR (m.source_type = 'Namespace' AND m.source_id IN (` + placeholders(n) + `)))
		AND ` + activeMember
}

// MaxAccess is the highest active direct level of userID on the project and the
// namespaces listed, in one query.
func (r reader) MaxAccess(ctx context.Context, userID, projectID int64, namespaceIDs []int64, now time.Time) (keygate.AccessLevel, error) {
	if userID == 0 || (projectID == 0 && len(namespaceIDs) == 0) {
		return keygate.NoAccess, nil
	}
	l := r.maxAccess
	slots := max(maxAccessSlots, len(namespaceIDs))
	if slots > maxAccessSlots {
		l = lookup{query: r.d.Rebind(maxAccessQuery(slots))}
	}
	args := make([]any, 0, slots+3)
	args = append(args, userID, projectID)
	for i := range slots {
		var id int64
		if i < len(namespaceIDs) {
			id = namespaceIDs[i]
		}
		args = append(args, id)
	}
	args = append(args, r.d.Date(keygate.DateOf(now)))
	var level int
	if err := l.row(ctx, r.q, args...).Scan(&level); err != nil {
		return keygate.NoAccess, fmt.Errorf("store: access of user %d to project %d: %w", userID, projectID, r.d.Classify(err))
	}
	return keygate.AccessLevel(level), nil
}

// sourceTable names the table a source type's IDs belong to ("" for none).
func sourceTable(src keygate.SourceType) string {
	switch src {
	case keygate.SourceProject:
		return "projects"
	case keygate.SourceNamespace:
		return "namespaces"
	}
	return ""
}

// AddMember inserts m and sets m.ID. The row is selected from the source's table, so a
// source that does not exist inserts nothing and is store.ErrNotFound, like a missing
// user (by foreign key); an existing membership is store.ErrConflict.
func (t *txn) AddMember(ctx context.Context, m *keygate.Member) error {
	table := sourceTable(m.SourceType)
	if table == "" {
		return fmt.Errorf("store: add member: unknown source type %q", m.SourceType)
	}
	q := t.d.Rebind(`INSERT INTO members (source_type, source_id, user_id, access_level,
		expires_at, created_at, created_by_id)
		SELECT ?, id, ?, ?, ?, ?, ? FROM ` + table + ` WHERE id = ? RETURNING id`)
	var id int64
	err := t.savepoint(ctx, func() error {
		return t.tx.QueryRowContext(ctx, q, string(m.SourceType), m.UserID, int(m.AccessLevel),
			t.nullDateArg(m.ExpiresAt), t.timeArg(m.CreatedAt), m.CreatedByID, m.SourceID).Scan(&id)
	})
	if isNoRows(err) {
		return fmt.Errorf("store: add member %d: %w", m.UserID, notFound(string(m.SourceType), m.SourceID))
	}
	if err != nil {
		return fmt.Errorf("store: add member %d to %s %d: %w", m.UserID, m.SourceType, m.SourceID, t.d.Classify(err))
	}
	m.ID = id
	return nil
}

// UpdateMember writes the level and expiry of the membership of m.UserID in m's source,
// and moves the Marker.
func (t *txn) UpdateMember(ctx context.Context, m keygate.Member) error {
	q := t.d.Rebind(`UPDATE members SET access_level = ?, expires_at = ?
		WHERE source_type = ? AND source_id = ? AND user_id = ?`)
	n, err := t.affected(ctx, q, int(m.AccessLevel), t.nullDateArg(m.ExpiresAt),
		string(m.SourceType), m.SourceID, m.UserID)
	if err != nil {
		return fmt.Errorf("store: update member %d of %s %d: %w", m.UserID, m.SourceType, m.SourceID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: update %w",
			notFound("membership", fmt.Sprintf("of user %d in %s %d", m.UserID, m.SourceType, m.SourceID)))
	}
	t.moved = true
	return nil
}

// RemoveMember deletes the membership of userID in the source, and moves the Marker.
func (t *txn) RemoveMember(ctx context.Context, src keygate.SourceType, srcID, userID int64) error {
	q := t.d.Rebind("DELETE FROM members WHERE source_type = ? AND source_id = ? AND user_id = ?")
	n, err := t.affected(ctx, q, string(src), srcID, userID)
	if err != nil {
		return fmt.Errorf("store: remove member %d of %s %d: %w", userID, src, srcID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: remove %w",
			notFound("membership", fmt.Sprintf("of user %d in %s %d", userID, src, srcID)))
	}
	t.moved = true
	return nil
}
