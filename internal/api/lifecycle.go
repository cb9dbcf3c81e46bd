package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// lifecycleRoutes are the audit, token-information, leaked-token, webhook and notice
// routes (issue 6), kept apart so the main table stays easy to merge.
func (a *API) lifecycleRoutes() []Route {
	admin := authz.Rule{Admin: true}
	adminRead := authz.Rule{Grants: readUser, Admin: true}
	plain := authz.Rule{}
	public := authz.Rule{Anonymous: true}
	proj, grp := authz.KindProject, authz.KindGroup
	rs := []Route{
		route("GET", "/audit_events", adminRead, "Instance audit events (admin)", a.listAuditEvents),
		route("GET", "/audit_events/{audit_event_id}", adminRead, "One instance audit event (admin)", a.getAuditEvent),
		Route{Method: "GET", Pattern: "/groups/{id}/audit_events", Rule: plain, Summary: "Group audit events (Owner: all; members: their own)", handler: a.listAuditEvents}.on(grp, authz.ActRead),
		Route{Method: "GET", Pattern: "/groups/{id}/audit_events/{audit_event_id}", Rule: plain, Summary: "One group audit event (Owner)", handler: a.getAuditEvent}.on(grp, authz.ActUpdate),
		Route{Method: "GET", Pattern: "/projects/{id}/audit_events", Rule: plain, Summary: "Project audit events (Maintainer: all; members: their own)", handler: a.listAuditEvents}.on(proj, authz.ActRead),
		Route{Method: "GET", Pattern: "/projects/{id}/audit_events/{audit_event_id}", Rule: plain, Summary: "One project audit event (Maintainer)", handler: a.getAuditEvent}.on(proj, authz.ActUpdate),

		route("POST", "/admin/token", admin, "Token information by value, every token type (admin)", a.lookupToken).valueToken(),
		route("DELETE", "/admin/token", admin, "Revoke a token by value (admin)", a.revokeTokenByValue).valueToken(),
		route("POST", "/keygate/revocations", public, "Keygate extension: report leaked tokens; each valid one is revoked (202 whatever they were)", a.reportLeaked),
		route("GET", "/keygate/notifications", authz.Rule{Grants: readUser}, "Keygate extension: your own token notices (the in-app list)", a.listNotices),
	}
	for _, k := range []struct {
		kind authz.ResourceKind
		base string
	}{{proj, "/projects/{id}"}, {grp, "/groups/{id}"}} {
		rs = append(rs,
			Route{Method: "GET", Pattern: k.base + "/hooks", Rule: plain, Summary: "List webhooks (Maintainer on projects, Owner on groups)", handler: a.listHooks}.on(k.kind, authz.ActUpdate),
			Route{Method: "POST", Pattern: k.base + "/hooks", Rule: plain, Summary: "Add a webhook", handler: a.createHook}.on(k.kind, authz.ActUpdate),
			Route{Method: "GET", Pattern: k.base + "/hooks/{hook_id}", Rule: plain, Summary: "Get a webhook", handler: a.getHook}.on(k.kind, authz.ActUpdate),
			Route{Method: "PUT", Pattern: k.base + "/hooks/{hook_id}", Rule: plain, Summary: "Edit a webhook", handler: a.updateHook}.on(k.kind, authz.ActUpdate),
			Route{Method: "DELETE", Pattern: k.base + "/hooks/{hook_id}", Rule: plain, Summary: "Delete a webhook", handler: a.deleteHook}.on(k.kind, authz.ActUpdate),
			Route{Method: "GET", Pattern: k.base + "/hooks/{hook_id}/keygate/deliveries", Rule: plain, Summary: "Keygate extension: a webhook's deliveries and their outcome", handler: a.listDeliveries}.on(k.kind, authz.ActUpdate),
			Route{Method: "GET", Pattern: k.base + "/keygate/lifecycle_settings", Rule: plain, Summary: "Keygate extension: extended_*_expiry_webhooks_execute of a project or group", handler: a.getLifecycleSettings}.on(k.kind, authz.ActUpdate),
			Route{Method: "PUT", Pattern: k.base + "/keygate/lifecycle_settings", Rule: plain, Summary: "Keygate extension: set extended_*_expiry_webhooks_execute", handler: a.putLifecycleSettings}.on(k.kind, authz.ActUpdate),
		)
	}
	return rs
}

// auditEventJSON is API::Entities::AuditEvent.
type auditEventJSON struct {
	ID         int64            `json:"id"`
	AuthorID   int64            `json:"author_id"`
	EntityID   int64            `json:"entity_id"`
	EntityType string           `json:"entity_type"`
	EventName  string           `json:"event_name"`
	Details    auditDetailsJSON `json:"details"`
	CreatedAt  string           `json:"created_at"`
}

// auditDetailsJSON is formatted_details; request_id and token_fingerprint are Keygate's
// additions (the fingerprint is the unkeyed SHA-256 of the token, never the token).
type auditDetailsJSON struct {
	CustomMessage    string  `json:"custom_message"`
	AuthorName       string  `json:"author_name"`
	AuthorEmail      string  `json:"author_email"`
	AuthorClass      string  `json:"author_class"`
	TargetID         int64   `json:"target_id"`
	TargetType       string  `json:"target_type"`
	TargetDetails    string  `json:"target_details"`
	IPAddress        *string `json:"ip_address"`
	EntityPath       string  `json:"entity_path"`
	EventName        string  `json:"event_name"`
	RequestID        *string `json:"request_id"`
	TokenFingerprint *string `json:"token_fingerprint"`
}

func auditEvent(e keygate.AuditEvent) auditEventJSON {
	author := e.AuthorName
	if e.AuthorID == 0 && author == "" {
		author = "Keygate"
	}
	return auditEventJSON{
		ID: e.ID, AuthorID: e.AuthorID, EntityID: e.EntityID, EntityType: string(e.EntityType),
		EventName: e.Name, CreatedAt: ts(e.CreatedAt),
		Details: auditDetailsJSON{
			CustomMessage: e.Message, AuthorName: author, AuthorEmail: e.AuthorEmail, AuthorClass: "User",
			TargetID: e.TargetID, TargetType: e.TargetType, TargetDetails: e.TargetDetails,
			IPAddress: strOrNil(e.IP), EntityPath: e.EntityPath, EventName: e.Name,
			RequestID: strOrNil(e.RequestID), TokenFingerprint: strOrNil(e.Fingerprint),
		},
	}
}

// auditFilter reads the filters and scopes them to the route's resource.
func (a *API) auditFilter(c *call) (store.AuditFilter, error) {
	var f store.AuditFilter
	switch c.res.Kind {
	case authz.KindProject:
		f = service.AuditFilterFor(c.subject, c.res, keygate.AuditProject)
	case authz.KindGroup:
		f = service.AuditFilterFor(c.subject, c.res, keygate.AuditGroup)
	default:
		if c.p.has("entity_type") {
			v, _, _ := c.p.str("entity_type")
			et, ok := keygate.ParseAuditEntity(v)
			if !ok {
				return f, paramError("entity_type does not have a valid value")
			}
			f.EntityType = et
		}
		if c.p.has("entity_id") {
			if f.EntityType == "" {
				return f, paramError("entity_type is missing")
			}
			id, err := c.p.integer("entity_id")
			if err != nil {
				return f, err
			}
			if id != nil {
				f.EntityID = *id
			}
		}
	}
	var err error
	if f.CreatedAfter, err = c.p.datetime("created_after"); err != nil {
		return f, err
	}
	if f.CreatedBefore, err = c.p.datetime("created_before"); err != nil {
		return f, err
	}
	if v, ok, err := c.p.str("token_fingerprint"); err != nil {
		return f, err
	} else if ok {
		f.Fingerprint = v
	}
	if v, ok, err := c.p.str("event_name"); err != nil {
		return f, err
	} else if ok {
		f.Name = v
	}
	if f.Page, err = c.p.page(); err != nil {
		return f, err
	}
	return f, nil
}

func (a *API) listAuditEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := a.auditFilter(c)
	if err != nil {
		return err
	}
	es, total, err := a.svc.AuditEvents(r.Context(), c.subject, f)
	if err != nil {
		return err
	}
	paginate(w, r, f.Page, total, a.externalURL)
	out := make([]auditEventJSON, len(es))
	for i, e := range es {
		out[i] = auditEvent(e)
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) getAuditEvent(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "audit_event_id")
	if err != nil {
		return err
	}
	f, err := a.auditFilter(c)
	if err != nil {
		return err
	}
	f.EntityType, f.EntityID = scopeOf(c, f)
	e, err := a.svc.AuditEvent(r.Context(), c.subject, f, id)
	if err != nil {
		return err
	}
	writeJSON(w, 200, auditEvent(e))
	return nil
}

// scopeOf keeps an instance lookup unscoped (an admin reads any event by ID).
func scopeOf(c *call, f store.AuditFilter) (keygate.AuditEntity, int64) {
	if c.res.Kind == authz.KindNone {
		return "", 0
	}
	return f.EntityType, f.EntityID
}

// lookupError renders the token-information errors of spec §4.5.
func lookupError(err error) error {
	ke, ok := err.(*keygate.Error)
	if !ok {
		return err
	}
	switch {
	case ke.Code == keygate.CodeNotFound && ke.Field == "error":
		return &apiError{status: 404, body: map[string]any{"message": map[string]string{"error": ke.Message}}}
	case ke.Code == keygate.CodeInvalid && ke.Field == "error":
		return &apiError{status: 400, body: map[string]any{"message": map[string]string{"error": ke.Message}}}
	}
	return err
}

func (a *API) lookupToken(w http.ResponseWriter, r *http.Request, c *call) error {
	raw, err := c.p.requiredStr("token")
	if err != nil {
		return err
	}
	found, err := a.svc.LookupToken(r.Context(), c.subject, raw)
	if err != nil {
		return lookupError(err)
	}
	if found.Job != nil {
		j := *found.Job
		u, _ := a.svc.User(r.Context(), j.UserID)
		p, _ := a.svc.Project(r.Context(), strconv.FormatInt(j.ProjectID, 10))
		writeJSON(w, 200, map[string]any{"job": a.job(j, u, p)})
		return nil
	}
	writeJSON(w, 200, a.tokenWithIPs(*found.Token))
	return nil
}

func (a *API) revokeTokenByValue(w http.ResponseWriter, r *http.Request, c *call) error {
	raw, err := c.p.requiredStr("token")
	if err != nil {
		return err
	}
	if err := a.svc.RevokeByValue(r.Context(), c.subject, raw); err != nil {
		return lookupError(err)
	}
	w.WriteHeader(204)
	return nil
}

// revocationAccepted is the one answer of POST /keygate/revocations, whatever the
// tokens were: it must not tell a guesser which strings were live tokens.
const revocationAccepted = "202 Accepted"

func (a *API) reportLeaked(w http.ResponseWriter, r *http.Request, c *call) error {
	raw, ok := c.p.values["tokens"]
	list, isList := raw.([]any)
	if !ok || !isList {
		return paramError("tokens is missing")
	}
	if len(list) > service.MaxRevocationBatch {
		return paramError(fmt.Sprintf("tokens has too many elements (at most %d)", service.MaxRevocationBatch))
	}
	tokens := make([]string, 0, len(list))
	for _, v := range list {
		s, ok := v.(string)
		if !ok {
			return paramError("tokens is invalid")
		}
		tokens = append(tokens, s)
	}
	if err := a.svc.ReportLeaked(r.Context(), clientIP(r), tokens); err != nil {
		if rl, ok := err.(*service.ErrRateLimited); ok {
			secs := int(rl.RetryAfter.Seconds() + 0.999)
			return &apiError{status: 429, body: map[string]any{"message": "Retry later"},
				header: map[string]string{"Retry-After": strconv.Itoa(secs)}}
		}
		return err
	}
	writeJSON(w, 202, map[string]string{"message": revocationAccepted})
	return nil
}

// noticeJSON is one entry of the in-app list (Keygate extension).
type noticeJSON struct {
	ID          int64   `json:"id"`
	Event       string  `json:"event"`
	TokenID     int64   `json:"token_id"`
	Subject     string  `json:"subject"`
	Body        string  `json:"body"`
	CreatedAt   string  `json:"created_at"`
	DeliveredAt *string `json:"delivered_at"`
}

func (a *API) listNotices(w http.ResponseWriter, r *http.Request, c *call) error {
	pg, err := c.p.page()
	if err != nil {
		return err
	}
	ns, total, err := a.svc.Notices(r.Context(), c.subject.User.ID, pg)
	if err != nil {
		return err
	}
	paginate(w, r, pg, total, a.externalURL)
	out := make([]noticeJSON, len(ns))
	for i, n := range ns {
		out[i] = noticeJSON{ID: n.ID, Event: n.Event, TokenID: n.TokenID, Subject: n.Subject, Body: n.BodyText,
			CreatedAt: ts(n.CreatedAt), DeliveredAt: tsPtr(n.DeliveredAt)}
	}
	writeJSON(w, 200, out)
	return nil
}

// hookJSON is API::Entities::ProjectHook / GroupHook. Keygate fires only resource-token
// events (and stores push_events); the other event flags are GitLab's fields, always
// false here.
type hookJSON struct {
	ID                        int64    `json:"id"`
	URL                       string   `json:"url"`
	Name                      string   `json:"name"`
	Description               string   `json:"description"`
	CreatedAt                 string   `json:"created_at"`
	ProjectID                 *int64   `json:"project_id,omitempty"`
	GroupID                   *int64   `json:"group_id,omitempty"`
	PushEvents                bool     `json:"push_events"`
	PushEventsBranchFilter    string   `json:"push_events_branch_filter"`
	BranchFilterStrategy      string   `json:"branch_filter_strategy"`
	IssuesEvents              bool     `json:"issues_events"`
	ConfidentialIssuesEvents  bool     `json:"confidential_issues_events"`
	MergeRequestsEvents       bool     `json:"merge_requests_events"`
	TagPushEvents             bool     `json:"tag_push_events"`
	NoteEvents                bool     `json:"note_events"`
	ConfidentialNoteEvents    bool     `json:"confidential_note_events"`
	JobEvents                 bool     `json:"job_events"`
	PipelineEvents            bool     `json:"pipeline_events"`
	WikiPageEvents            bool     `json:"wiki_page_events"`
	DeploymentEvents          bool     `json:"deployment_events"`
	ReleasesEvents            bool     `json:"releases_events"`
	RepositoryUpdateEvents    bool     `json:"repository_update_events"`
	ResourceAccessTokenEvents bool     `json:"resource_access_token_events"`
	EnableSSLVerification     bool     `json:"enable_ssl_verification"`
	AlertStatus               string   `json:"alert_status"`
	DisabledUntil             *string  `json:"disabled_until"`
	URLVariables              []string `json:"url_variables"`
	CustomWebhookTemplate     string   `json:"custom_webhook_template"`
	CustomHeaders             []string `json:"custom_headers"`
}

func hook(h keygate.Hook) hookJSON {
	out := hookJSON{ID: h.ID, URL: h.URL, Name: h.Name, Description: h.Description, CreatedAt: ts(h.CreatedAt),
		PushEvents: h.PushEvents, ResourceAccessTokenEvents: h.ResourceAccessTokenEvents,
		EnableSSLVerification: h.EnableSSLVerification, AlertStatus: "executable",
		BranchFilterStrategy: "wildcard", URLVariables: []string{}, CustomHeaders: []string{}}
	id := h.SourceID
	if h.SourceType == keygate.SourceNamespace {
		out.GroupID = &id
	} else {
		out.ProjectID = &id
	}
	return out
}

func hookInput(p *params, create bool) (service.HookInput, error) {
	var in service.HookInput
	var err error
	if create {
		u, err := p.requiredStr("url")
		if err != nil {
			return in, err
		}
		in.URL = &u
	} else if in.URL, err = p.strPtr("url"); err != nil {
		return in, err
	}
	for name, dst := range map[string]**string{"name": &in.Name, "description": &in.Description, "token": &in.Token} {
		if *dst, err = p.strPtr(name); err != nil {
			return in, err
		}
	}
	for name, dst := range map[string]**bool{
		"resource_access_token_events": &in.ResourceAccessTokenEvents, "push_events": &in.PushEvents,
		"enable_ssl_verification": &in.EnableSSLVerification,
	} {
		if *dst, err = p.boolean(name); err != nil {
			return in, err
		}
	}
	return in, nil
}

// hookError renders a refused URL as GitLab's model validation (400 {"message":{"url":[…]}}).
func hookError(err error) error {
	if ke, ok := err.(*keygate.Error); ok && ke.Code == keygate.CodeInvalid && ke.Field != "" {
		if ke.Field == "url" && ke.Message == "url is missing" {
			return paramError(ke.Message)
		}
		return validationError(ke.Field, ke.Message)
	}
	return err
}

func (a *API) listHooks(w http.ResponseWriter, r *http.Request, c *call) error {
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	hs, err := a.svc.Hooks(r.Context(), c.subject, src)
	if err != nil {
		return err
	}
	out := make([]hookJSON, len(hs))
	for i, h := range hs {
		out[i] = hook(h)
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) createHook(w http.ResponseWriter, r *http.Request, c *call) error {
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	in, err := hookInput(c.p, true)
	if err != nil {
		return err
	}
	h, err := a.svc.CreateHook(r.Context(), c.subject, src, in)
	if err != nil {
		return hookError(err)
	}
	writeJSON(w, 201, hook(h))
	return nil
}

func (a *API) getHook(w http.ResponseWriter, r *http.Request, c *call) error {
	src, id, err := a.hookRef(r, c)
	if err != nil {
		return err
	}
	h, err := a.svc.Hook(r.Context(), c.subject, src, id)
	if err != nil {
		return err
	}
	writeJSON(w, 200, hook(h))
	return nil
}

func (a *API) hookRef(r *http.Request, c *call) (service.Source, int64, error) {
	src, err := a.source(r, c)
	if err != nil {
		return src, 0, err
	}
	id, err := strconv.ParseInt(r.PathValue("hook_id"), 10, 64)
	if err != nil || id <= 0 {
		return src, 0, message(404, "404 Not found")
	}
	return src, id, nil
}

func (a *API) updateHook(w http.ResponseWriter, r *http.Request, c *call) error {
	src, id, err := a.hookRef(r, c)
	if err != nil {
		return err
	}
	in, err := hookInput(c.p, false)
	if err != nil {
		return err
	}
	h, err := a.svc.UpdateHook(r.Context(), c.subject, src, id, in)
	if err != nil {
		return hookError(err)
	}
	writeJSON(w, 200, hook(h))
	return nil
}

func (a *API) deleteHook(w http.ResponseWriter, r *http.Request, c *call) error {
	src, id, err := a.hookRef(r, c)
	if err != nil {
		return err
	}
	if err := a.svc.DeleteHook(r.Context(), c.subject, src, id); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}

// deliveryJSON is one webhook delivery (Keygate extension).
type deliveryJSON struct {
	ID             int64   `json:"id"`
	Event          string  `json:"event"`
	TokenID        int64   `json:"token_id"`
	URL            string  `json:"url"`
	RequestBody    string  `json:"request_body"`
	CreatedAt      string  `json:"created_at"`
	Attempts       int     `json:"attempts"`
	ResponseStatus *int    `json:"response_status"`
	LastError      *string `json:"last_error"`
	DeliveredAt    *string `json:"delivered_at"`
	NextAttemptAt  *string `json:"next_attempt_at"`
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request, c *call) error {
	src, id, err := a.hookRef(r, c)
	if err != nil {
		return err
	}
	pg, err := c.p.page()
	if err != nil {
		return err
	}
	ds, total, err := a.svc.HookDeliveries(r.Context(), c.subject, src, id, pg)
	if err != nil {
		return err
	}
	paginate(w, r, pg, total, a.externalURL)
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = deliveryJSON{ID: d.ID, Event: d.Event, TokenID: d.TokenID, URL: d.Recipient, RequestBody: d.BodyText,
			CreatedAt: ts(d.CreatedAt), Attempts: d.Attempts, LastError: strOrNil(d.LastError),
			DeliveredAt: tsPtr(d.DeliveredAt), NextAttemptAt: tsPtr(d.NextAttemptAt)}
		if d.ResponseStatus != 0 {
			st := d.ResponseStatus
			out[i].ResponseStatus = &st
		}
	}
	writeJSON(w, 200, out)
	return nil
}

// extendedWebhooksKey is GitLab's name of the setting on projects and on groups.
func extendedWebhooksKey(c *call) string {
	if c.res.Kind == authz.KindGroup {
		return "extended_grat_expiry_webhooks_execute"
	}
	return "extended_prat_expiry_webhooks_execute"
}

func (a *API) getLifecycleSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	on, err := a.svc.ExtendedExpiryWebhooks(r.Context(), src)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]bool{extendedWebhooksKey(c): on})
	return nil
}

func (a *API) putLifecycleSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	key := extendedWebhooksKey(c)
	b, err := c.p.boolean(key)
	if err != nil {
		return err
	}
	if b == nil {
		return paramError(key + " is missing")
	}
	if err := a.svc.SetExtendedExpiryWebhooks(r.Context(), c.subject, src, *b); err != nil {
		return err
	}
	writeJSON(w, 200, map[string]bool{key: *b})
	return nil
}

// valueToken marks a route whose "token" parameter is data, not a credential.
func (rt Route) valueToken() Route {
	rt.tokenIsData = true
	return rt
}

// without returns the parameters less one name.
func (p *params) without(name string) *params {
	out := &params{values: make(map[string]any, len(p.values))}
	for k, v := range p.values {
		if k != name {
			out.values[k] = v
		}
	}
	return out
}
