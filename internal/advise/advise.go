// Package advise walks the decision tree for choosing a GitLab token type: personal,
// project, group, service account, CI/CD job token, or deploy-style read access. Given
// who uses the token, what it reaches and what it needs, it recommends the type, the
// least scopes, the role, a lifetime and the exact command to create it, with a reason
// for each choice. It does no I/O.
package advise

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Needs a token can have, as `--needs` spells them.
const (
	NeedAPIRead      = "api-read"
	NeedAPIWrite     = "api-write"
	NeedGitRead      = "git-read"
	NeedGitPush      = "git-push"
	NeedRegistryRead = "registry-read"
	NeedRegistryPush = "registry-push"
	NeedUserRead     = "user-read"
	NeedSelfRotate   = "self-rotate"
)

// AllNeeds lists every need in display order.
var AllNeeds = []string{NeedAPIRead, NeedAPIWrite, NeedGitRead, NeedGitPush, NeedRegistryRead, NeedRegistryPush, NeedUserRead, NeedSelfRotate}

// needAliases accept the short forms users type.
var needAliases = map[string]string{
	"registry": NeedRegistryRead, "git": NeedGitRead, "api": NeedAPIWrite, "read-api": NeedAPIRead,
	"push": NeedGitPush, "clone": NeedGitRead, "pull": NeedGitRead, "read-user": NeedUserRead,
}

// Access is how far the token must reach.
const (
	AccessProject  = "project"
	AccessGroup    = "group"
	AccessInstance = "instance"
)

// Types recommended (the gate file's names, plus deploy_token).
const (
	TypePersonal       = "personal"
	TypeProject        = "project"
	TypeGroup          = "group"
	TypeServiceAccount = "service_account"
	TypeJob            = "job"
	TypeDeploy         = "deploy_token"
)

// Question is one input of the tree.
type Question struct {
	// Automation: a program, not a person at a keyboard, uses the token.
	Automation bool
	// InCI: the program runs as a CI/CD job of the same instance.
	InCI bool
	// Access: project, group or instance ("" means project).
	Access string
	// Needs: what the token must do (at least one).
	Needs []string
	// URL, Project, Group and Name fill the commands ("" gives placeholders).
	URL, Project, Group, Name string
	// Today is the date lifetimes count from.
	Today time.Time
}

// Advice is a leaf of the tree.
type Advice struct {
	Leaf         string   `json:"leaf"`
	Type         string   `json:"type"`
	Scopes       []string `json:"scopes"`
	Role         string   `json:"role,omitempty"`
	AccessLevel  int      `json:"access_level,omitempty"`
	LifetimeDays int      `json:"lifetime_days"`
	ExpiresAt    string   `json:"expires_at,omitempty"`
	Commands     []string `json:"commands"`
	Reasons      Reasons  `json:"reasons"`
	AlsoNeeded   []string `json:"also_needed,omitempty"`
}

// Reasons explain each choice.
type Reasons struct {
	Type     string `json:"type"`
	Scopes   string `json:"scopes"`
	Role     string `json:"role,omitempty"`
	Lifetime string `json:"lifetime"`
}

// ParseNeeds splits a --needs list, accepting aliases; unknown names are an error.
func ParseNeeds(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if a, ok := needAliases[f]; ok {
			f = a
		}
		if !slices.Contains(AllNeeds, f) {
			return nil, fmt.Errorf("unknown need %q (want one of %s)", f, strings.Join(AllNeeds, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--needs is empty (want some of %s)", strings.Join(AllNeeds, ", "))
	}
	return out, nil
}

// scopeOf maps each need to its least scope.
var scopeOf = map[string][]string{
	NeedAPIRead:      {"read_api"},
	NeedAPIWrite:     {"api"},
	NeedGitRead:      {"read_repository"},
	NeedGitPush:      {"write_repository"},
	NeedRegistryRead: {"read_registry"},
	NeedRegistryPush: {"read_registry", "write_registry"},
	NeedUserRead:     {"read_user"},
	NeedSelfRotate:   {"self_rotate"},
}

// scopesFor returns the least scopes for needs: api covers read_api; write_repository
// covers read_repository (a push also fetches).
func scopesFor(needs []string) []string {
	var s []string
	for _, n := range needs {
		for _, sc := range scopeOf[n] {
			if !slices.Contains(s, sc) {
				s = append(s, sc)
			}
		}
	}
	if slices.Contains(s, "api") {
		s = slices.DeleteFunc(s, func(x string) bool { return x == "read_api" })
	}
	if slices.Contains(s, "write_repository") {
		s = slices.DeleteFunc(s, func(x string) bool { return x == "read_repository" })
	}
	order := []string{"api", "read_api", "read_user", "read_repository", "write_repository", "read_registry", "write_registry", "self_rotate"}
	slices.SortFunc(s, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	return s
}

// roleFor is the least role that does what needs asks on a project or group.
func roleFor(needs []string) (string, int, string) {
	switch {
	case slices.Contains(needs, NeedGitPush) || slices.Contains(needs, NeedRegistryPush):
		return "Developer", 30, "pushing code or images needs Developer (a protected default branch needs Maintainer)"
	case slices.Contains(needs, NeedAPIWrite):
		return "Developer", 30, "most write calls (issues, merge requests, branches, pipelines) need Developer; project settings and tokens need Maintainer"
	default:
		return "Reporter", 20, "reading code and registry images of a private project needs Reporter; Guest cannot"
	}
}

func readOnlyRepo(needs []string) bool {
	for _, n := range needs {
		if n != NeedGitRead && n != NeedRegistryRead {
			return false
		}
	}
	return true
}

// jobCan are the needs a CI/CD job token serves (its own project and allowlisted ones).
func jobCan(needs []string) bool {
	for _, n := range needs {
		switch n {
		case NeedGitRead, NeedRegistryRead, NeedRegistryPush, NeedAPIRead:
		default:
			return false
		}
	}
	return true
}

// Decide walks the tree. It refuses an unknown access or need.
func Decide(q Question) (Advice, error) {
	if q.Access == "" {
		q.Access = AccessProject
	}
	if q.Access != AccessProject && q.Access != AccessGroup && q.Access != AccessInstance {
		return Advice{}, fmt.Errorf("--scope-of-access %q: want project, group or instance", q.Access)
	}
	if len(q.Needs) == 0 {
		return Advice{}, fmt.Errorf("--needs is required (some of %s)", strings.Join(AllNeeds, ", "))
	}
	for _, n := range q.Needs {
		if !slices.Contains(AllNeeds, n) {
			return Advice{}, fmt.Errorf("unknown need %q", n)
		}
	}
	if q.Today.IsZero() {
		q.Today = time.Now()
	}
	f := fill(q)
	scopes := scopesFor(q.Needs)
	scopeReason := "the least scopes for " + strings.Join(q.Needs, ", ") + ": " + scopeExplain(scopes)
	var a Advice
	switch {
	case !q.Automation:
		a = Advice{Leaf: "person", Type: TypePersonal, Scopes: scopes, LifetimeDays: 30,
			Reasons: Reasons{
				Type:     "a person uses it: a personal access token acts as you, with your role wherever you are a member",
				Scopes:   scopeReason,
				Role:     "your own role: a personal token never has more access than you",
				Lifetime: "30 days: a person can renew it, and a short life bounds a leak",
			}}
		a.Role = "your own"
		a.Commands = []string{
			"Create it in User settings > Access tokens (" + f.url + "/-/user_settings/personal_access_tokens); the API creates personal tokens with other scopes only for administrators:",
			f.curl("POST", "/users/USER_ID/personal_access_tokens", map[string]any{"name": f.name, "scopes": scopes, "expires_at": f.exp(30)}),
			"keygate admin token create --user USERNAME --name " + f.name + " --scopes " + strings.Join(scopes, ",") + " --expires-at " + f.exp(30),
		}
	case q.InCI && jobCan(q.Needs):
		a = Advice{Leaf: "job", Type: TypeJob, Scopes: []string{}, LifetimeDays: 0,
			Reasons: Reasons{
				Type:     "it runs as a CI/CD job of this instance: the job token ($CI_JOB_TOKEN) exists already, dies with the job and leaves nothing to store or rotate",
				Scopes:   "job tokens have no scopes: they reach the job's project and the projects whose allowlist admits it, with the job user's role",
				Role:     "the role of the user who runs the pipeline",
				Lifetime: "the job's duration: it stops working when the job finishes",
			}}
		a.Role = "the pipeline user's"
		a.Commands = []string{
			`curl --header "JOB-TOKEN: $CI_JOB_TOKEN" "$CI_API_V4_URL/job"`,
			`git clone "https://gitlab-ci-token:${CI_JOB_TOKEN}@` + f.host + `/` + f.project + `.git"`,
			"to reach another project, allow this one in the target's allowlist (Maintainer of the target):",
			f.curl("POST", "/projects/TARGET_PROJECT/job_token_scope/allowlist", map[string]any{"target_project_id": "THIS_PROJECT_ID"}),
		}
	case q.Access == AccessProject && readOnlyRepo(q.Needs):
		a = Advice{Leaf: "deploy", Type: TypeDeploy, Scopes: scopes, LifetimeDays: 365,
			Reasons: Reasons{
				Type:     "read-only Git or registry access to one project (a deploy or mirror): a deploy token has no user, no API access and no role to misuse",
				Scopes:   scopeReason,
				Lifetime: "365 days, GitLab's longest; rotate it with the deploy it serves",
			}}
		a.Commands = []string{
			f.curl("POST", "/projects/"+f.projectRef+"/deploy_tokens", map[string]any{"name": f.name, "scopes": scopes, "expires_at": f.exp(365)}),
			"Keygate has no deploy tokens; there, the equivalent is a project access token with the Reporter role:",
			f.curl("POST", "/projects/"+f.projectRef+"/access_tokens", map[string]any{"name": f.name, "scopes": scopes, "access_level": 20, "expires_at": f.exp(365)}),
		}
	case q.Access == AccessProject:
		role, lvl, why := roleFor(q.Needs)
		a = Advice{Leaf: "project", Type: TypeProject, Scopes: scopes, Role: role, AccessLevel: lvl, LifetimeDays: 90,
			Reasons: Reasons{
				Type:     "automation on one project: a project access token's bot user is a member of that project only, so a leak cannot reach further, and it outlives any person leaving",
				Scopes:   scopeReason,
				Role:     why,
				Lifetime: "90 days with rotation (`keygate connections rotate`, or POST /projects/:id/access_tokens/self/rotate with api or self_rotate)",
			}}
		a.Commands = []string{
			f.curl("POST", "/projects/"+f.projectRef+"/access_tokens", map[string]any{"name": f.name, "scopes": scopes, "access_level": lvl, "expires_at": f.exp(90)}),
		}
	case q.Access == AccessGroup:
		role, lvl, why := roleFor(q.Needs)
		a = Advice{Leaf: "group", Type: TypeGroup, Scopes: scopes, Role: role, AccessLevel: lvl, LifetimeDays: 90,
			Reasons: Reasons{
				Type:     "automation across one group's projects: a group access token's bot is a member of the group and inherits into its subgroups and projects, nothing else",
				Scopes:   scopeReason,
				Role:     why,
				Lifetime: "90 days with rotation (POST /groups/:id/access_tokens/self/rotate)",
			}}
		a.Commands = []string{
			f.curl("POST", "/groups/"+f.groupRef+"/access_tokens", map[string]any{"name": f.name, "scopes": scopes, "access_level": lvl, "expires_at": f.exp(90)}),
		}
	default:
		role, lvl, why := roleFor(q.Needs)
		a = Advice{Leaf: "service_account", Type: TypeServiceAccount, Scopes: scopes, Role: role, AccessLevel: lvl, LifetimeDays: 90,
			Reasons: Reasons{
				Type:     "automation across the instance: a service account is a non-human user no person signs in as, added only where it must work, and it survives staff changes",
				Scopes:   scopeReason,
				Role:     why + "; add the account as a member with it in each group or project it must reach",
				Lifetime: "90 days with rotation; service accounts may have non-expiring tokens, but a bounded life limits a leak",
			}}
		a.Commands = []string{
			f.curl("POST", "/service_accounts", map[string]any{"name": f.name}),
			f.curl("POST", "/users/SERVICE_ACCOUNT_ID/personal_access_tokens", map[string]any{"name": f.name, "scopes": scopes, "expires_at": f.exp(90)}),
			f.curl("POST", "/groups/GROUP/members", map[string]any{"user_id": "SERVICE_ACCOUNT_ID", "access_level": lvl}),
		}
		a.AlsoNeeded = []string{"an administrator creates instance service accounts"}
	}
	if q.InCI && a.Leaf != "job" {
		a.Reasons.Type += " (a CI/CD job token cannot " + strings.Join(jobCannot(q.Needs), " or ") + ")"
	}
	if a.LifetimeDays > 0 {
		a.ExpiresAt = f.exp(a.LifetimeDays)
	}
	return a, nil
}

func jobCannot(needs []string) []string {
	var out []string
	for _, n := range needs {
		if !jobCan([]string{n}) {
			out = append(out, n)
		}
	}
	return out
}

func scopeExplain(scopes []string) string {
	why := map[string]string{
		"api": "api (read and write API)", "read_api": "read_api (read-only API)", "read_user": "read_user (your profile)",
		"read_repository": "read_repository (clone and fetch)", "write_repository": "write_repository (push, and fetch)",
		"read_registry": "read_registry (pull images)", "write_registry": "write_registry (push images)",
		"self_rotate": "self_rotate (rotate itself, nothing else)",
	}
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = why[s]
	}
	return strings.Join(out, ", ")
}

// filler renders commands with the question's names or placeholders.
type filler struct {
	url, host, project, projectRef, groupRef, name string
	today                                          time.Time
}

func fill(q Question) filler {
	f := filler{url: strings.TrimRight(q.URL, "/"), project: q.Project, name: q.Name, today: q.Today}
	if f.url == "" {
		f.url = "https://gitlab.example.com"
	}
	f.host = strings.TrimPrefix(strings.TrimPrefix(f.url, "https://"), "http://")
	if f.project == "" {
		f.project = "GROUP/PROJECT"
	}
	f.projectRef = strings.ReplaceAll(f.project, "/", "%2F")
	f.groupRef = strings.ReplaceAll(q.Group, "/", "%2F")
	if f.groupRef == "" {
		f.groupRef = "GROUP"
	}
	if f.name == "" {
		f.name = "automation"
	}
	return f
}

func (f filler) exp(days int) string { return f.today.UTC().AddDate(0, 0, days).Format("2006-01-02") }

// curl renders a JSON POST with the creator's token taken from the environment.
func (f filler) curl(method, path string, body map[string]any) string {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q:%s", k, jsonValue(body[k]))
	}
	return fmt.Sprintf(`curl --request %s --header "PRIVATE-TOKEN: $GITLAB_TOKEN" --header "Content-Type: application/json" --data '{%s}' "%s/api/v4%s"`,
		method, strings.Join(parts, ","), f.url, path)
}

func jsonValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case int:
		return fmt.Sprint(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}
