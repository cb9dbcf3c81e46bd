package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// namespaceColumns are read with the namespaces table aliased n, everywhere: projects
// join their namespace under that alias too.
const namespaceColumns = `n.id, n.kind, n.name, n.path, n.full_path, n.full_name, n.parent_id,
	n.owner_id, n.visibility, n.description, n.traversal_ids, n.created_at,
	n.resource_access_tokens_allowed, n.enforce_granular_tokens, n.granular_tokens_enforced_after`

func namespaceDest(n *keygate.Namespace) []any {
	return []any{&n.ID, &n.Kind, &n.Name, &n.Path, &n.FullPath, &n.FullName,
		zeroIntCol{&n.ParentID}, zeroIntCol{&n.OwnerID}, &n.Visibility, &n.Description,
		traversalCol{&n.TraversalIDs}, timeCol{&n.CreatedAt}, &n.ResourceAccessTokensAllowed,
		&n.GranularEnforcement.Enforce, nullDateCol{&n.GranularEnforcement.After}}
}

// Subtrees. traversal_ids holds "/1/5/9/" (the IDs from the top, this namespace last),
// so the subtree of a namespace with traversal t is every traversal in [t, end(t)),
// end(t) being t without its trailing slash followed by '0', the byte after '/'. That
// is one range of the traversal_ids index, where LIKE 't%' would need collation
// tricks on both backends. It relies on byte order: PostgreSQL declares the column
// COLLATE "C".

// traversalText is the stored form of ids.
func traversalText(ids []int64) string {
	var b strings.Builder
	b.WriteByte('/')
	for _, id := range ids {
		b.WriteString(strconv.FormatInt(id, 10))
		b.WriteByte('/')
	}
	return b.String()
}

// subtreeBounds is [lo, hi) of the subtree whose root has traversal ids.
func subtreeBounds(ids []int64) (lo, hi string) {
	lo = traversalText(ids)
	return lo, lo[:len(lo)-1] + "0"
}

// subtreeEnd is the SQL for end(t) of the traversal expression t.
func subtreeEnd(t string) string { return "substr(" + t + ", 1, length(" + t + ") - 1) || '0'" }

// inSubtree is the SQL condition "traversal x lies in the subtree rooted at traversal
// root" (root itself included).
func inSubtree(x, root string) string {
	return "(" + x + " >= " + root + " AND " + x + " < " + subtreeEnd(root) + ")"
}

// belowSubtree is inSubtree without the root itself.
func belowSubtree(x, root string) string {
	return "(" + x + " > " + root + " AND " + x + " < " + subtreeEnd(root) + ")"
}

// inSubtreeOf is the condition "n's traversal lies in the subtree of namespace ?" (twice
// the ID as arguments); strict leaves the root out. A missing root matches nothing.
func inSubtreeOf(strict bool) string {
	op := ">="
	if strict {
		op = ">"
	}
	return "(n.traversal_ids " + op + " (SELECT r.traversal_ids FROM namespaces r WHERE r.id = ?)" +
		" AND n.traversal_ids < (SELECT " + subtreeEnd("r.traversal_ids") + " FROM namespaces r WHERE r.id = ?))"
}

// nullID is an optional reference: NULL for 0.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func (r reader) getNamespace(ctx context.Context, l lookup, what string, key any) (keygate.Namespace, error) {
	var n keygate.Namespace
	err := l.row(ctx, r.q, key).Scan(namespaceDest(&n)...)
	if isNoRows(err) {
		return keygate.Namespace{}, notFound(what, key)
	}
	if err != nil {
		return keygate.Namespace{}, fmt.Errorf("store: %s %v: %w", what, key, r.d.Classify(err))
	}
	return n, nil
}

// Namespace returns the group or personal namespace id.
func (r reader) Namespace(ctx context.Context, id int64) (keygate.Namespace, error) {
	return r.getNamespace(ctx, r.namespace, "namespace", id)
}

// NamespaceByPath returns the namespace whose full path matches case-insensitively.
func (r reader) NamespaceByPath(ctx context.Context, fullPath string) (keygate.Namespace, error) {
	return r.getNamespace(ctx, r.namespaceByPath, "namespace with path", fullPath)
}

// Namespaces returns one page of the namespaces f selects and how many it selects in all.
func (r reader) Namespaces(ctx context.Context, f store.NamespaceFilter) ([]keygate.Namespace, int, error) {
	var w where
	if f.Kind != "" {
		w.add("n.kind = ?", string(f.Kind))
	}
	if f.ParentID != nil {
		if *f.ParentID == 0 {
			w.add("n.parent_id IS NULL")
		} else {
			w.add("n.parent_id = ?", *f.ParentID)
		}
	}
	if f.DescendantsOf != 0 {
		w.add(inSubtreeOf(true), f.DescendantsOf, f.DescendantsOf)
	}
	w.ids("n.id", f.IDs)
	if f.Search != "" {
		p := likePattern(f.Search)
		w.add(`(lower(n.name) LIKE lower(?) ESCAPE '\' OR lower(n.path) LIKE lower(?) ESCAPE '\')`, p, p)
	}
	if f.Visibility != "" {
		w.add("n.visibility = ?", string(f.Visibility))
	}
	if v := f.Visible; v != nil {
		var related string
		var args []any
		if v.MemberID != 0 {
			today, err := r.today(v.Now)
			if err != nil {
				return nil, 0, fmt.Errorf("store: namespaces: %w", err)
			}
			related, args = namespaceRelated(), []any{v.MemberID, v.MemberID, today, v.MemberID, today}
		}
		w.add(visibleOr("n", v.MinVisibility, related), args...)
	}
	if m := f.MemberOf; m != nil {
		today, err := r.today(m.Now)
		if err != nil {
			return nil, 0, fmt.Errorf("store: namespaces: %w", err)
		}
		w.add(inheritedMember("n"), m.UserID, int(m.MinLevel), today)
	}
	col := "name"
	switch f.OrderBy {
	case "path", "id", "created_at":
		col = f.OrderBy
	}
	dir := "ASC"
	if strings.EqualFold(f.Sort, "desc") {
		dir = "DESC"
	}
	order := "n." + col + " " + dir
	if col != "id" {
		order += ", n.id " + dir
	}

	var out []keygate.Namespace
	total, err := r.page(ctx, "namespaces n", namespaceColumns, w, order, f.Page, func(s scanner, total *int) error {
		var n keygate.Namespace
		if err := s.Scan(append(namespaceDest(&n), total)...); err != nil {
			return err
		}
		out = append(out, n)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: namespaces: %w", err)
	}
	return out, total, nil
}

// visibleOr is the condition of a Visible filter on the namespace or project alias:
// visibility at least min ("" none) or the related condition ("" none), whose
// arguments follow. The level is written into the SQL (it is one of three constants),
// so the arguments stay those of related.
func visibleOr(alias string, min keygate.Visibility, related string) string {
	var conds []string
	if min != "" {
		conds = append(conds, alias+".visibility_level >= "+strconv.Itoa(min.Level()))
	}
	if related != "" {
		conds = append(conds, related)
	}
	if len(conds) == 0 {
		return "1 = 0"
	}
	return "(" + strings.Join(conds, " OR ") + ")"
}

// namespaceRelated is the membership part of NamespaceFilter.Visible: the viewer's
// personal namespace, or an active membership of the namespace, an ancestor or a
// descendant, or of a project anywhere in its subtree. Arguments: user, user, today,
// user, today.
func namespaceRelated() string {
	return `(n.owner_id = ?
	OR EXISTS (SELECT 1 FROM members m JOIN namespaces a ON a.id = m.source_id
		WHERE m.user_id = ? AND m.source_type = 'Namespace' AND ` + activeMember + `
		AND (` + inSubtree("n.traversal_ids", "a.traversal_ids") + ` OR ` +
		belowSubtree("a.traversal_ids", "n.traversal_ids") + `))
	OR EXISTS (SELECT 1 FROM members m JOIN projects mp ON mp.id = m.source_id
		JOIN namespaces a ON a.id = mp.namespace_id
		WHERE m.user_id = ? AND m.source_type = 'Project' AND ` + activeMember + `
		AND ` + inSubtree("a.traversal_ids", "n.traversal_ids") + `))`
}

// CountChildren counts the namespaces whose parent is namespaceID and the projects in it.
func (r reader) CountChildren(ctx context.Context, namespaceID int64) (groups, projects int, err error) {
	if err := r.countChildren.row(ctx, r.q, namespaceID, namespaceID).Scan(&groups, &projects); err != nil {
		return 0, 0, fmt.Errorf("store: children of namespace %d: %w", namespaceID, r.d.Classify(err))
	}
	return groups, projects, nil
}

// CreateNamespace inserts n below n.ParentID and sets n.ID, n.FullPath, n.FullName and
// n.TraversalIDs. The traversal needs the new ID, so it is written by a second statement;
// both run under one savepoint, so a conflict leaves nothing behind.
func (t *txn) CreateNamespace(ctx context.Context, n *keygate.Namespace) error {
	fullPath, fullName := n.Path, n.Name
	var parentIDs []int64
	if n.ParentID != 0 {
		parent, err := t.lockedNamespace(ctx, n.ParentID)
		if err != nil {
			return fmt.Errorf("store: create namespace %q: parent: %w", n.Path, err)
		}
		fullPath = parent.FullPath + "/" + n.Path
		fullName = parent.FullName + " / " + n.Name
		parentIDs = parent.TraversalIDs
	}
	ins := t.d.Rebind(`INSERT INTO namespaces (kind, name, path, full_path, full_name, parent_id,
		owner_id, visibility, visibility_level, description, resource_access_tokens_allowed,
		created_at, enforce_granular_tokens, granular_tokens_enforced_after)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	set := t.d.Rebind("UPDATE namespaces SET traversal_ids = ? WHERE id = ?")
	var (
		id  int64
		ids []int64
	)
	err := t.savepoint(ctx, func() error {
		err := t.tx.QueryRowContext(ctx, ins, string(n.Kind), n.Name, n.Path, fullPath, fullName,
			nullID(n.ParentID), nullID(n.OwnerID), string(n.Visibility), n.Visibility.Level(),
			n.Description, n.ResourceAccessTokensAllowed, t.timeArg(n.CreatedAt),
			n.GranularEnforcement.Enforce, t.nullDateArg(n.GranularEnforcement.After)).Scan(&id)
		if err != nil {
			return err
		}
		ids = append(slices.Clip(parentIDs), id)
		_, err = t.tx.ExecContext(ctx, set, traversalText(ids), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create namespace %q: %w", fullPath, t.d.Classify(err))
	}
	n.ID, n.FullPath, n.FullName, n.TraversalIDs = id, fullPath, fullName, ids
	return nil
}

// UpdateNamespace writes the editable fields of n.ID (name, path, visibility,
// description, ResourceAccessTokensAllowed, GranularEnforcement; not the kind, parent, owner or creation
// time). A new path or name is carried into the full path and full name of the
// namespace and of every namespace below it, by replacing the old prefix; projects read
// their full path through their namespace, so they need nothing.
func (t *txn) UpdateNamespace(ctx context.Context, n keygate.Namespace) error {
	old, err := t.lockedNamespace(ctx, n.ID)
	if err != nil {
		return fmt.Errorf("store: update %w", err)
	}
	// The stored full path and name end in the stored path and name (CreateNamespace and
	// this method keep it so); what comes before is the parent's.
	fullPath := old.FullPath[:len(old.FullPath)-len(old.Path)] + n.Path
	fullName := old.FullName[:len(old.FullName)-len(old.Name)] + n.Name
	self := t.d.Rebind(`UPDATE namespaces SET name = ?, path = ?, full_path = ?, full_name = ?,
		visibility = ?, visibility_level = ?, description = ?, resource_access_tokens_allowed = ?,
		enforce_granular_tokens = ?, granular_tokens_enforced_after = ?
		WHERE id = ?`)
	// substr counts characters on both backends, hence the rune counts.
	below := t.d.Rebind(`UPDATE namespaces SET full_path = ? || substr(full_path, ?),
		full_name = ? || substr(full_name, ?) WHERE traversal_ids > ? AND traversal_ids < ?`)
	lo, hi := subtreeBounds(old.TraversalIDs)
	err = t.savepoint(ctx, func() error {
		_, err := t.tx.ExecContext(ctx, self, n.Name, n.Path, fullPath, fullName,
			string(n.Visibility), n.Visibility.Level(), n.Description, n.ResourceAccessTokensAllowed,
			n.GranularEnforcement.Enforce, t.nullDateArg(n.GranularEnforcement.After), n.ID)
		if err != nil || (fullPath == old.FullPath && fullName == old.FullName) {
			return err
		}
		_, err = t.tx.ExecContext(ctx, below, fullPath, utf8.RuneCountInString(old.FullPath)+1,
			fullName, utf8.RuneCountInString(old.FullName)+1, lo, hi)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: update namespace %d: %w", n.ID, t.d.Classify(err))
	}
	t.moved = true
	return nil
}

// lockedNamespace locks the top-level namespace of id's tree for the rest of the
// transaction, then reads namespace id. Every write that derives full paths from an
// ancestor's or rewrites them (CreateNamespace below a parent, UpdateNamespace) takes
// that lock first, so such writers in one tree take turns: otherwise, on PostgreSQL,
// a rename could rewrite a subtree that a concurrent transaction is still adding to, or
// from a full path another rename has changed since. The traversal IDs never change,
// so the top is learnt before the lock; the namespace is read again after it, by a
// statement that sees what the writers before committed. (SQLite has one writer at a
// time; the lock costs it one row write.)
func (t *txn) lockedNamespace(ctx context.Context, id int64) (keygate.Namespace, error) {
	n, err := t.Namespace(ctx, id)
	if err != nil || len(n.TraversalIDs) == 0 {
		return n, err
	}
	lock := t.d.Rebind("UPDATE namespaces SET full_path = full_path WHERE id = ?")
	if _, err := t.affected(ctx, lock, n.TraversalIDs[0]); err != nil {
		return keygate.Namespace{}, fmt.Errorf("store: lock the tree of namespace %d: %w", id, err)
	}
	return t.Namespace(ctx, id)
}

// DeleteNamespace removes namespace id with everything below it. Foreign keys take the
// subgroups and the projects; the memberships of all of them are deleted here first.
func (t *txn) DeleteNamespace(ctx context.Context, id int64) error {
	if err := t.deleteSubtreeMembers(ctx, "r.id = ?", id); err != nil {
		return fmt.Errorf("store: delete namespace %d: %w", id, err)
	}
	n, err := t.affected(ctx, t.d.Rebind("DELETE FROM namespaces WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("store: delete namespace %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete %w", notFound("namespace", id))
	}
	t.moved = true
	return nil
}

// deleteSubtreeMembers deletes the memberships of the namespaces r that root matches (a
// condition on alias r with one argument), of every namespace below them, and of every
// project in any of those.
func (t *txn) deleteSubtreeMembers(ctx context.Context, root string, arg any) error {
	subtree := "namespaces r JOIN namespaces d ON " + inSubtree("d.traversal_ids", "r.traversal_ids")
	q := t.d.Rebind(`DELETE FROM members WHERE
		(source_type = 'Namespace' AND source_id IN (SELECT d.id FROM ` + subtree + ` WHERE ` + root + `))
		OR (source_type = 'Project' AND source_id IN (SELECT p.id FROM ` + subtree + `
			JOIN projects p ON p.namespace_id = d.id WHERE ` + root + `))`)
	_, err := t.affected(ctx, q, arg, arg)
	return err
}

// zeroIntCol scans a nullable ID, NULL as 0.
type zeroIntCol struct{ p *int64 }

// Scan implements sql.Scanner.
func (c zeroIntCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = 0
	case int64:
		*c.p = v
	case int32:
		*c.p = int64(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into an ID", src)
	}
	return nil
}

// traversalCol scans traversal_ids ("/1/5/9/") into the IDs.
type traversalCol struct{ p *[]int64 }

// Scan implements sql.Scanner.
func (c traversalCol) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into traversal IDs", src)
	}
	stored := s
	s = strings.Trim(s, "/")
	if s == "" {
		*c.p = nil
		return nil
	}
	parts := strings.Split(s, "/")
	ids := make([]int64, len(parts))
	for i, part := range parts {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			return fmt.Errorf("sqlstore: bad traversal IDs %q: %w", stored, err)
		}
		ids[i] = id
	}
	*c.p = ids
	return nil
}
