// Package doctor diagnoses a token against a GitLab-compatible instance (GitLab or
// Keygate): reachability and version, the token's identity, type, scopes, expiry and
// state, the role on a project, and an authenticated `git ls-remote`. Every failing
// check names its cause and its fix in the words of the troubleshooting table: 401 means
// expired or invalid, 403 a missing scope or role, 404 no access or a wrong path, and
// git asking for a password again means the token was refused.
package doctor

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/remote"
	"github.com/keygate/keygate/internal/secret"
)

// WarnDays: fewer days left than this is a warning.
const WarnDays = 30

// Statuses of a check and of a whole report.
const (
	OK   = "ok"
	Warn = "warn"
	Fail = "fail"
	Skip = "skip"
	// Error: the check could not run (exit status 2).
	Error = "error"
)

// Findings name what a failing check found, for machines (the JSON "finding").
const (
	FindingUnreachable   = "unreachable"
	FindingNotGitLab     = "not_gitlab"
	FindingExpired       = "expired"
	FindingRevoked       = "revoked"
	FindingInvalid       = "invalid"
	FindingInactive      = "inactive"
	FindingExpiring      = "expiring"
	FindingMissingScope  = "missing_scope"
	FindingLowRole       = "low_role"
	FindingHiddenProject = "hidden_project"
	FindingGitRefused    = "git_refused"
	FindingNoGit         = "git_unavailable"
	FindingJobToken      = "job_token"
)

// Config is one diagnosis.
type Config struct {
	URL   string
	Token secret.Token
	// Project is a project's full path or ID; empty skips the role check.
	Project string
	// MinRole is the least access level wanted on Project (0 means Reporter, 20).
	MinRole int
	// Git runs an authenticated `git ls-remote` of Project.
	Git bool
	// Registry is a container registry host (or URL) to log in to, GitLab's token flow;
	// "" skips the check.
	Registry string
	// GitBinary is the git to run ("" means git on PATH).
	GitBinary string
	// Now is the clock for days left (nil means time.Now).
	Now  func() time.Time
	HTTP *http.Client
}

// Check is one check's outcome.
type Check struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Finding string `json:"finding,omitempty"`
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// TokenInfo is what the report says of the token.
type TokenInfo struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Scopes    []string `json:"scopes"`
	Active    bool     `json:"active"`
	Revoked   bool     `json:"revoked"`
	ExpiresAt *string  `json:"expires_at"`
	DaysLeft  *int     `json:"days_left"`
}

// Report is the whole diagnosis.
type Report struct {
	URL      string       `json:"url"`
	Status   string       `json:"status"`
	ExitCode int          `json:"exit_code"`
	Version  string       `json:"version,omitempty"`
	Keygate  bool         `json:"keygate"`
	User     *remote.User `json:"user,omitempty"`
	Token    *TokenInfo   `json:"token,omitempty"`
	Role     *int         `json:"access_level,omitempty"`
	Checks   []Check      `json:"checks"`
}

func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

// Run diagnoses. It never returns an error: what could not be checked is an Error check.
func Run(ctx context.Context, cfg Config) (rep Report) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinRole == 0 {
		cfg.MinRole = 20
	}
	rep = Report{URL: cfg.URL}
	defer rep.finish()
	c, err := remote.New(cfg.URL, cfg.Token, cfg.HTTP)
	if err != nil {
		rep.add(Check{Name: "reachability", Status: Error, Finding: FindingUnreachable, Message: err.Error(),
			Fix: "pass the instance's base URL, e.g. --url https://gitlab.example.com"})
		return rep
	}
	if !rep.reach(ctx, c) {
		return rep
	}
	if strings.HasPrefix(cfg.Token.Reveal(), "glcbt-") {
		rep.add(Check{Name: "token", Status: Error, Finding: FindingJobToken, Message: "this is a CI/CD job token",
			Cause: "job tokens are not recognised outside the routes GitLab opens to them (401 elsewhere), and live only while their job runs",
			Fix:   "run doctor with the personal, project, group or service-account token the job should use, or check the job token inside its job (GET /api/v4/job)"})
		return rep
	}
	tok, ok := rep.token(ctx, c, cfg.Now())
	switch {
	case ok && cfg.Registry != "" && registryOnly(tok.Scopes):
		// A registry token cannot read /user or projects through the API, by design:
		// the registry check below is its test.
		rep.add(Check{Name: "api", Status: Skip,
			Message: "a registry token (scopes " + strings.Join(tok.Scopes, ",") + "): the user, project and Git checks need API or repository scopes; the registry check tests it"})
	case ok:
		rep.user(ctx, c, tok)
		rep.projectAndGit(ctx, c, cfg, tok)
	}
	// The registry is its own surface: a token the API refuses (revoked, or scoped to
	// read_repository only) is still checked there, and its refusal explained.
	if cfg.Registry != "" {
		rep.registry(ctx, cfg)
	}
	return rep
}

// registryOnly reports whether every scope is a registry scope (self_rotate aside).
func registryOnly(scopes []string) bool {
	n := 0
	for _, sc := range scopes {
		switch sc {
		case "read_registry", "write_registry":
			n++
		case "self_rotate":
		default:
			return false
		}
	}
	return n > 0
}

// projectAndGit runs the role and Git checks of --project.
func (r *Report) projectAndGit(ctx context.Context, c *remote.Client, cfg Config, tok remote.Token) {
	if cfg.Project == "" {
		if cfg.Git {
			r.add(Check{Name: "git", Status: Skip, Message: "--git needs --project"})
		}
		return
	}
	p, gitOK := r.project(ctx, c, cfg, tok)
	switch {
	case gitOK && cfg.Git:
		r.git(ctx, c, cfg, p, tok)
	case cfg.Git:
		r.add(Check{Name: "git", Status: Skip, Message: "skipped: the project check failed"})
	}
}

// finish sets the overall status and exit code: 2 if anything could not be checked,
// 1 for a failure, 0 otherwise (warnings included).
func (r *Report) finish() {
	r.Status, r.ExitCode = OK, 0
	for _, c := range r.Checks {
		switch c.Status {
		case Error:
			r.Status, r.ExitCode = Error, 2
			return
		case Fail:
			r.Status, r.ExitCode = Fail, 1
		case Warn:
			if r.Status == OK {
				r.Status = Warn
			}
		}
	}
}

// reach checks that the URL answers as a GitLab API. /version needs a token on GitLab,
// so a 401 here still proves reachability; the token check explains it.
func (r *Report) reach(ctx context.Context, c *remote.Client) bool {
	v, err := c.Version(ctx)
	if remote.Unreachable(err) {
		r.add(Check{Name: "reachability", Status: Error, Finding: FindingUnreachable,
			Message: "no answer from " + c.InstanceURL(), Cause: err.Error(),
			Fix: "check the URL, DNS, proxy and TLS settings; the instance must be reachable from here"})
		return false
	}
	if e, ok := remote.AsError(err); ok && (e.Status == 404 || e.Status >= 500) {
		r.add(Check{Name: "reachability", Status: Error, Finding: FindingNotGitLab,
			Message: fmt.Sprintf("%s answered %d on /api/v4/version", c.InstanceURL(), e.Status),
			Fix:     "pass the instance's base URL (not a project or API path); the server must serve GitLab's API v4"})
		return false
	}
	if err != nil && !isAPIError(err) {
		r.add(Check{Name: "reachability", Status: Error, Finding: FindingNotGitLab, Message: err.Error(),
			Fix: "pass the instance's base URL; the server must serve GitLab's API v4"})
		return false
	}
	if err == nil {
		r.Version, r.Keygate = v.Version, v.Keygate()
		kind := "GitLab"
		if r.Keygate {
			kind = "Keygate"
		}
		r.add(Check{Name: "reachability", Status: OK, Message: fmt.Sprintf("%s %s answers", kind, v.Version)})
		return true
	}
	r.add(Check{Name: "reachability", Status: OK, Message: c.InstanceURL() + " answers (version hidden from this token)"})
	return true
}

func isAPIError(err error) bool { _, ok := remote.AsError(err); return ok }

// token checks /personal_access_tokens/self: state, scopes, days left.
func (r *Report) token(ctx context.Context, c *remote.Client, now time.Time) (remote.Token, bool) {
	t, err := c.SelfToken(ctx)
	if err != nil {
		r.add(tokenFailure(err))
		return t, false
	}
	info := &TokenInfo{ID: t.ID, Name: t.Name, Scopes: t.Scopes, Active: t.Active, Revoked: t.Revoked, ExpiresAt: t.ExpiresAt}
	r.Token = info
	if !t.Active {
		r.add(Check{Name: "token", Status: Fail, Finding: FindingInactive, Message: "token " + t.Name + " is not active",
			Cause: "401: the token is expired or revoked", Fix: "create a new token (a revoked or expired token cannot be reactivated)"})
		return t, false
	}
	r.add(Check{Name: "token", Status: OK, Message: fmt.Sprintf("token %q (ID %d) is active; scopes %s", t.Name, t.ID, strings.Join(t.Scopes, ","))})
	days, has := remote.DaysLeft(t.ExpiresAt, now)
	switch {
	case !has:
		r.add(Check{Name: "expiry", Status: OK, Message: "the token never expires"})
	case days < WarnDays:
		info.DaysLeft = &days
		r.add(Check{Name: "expiry", Status: Warn, Finding: FindingExpiring,
			Message: fmt.Sprintf("%d days left (expires %s)", days, *t.ExpiresAt),
			Cause:   fmt.Sprintf("fewer than %d days left: when it expires every call answers 401", WarnDays),
			Fix:     "rotate now: POST /api/v4/personal_access_tokens/self/rotate (scope api or self_rotate), or `keygate connections rotate`"})
	default:
		info.DaysLeft = &days
		r.add(Check{Name: "expiry", Status: OK, Message: fmt.Sprintf("%d days left (expires %s)", days, *t.ExpiresAt)})
	}
	return t, true
}

// tokenFailure explains a refused token check in the table's words.
func tokenFailure(err error) Check {
	e, ok := remote.AsError(err)
	if !ok {
		return Check{Name: "token", Status: Error, Finding: FindingUnreachable, Message: err.Error(),
			Fix: "retry; the instance did not answer the token check"}
	}
	switch {
	case e.Expired():
		return Check{Name: "token", Status: Fail, Finding: FindingExpired, Message: "the token has expired",
			Cause: "401 (" + e.Message + "): 401 means the token is expired or invalid",
			Fix:   "create a new token; an expired token can no longer rotate itself (rotate before the expiry date next time)"}
	case e.Revoked():
		return Check{Name: "token", Status: Fail, Finding: FindingRevoked, Message: "the token was revoked",
			Cause: "401 (" + e.Message + "): 401 means the token is expired or invalid; this one was revoked, or rotated and replaced by a successor",
			Fix:   "use its successor if it was rotated, or create a new token"}
	case e.Status == 401:
		return Check{Name: "token", Status: Fail, Finding: FindingInvalid, Message: "the instance does not know this token",
			Cause: "401 (" + e.Message + "): 401 means the token is expired or invalid",
			Fix:   "check that the token is complete and belongs to this instance (KEYGATE_TOKEN, GITLAB_TOKEN or --token-file)"}
	case e.Status == 403:
		return Check{Name: "token", Status: Fail, Finding: FindingMissingScope, Message: "the token was refused: " + e.Message,
			Cause: "403: 403 means a missing scope or role; here the account itself is blocked or locked",
			Fix:   "ask an administrator to unblock the account, or use another account's token"}
	}
	return Check{Name: "token", Status: Error, Message: e.Error(), Fix: "retry later; the instance answered an unexpected status"}
}

// user checks /user: the token's identity and its type.
func (r *Report) user(ctx context.Context, c *remote.Client, tok remote.Token) {
	u, err := c.User(ctx)
	if e, ok := remote.AsError(err); ok && e.InsufficientScope() {
		r.add(Check{Name: "user", Status: Fail, Finding: FindingMissingScope, Message: "the token may not read its own user",
			Cause: "403 insufficient_scope: 403 means a missing scope or role; /user needs read_user, read_api or api",
			Fix:   "add the read_user scope (or read_api/api if the integration calls the API): create a token with it"})
		return
	}
	if err != nil {
		r.add(Check{Name: "user", Status: Error, Message: err.Error(), Fix: "retry; /user did not answer"})
		return
	}
	r.User = &u
	if r.Token != nil {
		r.Token.Type = remote.TokenType(u)
	}
	r.add(Check{Name: "user", Status: OK, Message: fmt.Sprintf("authenticated as %s (ID %d), a %s token", u.Username, u.ID, remote.TokenType(u))})
}

// roleNames are GitLab's access levels.
var roleNames = map[int]string{5: "Minimal Access", 10: "Guest", 15: "Planner", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"}

// RoleName names an access level.
func RoleName(l int) string {
	if n, ok := roleNames[l]; ok {
		return n
	}
	return fmt.Sprintf("level %d", l)
}

// project checks the project is visible and the role on it. It reports whether the Git
// check can still run (it can when only the API scope is missing: Git has its own).
func (r *Report) project(ctx context.Context, c *remote.Client, cfg Config, tok remote.Token) (remote.Project, bool) {
	p, err := c.Project(ctx, cfg.Project)
	if e, ok := remote.AsError(err); ok {
		switch {
		case e.InsufficientScope():
			r.add(Check{Name: "project", Status: Fail, Finding: FindingMissingScope, Message: "the token may not read projects",
				Cause: "403 insufficient_scope: 403 means a missing scope or role; reading a project needs read_api or api",
				Fix:   "add the read_api scope (api to write): create a token with it"})
			p.PathWithNamespace = cfg.Project
			return p, !isNumeric(cfg.Project)
		case e.Status == 404:
			r.add(Check{Name: "project", Status: Fail, Finding: FindingHiddenProject, Message: "project " + cfg.Project + " not found",
				Cause: "404: 404 means no access or a wrong path: GitLab hides projects you cannot see",
				Fix:   "check the full path (group/subgroup/project, as in the project's URL); if it is right, ask a Maintainer to add " + r.who() + " as a member"})
		default:
			r.add(Check{Name: "project", Status: Error, Message: e.Error(), Fix: "retry; the project check answered an unexpected status"})
		}
		return p, false
	}
	if err != nil {
		r.add(Check{Name: "project", Status: Error, Message: err.Error(), Fix: "retry"})
		return p, false
	}
	if r.User == nil {
		r.add(Check{Name: "project", Status: Warn, Message: "project " + p.PathWithNamespace + " is visible; role unknown (the user check failed)"})
		return p, true
	}
	level := 0
	m, err := c.ProjectMember(ctx, p.ID, r.User.ID)
	if err == nil {
		level = m.AccessLevel
	} else if e, ok := remote.AsError(err); !ok || e.Status != 404 {
		r.add(Check{Name: "role", Status: Error, Message: err.Error(), Fix: "retry"})
		return p, true
	}
	r.Role = &level
	if level >= cfg.MinRole || (level == 0 && r.User.IsAdmin) {
		msg := fmt.Sprintf("project %s: role %s", p.PathWithNamespace, RoleName(level))
		if level == 0 {
			msg = fmt.Sprintf("project %s: administrator, no membership needed", p.PathWithNamespace)
		}
		r.add(Check{Name: "role", Status: OK, Message: msg})
		return p, true
	}
	have := "no membership"
	if level > 0 {
		have = "role " + RoleName(level)
	}
	r.add(Check{Name: "role", Status: Fail, Finding: FindingLowRole,
		Message: fmt.Sprintf("project %s: %s, want at least %s", p.PathWithNamespace, have, RoleName(cfg.MinRole)),
		Cause:   "403 means a missing scope or role: calls that need " + RoleName(cfg.MinRole) + " will answer 403 (pushes: Developer; settings and tokens: Maintainer)",
		Fix:     fmt.Sprintf("ask a Maintainer or Owner of %s to give %s the %s role", p.PathWithNamespace, r.who(), RoleName(cfg.MinRole))})
	return p, true
}

func isNumeric(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func (r *Report) who() string {
	if r.User != nil {
		return r.User.Username
	}
	return "the token's user"
}

var gitStatusRE = regexp.MustCompile(`returned error: (\d{3})`)

// git runs `git ls-remote` with the token in an Authorization header passed through the
// environment (never the command line, which other users can read).
func (r *Report) git(ctx context.Context, c *remote.Client, cfg Config, p remote.Project, tok remote.Token) {
	bin := cfg.GitBinary
	if bin == "" {
		bin = "git"
	}
	if _, err := exec.LookPath(bin); err != nil {
		r.add(Check{Name: "git", Status: Error, Finding: FindingNoGit, Message: "git is not installed here", Fix: "install git to run --git"})
		return
	}
	repo := c.InstanceURL() + "/" + p.PathWithNamespace + ".git"
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-c", "credential.helper=", "ls-remote", "--heads", repo)
	basic := base64.StdEncoding.EncodeToString([]byte("oauth2:" + cfg.Token.Reveal()))
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+basic)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		r.add(Check{Name: "git", Status: OK, Message: "git ls-remote " + repo + " succeeded"})
		return
	}
	r.add(gitFailure(repo, stderr.String(), tok))
}

// gitFailure explains a refused ls-remote.
func gitFailure(repo, stderr string, tok remote.Token) Check {
	msg := strings.TrimSpace(stderr)
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i]
	}
	status := ""
	if m := gitStatusRE.FindStringSubmatch(stderr); m != nil {
		status = m[1]
	}
	prompted := strings.Contains(stderr, "could not read Username") || strings.Contains(stderr, "terminal prompts disabled") ||
		strings.Contains(stderr, "Authentication failed")
	c := Check{Name: "git", Status: Fail, Finding: FindingGitRefused, Message: "git ls-remote " + repo + " refused: " + msg}
	scoped := tok.HasScope("read_repository") || tok.HasScope("write_repository") || tok.HasScope("api") || tok.HasScope("read_api")
	switch {
	case prompted || status == "401":
		c.Cause = "git asked for a password again: the server refused the token over Git (401: expired, invalid, or without a Git scope)"
		if !scoped {
			c.Fix = "add the read_repository scope (write_repository to push): create a token with it"
		} else {
			c.Fix = "use the token as the password (any user name, e.g. oauth2) and clear a stale password from the credential helper"
		}
	case status == "403":
		c.Cause = "403: 403 means a missing scope or role over Git too"
		c.Fix = "read_repository (or write_repository) scope and at least the Reporter role are needed to clone; Developer to push"
		if !scoped {
			c.Fix = "add the read_repository scope (write_repository to push): create a token with it"
		}
	case status == "404":
		c.Cause = "404: 404 means no access or a wrong path"
		c.Fix = "check the repository path; ask a Maintainer for access"
	default:
		c.Cause = "git could not list the repository"
		c.Fix = "run `GIT_CURL_VERBOSE=1 git ls-remote " + repo + "` to see the exchange"
	}
	return c
}
