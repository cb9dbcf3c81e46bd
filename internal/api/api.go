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
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{
		svc: cfg.Service, log: cfg.Logger, externalURL: strings.TrimRight(cfg.ExternalURL, "/"),
		revision: cfg.Revision, obs: cfg.Observer,
	}
}

// handlerFunc is a route's handler: it returns an error to be rendered by writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// Route is one entry of the route table.
type Route struct {
	Method  string
	Pattern string // below /api/v4, with {name} wildcards
	Rule    authz.Rule
	// Summary documents the route; "Keygate extension" marks routes GitLab lacks.
	Summary string
	handler handlerFunc
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
	return []Route{
		{"GET", "/version", user, "Version of the GitLab API Keygate matches", a.version},
		{"GET", "/metadata", user, "Instance metadata", a.metadata},
		{"GET", "/user", user, "The authenticated user", a.currentUser},
		{"GET", "/users", user, "List users", a.listUsers},
		{"GET", "/users/{id}", user, "Get a user", a.getUser},
		{"POST", "/users", admin, "Create a user (admin)", a.createUser},
		{"PUT", "/users/{id}", admin, "Modify a user (admin)", a.modifyUser},
		{"POST", "/users/{id}/block", admin, "Block a user (admin)", a.userState(service.ActionBlock)},
		{"POST", "/users/{id}/unblock", admin, "Unblock a user (admin)", a.userState(service.ActionUnblock)},
		{"POST", "/users/{id}/deactivate", admin, "Deactivate a user (admin)", a.userState(service.ActionDeactivate)},
		{"POST", "/users/{id}/activate", admin, "Activate a user (admin)", a.userState(service.ActionActivate)},
		{"POST", "/users/{user_id}/personal_access_tokens", admin, "Create a personal access token for a user (admin)", a.createTokenForUser},
		{"POST", "/user/personal_access_tokens", plain, "Create a personal access token for yourself", a.createTokenForSelf},
		{"GET", "/personal_access_tokens", plain, "List personal access tokens", a.listTokens},
		{"GET", "/personal_access_tokens/self", anyScope, "The token used for this request", a.getSelfToken},
		{"GET", "/personal_access_tokens/{id}", plain, "Get a personal access token", a.getToken},
		{"POST", "/personal_access_tokens/self/rotate", authz.Rule{Grants: selfRot}, "Rotate the token used for this request", a.rotateSelfToken},
		{"POST", "/personal_access_tokens/{id}/rotate", plain, "Rotate a personal access token", a.rotateToken},
		{"DELETE", "/personal_access_tokens/self", anyScope, "Revoke the token used for this request", a.revokeSelfToken},
		{"DELETE", "/personal_access_tokens/{id}", plain, "Revoke a personal access token", a.revokeToken},
		{"GET", "/application/settings", adminRead, "Instance settings (admin)", a.getSettings},
		{"PUT", "/application/settings", admin, "Change instance settings (admin)", a.putSettings},
	}
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
