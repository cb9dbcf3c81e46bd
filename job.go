package keygate

import "time"

// JobStatus is a CI job's state. Keygate runs no CI; jobs exist so job tokens can be
// tested and used (a Keygate extension starts and finishes them).
type JobStatus string

// The job states.
const (
	JobRunning  JobStatus = "running"
	JobSuccess  JobStatus = "success"
	JobFailed   JobStatus = "failed"
	JobCanceled JobStatus = "canceled"
)

// DefaultJobTimeout is a job's lifetime when none is given (GitLab's default job timeout).
const DefaultJobTimeout = time.Hour

// Job is a CI/CD job: it runs in a project on behalf of the user who triggered it, and
// its token acts with that user's permissions while it runs.
type Job struct {
	ID          int64
	ProjectID   int64
	UserID      int64
	Ref         string
	Name        string
	Status      JobStatus
	CreatedAt   time.Time
	StartedAt   time.Time
	FinishedAt  *time.Time
	Timeout     time.Duration
	TokenDigest []byte
}

// Running reports whether the job's token is valid at now: still running and within its
// timeout.
func (j Job) Running(now time.Time) bool {
	return j.Status == JobRunning && now.Before(j.StartedAt.Add(j.Timeout))
}

// JobTokenScope is a project's inbound job-token setting ("Limit access to this
// project") and whether job tokens of the project may push to it.
type JobTokenScope struct {
	ProjectID      int64
	InboundEnabled bool
	// PushAllowed is ci_push_repository_for_job_token_allowed.
	PushAllowed bool
}

// JobTokenAuth is one line of a project's job-token authentication log: another project's
// jobs reached it.
type JobTokenAuth struct {
	ProjectID       int64 // the project reached
	SourceProjectID int64 // whose job token it was
	LastAt          time.Time
	Count           int64
}
