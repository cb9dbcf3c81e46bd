package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// MaxJobTimeout bounds a job's lifetime (GitLab's maximum job timeout is one month).
const MaxJobTimeout = 30 * 24 * time.Hour

// JobInput starts a job (Keygate extension: Keygate runs no CI).
type JobInput struct {
	Ref     string
	Name    string
	Timeout time.Duration // 0: keygate.DefaultJobTimeout
}

// StartedJob is a job and, once, its token.
type StartedJob struct {
	Job    keygate.Job
	Secret secret.Token
}

// ErrJobNotFound is GitLab's 404 for a job.
var ErrJobNotFound = &keygate.Error{Code: keygate.CodeNotFound, Message: "Job"}

// StartJob starts a job in the project for the subject, who needs Developer (GitLab's
// create_build), and issues its glcbt- token.
func (s *Service) StartJob(ctx context.Context, sub authz.Subject, p keygate.Project, res authz.Resource, in JobInput) (StartedJob, error) {
	if err := decide(authz.DecideResource(sub, res, authz.ActRunJob)); err != nil {
		return StartedJob{}, err
	}
	if sub.User.ID == 0 {
		return StartedJob{}, invalid("user", "a job runs for a user")
	}
	if in.Ref == "" {
		in.Ref = p.DefaultBranch
	}
	if in.Name == "" {
		in.Name = "job"
	}
	if in.Timeout == 0 {
		in.Timeout = keygate.DefaultJobTimeout
	}
	if in.Timeout < time.Second || in.Timeout > MaxJobTimeout {
		return StartedJob{}, invalid("timeout", "timeout must be between 1 second and %s", MaxJobTimeout)
	}
	now := s.clock.Now()
	j := keygate.Job{ProjectID: p.ID, UserID: sub.User.ID, Ref: in.Ref, Name: in.Name, Status: keygate.JobRunning,
		CreatedAt: now, StartedAt: now, Timeout: in.Timeout}
	var sec secret.Token
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		for range 3 {
			var err error
			if sec, err = secret.Generate(secret.PrefixJob); err != nil {
				return err
			}
			d := s.dig.Digest(sec)
			j.TokenDigest = d[:]
			err = tx.CreateJob(ctx, &j)
			if !errors.Is(err, store.ErrConflict) {
				return err
			}
		}
		return errors.New("could not generate a unique job token")
	})
	if err != nil {
		return StartedJob{}, internal("start job", err)
	}
	return StartedJob{Job: j, Secret: sec}, nil
}

// JobOf returns a job of the project.
func (s *Service) JobOf(ctx context.Context, p keygate.Project, id int64) (keygate.Job, error) {
	j, err := s.store.Job(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && j.ProjectID != p.ID {
		return keygate.Job{}, ErrJobNotFound
	}
	if err != nil {
		return j, internal("get job", err)
	}
	return j, nil
}

// JobByID returns a job without a project check (the admin CLI).
func (s *Service) JobByID(ctx context.Context, id int64) (keygate.Job, error) {
	j, err := s.store.Job(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return j, ErrJobNotFound
	}
	if err != nil {
		return j, internal("get job", err)
	}
	return j, nil
}

// FinishJob ends a running job; its token stops working at once. The job's user or a
// Developer of the project may finish it.
func (s *Service) FinishJob(ctx context.Context, sub authz.Subject, p keygate.Project, res authz.Resource, id int64, status keygate.JobStatus) (keygate.Job, error) {
	j, err := s.JobOf(ctx, p, id)
	if err != nil {
		return j, err
	}
	if j.UserID != sub.User.ID && !sub.System {
		if err := decide(authz.DecideResource(sub, res, authz.ActRunJob)); err != nil {
			return j, err
		}
	}
	switch status {
	case "":
		status = keygate.JobSuccess
	case keygate.JobSuccess, keygate.JobFailed, keygate.JobCanceled:
	default:
		return j, invalid("status", "status does not have a valid value")
	}
	now := s.clock.Now()
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.FinishJob(ctx, id, status, now)
		return err
	})
	s.cache.invalidate()
	if err != nil {
		return j, internal("finish job", err)
	}
	return s.JobOf(ctx, p, id)
}

// JobPrincipal is a caller authenticated by a job token: the running job, the user it
// acts for and the job's project.
type JobPrincipal struct {
	Job     keygate.Job
	User    keygate.User
	Project keygate.Project
}

// Subject is the job token's caller as authz sees it: the triggering user, limited to
// the routes that accept job tokens by the transport.
func (jp JobPrincipal) Subject() authz.Subject {
	return authz.Subject{User: jp.User, JobProjectID: jp.Project.ID}
}

// AuthenticateJob verifies a job token: shape and checksum, the glcbt- prefix, one
// indexed lookup, then the job must be running and within its timeout, and its user
// allowed to use Keygate. Failures are ErrTokenInvalid (GitLab: not recognised, 401).
func (s *Service) AuthenticateJob(ctx context.Context, raw, ip string) (JobPrincipal, error) {
	if err := s.throttle.check(ip); err != nil {
		return JobPrincipal{}, err
	}
	tok, err := secret.Parse(raw)
	if err != nil || tok.Prefix() != secret.PrefixJob {
		return JobPrincipal{}, keygate.ErrTokenInvalid
	}
	d := s.dig.Digest(tok)
	key := d
	j, err := s.store.JobByDigest(ctx, key[:])
	if errors.Is(err, store.ErrNotFound) {
		return JobPrincipal{}, keygate.ErrTokenInvalid
	}
	if err != nil {
		return JobPrincipal{}, internal("look up job token", err)
	}
	if !d.Matches(j.TokenDigest) || !j.Running(s.clock.Now()) {
		return JobPrincipal{}, keygate.ErrTokenInvalid
	}
	u, err := s.store.User(ctx, j.UserID)
	if err != nil {
		return JobPrincipal{}, internal("job user", err)
	}
	if reason := u.APIBlockReason(s.externalURL); reason != "" {
		return JobPrincipal{}, forbidden(reason)
	}
	p, err := s.store.Project(ctx, j.ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		return JobPrincipal{}, keygate.ErrTokenInvalid // the project is gone: so is its job
	}
	if err != nil {
		return JobPrincipal{}, internal("job project", err)
	}
	return JobPrincipal{Job: j, User: u, Project: p}, nil
}

// JobReach judges whether a job token may act on target: its own project always; another
// project only if target's inbound allowlist names the job's project or a group above
// it (the job's user must still be able to see target, judged by the caller). Cross-project
// uses are logged for the allowlist proposal.
func (s *Service) JobReach(ctx context.Context, jp JobPrincipal, target keygate.Project) error {
	if target.ID == jp.Project.ID {
		return nil
	}
	s.uses.recordJobAuth(keygate.JobTokenAuth{ProjectID: target.ID, SourceProjectID: jp.Project.ID, LastAt: s.clock.Now(), Count: 1})
	allowed, err := s.jobAllowed(ctx, jp.Project, target.ID)
	if err != nil {
		return err
	}
	if !allowed {
		return forbidden(fmt.Sprintf("Authentication by CI/CD job token not allowed from %s to %s.", jp.Project.Path, target.Path))
	}
	return nil
}

func (s *Service) jobAllowed(ctx context.Context, source keygate.Project, targetID int64) (bool, error) {
	projects, err := s.store.AllowedProjects(ctx, targetID)
	if err != nil {
		return false, internal("job token allowlist", err)
	}
	for _, id := range projects {
		if id == source.ID {
			return true, nil
		}
	}
	groups, err := s.store.AllowedGroups(ctx, targetID)
	if err != nil {
		return false, internal("job token allowlist", err)
	}
	for _, g := range groups {
		for _, anc := range source.Namespace.TraversalIDs {
			if source.Namespace.Kind == keygate.NamespaceGroup && anc == g {
				return true, nil
			}
		}
	}
	return false, nil
}

// JobTokenScope returns a project's job-token settings.
func (s *Service) JobTokenScope(ctx context.Context, p keygate.Project) (keygate.JobTokenScope, error) {
	sc, err := s.store.JobTokenScope(ctx, p.ID)
	if err != nil {
		return sc, internal("job token scope", err)
	}
	st, err := s.settings(ctx)
	if err != nil {
		return sc, err
	}
	if st.EnforceCIInboundJobTokenScope {
		sc.InboundEnabled = true
	}
	return sc, nil
}

// SetJobTokenScope changes a project's inbound setting. While the instance enforces the
// inbound scope (GitLab's default since 18.0) it cannot be turned off.
func (s *Service) SetJobTokenScope(ctx context.Context, p keygate.Project, enabled *bool, push *bool) (keygate.JobTokenScope, error) {
	sc, err := s.JobTokenScope(ctx, p)
	if err != nil {
		return sc, err
	}
	st, err := s.settings(ctx)
	if err != nil {
		return sc, err
	}
	if enabled != nil {
		if !*enabled && st.EnforceCIInboundJobTokenScope {
			return sc, invalid("enabled", "Inbound job token scope is enforced for every project by the instance and cannot be disabled")
		}
		sc.InboundEnabled = *enabled
	}
	if push != nil {
		sc.PushAllowed = *push
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error { return tx.PutJobTokenScope(ctx, sc) })
	s.cache.invalidate()
	if err != nil {
		return sc, internal("job token scope", err)
	}
	return sc, nil
}

// AllowlistLimit is GitLab's cap per kind of allowlist entry.
const AllowlistLimit = 200

// AllowedProjects lists a project's inbound allowlist (the project itself first, as
// GitLab shows it).
func (s *Service) AllowedProjects(ctx context.Context, p keygate.Project) ([]keygate.Project, error) {
	ids, err := s.store.AllowedProjects(ctx, p.ID)
	if err != nil {
		return nil, internal("allowlist", err)
	}
	out := []keygate.Project{p}
	for _, id := range ids {
		if id == p.ID {
			continue
		}
		q, err := s.store.Project(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, internal("allowlist", err)
		}
		out = append(out, q)
	}
	return out, nil
}

// AllowedGroups lists the groups on a project's inbound allowlist.
func (s *Service) AllowedGroups(ctx context.Context, p keygate.Project) ([]keygate.Group, error) {
	ids, err := s.store.AllowedGroups(ctx, p.ID)
	if err != nil {
		return nil, internal("allowlist", err)
	}
	var out []keygate.Group
	for _, id := range ids {
		g, err := s.store.Namespace(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, internal("allowlist", err)
		}
		out = append(out, g)
	}
	return out, nil
}

// AllowProject adds target to p's inbound allowlist; GitLab's messages on refusal.
func (s *Service) AllowProject(ctx context.Context, p, target keygate.Project) error {
	ids, err := s.store.AllowedProjects(ctx, p.ID)
	if err != nil {
		return internal("allowlist", err)
	}
	for _, id := range ids {
		if id == target.ID {
			return invalid("", "This project is already in the job token allowlist.")
		}
	}
	if len(ids) >= AllowlistLimit {
		return invalid("", "Validation failed: Source project exceeds the allowable number of project links in this direction")
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error { return tx.AllowProject(ctx, p.ID, target.ID) })
	if errors.Is(err, store.ErrConflict) {
		return invalid("", "This project is already in the job token allowlist.")
	}
	if err != nil {
		return internal("allowlist", err)
	}
	return nil
}

// DisallowProject removes target from p's inbound allowlist.
func (s *Service) DisallowProject(ctx context.Context, p, target keygate.Project) error {
	if p.ID == target.ID {
		return invalid("", "Source project cannot be removed from the job token scope")
	}
	err := s.store.InTx(ctx, func(tx store.Tx) error { return tx.DisallowProject(ctx, p.ID, target.ID) })
	s.cache.invalidate()
	if errors.Is(err, store.ErrNotFound) {
		return invalid("", "Target project is not in the job token scope")
	}
	if err != nil {
		return internal("allowlist", err)
	}
	return nil
}

// AllowGroup adds a group to p's inbound allowlist.
func (s *Service) AllowGroup(ctx context.Context, p keygate.Project, g keygate.Group) error {
	ids, err := s.store.AllowedGroups(ctx, p.ID)
	if err != nil {
		return internal("allowlist", err)
	}
	for _, id := range ids {
		if id == g.ID {
			return invalid("", "This group is already in the job token allowlist.")
		}
	}
	if len(ids) >= AllowlistLimit {
		return invalid("", "Validation failed: Source project exceeds the allowable number of group links in this direction")
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error { return tx.AllowGroup(ctx, p.ID, g.ID) })
	if errors.Is(err, store.ErrConflict) {
		return invalid("", "This group is already in the job token allowlist.")
	}
	if err != nil {
		return internal("allowlist", err)
	}
	return nil
}

// DisallowGroup removes a group from p's inbound allowlist.
func (s *Service) DisallowGroup(ctx context.Context, p keygate.Project, g keygate.Group) error {
	err := s.store.InTx(ctx, func(tx store.Tx) error { return tx.DisallowGroup(ctx, p.ID, g.ID) })
	s.cache.invalidate()
	if errors.Is(err, store.ErrNotFound) {
		return invalid("", "Target group is not in the job token scope")
	}
	if err != nil {
		return internal("allowlist", err)
	}
	return nil
}

// JobTokenAuthLog lists which other projects' job tokens reached p.
func (s *Service) JobTokenAuthLog(ctx context.Context, p keygate.Project) ([]keygate.JobTokenAuth, error) {
	if err := s.uses.flush(ctx); err != nil {
		s.log.Warn("flush job token log", "err", err)
	}
	log, err := s.store.JobTokenAuthLog(ctx, p.ID)
	if err != nil {
		return nil, internal("job token log", err)
	}
	return log, nil
}

// AllowlistProposal is the least allowlist that keeps every logged use working: the
// logged source projects not already allowed (Keygate extension).
func (s *Service) AllowlistProposal(ctx context.Context, p keygate.Project) ([]keygate.Project, error) {
	log, err := s.JobTokenAuthLog(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []keygate.Project
	for _, e := range log {
		src, err := s.store.Project(ctx, e.SourceProjectID)
		if err != nil {
			continue
		}
		ok, err := s.jobAllowed(ctx, src, p.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, src)
		}
	}
	return out, nil
}
