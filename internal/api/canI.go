package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// CanIAnswer is the body of GET /api/v4/keygate/can_i (Keygate extension): what the
// calling token would get for a request, without making it. The web UI shows it too.
type CanIAnswer struct {
	Allowed bool     `json:"allowed"`
	Status  int      `json:"status"`
	Route   string   `json:"route,omitempty"`
	Reasons []string `json:"reasons"`
	// RequiredScopes: any one of them opens the route for this method.
	RequiredScopes []string `json:"required_scopes,omitempty"`
	// RequiredRole is the least role on the project or group the route acts on.
	RequiredRole *CanIRole `json:"required_role,omitempty"`
	// RequiredPermissions are the fine-grained permissions the route declares, all
	// needed on its boundary.
	RequiredPermissions []requiredPermissionJSON `json:"required_permissions,omitempty"`
}

// CanIRole is a role in a can_i answer.
type CanIRole struct {
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
	if name, ok := strings.CutPrefix(rawPath, registryPathPrefix); ok {
		return a.canIRegistry(w, r, c, method, name)
	}
	u, perr := url.Parse(rawPath)
	if perr != nil {
		return paramError("path is invalid")
	}
	writeJSON(w, 200, a.judge(r.Context(), c, strings.ToUpper(method), u))
	return nil
}

// CanI answers can_i for a principal that has not presented its token (the web UI's form
// for the token's owner): the same judgement as GET /api/v4/keygate/can_i made with it.
// A path that does not parse is an error; an unknown route is an answer (404).
func (a *API) CanI(ctx context.Context, p service.Principal, method, rawPath string) (CanIAnswer, error) {
	u, err := url.Parse(rawPath)
	if err != nil || !strings.HasPrefix(u.Path, "/") {
		return CanIAnswer{}, &keygate.Error{Code: keygate.CodeInvalid, Field: "path", Message: "Path must be a path such as /api/v4/projects/1"}
	}
	if !strings.HasPrefix(u.Path, Prefix+"/") && u.Path != Prefix {
		u.Path = Prefix + u.Path // "/projects/1" means the API route
		u.RawPath = ""
	}
	c := &call{p: &params{}, principal: &p, subject: p.Subject()}
	return a.judge(ctx, c, strings.ToUpper(method), u), nil
}

// judge is can_i's decision for one method and parsed path.
func (a *API) judge(ctx context.Context, c *call, method string, u *url.URL) CanIAnswer {
	rt, vals, ok := a.matchRoute(method, u.EscapedPath())
	if !ok {
		return CanIAnswer{Status: 404, Reasons: []string{"no such route: " + method + " " + u.Path}}
	}
	out := CanIAnswer{Route: rt.Method + " " + Prefix + rt.Pattern, Reasons: []string{}}
	if !rt.Rule.AnyScope {
		roots := authz.RootGrants()
		if rt.Rule.Exclusive {
			roots = nil
		}
		for _, g := range append(append([]authz.Grant{}, rt.Rule.Grants...), roots...) {
			if g.ReadOnly && method != "GET" && method != "HEAD" {
				continue
			}
			if !containsStr(out.RequiredScopes, string(g.Scope)) {
				out.RequiredScopes = append(out.RequiredScopes, string(g.Scope))
			}
		}
	}
	if lvl, ok := authz.RequiredLevel(rt.Kind, rt.Action); ok && rt.Action != authz.ActRead && rt.Action != authz.ActReadMembers {
		out.RequiredRole = &CanIRole{AccessLevel: int(lvl), Name: lvl.String()}
	}
	out.RequiredPermissions = requiredPermissions(rt.Fine)
	d := authz.Decide(c.subject, rt.Rule, method)
	if d.Allowed {
		if fd := a.canIFine(ctx, c, rt, vals[rt.Fine.Param]); !fd.Allowed {
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
		d = a.decideOn(ctx, c.subject, rt, vals["id"])
		if d.Allowed && rt.own {
			if err := requireResourceBot(c); err != nil {
				d = authz.Decision{Status: 405, Reasons: []string{"this route takes the project or group access token of the resource itself"}}
			}
		}
		if d.Allowed && rt.own && c.principal != nil {
			// A resource token reaches only its own project or group here.
			if id, ok := a.resourceID(ctx, rt, vals["id"]); ok && (c.principal.User.BotSourceID != id || !sameKind(c.principal.User.BotSourceType, rt.Kind)) {
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
	return out
}

// decideOn resolves a route's resource for can_i; errors count as not found.
func (a *API) decideOn(ctx context.Context, sub authz.Subject, rt Route, ref string) authz.Decision {
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
func (a *API) resourceID(ctx context.Context, rt Route, ref string) (int64, bool) {
	switch rt.Kind {
	case authz.KindProject:
		p, err := a.svc.Project(ctx, ref)
		return p.ID, err == nil
	case authz.KindGroup:
		g, err := a.svc.Group(ctx, ref)
		return g.ID, err == nil
	}
	return 0, false
}

func sameKind(t keygate.SourceType, k authz.ResourceKind) bool {
	return t == keygate.SourceNamespace && k == authz.KindGroup || t == keygate.SourceProject && k == authz.KindProject
}
