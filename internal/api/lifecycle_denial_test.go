package api_test

import "maps"

// lifecycleDenialPaths are the denial-matrix probes of the lifecycle routes, merged into
// denialPaths so the shared table stays untouched by this feature.
var lifecycleDenialPaths = map[string]string{
	"GET /audit_events":                                     "/audit_events",
	"GET /audit_events/{audit_event_id}":                    "/audit_events/1",
	"GET /groups/{id}/audit_events":                         "/groups/{group}/audit_events",
	"GET /groups/{id}/audit_events/{audit_event_id}":        "/groups/{group}/audit_events/1",
	"GET /projects/{id}/audit_events":                       "/projects/{project}/audit_events",
	"GET /projects/{id}/audit_events/{audit_event_id}":      "/projects/{project}/audit_events/1",
	"POST /admin/token":                                     "/admin/token",
	"DELETE /admin/token":                                   "/admin/token",
	"POST /keygate/revocations":                             "/keygate/revocations",
	"GET /keygate/notifications":                            "/keygate/notifications",
	"GET /projects/{id}/hooks":                              "/projects/{project}/hooks",
	"POST /projects/{id}/hooks":                             "/projects/{project}/hooks",
	"GET /projects/{id}/hooks/{hook_id}":                    "/projects/{project}/hooks/1",
	"PUT /projects/{id}/hooks/{hook_id}":                    "/projects/{project}/hooks/1",
	"DELETE /projects/{id}/hooks/{hook_id}":                 "/projects/{project}/hooks/1",
	"GET /projects/{id}/hooks/{hook_id}/keygate/deliveries": "/projects/{project}/hooks/1/keygate/deliveries",
	"GET /projects/{id}/keygate/lifecycle_settings":         "/projects/{project}/keygate/lifecycle_settings",
	"PUT /projects/{id}/keygate/lifecycle_settings":         "/projects/{project}/keygate/lifecycle_settings",
	"GET /groups/{id}/hooks":                                "/groups/{group}/hooks",
	"POST /groups/{id}/hooks":                               "/groups/{group}/hooks",
	"GET /groups/{id}/hooks/{hook_id}":                      "/groups/{group}/hooks/1",
	"PUT /groups/{id}/hooks/{hook_id}":                      "/groups/{group}/hooks/1",
	"DELETE /groups/{id}/hooks/{hook_id}":                   "/groups/{group}/hooks/1",
	"GET /groups/{id}/hooks/{hook_id}/keygate/deliveries":   "/groups/{group}/hooks/1/keygate/deliveries",
	"GET /groups/{id}/keygate/lifecycle_settings":           "/groups/{group}/keygate/lifecycle_settings",
	"PUT /groups/{id}/keygate/lifecycle_settings":           "/groups/{group}/keygate/lifecycle_settings",
}

// lifecycleDenialBodies let the permission check, not a missing parameter, refuse.
var lifecycleDenialBodies = map[string]string{
	"POST /projects/{id}/hooks":                     `{"url":"https://hooks.example.com/x"}`,
	"POST /groups/{id}/hooks":                       `{"url":"https://hooks.example.com/x"}`,
	"POST /admin/token":                             `{"token":"glpat-x"}`,
	"DELETE /admin/token":                           `{"token":"glpat-x"}`,
	"POST /keygate/revocations":                     `{"tokens":[]}`,
	"PUT /projects/{id}/keygate/lifecycle_settings": `{"extended_prat_expiry_webhooks_execute":true}`,
	"PUT /groups/{id}/keygate/lifecycle_settings":   `{"extended_grat_expiry_webhooks_execute":true}`,
}

func init() {
	maps.Copy(denialPaths, lifecycleDenialPaths)
	maps.Copy(denialBodies, lifecycleDenialBodies)
}
