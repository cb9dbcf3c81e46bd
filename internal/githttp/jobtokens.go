package githttp

import (
	"context"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// ServiceJobTokens is JobTokens backed by the service: a running job's token fetches
// what its user may read in its own project and in projects whose allowlist names it,
// and pushes only to its own project when that project allows job-token pushes
// (ci_push_repository_for_job_token_allowed) and its user is a Developer there.
type ServiceJobTokens struct{ Service *service.Service }

// AuthenticateGitJob implements JobTokens.
func (j ServiceJobTokens) AuthenticateGitJob(ctx context.Context, token, ip string, project keygate.Project, op authz.GitOp) (Caller, error) {
	jp, err := j.Service.AuthenticateJob(ctx, token, ip)
	if err != nil {
		return Caller{}, err
	}
	c := Caller{Subject: jp.Subject(), Abilities: authz.GitAbilities{Download: true}, Username: jp.User.Username}
	if project.ID == 0 {
		return c, nil
	}
	if err := j.Service.JobReach(ctx, jp, project); err != nil {
		return Caller{}, err
	}
	if op == authz.GitPush && project.ID == jp.Project.ID {
		sc, err := j.Service.JobTokenScope(ctx, project)
		if err != nil {
			return Caller{}, err
		}
		c.Abilities.Push = sc.PushAllowed
	}
	return c, nil
}
