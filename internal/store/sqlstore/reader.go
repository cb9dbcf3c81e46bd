package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

const userColumns = `id, username, name, email, state, user_type, admin, external,
	password_hash, bio, location, public_email, website_url, organization, job_title,
	pronouns, note, projects_limit, can_create_group, private_profile, created_at,
	confirmed_at, last_activity_on, bot_source_type, bot_source_id, created_by_id`

const tokenColumns = `id, user_id, name, description, scopes, impersonation, revoked,
	expires_at, created_at, updated_at, last_used_at, previous_personal_access_token_id,
	token_digest, granular, granular_scopes`

// reader implements store.Reader over a pool (reads outside transactions) or a
// transaction. The fixed lookups are rebound once, here, and on a pool optionally
// prepared (Config.Prepare).
type reader struct {
	q querier
	d Dialect

	user, userByUsername, userByEmail lookup
	token, tokenByDigest, tokenIPs    lookup
	settings                          lookup
	namespace, namespaceByPath        lookup
	project, projectByPath            lookup
	countChildren                     lookup
	member, maxAccess                 lookup
	job, jobByDigest, jobTokenScope   lookup
	allowedProjects, allowedGroups    lookup
	jobTokenAuthLog                   lookup

	// projectByLongestPath[i] weighs i+2 candidate paths (one is projectByPath).
	projectByLongestPath [store.MaxPathCandidates - 1]lookup
}

// lookup is one fixed query, with its prepared statement when the pool has one.
type lookup struct {
	query string
	stmt  *sql.Stmt
}

func (l lookup) row(ctx context.Context, q querier, args ...any) *sql.Row {
	if l.stmt != nil {
		return l.stmt.QueryRowContext(ctx, args...)
	}
	return q.QueryRowContext(ctx, l.query, args...)
}

func (l lookup) rows(ctx context.Context, q querier, args ...any) (*sql.Rows, error) {
	if l.stmt != nil {
		return l.stmt.QueryContext(ctx, args...)
	}
	return q.QueryContext(ctx, l.query, args...)
}

func newReader(q querier, d Dialect) reader {
	l := func(query string) lookup { return lookup{query: d.Rebind(query)} }
	return reader{
		q:    q,
		d:    d,
		user: l("SELECT " + userColumns + " FROM users WHERE id = ?"),
		// lower(?) rather than lowering in Go: both sides then go through the same
		// database function the unique index uses, whatever it does with non-ASCII.
		userByUsername: l("SELECT " + userColumns + " FROM users WHERE lower(username) = lower(?)"),
		userByEmail:    l("SELECT " + userColumns + " FROM users WHERE lower(email) = lower(?)"),
		token:          l("SELECT " + tokenColumns + " FROM personal_access_tokens WHERE id = ?"),
		tokenByDigest:  l("SELECT " + tokenColumns + " FROM personal_access_tokens WHERE token_digest = ?"),
		tokenIPs:       l("SELECT ip FROM token_last_used_ips WHERE token_id = ? ORDER BY used_at DESC, ip"),
		settings:       l("SELECT data FROM settings WHERE id = 1"),

		namespace:       l("SELECT " + namespaceColumns + " FROM namespaces n WHERE n.id = ?"),
		namespaceByPath: l("SELECT " + namespaceColumns + " FROM namespaces n WHERE lower(n.full_path) = lower(?)"),
		project:         l("SELECT " + projectColumns + " FROM " + projectFrom + " WHERE p.id = ?"),
		// The namespace by its unique full path, then the project by its unique
		// (namespace_id, lower(path)): two index lookups.
		projectByPath: l("SELECT " + projectColumns + " FROM " + projectFrom +
			" WHERE lower(n.full_path) = lower(?) AND lower(p.path) = lower(?)"),
		projectByLongestPath: [store.MaxPathCandidates - 1]lookup{l(projectByLongestPathQuery(2)), l(projectByLongestPathQuery(3))},
		countChildren: l(`SELECT (SELECT count(*) FROM namespaces WHERE parent_id = ?),
			(SELECT count(*) FROM projects WHERE namespace_id = ?)`),
		member: l("SELECT " + memberColumns + " FROM members m" +
			" WHERE m.source_type = ? AND m.source_id = ? AND m.user_id = ?"),
		maxAccess: l(maxAccessQuery(maxAccessSlots)),

		job:         l("SELECT " + jobColumns + " FROM jobs WHERE id = ?"),
		jobByDigest: l("SELECT " + jobColumns + " FROM jobs WHERE token_digest = ?"),
		// From the project, so that a project without settings (NULLs) and a missing
		// project (no row) are told apart in one query.
		jobTokenScope: l(`SELECT s.inbound_enabled, s.push_allowed FROM projects p
			LEFT JOIN job_token_scopes s ON s.project_id = p.id WHERE p.id = ?`),
		allowedProjects: l(`SELECT allowed_project_id FROM job_token_project_allowlist
			WHERE project_id = ? ORDER BY created_at, allowed_project_id`),
		allowedGroups: l(`SELECT allowed_group_id FROM job_token_group_allowlist
			WHERE project_id = ? ORDER BY created_at, allowed_group_id`),
		jobTokenAuthLog: l(`SELECT ` + jobTokenAuthColumns + ` FROM job_token_auth_log
			WHERE project_id = ? ORDER BY last_at DESC, source_project_id`),
	}
}

func (r *reader) lookups() []*lookup {
	return []*lookup{&r.user, &r.userByUsername, &r.userByEmail, &r.token, &r.tokenByDigest,
		&r.tokenIPs, &r.settings, &r.namespace, &r.namespaceByPath, &r.project,
		&r.projectByPath, &r.countChildren, &r.member, &r.maxAccess, &r.job, &r.jobByDigest,
		&r.jobTokenScope, &r.allowedProjects, &r.allowedGroups, &r.jobTokenAuthLog, &r.projectByLongestPath[0], &r.projectByLongestPath[1]}
}

// prepare prepares every lookup on db.
func (r *reader) prepare(ctx context.Context, db *sql.DB) error {
	for _, l := range r.lookups() {
		st, err := db.PrepareContext(ctx, l.query)
		if err != nil {
			_ = r.closeStmts()
			return fmt.Errorf("store: prepare %q: %w", l.query, err)
		}
		l.stmt = st
	}
	return nil
}

func (r *reader) closeStmts() error {
	var errs []error
	for _, l := range r.lookups() {
		if l.stmt != nil {
			errs = append(errs, l.stmt.Close())
			l.stmt = nil
		}
	}
	return errors.Join(errs...)
}

// over returns the reader's lookups running on tx; prepared statements belong to the
// read pool, so inside a transaction the plain queries are used.
func (r reader) over(tx *sql.Tx) reader {
	r.q = tx
	for _, l := range r.lookups() {
		l.stmt = nil
	}
	return r
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func userDest(u *keygate.User) []any {
	return []any{&u.ID, &u.Username, &u.Name, &u.Email, &u.State, &u.Type, &u.Admin,
		&u.External, &u.PasswordHash, &u.Bio, &u.Location, &u.PublicEmail, &u.WebsiteURL,
		&u.Organization, &u.JobTitle, &u.Pronouns, &u.Note, &u.ProjectsLimit,
		&u.CanCreateGroup, &u.PrivateProfile, timeCol{&u.CreatedAt},
		nullTimeCol{&u.ConfirmedAt}, nullDateCol{&u.LastActivityOn}, &u.BotSourceType,
		&u.BotSourceID, &u.CreatedByID}
}

// tokenRow holds the columns that need a step between the row and the domain struct.
type tokenRow struct {
	prev sql.NullInt64
}

func tokenDest(t *keygate.Token, row *tokenRow) []any {
	return []any{&t.ID, &t.UserID, &t.Name, &t.Description, scopesCol{&t.Scopes},
		&t.Impersonation, &t.Revoked, nullDateCol{&t.ExpiresAt}, timeCol{&t.CreatedAt},
		timeCol{&t.UpdatedAt}, nullTimeCol{&t.LastUsedAt}, &row.prev, &t.Digest,
		&t.Granular, granularCol{&t.GranularScopes}}
}

func (row tokenRow) finish(t *keygate.Token) { t.PreviousID = row.prev.Int64 }

func (r reader) getUser(ctx context.Context, l lookup, what string, key any) (keygate.User, error) {
	var u keygate.User
	err := l.row(ctx, r.q, key).Scan(userDest(&u)...)
	if isNoRows(err) {
		return keygate.User{}, notFound(what, key)
	}
	if err != nil {
		return keygate.User{}, fmt.Errorf("store: %s %v: %w", what, key, r.d.Classify(err))
	}
	return u, nil
}

// User returns the user id.
func (r reader) User(ctx context.Context, id int64) (keygate.User, error) {
	return r.getUser(ctx, r.user, "user", id)
}

// UserByUsername returns the user whose username matches case-insensitively.
func (r reader) UserByUsername(ctx context.Context, username string) (keygate.User, error) {
	return r.getUser(ctx, r.userByUsername, "user with username", username)
}

// UserByEmail returns the user whose email matches case-insensitively.
func (r reader) UserByEmail(ctx context.Context, email string) (keygate.User, error) {
	return r.getUser(ctx, r.userByEmail, "user with email", email)
}

// Users returns one page of the users f selects and how many it selects in all.
func (r reader) Users(ctx context.Context, f store.UserFilter) ([]keygate.User, int, error) {
	var w where
	if f.Username != "" {
		w.add("lower(username) = lower(?)", f.Username)
	}
	if f.Search != "" {
		p := likePattern(f.Search)
		w.add(`(lower(username) LIKE lower(?) ESCAPE '\' OR lower(name) LIKE lower(?) ESCAPE '\'
			OR lower(email) LIKE lower(?) ESCAPE '\')`, p, p, p)
	}
	if f.State != "" {
		w.add("state = ?", string(f.State))
	}
	if f.Admins {
		w.add("admin = ?", true)
	}
	if f.ExcludeBots {
		w.add("user_type = ?", string(keygate.UserHuman))
	}
	// Type, BotSourceType, BotSourceID: one range of users_bot_source.
	if f.Type != "" {
		w.add("user_type = ?", string(f.Type))
	}
	if f.BotSourceType != "" {
		w.add("bot_source_type = ?", string(f.BotSourceType))
	}
	if f.BotSourceID != 0 {
		w.add("bot_source_id = ?", f.BotSourceID)
	}
	if f.CreatedAfter != nil {
		w.add("created_at >= ?", r.d.Time(Normalize(*f.CreatedAfter)))
	}
	if f.CreatedBefore != nil {
		w.add("created_at <= ?", r.d.Time(Normalize(*f.CreatedBefore)))
	}
	col := "id"
	switch f.OrderBy {
	case "name", "username", "created_at", "updated_at":
		col = f.OrderBy
	}
	dir := "DESC"
	if strings.EqualFold(f.Sort, "asc") {
		dir = "ASC"
	}
	order := col + " " + dir
	if col != "id" {
		order += ", id " + dir
	}

	var out []keygate.User
	total, err := r.page(ctx, "users", userColumns, w, order, f.Page, func(s scanner, total *int) error {
		var u keygate.User
		if err := s.Scan(append(userDest(&u), total)...); err != nil {
			return err
		}
		out = append(out, u)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: users: %w", err)
	}
	return out, total, nil
}

// Token returns the token id with its last-used addresses, most recent first.
func (r reader) Token(ctx context.Context, id int64) (keygate.Token, error) {
	t, err := r.getToken(ctx, r.token, "token", id)
	if err != nil {
		return t, err
	}
	rows, err := r.tokenIPs.rows(ctx, r.q, id)
	if err != nil {
		return keygate.Token{}, fmt.Errorf("store: token %d addresses: %w", id, r.d.Classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var ip string
		if err := rows.Scan(&ip); err != nil {
			return keygate.Token{}, fmt.Errorf("store: token %d addresses: %w", id, err)
		}
		t.LastUsedIPs = append(t.LastUsedIPs, ip)
	}
	if err := rows.Err(); err != nil {
		return keygate.Token{}, fmt.Errorf("store: token %d addresses: %w", id, r.d.Classify(err))
	}
	return t, nil
}

// TokenByDigest is the verification lookup: one query on the unique digest index.
func (r reader) TokenByDigest(ctx context.Context, digest []byte) (keygate.Token, error) {
	// The digest is a keyed hash, not the token, but it still stays out of the error.
	return r.getToken(ctx, r.tokenByDigest, "token with digest", "(redacted)", digest)
}

func (r reader) getToken(ctx context.Context, l lookup, what string, key any, arg ...any) (keygate.Token, error) {
	if len(arg) == 0 {
		arg = []any{key}
	}
	var (
		t   keygate.Token
		row tokenRow
	)
	err := l.row(ctx, r.q, arg...).Scan(tokenDest(&t, &row)...)
	if isNoRows(err) {
		return keygate.Token{}, notFound(what, key)
	}
	if err != nil {
		return keygate.Token{}, fmt.Errorf("store: %s %v: %w", what, key, r.d.Classify(err))
	}
	row.finish(&t)
	return t, nil
}

// Tokens returns one page of the tokens f selects and how many it selects in all.
func (r reader) Tokens(ctx context.Context, f store.TokenFilter) ([]keygate.Token, int, error) {
	var w where
	if f.UserID != 0 {
		w.add("user_id = ?", f.UserID)
	}
	// The owner conditions select owners by users_bot_source. A subquery rather than a
	// join keeps tokenColumns unqualified and the page query shared.
	var owner where
	if f.OwnerType != "" {
		owner.add("user_type = ?", string(f.OwnerType))
	}
	if f.OwnerSourceType != "" {
		owner.add("bot_source_type = ?", string(f.OwnerSourceType))
	}
	if f.OwnerSourceID != 0 {
		owner.add("bot_source_id = ?", f.OwnerSourceID)
	}
	if f.HumanOwners {
		owner.add("user_type = ?", string(keygate.UserHuman))
	}
	if len(owner.conds) > 0 {
		w.add("user_id IN (SELECT id FROM users"+owner.sql()+")", owner.args...)
	}
	if f.Impersonation != nil {
		w.add("impersonation = ?", *f.Impersonation)
	}
	if f.Revoked != nil {
		w.add("revoked = ?", *f.Revoked)
	}
	if f.Granular != nil {
		w.add("granular = ?", *f.Granular)
	}
	// A token stops working at the start of its expiry date (keygate.Token.Expired), so
	// on that date it is already inactive: compare dates, not instants.
	today := r.d.Date(keygate.DateOf(f.Now))
	switch f.State {
	case "active":
		w.add("(revoked = ? AND (expires_at IS NULL OR expires_at > ?))", false, today)
	case "inactive":
		w.add("(revoked = ? OR expires_at <= ?)", true, today)
	}
	if f.Search != "" {
		w.add(`lower(name) LIKE lower(?) ESCAPE '\'`, likePattern(f.Search))
	}
	if f.CreatedAfter != nil {
		w.add("created_at >= ?", r.d.Time(Normalize(*f.CreatedAfter)))
	}
	if f.CreatedBefore != nil {
		w.add("created_at <= ?", r.d.Time(Normalize(*f.CreatedBefore)))
	}
	if f.LastUsedAfter != nil {
		w.add("last_used_at >= ?", r.d.Time(Normalize(*f.LastUsedAfter)))
	}
	if f.LastUsedBefore != nil {
		w.add("last_used_at <= ?", r.d.Time(Normalize(*f.LastUsedBefore)))
	}
	if f.ExpiresAfter != nil {
		w.add("expires_at >= ?", r.d.Date(*f.ExpiresAfter))
	}
	if f.ExpiresBefore != nil {
		w.add("expires_at < ?", r.d.Date(*f.ExpiresBefore))
	}

	var out []keygate.Token
	total, err := r.page(ctx, "personal_access_tokens", tokenColumns, w, tokenOrder(f.Sort), f.Page,
		func(s scanner, total *int) error {
			var (
				t   keygate.Token
				row tokenRow
			)
			if err := s.Scan(append(tokenDest(&t, &row), total)...); err != nil {
				return err
			}
			row.finish(&t)
			out = append(out, t)
			return nil
		})
	if err != nil {
		return nil, 0, fmt.Errorf("store: tokens: %w", err)
	}
	return out, total, nil
}

// tokenOrder is the ORDER BY of GitLab's token sorts. NULLs sort as if greater than every
// value (PostgreSQL's default, which GitLab relies on: last for ascending, first for
// descending), spelled out with CASE because SQLite's default is the opposite.
func tokenOrder(sort string) string {
	nullsLast := func(col string) string { return "CASE WHEN " + col + " IS NULL THEN 1 ELSE 0 END, " }
	nullsFirst := func(col string) string { return "CASE WHEN " + col + " IS NULL THEN 0 ELSE 1 END, " }
	switch sort {
	case "created_asc":
		return "created_at ASC, id ASC"
	case "created_desc":
		return "created_at DESC, id DESC"
	case "expires_asc":
		return nullsLast("expires_at") + "expires_at ASC, id DESC"
	case "expires_desc":
		return nullsFirst("expires_at") + "expires_at DESC, id DESC"
	case "last_used_asc":
		return nullsLast("last_used_at") + "last_used_at ASC, id DESC"
	case "last_used_desc":
		return nullsFirst("last_used_at") + "last_used_at DESC, id DESC"
	case "name_asc":
		return "name ASC, id DESC"
	case "name_desc":
		return "name DESC, id DESC"
	}
	return "id ASC"
}

// page runs one page of a list query. The total comes from count(*) OVER () in the same
// statement, so page and total agree; only a page past the end (no rows to carry the
// window value) costs a second, counting query.
func (r reader) page(ctx context.Context, table, cols string, w where, order string, p store.Page,
	scan func(scanner, *int) error) (int, error) {
	number := max(p.Number, 1)
	q := "SELECT " + cols + ", count(*) OVER () FROM " + table + w.sql() + " ORDER BY " + order
	if p.Size > 0 {
		q += " LIMIT " + strconv.Itoa(p.Size) + " OFFSET " + strconv.Itoa((number-1)*p.Size)
	}
	rows, err := r.q.QueryContext(ctx, r.d.Rebind(q), w.args...)
	if err != nil {
		return 0, r.d.Classify(err)
	}
	defer rows.Close()
	total, n := 0, 0
	for rows.Next() {
		if err := scan(rows, &total); err != nil {
			return 0, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, r.d.Classify(err)
	}
	if n == 0 && number > 1 && p.Size > 0 {
		cq := r.d.Rebind("SELECT count(*) FROM " + table + w.sql())
		if err := r.q.QueryRowContext(ctx, cq, w.args...).Scan(&total); err != nil {
			return 0, r.d.Classify(err)
		}
	}
	return total, nil
}

// Settings returns the stored settings decoded over keygate.DefaultSettings(), so a field
// added after the row was written gets its default rather than its zero value.
func (r reader) Settings(ctx context.Context) (keygate.Settings, error) {
	s := keygate.DefaultSettings()
	var data string
	err := r.settings.row(ctx, r.q).Scan(&data)
	if isNoRows(err) {
		return s, nil
	}
	if err != nil {
		return keygate.Settings{}, fmt.Errorf("store: settings: %w", r.d.Classify(err))
	}
	if err := json.Unmarshal([]byte(data), &s); err != nil {
		return keygate.Settings{}, fmt.Errorf("store: settings: decode: %w", err)
	}
	return s, nil
}

// where collects AND-ed conditions with their arguments, in placeholder order.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// ids adds "col IN (...)" for a list filter: nil adds nothing, an empty list matches no
// row.
func (w *where) ids(col string, ids []int64) {
	switch {
	case ids == nil:
	case len(ids) == 0:
		w.add("1 = 0")
	default:
		w.add(col+" IN ("+placeholders(len(ids))+")", int64Args(ids)...)
	}
}

// placeholders is "?, ?, ..." with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

func (w where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// likeEscaper escapes LIKE's wildcards (with \ as the ESCAPE character) so a search for
// "50%" or "a_b" matches those characters literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// likePattern is the substring pattern for s.
func likePattern(s string) string { return "%" + likeEscaper.Replace(s) + "%" }
