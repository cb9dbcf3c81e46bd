package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

// canIJSON answers GET /api/v4/keygate/can_i (Keygate extension): what the calling
// token would get for a request, without making it.
type canIJSON struct {
	Allowed bool     `json:"allowed"`
	Status  int      `json:"status"`
	Route   string   `json:"route,omitempty"`
	Reasons []string `json:"reasons"`
	// RequiredScopes: any one of them opens the route for this method.
	RequiredScopes []string `json:"required_scopes,omitempty"`
	// RequiredRole is the least role on the project or group the route acts on.
	RequiredRole *roleJSON `json:"required_role,omitempty"`
	// RequiredPermissions are the fine-grained permissions the route declares, all
	// needed on its boundary.
	RequiredPermissions []requiredPermissionJSON `json:"required_permissions,omitempty"`
}

type roleJSON struct {
	AccessLevel int    `json:"access_level"`
	Name        string `json:"name"`
}

// matchRoute finds the table entry for method and an escaped path below /api/v4, with
// its wildcard values (unescaped per segment, as the mux does).
func (a *API) matchRoute(method, escapedPath string) (Route, map[string]string, bool) {
	rest, ok := strings.CutPrefix(escapedPath, Prefix)
	if !ok {
		return Route{}, nil, false
	}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	var best Route
	var bestVals map[string]string
	bestLiterals := -1
	for _, rt := range a.Routes() {
		if rt.Method != method && !(method == "HEAD" && rt.Method == "GET") {
			continue
		}
		pat := strings.Split(strings.Trim(rt.Pattern, "/"), "/")
		if len(pat) != len(segs) {
			continue
		}
		vals, literals, ok := map[string]string{}, 0, true
		for i, p := range pat {
			if strings.HasPrefix(p, "{") {
				v, err := url.PathUnescape(segs[i])
				if err != nil {
					ok = false
					break
				}
				vals[strings.Trim(p, "{}")] = v
				continue
			}
			if p != segs[i] {
				ok = false
				break
			}
			literals++
		}
		if ok && literals > bestLiterals { // the most specific pattern wins, as in the mux
			best, bestVals, bestLiterals = rt, vals, literals
		}
	}
	return best, bestVals, bestLiterals >= 0
}

// canI judges the request named by ?method=&path= for the calling token: the route's
// scope rule, then (for routes on a project or group) visibility and role. A resource
// the caller cannot see is reported exactly like a missing one.
func (a *API) canI(w http.ResponseWriter, r *http.Request, c *call) error {
	method, err := c.p.requiredStr("method")
	if err != nil {
		return err
	}
	rawPath, err := c.p.requiredStr("path")
	if err != nil {
		return err
	}
	method = strings.ToUpper(method)
	u, perr := url.Parse(rawPath)
	if perr != nil {
		return paramError("path is invalid")
	}
	rt, vals, ok := a.matchRoute(method, u.EscapedPath())
	if !ok {
		writeJSON(w, 200, canIJSON{Status: 404, Reasons: []string{"no such route: " + method + " " + u.Path}})
		return nil
	}
	out := canIJSON{Route: rt.Method + " " + Prefix + rt.Pattern, Reasons: []string{}}
	if !rt.Rule.AnyScope {
		for _, g := range append(append([]authz.Grant{}, rt.Rule.Grants...), authz.RootGrants()...) {
			if g.ReadOnly && method != "GET" && method != "HEAD" {
				continue
			}
			if !containsStr(out.RequiredScopes, string(g.Scope)) {
				out.RequiredScopes = append(out.RequiredScopes, string(g.Scope))
			}
		}
	}
	if lvl, ok := authz.RequiredLevel(rt.Kind, rt.Action); ok && rt.Action != authz.ActRead && rt.Action != authz.ActReadMembers {
		out.RequiredRole = &roleJSON{AccessLevel: int(lvl), Name: lvl.String()}
	}
	out.RequiredPermissions = requiredPermissions(rt.Fine)
	d := authz.Decide(c.subject, rt.Rule, method)
	if d.Allowed {
		if fd := a.canIFine(r.Context(), c, rt, vals[rt.Fine.Param]); !fd.Allowed {
			d = fd
		}
	}
	if d.Allowed && rt.pre != nil {
		if err := rt.pre(c); err != nil {
			e := toAPIError(err)
			d = authz.Decision{Status: e.status, Reasons: []string{"this route takes the project or group access token of the resource itself"}}
		}
	}
	if d.Allowed && rt.Kind != authz.KindNone {
		d = a.decideOn(r, c.subject, rt, vals["id"])
		if d.Allowed && rt.own {
			if err := requireResourceBot(c); err != nil {
				d = authz.Decision{Status: 405, Reasons: []string{"this route takes the project or group access token of the resource itself"}}
			}
		}
		if d.Allowed && rt.own && c.principal != nil {
			// A resource token reaches only its own project or group here.
			if id, ok := a.resourceID(r, rt, vals["id"]); ok && (c.principal.User.BotSourceID != id || !sameKind(c.principal.User.BotSourceType, rt.Kind)) {
				d = authz.Decision{Status: 401, Reasons: []string{"the token belongs to another project or group"}}
			}
		}
	}
	if !d.Allowed && d.Status == 403 && d.Code != keygate.CodeInsufficientScope && rt.refusal != 0 {
		d.Status = rt.refusal // the service's answer on these routes (GitLab's)
	}
	if d.Allowed && rt.Kind != authz.KindNone && c.subject.User.Bot() && (rt.Action == authz.ActManageTokens) && !c.subject.Admin() {
		d = authz.Decision{Status: 400, Code: keygate.CodeInvalid, Reasons: []string{"project and group access tokens cannot create or manage access tokens"}}
	}
	out.Allowed, out.Status = d.Allowed, d.Status
	if !d.Allowed && d.Status != 404 {
		out.Reasons = append(out.Reasons, d.Reasons...)
	}
	if d.Status == 404 {
		out.Reasons = append(out.Reasons, "the resource does not exist or you cannot see it")
	}
	writeJSON(w, 200, out)
	return nil
}

// decideOn resolves a route's resource for can_i; errors count as not found.
func (a *API) decideOn(r *http.Request, sub authz.Subject, rt Route, ref string) authz.Decision {
	ctx := r.Context()
	var res authz.Resource
	switch rt.Kind {
	case authz.KindProject:
		p, err := a.svc.Project(ctx, ref)
		if err == nil {
			res, err = a.svc.ProjectAccess(ctx, sub, p)
		}
		if err != nil {
			return authz.Decision{Status: 404, Code: keygate.CodeNotFound}
		}
	case authz.KindGroup:
		g, err := a.svc.Group(ctx, ref)
		if err == nil {
			res, err = a.svc.GroupAccess(ctx, sub, g)
		}
		if err != nil {
			return authz.Decision{Status: 404, Code: keygate.CodeNotFound}
		}
	}
	return authz.DecideResource(sub, res, rt.Action)
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// resourceID resolves a route's {id} to the resource's numeric ID.
func (a *API) resourceID(r *http.Request, rt Route, ref string) (int64, bool) {
	switch rt.Kind {
	case authz.KindProject:
		p, err := a.svc.Project(r.Context(), ref)
		return p.ID, err == nil
	case authz.KindGroup:
		g, err := a.svc.Group(r.Context(), ref)
		return g.ID, err == nil
	}
	return 0, false
}

func sameKind(t keygate.SourceType, k authz.ResourceKind) bool {
	return t == keygate.SourceNamespace && k == authz.KindGroup || t == keygate.SourceProject && k == authz.KindProject
}
