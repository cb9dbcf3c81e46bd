package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/keygate/keygate"
)

// RecordPermissionUses upserts aggregated fine-grained uses in one transaction, without
// moving the Marker, then prunes days before keepFrom: storage is bounded by the
// retention window times the distinct (route, boundary) pairs a token reaches per day.
// Lines are merged and sorted first so concurrent batches lock rows in one order; the
// insert selects from the token, so a line of a deleted token inserts nothing.
func (db *DB) RecordPermissionUses(ctx context.Context, uses []keygate.PermissionUse, keepFrom keygate.Date) error {
	d := db.d
	upsert := d.Rebind(`INSERT INTO token_permission_uses (token_id, day, route, boundary_kind,
		boundary_id, uses, last_used_at)
		SELECT t.id, ?, ?, ?, ?, ?, ? FROM personal_access_tokens t WHERE t.id = ?
		ON CONFLICT (token_id, day, route, boundary_kind, boundary_id) DO UPDATE SET
			uses = token_permission_uses.uses + excluded.uses,
			last_used_at = CASE WHEN excluded.last_used_at > token_permission_uses.last_used_at
				THEN excluded.last_used_at ELSE token_permission_uses.last_used_at END`)
	prune := d.Rebind(`DELETE FROM token_permission_uses WHERE day < ?`)
	merged := mergePermissionUses(uses)
	return db.inTx(ctx, func(t *txn) error {
		st, err := t.prepare(ctx, upsert)
		if err != nil {
			return err
		}
		defer closeAll(st)
		for _, u := range merged {
			if _, err := st[0].ExecContext(ctx, d.Date(u.Day), u.Route, u.BoundaryKind,
				u.BoundaryID, u.Uses, d.Time(u.LastUsedAt), u.TokenID); err != nil {
				return fmt.Errorf("store: record permission use of token %d: %w", u.TokenID, d.Classify(err))
			}
		}
		if _, err := t.tx.ExecContext(ctx, prune, d.Date(keepFrom)); err != nil {
			return fmt.Errorf("store: prune permission uses: %w", d.Classify(err))
		}
		return nil
	})
}

func comparePermissionUse(a, b keygate.PermissionUse) int {
	return cmp.Or(cmp.Compare(a.TokenID, b.TokenID), a.Day.Start().Compare(b.Day.Start()),
		cmp.Compare(a.Route, b.Route), cmp.Compare(a.BoundaryKind, b.BoundaryKind),
		cmp.Compare(a.BoundaryID, b.BoundaryID))
}

// mergePermissionUses sums the counts and keeps the latest time per key, sorted.
func mergePermissionUses(uses []keygate.PermissionUse) []keygate.PermissionUse {
	sorted := slices.Clone(uses)
	slices.SortFunc(sorted, comparePermissionUse)
	out := sorted[:0]
	for _, u := range sorted {
		u.LastUsedAt = Normalize(u.LastUsedAt)
		if n := len(out); n > 0 && comparePermissionUse(out[n-1], u) == 0 {
			out[n-1].Uses += u.Uses
			if u.LastUsedAt.After(out[n-1].LastUsedAt) {
				out[n-1].LastUsedAt = u.LastUsedAt
			}
			continue
		}
		out = append(out, u)
	}
	return out
}

// PermissionUses returns a token's aggregated uses from day since on.
func (r reader) PermissionUses(ctx context.Context, tokenID int64, since keygate.Date) ([]keygate.PermissionUse, error) {
	q := r.d.Rebind(`SELECT token_id, day, route, boundary_kind, boundary_id, uses, last_used_at
		FROM token_permission_uses WHERE token_id = ? AND day >= ?
		ORDER BY day, route, boundary_kind, boundary_id`)
	rows, err := r.q.QueryContext(ctx, q, tokenID, r.d.Date(since))
	if err != nil {
		return nil, fmt.Errorf("store: permission uses of token %d: %w", tokenID, r.d.Classify(err))
	}
	defer rows.Close()
	var out []keygate.PermissionUse
	for rows.Next() {
		var (
			u   keygate.PermissionUse
			day *keygate.Date
		)
		if err := rows.Scan(&u.TokenID, nullDateCol{&day}, &u.Route, &u.BoundaryKind, &u.BoundaryID,
			&u.Uses, timeCol{&u.LastUsedAt}); err != nil {
			return nil, fmt.Errorf("store: permission uses of token %d: %w", tokenID, err)
		}
		if day != nil {
			u.Day = *day
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: permission uses of token %d: %w", tokenID, r.d.Classify(err))
	}
	return out, nil
}
