package sqlstore

import (
	"context"
	"fmt"

	"github.com/keygate/keygate/internal/store"
)

// invariants are the consistency rules Fsck checks. Each query returns the offending
// rows as (id, detail); none should ever match, whatever crashed when. They are the
// rules one transaction per operation is meant to guarantee, so a hit means a bug or a
// damaged database, never a crash alone.
var invariants = []struct{ name, query string }{
	{"bot without its project or group", `SELECT u.id, u.username FROM users u
		WHERE u.user_type = 'project_bot' AND NOT (
			(u.bot_source_type = 'Project' AND EXISTS (SELECT 1 FROM projects p WHERE p.id = u.bot_source_id)) OR
			(u.bot_source_type = 'Namespace' AND EXISTS (SELECT 1 FROM namespaces n WHERE n.id = u.bot_source_id AND n.kind = 'group')))`},
	{"bot without its membership", `SELECT u.id, u.username FROM users u
		WHERE u.user_type = 'project_bot' AND NOT EXISTS (SELECT 1 FROM members m
			WHERE m.user_id = u.id AND m.source_type = u.bot_source_type AND m.source_id = u.bot_source_id)`},
	{"bot without a token", `SELECT u.id, u.username FROM users u
		WHERE u.user_type = 'project_bot' AND NOT EXISTS (SELECT 1 FROM personal_access_tokens t WHERE t.user_id = u.id)`},
	{"bot member outside its own project or group", `SELECT m.user_id, m.source_type FROM members m
		JOIN users u ON u.id = m.user_id
		WHERE u.user_type = 'project_bot' AND (m.source_type <> u.bot_source_type OR m.source_id <> u.bot_source_id)`},
	{"service account of a missing group", `SELECT u.id, u.username FROM users u
		WHERE u.user_type = 'service_account' AND u.bot_source_id <> 0
		AND NOT EXISTS (SELECT 1 FROM namespaces n WHERE n.id = u.bot_source_id AND n.kind = 'group')`},
	{"membership of a missing project or group", `SELECT m.id, m.source_type FROM members m
		WHERE (m.source_type = 'Project' AND NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = m.source_id))
		   OR (m.source_type = 'Namespace' AND NOT EXISTS (SELECT 1 FROM namespaces n WHERE n.id = m.source_id))`},
	{"rotated token still active", `SELECT p.id, p.name FROM personal_access_tokens p
		WHERE NOT p.revoked AND EXISTS (SELECT 1 FROM personal_access_tokens s WHERE s.previous_personal_access_token_id = p.id)`},
	{"rotation chain forked", `SELECT previous_personal_access_token_id, count(*) FROM personal_access_tokens
		WHERE previous_personal_access_token_id IS NOT NULL
		GROUP BY previous_personal_access_token_id HAVING count(*) > 1`},
	{"revision row missing", `SELECT 0, 'revision' WHERE (SELECT count(*) FROM revision WHERE id = 1) <> 1`},
}

// Fsck runs every invariant and returns what it found; an empty slice is a healthy
// database. It reads committed data only and writes nothing.
func (db *DB) Fsck(ctx context.Context) ([]store.Problem, error) {
	var out []store.Problem
	for _, inv := range invariants {
		rows, err := db.q.QueryContext(ctx, db.d.Rebind(inv.query))
		if err != nil {
			return nil, fmt.Errorf("store: fsck %q: %w", inv.name, err)
		}
		for rows.Next() {
			var id int64
			var detail string
			if err := rows.Scan(&id, &detail); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: fsck %q: %w", inv.name, err)
			}
			out = append(out, store.Problem{Check: inv.name, ID: id, Detail: detail})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: fsck %q: %w", inv.name, err)
		}
	}
	return out, nil
}
