// Package api serves Keygate's GitLab-compatible REST API v4. One route table declares
// every route with its method, pattern and authorization rule; the same table registers
// the handlers, generates the API docs and drives the denial-matrix test.
package api

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// Config carries the API's dependencies.
type Config struct {
	Service *service.Service
	Logger  *slog.Logger
	// ExternalURL is the base URL users see (web_url, Link headers), without a trailing slash.
	ExternalURL string
	// Revision is the source revision reported by /version.
	Revision string
	// Observer counts authentication outcomes; nil counts nothing.
	Observer Observer
	// IntrospectLimit is each introspecting token's budget; zero means
	// service.DefaultIntrospectLimit.
	IntrospectLimit service.RateLimit
	// RegistryHost is the container registry's host[:port] as users see it; "" when the
	// registry is off (projects then show no container_registry_image_prefix).
	RegistryHost string
}

// Observer receives authentication outcomes for metrics. It never sees a token.
type Observer interface {
	AuthResult(result string)
}

// API is the REST API handler set.
type API struct {
	svc         *service.Service
	log         *slog.Logger
	externalURL string
	revision    string
	obs         Observer
	// introspectLimit: see Config.IntrospectLimit.
	introspectLimit service.RateLimit
	registry        string
	userBodies      userBodies
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{
		svc: cfg.Service, log: cfg.Logger, externalURL: strings.TrimRight(cfg.ExternalURL, "/"),
		revision: cfg.Revision, obs: cfg.Observer, introspectLimit: cfg.IntrospectLimit,
		registry: cfg.RegistryHost,
	}
}

// handlerFunc is a route's handler: it returns an error to be rendered by writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// Route is one entry of the route table.
type Route struct {
	Method  string
	Pattern string // below /api/v4, with {name} wildcards
	Rule    authz.Rule
	// Fine is the route's fine-grained rule, joined from routePermissions.
	Fine authz.FineRule
	// key is "METHOD PATTERN", built once: permission uses are recorded under it on
	// every fine-checked request.
	key string
	// Summary documents the route; "Keygate extension" marks routes GitLab lacks.
	Summary string
	handler handlerFunc
	// Kind and Action: the route acts on the project or group named by {id}; the
	// wrapper resolves it, hides it (404) from those who cannot see it and refuses (403)
	// those whose role is too low, before the handler runs.
	Kind   authz.ResourceKind
	Action authz.Action
	// deferred: the wrapper only hides the resource (read); the service enforces Action
	// itself, to keep GitLab's order of checks and its answers (a 409 before the
	// permission check on members, 401 or 400 rather than 403 on access tokens). can_i
	// and the docs still report Action.
	deferred bool
	// refusal is the status the service gives instead of 403 when the role is missing
	// (GitLab answers 401 or 400 on access-token routes); can_i reports it.
	refusal int
	// pre runs after authentication and the scope check, before the resource is looked
	// up (GitLab refuses the wrong kind of token with 405 before finding the project).
	pre func(c *call) error
	// own: the route acts on the caller's own project or group access token; can_i
	// reports what the service answers other tokens (405, or 401 for another
	// resource's bot).
	own bool
	// tokenIsData: the route's "token" parameter is the subject of the request (a token
	// to look up or revoke), never the caller's credential.
	tokenIsData bool
}

// refuses records the status a deferred route answers without the role.
func (rt Route) refuses(status int) Route {
	rt.refusal = status
	return rt
}

// selfToken marks a route on the caller's own resource token.
func (rt Route) selfToken() Route {
	rt.pre, rt.own = requireResourceBot, true
	return rt
}

// ownToken marks a route on the caller's own resource token that checks the token's
// kind after finding the resource.
func (rt Route) ownToken() Route {
	rt.own = true
	return rt
}

// later marks the route's Action as enforced by the service.
func (rt Route) later() Route {
	rt.deferred = true
	return rt
}

// route builds a table entry for a route that needs no resource resolution.
func route(method, pattern string, rule authz.Rule, summary string, h handlerFunc) Route {
	return Route{Method: method, Pattern: pattern, Rule: rule, Summary: summary, handler: h}
}

// on marks a route as acting on the {id} resource.
func (rt Route) on(kind authz.ResourceKind, a authz.Action) Route {
	rt.Kind, rt.Action = kind, a
	return rt
}

// Prefix is where the API lives.
const Prefix = "/api/v4"

// Grants used by several routes.
var (
	readUser = []authz.Grant{{Scope: "read_user", ReadOnly: true}}
	selfRot  = []authz.Grant{{Scope: "api"}, {Scope: "self_rotate"}}
)

// Routes returns the route table.
func (a *API) Routes() []Route {
	user := authz.Rule{Grants: readUser}
	admin := authz.Rule{Admin: true}
	adminRead := authz.Rule{Grants: readUser, Admin: true}
	anyScope := authz.Rule{AnyScope: true}
	plain := authz.Rule{}
	public := authz.Rule{Anonymous: true}
	proj, grp := authz.KindProject, authz.KindGroup
	routes := []Route{
		route("GET", "/version", user, "Version of the GitLab API Keygate matches", a.version),
		route("GET", "/metadata", user, "Instance metadata", a.metadata),
		route("GET", "/user", user, "The authenticated user", a.currentUser),
		route("GET", "/users", user, "List users", a.listUsers),
		route("GET", "/users/{id}", user, "Get a user", a.getUser),
		route("POST", "/users", admin, "Create a user (admin)", a.createUser),
		route("PUT", "/users/{id}", admin, "Modify a user (admin)", a.modifyUser),
		route("POST", "/users/{id}/block", admin, "Block a user (admin)", a.userState(service.ActionBlock)),
		route("POST", "/users/{id}/unblock", admin, "Unblock a user (admin)", a.userState(service.ActionUnblock)),
		route("POST", "/users/{id}/deactivate", admin, "Deactivate a user (admin)", a.userState(service.ActionDeactivate)),
		route("POST", "/users/{id}/activate", admin, "Activate a user (admin)", a.userState(service.ActionActivate)),
		route("POST", "/users/{user_id}/personal_access_tokens", admin, "Create a personal access token for a user (admin)", a.createTokenForUser),
		route("POST", "/user/personal_access_tokens", plain, "Create a personal access token for yourself", a.createTokenForSelf),
		route("GET", "/personal_access_tokens", plain, "List personal access tokens", a.listTokens),
		route("GET", "/personal_access_tokens/self", anyScope, "The token used for this request", a.getSelfToken),
		route("GET", "/personal_access_tokens/{id}", plain, "Get a personal access token", a.getToken),
		route("POST", "/personal_access_tokens/self/rotate", authz.Rule{Grants: selfRot}, "Rotate the token used for this request", a.rotateSelfToken),
		route("POST", "/personal_access_tokens/{id}/rotate", plain, "Rotate a personal access token", a.rotateToken),
		route("DELETE", "/personal_access_tokens/self", anyScope, "Revoke the token used for this request", a.revokeSelfToken),
		route("DELETE", "/personal_access_tokens/{id}", plain, "Revoke a personal access token", a.revokeToken),
		route("GET", "/application/settings", adminRead, "Instance settings (admin)", a.getSettings),
		route("PUT", "/application/settings", admin, "Change instance settings (admin)", a.putSettings),

		{Method: "GET", Pattern: "/groups", Rule: public, Summary: "List groups", handler: a.listGroups},
		{Method: "POST", Pattern: "/groups", Rule: plain, Summary: "Create a group", handler: a.createGroup},
		Route{Method: "GET", Pattern: "/groups/{id}", Rule: public, Summary: "Get a group", handler: a.getGroup}.on(grp, authz.ActRead),
		Route{Method: "PUT", Pattern: "/groups/{id}", Rule: plain, Summary: "Update a group (Owner)", handler: a.updateGroup}.on(grp, authz.ActUpdate),
		Route{Method: "DELETE", Pattern: "/groups/{id}", Rule: plain, Summary: "Delete a group (Owner)", handler: a.deleteGroup}.on(grp, authz.ActDelete),
		Route{Method: "GET", Pattern: "/groups/{id}/subgroups", Rule: public, Summary: "List a group's subgroups", handler: a.listSubgroups}.on(grp, authz.ActRead),
		Route{Method: "GET", Pattern: "/groups/{id}/projects", Rule: public, Summary: "List a group's projects", handler: a.listGroupProjects}.on(grp, authz.ActRead),

		{Method: "GET", Pattern: "/projects", Rule: public, Summary: "List projects", handler: a.listProjects},
		{Method: "POST", Pattern: "/projects", Rule: plain, Summary: "Create a project", handler: a.createProject},
		Route{Method: "GET", Pattern: "/projects/{id}", Rule: public, Summary: "Get a project", handler: a.getProject}.on(proj, authz.ActRead),
		Route{Method: "PUT", Pattern: "/projects/{id}", Rule: plain, Summary: "Update a project (Maintainer; visibility: Owner)", handler: a.updateProject}.on(proj, authz.ActUpdate),
		Route{Method: "DELETE", Pattern: "/projects/{id}", Rule: plain, Summary: "Delete a project (Owner)", handler: a.deleteProject}.on(proj, authz.ActDelete),
		{Method: "GET", Pattern: "/users/{user_id}/projects", Rule: public, Summary: "List a user's personal projects", handler: a.listUserProjects},

		route("GET", "/users/{user_id}/impersonation_tokens", adminRead, "List a user's impersonation tokens (admin)", a.listImpersonationTokens),
		route("POST", "/users/{user_id}/impersonation_tokens", admin, "Create an impersonation token (admin)", a.createImpersonationToken),
		route("GET", "/users/{user_id}/impersonation_tokens/{impersonation_token_id}", adminRead, "Get an impersonation token (admin)", a.getImpersonationToken),
		route("DELETE", "/users/{user_id}/impersonation_tokens/{impersonation_token_id}", admin, "Revoke an impersonation token (admin)", a.revokeImpersonationToken),

		route("GET", "/service_accounts", admin, "List service accounts (admin)", a.listServiceAccounts),
		route("POST", "/service_accounts", admin, "Create an instance service account (admin)", a.createServiceAccount),
		route("PATCH", "/service_accounts/{user_id}", admin, "Update a service account (admin)", a.updateServiceAccount),
		Route{Method: "GET", Pattern: "/groups/{id}/service_accounts", Rule: plain, Summary: "List a group's service accounts (Owner)", handler: a.listServiceAccounts}.on(grp, authz.ActAdminServiceAc),
		Route{Method: "POST", Pattern: "/groups/{id}/service_accounts", Rule: plain, Summary: "Create a group service account (Owner)", handler: a.createServiceAccount}.on(grp, authz.ActAdminServiceAc),
		Route{Method: "PATCH", Pattern: "/groups/{id}/service_accounts/{user_id}", Rule: plain, Summary: "Update a group service account (Owner)", handler: a.updateServiceAccount}.on(grp, authz.ActAdminServiceAc),
		Route{Method: "DELETE", Pattern: "/groups/{id}/service_accounts/{user_id}", Rule: plain, Summary: "Delete a group service account (Owner)", handler: a.deleteServiceAccount}.on(grp, authz.ActAdminServiceAc),
		Route{Method: "GET", Pattern: "/groups/{id}/service_accounts/{user_id}/personal_access_tokens", Rule: plain, Summary: "List a group service account's tokens (Owner)", handler: a.listServiceAccountTokens}.on(grp, authz.ActAdminServiceAc),
		Route{Method: "POST", Pattern: "/groups/{id}/service_accounts/{user_id}/personal_access_tokens", Rule: plain, Summary: "Create a token for a group service account (Owner)", handler: a.createServiceAccountToken}.on(grp, authz.ActAdminServiceAc),
		Route{Method: "DELETE", Pattern: "/groups/{id}/service_accounts/{user_id}/personal_access_tokens/{token_id}", Rule: plain, Summary: "Revoke a group service account's token (Owner)", handler: a.revokeServiceAccountToken}.on(grp, authz.ActAdminServiceAc),
		Route{Method: "POST", Pattern: "/groups/{id}/service_accounts/{user_id}/personal_access_tokens/{token_id}/rotate", Rule: plain, Summary: "Rotate a group service account's token (Owner)", handler: a.rotateServiceAccountToken}.on(grp, authz.ActAdminServiceAc),

		route("GET", "/job", authz.Rule{JobToken: true}, "The job of the presented CI/CD job token", a.currentJob),
		Route{Method: "POST", Pattern: "/projects/{id}/keygate/jobs", Rule: plain, Summary: "Keygate extension: start a CI job and get its job token (Developer)", handler: a.startJob}.on(proj, authz.ActRunJob),
		Route{Method: "POST", Pattern: "/projects/{id}/keygate/jobs/{job_id}/finish", Rule: plain, Summary: "Keygate extension: finish a job; its token stops working", handler: a.finishJob}.on(proj, authz.ActRead),
		Route{Method: "GET", Pattern: "/projects/{id}/job_token_scope", Rule: plain, Summary: "Job token access settings (Maintainer)", handler: a.getJobTokenScope}.on(proj, authz.ActAdminJobScope),
		Route{Method: "PATCH", Pattern: "/projects/{id}/job_token_scope", Rule: plain, Summary: "Change job token access settings (Maintainer)", handler: a.patchJobTokenScope}.on(proj, authz.ActAdminJobScope),
		Route{Method: "GET", Pattern: "/projects/{id}/job_token_scope/allowlist", Rule: plain, Summary: "Projects allowed to reach this one with job tokens", handler: a.listJobAllowlist}.on(proj, authz.ActAdminJobScope),
		Route{Method: "POST", Pattern: "/projects/{id}/job_token_scope/allowlist", Rule: plain, Summary: "Allow a project's job tokens in", handler: a.addJobAllowlist}.on(proj, authz.ActAdminJobScope),
		Route{Method: "DELETE", Pattern: "/projects/{id}/job_token_scope/allowlist/{target_project_id}", Rule: plain, Summary: "Remove a project from the allowlist", handler: a.removeJobAllowlist}.on(proj, authz.ActAdminJobScope),
		Route{Method: "GET", Pattern: "/projects/{id}/job_token_scope/groups_allowlist", Rule: plain, Summary: "Groups allowed to reach this project with job tokens", handler: a.listJobGroupAllowlist}.on(proj, authz.ActAdminJobScope),
		Route{Method: "POST", Pattern: "/projects/{id}/job_token_scope/groups_allowlist", Rule: plain, Summary: "Allow a group's job tokens in", handler: a.addJobGroupAllowlist}.on(proj, authz.ActAdminJobScope),
		Route{Method: "DELETE", Pattern: "/projects/{id}/job_token_scope/groups_allowlist/{target_group_id}", Rule: plain, Summary: "Remove a group from the allowlist", handler: a.removeJobGroupAllowlist}.on(proj, authz.ActAdminJobScope),
		Route{Method: "GET", Pattern: "/projects/{id}/keygate/job_token_auth_log", Rule: plain, Summary: "Keygate extension: which other projects' job tokens reached this one", handler: a.jobTokenAuthLog}.on(proj, authz.ActAdminJobScope),
		Route{Method: "GET", Pattern: "/projects/{id}/keygate/job_token_scope/proposal", Rule: plain, Summary: "Keygate extension: the least allowlist that keeps the logged uses working", handler: a.jobAllowlistProposal}.on(proj, authz.ActAdminJobScope),

		route("GET", "/keygate/revocations/stream", introspectRule, "Keygate extension: Server-Sent Events whenever access may have been taken away (introspect scope)", a.revocationStream),
		route("GET", "/keygate/can_i", anyScope, "Keygate extension: would the calling token be allowed this request? (?method=&path=)", a.canI),
	}
	for _, k := range []struct {
		kind authz.ResourceKind
		base string
	}{{proj, "/projects/{id}"}, {grp, "/groups/{id}"}} {
		routes = append(routes,
			Route{Method: "GET", Pattern: k.base + "/members", Rule: plain, Summary: "List direct members", handler: a.listMembers(false)}.on(k.kind, authz.ActReadMembers),
			Route{Method: "GET", Pattern: k.base + "/members/all", Rule: plain, Summary: "List members, inherited ones included", handler: a.listMembers(true)}.on(k.kind, authz.ActReadMembers),
			Route{Method: "GET", Pattern: k.base + "/members/{user_id}", Rule: plain, Summary: "Get a direct member", handler: a.getMember(false)}.on(k.kind, authz.ActReadMembers),
			Route{Method: "GET", Pattern: k.base + "/members/all/{user_id}", Rule: plain, Summary: "Get a member, inherited included", handler: a.getMember(true)}.on(k.kind, authz.ActReadMembers),
			// Adding, changing and removing decide in the service, in GitLab's order
			// (an existing member is a 409 before any permission check).
			Route{Method: "POST", Pattern: k.base + "/members", Rule: plain, Summary: "Add a member", handler: a.addMember}.on(k.kind, authz.ActManageMembers).later(),
			Route{Method: "PUT", Pattern: k.base + "/members/{user_id}", Rule: plain, Summary: "Change a member", handler: a.updateMember}.on(k.kind, authz.ActManageMembers).later(),
			Route{Method: "DELETE", Pattern: k.base + "/members/{user_id}", Rule: plain, Summary: "Remove a member", handler: a.removeMember}.on(k.kind, authz.ActManageMembers).later(),

			// Resource access tokens: the service judges the role (GitLab answers 401, not
			// 403, to a reader without it; creation failures are 400 with its message).
			Route{Method: "GET", Pattern: k.base + "/access_tokens", Rule: plain, Summary: "List access tokens", handler: a.listResourceTokens}.on(k.kind, authz.ActReadTokens).later().refuses(401),
			Route{Method: "POST", Pattern: k.base + "/access_tokens", Rule: plain, Summary: "Create an access token (and its bot user)", handler: a.createResourceToken}.on(k.kind, authz.ActManageTokens).later().refuses(400),
			Route{Method: "GET", Pattern: k.base + "/access_tokens/{token_id}", Rule: plain, Summary: "Get an access token", handler: a.getResourceToken}.on(k.kind, authz.ActReadTokens).later().refuses(401),
			Route{Method: "POST", Pattern: k.base + "/access_tokens/{token_id}/rotate", Rule: plain, Summary: "Rotate an access token", handler: a.rotateResourceToken}.on(k.kind, authz.ActManageTokens).later().refuses(401),
			Route{Method: "POST", Pattern: k.base + "/access_tokens/self/rotate", Rule: authz.Rule{Grants: selfRot}, Summary: "Rotate the access token used for this request", handler: a.rotateResourceTokenSelf}.on(k.kind, authz.ActRead).selfToken(),
			Route{Method: "DELETE", Pattern: k.base + "/access_tokens/{token_id}", Rule: plain, Summary: "Revoke an access token", handler: a.revokeResourceToken}.on(k.kind, authz.ActManageTokens).later().refuses(400),
			Route{Method: "DELETE", Pattern: k.base + "/access_tokens/self", Rule: anyScope, Summary: "Revoke the access token used for this request (Keygate extension)", handler: a.revokeResourceTokenSelf}.on(k.kind, authz.ActRead).ownToken(),
		)
	}
	routes = append(routes, a.repositoryRoutes()...)
	routes = append(routes, a.lifecycleRoutes()...)
	routes = append(routes, a.granularRoutes()...)
	return withPermissions(routes)
}

// Handler returns the API mounted at Prefix, unknown routes answering GitLab's 404.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.Routes() {
		mux.Handle(rt.Method+" "+Prefix+rt.Pattern, a.wrap(rt))
	}
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, unknownRoute())
	})
	return mux
}
