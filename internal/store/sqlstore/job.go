package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

const jobColumns = `id, project_id, user_id, ref, name, status, created_at, started_at,
	finished_at, timeout_seconds, token_digest`

func jobDest(j *keygate.Job) []any {
	return []any{&j.ID, &j.ProjectID, &j.UserID, &j.Ref, &j.Name, &j.Status,
		timeCol{&j.CreatedAt}, timeCol{&j.StartedAt}, nullTimeCol{&j.FinishedAt},
		secondsCol{&j.Timeout}, &j.TokenDigest}
}

const jobTokenAuthColumns = "project_id, source_project_id, last_at, count"

func jobTokenAuthDest(a *keygate.JobTokenAuth) []any {
	return []any{&a.ProjectID, &a.SourceProjectID, timeCol{&a.LastAt}, &a.Count}
}

// secondsCol scans timeout_seconds into a time.Duration.
type secondsCol struct{ p *time.Duration }

// Scan implements sql.Scanner.
func (c secondsCol) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c.p = time.Duration(v) * time.Second
	case int32:
		*c.p = time.Duration(v) * time.Second
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a duration in seconds", src)
	}
	return nil
}

// timeoutSeconds is the stored form of a job timeout: whole seconds, rounded down.
func timeoutSeconds(d time.Duration) int64 { return int64(d / time.Second) }

func (r reader) getJob(ctx context.Context, l lookup, what string, key, arg any) (keygate.Job, error) {
	var j keygate.Job
	err := l.row(ctx, r.q, arg).Scan(jobDest(&j)...)
	if isNoRows(err) {
		return keygate.Job{}, notFound(what, key)
	}
	if err != nil {
		return keygate.Job{}, fmt.Errorf("store: %s %v: %w", what, key, r.d.Classify(err))
	}
	return j, nil
}

// Job returns the job id.
func (r reader) Job(ctx context.Context, id int64) (keygate.Job, error) {
	return r.getJob(ctx, r.job, "job", id, id)
}

// JobByDigest is the job-token verification lookup: one query on the unique digest index.
func (r reader) JobByDigest(ctx context.Context, digest []byte) (keygate.Job, error) {
	// As TokenByDigest: the digest stays out of the error.
	return r.getJob(ctx, r.jobByDigest, "job with digest", "(redacted)", digest)
}

// JobTokenScope returns the job-token settings of project projectID, GitLab's defaults
// when it saved none, and store.ErrNotFound when there is no such project.
func (r reader) JobTokenScope(ctx context.Context, projectID int64) (keygate.JobTokenScope, error) {
	var inbound, push sql.NullBool
	err := r.jobTokenScope.row(ctx, r.q, projectID).Scan(&inbound, &push)
	if isNoRows(err) {
		return keygate.JobTokenScope{}, fmt.Errorf("store: job token scope: %w", notFound("project", projectID))
	}
	if err != nil {
		return keygate.JobTokenScope{}, fmt.Errorf("store: job token scope of project %d: %w", projectID, r.d.Classify(err))
	}
	s := keygate.JobTokenScope{ProjectID: projectID, InboundEnabled: true}
	if inbound.Valid {
		s.InboundEnabled, s.PushAllowed = inbound.Bool, push.Bool
	}
	return s, nil
}

// AllowedProjects lists project projectID's inbound allowlist of projects, in the order
// added (empty for a project that does not exist).
func (r reader) AllowedProjects(ctx context.Context, projectID int64) ([]int64, error) {
	return r.idList(ctx, r.allowedProjects, "allowed projects", projectID)
}

// AllowedGroups lists project projectID's inbound allowlist of groups, in the order added
// (empty for a project that does not exist).
func (r reader) AllowedGroups(ctx context.Context, projectID int64) ([]int64, error) {
	return r.idList(ctx, r.allowedGroups, "allowed groups", projectID)
}

// idList runs a lookup whose rows are one ID each.
func (r reader) idList(ctx context.Context, l lookup, what string, projectID int64) ([]int64, error) {
	rows, err := l.rows(ctx, r.q, projectID)
	if err != nil {
		return nil, fmt.Errorf("store: %s of project %d: %w", what, projectID, r.d.Classify(err))
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: %s of project %d: %w", what, projectID, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s of project %d: %w", what, projectID, r.d.Classify(err))
	}
	return out, nil
}

// JobTokenAuthLog lists the other projects whose job tokens reached projectID, most
// recent first (source project ID breaking ties).
func (r reader) JobTokenAuthLog(ctx context.Context, projectID int64) ([]keygate.JobTokenAuth, error) {
	rows, err := r.jobTokenAuthLog.rows(ctx, r.q, projectID)
	if err != nil {
		return nil, fmt.Errorf("store: job token log of project %d: %w", projectID, r.d.Classify(err))
	}
	defer rows.Close()
	var out []keygate.JobTokenAuth
	for rows.Next() {
		var a keygate.JobTokenAuth
		if err := rows.Scan(jobTokenAuthDest(&a)...); err != nil {
			return nil, fmt.Errorf("store: job token log of project %d: %w", projectID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: job token log of project %d: %w", projectID, r.d.Classify(err))
	}
	return out, nil
}

// CreateJob inserts j and sets j.ID. A digest already stored is store.ErrConflict; a
// project or user that does not exist is store.ErrNotFound (by foreign key). The timeout
// is stored in whole seconds, rounded down.
func (t *txn) CreateJob(ctx context.Context, j *keygate.Job) error {
	if len(j.TokenDigest) == 0 {
		// As CreateToken: drivers disagree on whether a nil []byte is NULL.
		return fmt.Errorf("store: create job %q in project %d: empty digest", j.Name, j.ProjectID)
	}
	if j.Timeout < 0 {
		return fmt.Errorf("store: create job %q in project %d: negative timeout %v", j.Name, j.ProjectID, j.Timeout)
	}
	q := t.d.Rebind(`INSERT INTO jobs (project_id, user_id, ref, name, status, created_at,
		started_at, finished_at, timeout_seconds, token_digest)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	var id int64
	err := t.savepoint(ctx, func() error {
		return t.tx.QueryRowContext(ctx, q, j.ProjectID, j.UserID, j.Ref, j.Name, string(j.Status),
			t.timeArg(j.CreatedAt), t.timeArg(j.StartedAt), t.nullTimeArg(j.FinishedAt),
			timeoutSeconds(j.Timeout), j.TokenDigest).Scan(&id)
	})
	if err != nil {
		return fmt.Errorf("store: create job %q in project %d: %w", j.Name, j.ProjectID, t.d.Classify(err))
	}
	j.ID = id
	return nil
}

// FinishJob gives a running job its final status and finish time and reports whether
// this call did it. As in RevokeToken, the WHERE on the status makes concurrent finishes
// agree on one winner; only the winner moves the Marker.
func (t *txn) FinishJob(ctx context.Context, id int64, status keygate.JobStatus, at time.Time) (bool, error) {
	switch status {
	case keygate.JobSuccess, keygate.JobFailed, keygate.JobCanceled:
	default:
		return false, fmt.Errorf("store: finish job %d: %q is not a final status", id, status)
	}
	q := t.d.Rebind("UPDATE jobs SET status = ?, finished_at = ? WHERE id = ? AND status = ?")
	n, err := t.affected(ctx, q, string(status), t.timeArg(at), id, string(keygate.JobRunning))
	if err != nil {
		return false, fmt.Errorf("store: finish job %d: %w", id, err)
	}
	if n > 0 {
		t.moved = true
		return true, nil
	}
	var one int
	err = t.tx.QueryRowContext(ctx, t.d.Rebind("SELECT 1 FROM jobs WHERE id = ?"), id).Scan(&one)
	if isNoRows(err) {
		return false, fmt.Errorf("store: finish %w", notFound("job", id))
	}
	if err != nil {
		return false, fmt.Errorf("store: finish job %d: %w", id, t.d.Classify(err))
	}
	return false, nil
}

// PutJobTokenScope stores the job-token settings of s.ProjectID (store.ErrNotFound if
// there is no such project) and moves the Marker: limiting the inbound scope or
// forbidding pushes takes access away.
func (t *txn) PutJobTokenScope(ctx context.Context, s keygate.JobTokenScope) error {
	q := t.d.Rebind(`INSERT INTO job_token_scopes (project_id, inbound_enabled, push_allowed)
		VALUES (?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET
		inbound_enabled = excluded.inbound_enabled, push_allowed = excluded.push_allowed`)
	err := t.savepoint(ctx, func() error {
		_, err := t.tx.ExecContext(ctx, q, s.ProjectID, s.InboundEnabled, s.PushAllowed)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put job token scope of project %d: %w", s.ProjectID, t.d.Classify(err))
	}
	t.moved = true
	return nil
}

// AllowProject adds allowed to the inbound allowlist of projectID. An entry already
// there is store.ErrConflict; a project that does not exist (either) store.ErrNotFound,
// by foreign key. It does not move the Marker: it only grants.
func (t *txn) AllowProject(ctx context.Context, projectID, allowed int64) error {
	q := t.d.Rebind(`INSERT INTO job_token_project_allowlist (project_id, allowed_project_id,
		created_at) VALUES (?, ?, ?)`)
	// AllowProject takes no clock and created_at only orders the list, so it is the wall
	// clock (as updated_at in UpdateUser).
	now := t.timeArg(time.Now())
	err := t.savepoint(ctx, func() error {
		_, err := t.tx.ExecContext(ctx, q, projectID, allowed, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: allow project %d into project %d: %w", allowed, projectID, t.d.Classify(err))
	}
	return nil
}

// DisallowProject removes allowed from the inbound allowlist of projectID
// (store.ErrNotFound if absent) and moves the Marker.
func (t *txn) DisallowProject(ctx context.Context, projectID, allowed int64) error {
	q := t.d.Rebind("DELETE FROM job_token_project_allowlist WHERE project_id = ? AND allowed_project_id = ?")
	return t.disallow(ctx, q, "project", projectID, allowed)
}

// AllowGroup adds groupID to the inbound allowlist of projectID. The row is selected from
// the namespace, which must be a group: a personal namespace, like a missing one, is
// store.ErrNotFound, as a missing project is by foreign key. An entry already there is
// store.ErrConflict. It does not move the Marker.
func (t *txn) AllowGroup(ctx context.Context, projectID, groupID int64) error {
	q := t.d.Rebind(`INSERT INTO job_token_group_allowlist (project_id, allowed_group_id, created_at)
		SELECT ?, id, ? FROM namespaces WHERE id = ? AND kind = 'group'`)
	now := t.timeArg(time.Now()) // as in AllowProject
	var n int64
	err := t.savepoint(ctx, func() error {
		res, err := t.tx.ExecContext(ctx, q, projectID, now, groupID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("store: allow group %d into project %d: %w", groupID, projectID, t.d.Classify(err))
	}
	if n == 0 {
		return fmt.Errorf("store: allow into project %d: %w", projectID, notFound("group", groupID))
	}
	return nil
}

// DisallowGroup removes groupID from the inbound allowlist of projectID
// (store.ErrNotFound if absent) and moves the Marker.
func (t *txn) DisallowGroup(ctx context.Context, projectID, groupID int64) error {
	q := t.d.Rebind("DELETE FROM job_token_group_allowlist WHERE project_id = ? AND allowed_group_id = ?")
	return t.disallow(ctx, q, "group", projectID, groupID)
}

// disallow runs the DELETE q of one allowlist entry.
func (t *txn) disallow(ctx context.Context, q, kind string, projectID, id int64) error {
	n, err := t.affected(ctx, q, projectID, id)
	if err != nil {
		return fmt.Errorf("store: disallow %s %d from project %d: %w", kind, id, projectID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: disallow %w",
			notFound("allowlist entry", fmt.Sprintf("for %s %d in project %d", kind, id, projectID)))
	}
	t.moved = true
	return nil
}

// recordJobAuthAttempts bounds the re-runs of RecordJobTokenAuths after a project of the
// batch was deleted under it.
const recordJobAuthAttempts = 3

// RecordJobTokenAuths upserts job-token log lines in one transaction, without moving the
// Marker. Entries for one pair of projects are merged first and the rest sorted, so that
// two concurrent batches lock rows in one order. The insert selects from both projects,
// so a line of a project that no longer exists inserts nothing. On PostgreSQL a project
// deleted after the statement's snapshot still fails the foreign key check; the batch is
// then run again, and the next statement no longer sees that project.
func (db *DB) RecordJobTokenAuths(ctx context.Context, entries []keygate.JobTokenAuth) error {
	if len(entries) == 0 {
		return nil
	}
	merged := mergeJobTokenAuths(entries)
	d := db.d
	upsert := d.Rebind(`INSERT INTO job_token_auth_log (` + jobTokenAuthColumns + `)
		SELECT p.id, s.id, ?, ? FROM projects p, projects s WHERE p.id = ? AND s.id = ?
		ON CONFLICT (project_id, source_project_id) DO UPDATE SET
			count = job_token_auth_log.count + excluded.count,
			last_at = CASE WHEN excluded.last_at > job_token_auth_log.last_at
				THEN excluded.last_at ELSE job_token_auth_log.last_at END`)
	var err error
	for range recordJobAuthAttempts {
		err = db.inTx(ctx, func(t *txn) error {
			for _, e := range merged {
				if _, err := t.tx.ExecContext(ctx, upsert, d.Time(e.LastAt), e.Count,
					e.ProjectID, e.SourceProjectID); err != nil {
					return fmt.Errorf("store: record job token use of project %d in project %d: %w",
						e.SourceProjectID, e.ProjectID, d.Classify(err))
				}
			}
			return nil
		})
		if !errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// mergeJobTokenAuths sums the counts and keeps the latest time per (project, source),
// normalized, sorted by project then source.
func mergeJobTokenAuths(entries []keygate.JobTokenAuth) []keygate.JobTokenAuth {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b keygate.JobTokenAuth) int {
		return cmp.Or(cmp.Compare(a.ProjectID, b.ProjectID), cmp.Compare(a.SourceProjectID, b.SourceProjectID))
	})
	out := sorted[:0]
	for _, e := range sorted {
		e.LastAt = Normalize(e.LastAt)
		if n := len(out); n > 0 && out[n-1].ProjectID == e.ProjectID && out[n-1].SourceProjectID == e.SourceProjectID {
			out[n-1].Count += e.Count
			if e.LastAt.After(out[n-1].LastAt) {
				out[n-1].LastAt = e.LastAt
			}
			continue
		}
		out = append(out, e)
	}
	return out
}
