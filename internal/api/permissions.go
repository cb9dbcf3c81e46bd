package api

import (
	"github.com/keygate/keygate/internal/authz"
)

// routePermissions declares every route's fine-grained rule, keyed by the route's
// "METHOD PATTERN" exactly as in the route table (spec §3.1). It lives apart from the
// table so that adding a route is one line here; withPermissions joins the two when the
// table is built, and TestRoutePermissions fails on a route without an entry, an entry
// without a route, an unknown permission, or a permission that opens nothing.
//
// An entry is one of:
//
//	"GET /projects/{id}/members":   onProject("read_member"),       // boundary: the project {id}
//	"PUT /groups/{id}":             onGroup("update_group"),        // boundary: the group {id}
//	"GET /user":                    onUser("read_user"),            // the token's own user
//	"PUT /application/settings":    onInstance("update_application_setting"),
//	"GET /version":                 open("why no permission is needed"),
//	"GET /job":                     unsupported("why fine-grained tokens are refused"),
var routePermissions = map[string]authz.FineRule{
	"GET /version":                open("reveals only the GitLab API level Keygate matches"),
	"GET /metadata":               open("reveals only instance metadata"),
	"GET /user":                   onUser("read_user"),
	"GET /users":                  onInstance("read_user"),
	"GET /users/{id}":             onInstance("read_user"),
	"POST /users":                 onInstance("create_user"),
	"PUT /users/{id}":             onInstance("update_user"),
	"POST /users/{id}/block":      onInstance("block_user"),
	"POST /users/{id}/unblock":    onInstance("block_user"),
	"POST /users/{id}/deactivate": onInstance("update_user"),
	"POST /users/{id}/activate":   onInstance("update_user"),
	"POST /users/{user_id}/personal_access_tokens": onInstance("create_personal_access_token"),
	"POST /user/personal_access_tokens":            onUser("create_personal_access_token"),
	"GET /personal_access_tokens":                  onUser("read_personal_access_token"),
	"GET /personal_access_tokens/self":             onUser("read_personal_access_token"),
	"GET /personal_access_tokens/{id}":             onUser("read_personal_access_token"),
	"POST /personal_access_tokens/self/rotate":     onUser("rotate_personal_access_token"),
	"POST /personal_access_tokens/{id}/rotate":     onUser("rotate_personal_access_token"),
	"DELETE /personal_access_tokens/self":          onUser("revoke_personal_access_token"),
	"DELETE /personal_access_tokens/{id}":          onUser("revoke_personal_access_token"),
	"GET /application/settings":                    onInstance("read_application_setting"),
	"PUT /application/settings":                    onInstance("update_application_setting"),

	"GET /groups":                   onUser("read_group"),
	"POST /groups":                  onUser("create_group"),
	"GET /groups/{id}":              onGroup("read_group"),
	"PUT /groups/{id}":              onGroup("update_group"),
	"DELETE /groups/{id}":           onGroup("delete_group"),
	"GET /groups/{id}/subgroups":    onGroup("read_group"),
	"GET /groups/{id}/projects":     onGroup("read_project"),
	"GET /projects":                 onUser("read_project"),
	"POST /projects":                onUser("create_project"),
	"GET /projects/{id}":            onProject("read_project"),
	"PUT /projects/{id}":            onProject("update_project"),
	"DELETE /projects/{id}":         onProject("delete_project"),
	"GET /users/{user_id}/projects": onUser("read_project"),

	"GET /users/{user_id}/impersonation_tokens":                             onInstance("read_impersonation_token"),
	"POST /users/{user_id}/impersonation_tokens":                            onInstance("create_impersonation_token"),
	"GET /users/{user_id}/impersonation_tokens/{impersonation_token_id}":    onInstance("read_impersonation_token"),
	"DELETE /users/{user_id}/impersonation_tokens/{impersonation_token_id}": onInstance("revoke_impersonation_token"),

	"GET /service_accounts":                                                                 onInstance("read_service_account"),
	"POST /service_accounts":                                                                onInstance("create_service_account"),
	"PATCH /service_accounts/{user_id}":                                                     onInstance("update_service_account"),
	"GET /groups/{id}/service_accounts":                                                     onGroup("read_service_account"),
	"POST /groups/{id}/service_accounts":                                                    onGroup("create_service_account"),
	"PATCH /groups/{id}/service_accounts/{user_id}":                                         onGroup("update_service_account"),
	"DELETE /groups/{id}/service_accounts/{user_id}":                                        onGroup("delete_service_account"),
	"GET /groups/{id}/service_accounts/{user_id}/personal_access_tokens":                    onGroup("read_service_account"),
	"POST /groups/{id}/service_accounts/{user_id}/personal_access_tokens":                   onGroup("update_service_account"),
	"DELETE /groups/{id}/service_accounts/{user_id}/personal_access_tokens/{token_id}":      onGroup("update_service_account"),
	"POST /groups/{id}/service_accounts/{user_id}/personal_access_tokens/{token_id}/rotate": onGroup("update_service_account"),

	"GET /job":                         unsupported("the route answers CI/CD job tokens only"),
	"POST /projects/{id}/keygate/jobs": onProject("create_job"),
	"POST /projects/{id}/keygate/jobs/{job_id}/finish":                         onProject("update_job"),
	"GET /projects/{id}/job_token_scope":                                       onProject("read_job_token_scope"),
	"PATCH /projects/{id}/job_token_scope":                                     onProject("update_job_token_scope"),
	"GET /projects/{id}/job_token_scope/allowlist":                             onProject("read_job_token_scope"),
	"POST /projects/{id}/job_token_scope/allowlist":                            onProject("update_job_token_scope"),
	"DELETE /projects/{id}/job_token_scope/allowlist/{target_project_id}":      onProject("update_job_token_scope"),
	"GET /projects/{id}/job_token_scope/groups_allowlist":                      onProject("read_job_token_scope"),
	"POST /projects/{id}/job_token_scope/groups_allowlist":                     onProject("update_job_token_scope"),
	"DELETE /projects/{id}/job_token_scope/groups_allowlist/{target_group_id}": onProject("update_job_token_scope"),
	"GET /projects/{id}/keygate/job_token_auth_log":                            onProject("read_job_token_scope"),
	"GET /projects/{id}/keygate/job_token_scope/proposal":                      onProject("read_job_token_scope"),

	"GET /keygate/can_i": open("answers only about the calling token itself"),

	"GET /projects/{id}/members":                          onProject("read_member"),
	"GET /projects/{id}/members/all":                      onProject("read_member"),
	"GET /projects/{id}/members/{user_id}":                onProject("read_member"),
	"GET /projects/{id}/members/all/{user_id}":            onProject("read_member"),
	"POST /projects/{id}/members":                         onProject("create_member"),
	"PUT /projects/{id}/members/{user_id}":                onProject("update_member"),
	"DELETE /projects/{id}/members/{user_id}":             onProject("delete_member"),
	"GET /projects/{id}/access_tokens":                    onProject("read_resource_access_token"),
	"POST /projects/{id}/access_tokens":                   onProject("create_resource_access_token"),
	"GET /projects/{id}/access_tokens/{token_id}":         onProject("read_resource_access_token"),
	"POST /projects/{id}/access_tokens/{token_id}/rotate": onProject("rotate_resource_access_token"),
	"POST /projects/{id}/access_tokens/self/rotate":       onProject("rotate_resource_access_token"),
	"DELETE /projects/{id}/access_tokens/{token_id}":      onProject("delete_resource_access_token"),
	"DELETE /projects/{id}/access_tokens/self":            onProject("delete_resource_access_token"),
	"GET /groups/{id}/members":                            onGroup("read_member"),
	"GET /groups/{id}/members/all":                        onGroup("read_member"),
	"GET /groups/{id}/members/{user_id}":                  onGroup("read_member"),
	"GET /groups/{id}/members/all/{user_id}":              onGroup("read_member"),
	"POST /groups/{id}/members":                           onGroup("create_member"),
	"PUT /groups/{id}/members/{user_id}":                  onGroup("update_member"),
	"DELETE /groups/{id}/members/{user_id}":               onGroup("delete_member"),
	"GET /groups/{id}/access_tokens":                      onGroup("read_resource_access_token"),
	"POST /groups/{id}/access_tokens":                     onGroup("create_resource_access_token"),
	"GET /groups/{id}/access_tokens/{token_id}":           onGroup("read_resource_access_token"),
	"POST /groups/{id}/access_tokens/{token_id}/rotate":   onGroup("rotate_resource_access_token"),
	"POST /groups/{id}/access_tokens/self/rotate":         onGroup("rotate_resource_access_token"),
	"DELETE /groups/{id}/access_tokens/{token_id}":        onGroup("delete_resource_access_token"),
	"DELETE /groups/{id}/access_tokens/self":              onGroup("delete_resource_access_token"),

	"GET /projects/{id}/repository/branches":              onProject("read_code"),
	"GET /projects/{id}/repository/tree":                  onProject("read_code"),
	"GET /projects/{id}/repository/files/{file_path}":     onProject("read_code"),
	"GET /projects/{id}/repository/files/{file_path}/raw": onProject("read_code"),

	"GET /keygate/permissions":          open("the public catalogue of permissions"),
	"POST /keygate/permissions/suggest": open("computes a grant from the request body; reads no data"),

	// Token lifecycle: audit events, webhooks, notices, leaked tokens, lookup by value.
	"GET /audit_events":                                     onInstance("read_audit_event"),
	"GET /audit_events/{audit_event_id}":                    onInstance("read_audit_event"),
	"GET /groups/{id}/audit_events":                         onGroup("read_audit_event"),
	"GET /groups/{id}/audit_events/{audit_event_id}":        onGroup("read_audit_event"),
	"GET /projects/{id}/audit_events":                       onProject("read_audit_event"),
	"GET /projects/{id}/audit_events/{audit_event_id}":      onProject("read_audit_event"),
	"POST /admin/token":                                     onInstance("read_personal_access_token"),
	"DELETE /admin/token":                                   onInstance("revoke_personal_access_token"),
	"POST /keygate/revocations":                             open("anyone who found leaked tokens may report them; no token is needed"),
	"GET /keygate/notifications":                            onUser("read_personal_access_token"),
	"GET /projects/{id}/hooks":                              onProject("read_webhook"),
	"POST /projects/{id}/hooks":                             onProject("create_webhook"),
	"GET /projects/{id}/hooks/{hook_id}":                    onProject("read_webhook"),
	"PUT /projects/{id}/hooks/{hook_id}":                    onProject("update_webhook"),
	"DELETE /projects/{id}/hooks/{hook_id}":                 onProject("delete_webhook"),
	"GET /projects/{id}/hooks/{hook_id}/keygate/deliveries": onProject("read_webhook"),
	"GET /projects/{id}/keygate/lifecycle_settings":         onProject("read_webhook"),
	"PUT /projects/{id}/keygate/lifecycle_settings":         onProject("update_webhook"),
	"GET /groups/{id}/hooks":                                onGroup("read_webhook"),
	"POST /groups/{id}/hooks":                               onGroup("create_webhook"),
	"GET /groups/{id}/hooks/{hook_id}":                      onGroup("read_webhook"),
	"PUT /groups/{id}/hooks/{hook_id}":                      onGroup("update_webhook"),
	"DELETE /groups/{id}/hooks/{hook_id}":                   onGroup("delete_webhook"),
	"GET /groups/{id}/hooks/{hook_id}/keygate/deliveries":   onGroup("read_webhook"),
	"GET /groups/{id}/keygate/lifecycle_settings":           onGroup("read_webhook"),
	"PUT /groups/{id}/keygate/lifecycle_settings":           onGroup("update_webhook"),

	// Keygate in front of your own services.
	"GET /keygate/revocations/stream":                unsupported("the stream needs the introspect scope, which a fine-grained token does not hold"),
	"GET /personal_access_tokens/{id}/keygate/usage": onUser("read_personal_access_token"),
}

// onProject: the permissions on the project named by {id}.
func onProject(perms ...string) authz.FineRule {
	return authz.FineRule{Permissions: perms, Boundary: authz.BoundaryProject, Param: "id"}
}

// onGroup: the permissions on the group named by {id}.
func onGroup(perms ...string) authz.FineRule {
	return authz.FineRule{Permissions: perms, Boundary: authz.BoundaryGroup, Param: "id"}
}

// onUser: the permissions on the token's own user.
func onUser(perms ...string) authz.FineRule {
	return authz.FineRule{Permissions: perms, Boundary: authz.BoundaryUser}
}

// onInstance: the permissions on the instance.
func onInstance(perms ...string) authz.FineRule {
	return authz.FineRule{Permissions: perms, Boundary: authz.BoundaryInstance}
}

// open: fine-grained tokens pass without a permission, for the reason given.
func open(reason string) authz.FineRule { return authz.FineRule{Open: reason} }

// unsupported: fine-grained tokens are refused (spec §3.2 step 3), for the reason given.
func unsupported(reason string) authz.FineRule { return authz.FineRule{Unsupported: reason} }

// routeKey is a route's key in routePermissions.
func routeKey(method, pattern string) string { return method + " " + pattern }

// withPermissions joins each route to its fine-grained rule. A route without an entry
// keeps the zero rule, which refuses fine-grained tokens (the test catches it first).
func withPermissions(routes []Route) []Route {
	for i := range routes {
		routes[i].key = routeKey(routes[i].Method, routes[i].Pattern)
		routes[i].Fine = routePermissions[routes[i].key]
	}
	return routes
}
