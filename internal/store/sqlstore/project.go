package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// projectColumns are read from projectFrom: every project comes with its namespace.
const projectColumns = `p.id, p.name, p.path, p.namespace_id, p.visibility, p.description,
	p.default_branch, p.created_at, p.last_activity_at, p.creator_id, p.container_registry_access_level, ` + namespaceColumns

const projectFrom = "projects p JOIN namespaces n ON n.id = p.namespace_id"

func projectDest(p *keygate.Project) []any {
	return append([]any{&p.ID, &p.Name, &p.Path, &p.NamespaceID, &p.Visibility, &p.Description,
		&p.DefaultBranch, timeCol{&p.CreatedAt}, timeCol{&p.LastActivityAt}, &p.CreatorID, &p.ContainerRegistryAccessLevel},
		namespaceDest(&p.Namespace)...)
}

func (r reader) getProject(ctx context.Context, l lookup, what string, key any, args ...any) (keygate.Project, error) {
	var p keygate.Project
	err := l.row(ctx, r.q, args...).Scan(projectDest(&p)...)
	if isNoRows(err) {
		return keygate.Project{}, notFound(what, key)
	}
	if err != nil {
		return keygate.Project{}, fmt.Errorf("store: %s %v: %w", what, key, r.d.Classify(err))
	}
	return p, nil
}

// Project returns project id with its namespace.
func (r reader) Project(ctx context.Context, id int64) (keygate.Project, error) {
	return r.getProject(ctx, r.project, "project", id, id)
}

// ProjectByPath returns the project "namespace/full/path/project", matched
// case-insensitively, with its namespace.
func (r reader) ProjectByPath(ctx context.Context, fullPath string) (keygate.Project, error) {
	i := strings.LastIndexByte(fullPath, '/')
	if i <= 0 || i == len(fullPath)-1 {
		return keygate.Project{}, notFound("project with path", fullPath)
	}
	return r.getProject(ctx, r.projectByPath, "project with path", fullPath, fullPath[:i], fullPath[i+1:])
}

// projectByLongestPathQuery asks for n (namespace, path) pairs, longest first, each
// branch the same two index lookups as projectByPath (an OR of the pairs would scan every
// project of a matched namespace), and keeps the first that matches.
func projectByLongestPathQuery(n int) string {
	branches := make([]string, n)
	for i := range branches {
		branches[i] = "SELECT " + strconv.Itoa(i) + " AS candidate, " + projectColumns + " FROM " + projectFrom +
			" WHERE lower(n.full_path) = lower(?) AND lower(p.path) = lower(?)"
	}
	return strings.Join(branches, " UNION ALL ") + " ORDER BY candidate LIMIT 1"
}

// ProjectByLongestPath returns the project with the longest of fullPaths in one query.
// Paths that cannot name a project (no namespace) are skipped.
func (r reader) ProjectByLongestPath(ctx context.Context, fullPaths []string) (keygate.Project, error) {
	if len(fullPaths) > store.MaxPathCandidates {
		return keygate.Project{}, fmt.Errorf("store: %d project paths, at most %d", len(fullPaths), store.MaxPathCandidates)
	}
	ordered := slices.Clone(fullPaths)
	slices.SortStableFunc(ordered, func(a, b string) int { return len(b) - len(a) })
	args := make([]any, 0, 2*len(ordered))
	for _, fp := range ordered {
		if i := strings.LastIndexByte(fp, '/'); i > 0 && i < len(fp)-1 {
			args = append(args, fp[:i], fp[i+1:])
		}
	}
	what := strings.Join(fullPaths, ", ")
	switch n := len(args) / 2; n {
	case 0:
		return keygate.Project{}, notFound("project with any path of", what)
	case 1:
		return r.getProject(ctx, r.projectByPath, "project with path", what, args...)
	default:
		var p keygate.Project
		var candidate int
		err := r.projectByLongestPath[n-2].row(ctx, r.q, args...).Scan(append([]any{&candidate}, projectDest(&p)...)...)
		if isNoRows(err) {
			return keygate.Project{}, notFound("project with any path of", what)
		}
		if err != nil {
			return keygate.Project{}, fmt.Errorf("store: project by paths %q: %w", fullPaths, r.d.Classify(err))
		}
		return p, nil
	}
}

// Projects returns one page of the projects f selects and how many it selects in all.
func (r reader) Projects(ctx context.Context, f store.ProjectFilter) ([]keygate.Project, int, error) {
	var w where
	if f.NamespaceID != 0 {
		if f.IncludeSubgroups {
			w.add(inSubtreeOf(false), f.NamespaceID, f.NamespaceID)
		} else {
			w.add("p.namespace_id = ?", f.NamespaceID)
		}
	}
	w.ids("p.id", f.IDs)
	if f.Search != "" {
		p := likePattern(f.Search)
		w.add(`(lower(p.name) LIKE lower(?) ESCAPE '\' OR lower(p.path) LIKE lower(?) ESCAPE '\')`, p, p)
	}
	if f.Visibility != "" {
		w.add("p.visibility = ?", string(f.Visibility))
	}
	if v := f.Visible; v != nil {
		var related string
		var args []any
		if v.MemberID != 0 {
			today, err := r.today(v.Now)
			if err != nil {
				return nil, 0, fmt.Errorf("store: projects: %w", err)
			}
			// Related at all: projectMember at level 0.
			related, args = projectMember(v.MemberID, keygate.NoAccess, today)
		}
		w.add(visibleOr("p", v.MinVisibility, related), args...)
	}
	if m := f.MemberOf; m != nil {
		today, err := r.today(m.Now)
		if err != nil {
			return nil, 0, fmt.Errorf("store: projects: %w", err)
		}
		cond, args := projectMember(m.UserID, m.MinLevel, today)
		w.add(cond, args...)
	}
	if f.OwnedBy != 0 {
		now := f.Now
		if now.IsZero() && f.Visible != nil {
			now = f.Visible.Now
		}
		if now.IsZero() && f.MemberOf != nil {
			now = f.MemberOf.Now
		}
		today, err := r.today(now)
		if err != nil {
			return nil, 0, fmt.Errorf("store: projects: owned by %d: %w", f.OwnedBy, err)
		}
		cond, args := projectMember(f.OwnedBy, keygate.Owner, today)
		w.add(cond, args...)
	}
	col := "created_at"
	switch f.OrderBy {
	case "id", "name", "path", "updated_at", "last_activity_at":
		col = f.OrderBy
	}
	dir := "DESC"
	if strings.EqualFold(f.Sort, "asc") {
		dir = "ASC"
	}
	order := "p." + col + " " + dir
	if col != "id" {
		order += ", p.id " + dir
	}

	var out []keygate.Project
	total, err := r.page(ctx, projectFrom, projectColumns, w, order, f.Page, func(s scanner, total *int) error {
		var p keygate.Project
		if err := s.Scan(append(projectDest(&p), total)...); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: projects: %w", err)
	}
	return out, total, nil
}

// projectMember is the condition "user has at least level min on project p (namespace
// n)": the owner of p's personal namespace (who counts as Owner), or an active direct
// membership of p, or one of n or an ancestor of n, at that level.
func projectMember(user int64, min keygate.AccessLevel, today any) (string, []any) {
	cond := `EXISTS (SELECT 1 FROM members m WHERE m.user_id = ? AND m.source_type = 'Project'
		AND m.source_id = p.id AND m.access_level >= ? AND ` + activeMember + `)
		OR ` + inheritedMember("n")
	args := []any{user, int(min), today, user, int(min), today}
	if min <= keygate.Owner {
		cond = "n.owner_id = ? OR " + cond
		args = append([]any{user}, args...)
	}
	return "(" + cond + ")", args
}

// CreateProject inserts p and sets p.ID. LastActivityAt defaults to CreatedAt. A path
// taken in the namespace is store.ErrConflict, a missing namespace store.ErrNotFound.
func (t *txn) CreateProject(ctx context.Context, p *keygate.Project) error {
	q := t.d.Rebind(`INSERT INTO projects (name, path, namespace_id, visibility, visibility_level,
		description, default_branch, creator_id, created_at, updated_at, last_activity_at,
		container_registry_access_level)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	activity := p.LastActivityAt
	if activity.IsZero() {
		activity = p.CreatedAt
	}
	var id int64
	err := t.savepoint(ctx, func() error {
		return t.tx.QueryRowContext(ctx, q, p.Name, p.Path, p.NamespaceID, string(p.Visibility),
			p.Visibility.Level(), p.Description, p.DefaultBranch, p.CreatorID,
			t.timeArg(p.CreatedAt), t.timeArg(p.CreatedAt), t.timeArg(activity),
			string(p.ContainerRegistryAccessLevel.Or())).Scan(&id)
	})
	if err != nil {
		return fmt.Errorf("store: create project %q in namespace %d: %w", p.Path, p.NamespaceID, t.d.Classify(err))
	}
	p.ID, p.LastActivityAt = id, activity
	p.ContainerRegistryAccessLevel = p.ContainerRegistryAccessLevel.Or()
	return nil
}

// UpdateProject writes name, path, visibility, description, default branch, container
// registry access level and last activity of p.ID, and moves the Marker.
func (t *txn) UpdateProject(ctx context.Context, p keygate.Project) error {
	q := t.d.Rebind(`UPDATE projects SET name = ?, path = ?, visibility = ?, visibility_level = ?,
		description = ?, default_branch = ?, container_registry_access_level = ?, last_activity_at = ?,
		updated_at = ? WHERE id = ?`)
	// As in UpdateUser: keygate.Project carries no UpdatedAt and UpdateProject takes no
	// clock, so updated_at is the wall clock; it only orders lists.
	var n int64
	err := t.savepoint(ctx, func() error {
		var err error
		n, err = t.affected(ctx, q, p.Name, p.Path, string(p.Visibility), p.Visibility.Level(),
			p.Description, p.DefaultBranch, string(p.ContainerRegistryAccessLevel.Or()), t.timeArg(p.LastActivityAt),
			t.timeArg(time.Now()), p.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: update project %d: %w", p.ID, t.d.Classify(err))
	}
	if n == 0 {
		return fmt.Errorf("store: update %w", notFound("project", p.ID))
	}
	t.moved = true
	return nil
}

// DeleteProject removes project id and its memberships, and moves the Marker.
func (t *txn) DeleteProject(ctx context.Context, id int64) error {
	n, err := t.affected(ctx, t.d.Rebind("DELETE FROM projects WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("store: delete project %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete %w", notFound("project", id))
	}
	q := t.d.Rebind("DELETE FROM members WHERE source_type = 'Project' AND source_id = ?")
	if _, err := t.affected(ctx, q, id); err != nil {
		return fmt.Errorf("store: delete project %d: memberships: %w", id, err)
	}
	t.moved = true
	return nil
}
