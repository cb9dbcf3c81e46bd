// Package githttp serves Git smart HTTP (clone, fetch, push) for the projects'
// repositories: a thin authenticated bridge to the real git http-backend.
//
// Every request goes through the same steps, in GitLab's order (GitHttpClientController,
// Gitlab::GitAccess): parse the path (SplitPath), read HTTP Basic credentials
// (ParseBasic) and verify the token with the service exactly as the REST API does
// (revocation, expiry, blocked owners, last-used data, the failed-authentication ban),
// judge the request with authz.DecideGit, and for a push judge the ref updates with
// authz.DecidePush from the command section read off the front of the request body
// (ReadCommands) before the pack streams on to git. Bodies stream both ways; nothing
// holds a pack in memory.
//
// Refusals are GitLab's: 401 text/plain with `WWW-Authenticate: Basic realm="GitLab"`
// and its "HTTP Basic: Access denied" text, 404 for a project that does not exist or
// that the caller cannot see, 403 with GitLab's Git messages, and a refused ref update
// answered as GitLab's pre-receive hook answers it (the message on the progress band,
// "pre-receive hook declined" for the refs).
//
// CI/CD job tokens (Basic username gitlab-ci-token) are an extension point: JobTokens.
package githttp
