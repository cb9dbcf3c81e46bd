package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// granularRoutes are Keygate's fine-grained extensions: the permission catalogue, and
// least-privilege suggestions from recorded use or from a list of requests.
func (a *API) granularRoutes() []Route {
	plain := authz.Rule{}
	return []Route{
		route("GET", "/keygate/permissions", authz.Rule{Anonymous: true, AnyScope: true}, "Keygate extension: every assignable fine-grained permission with its boundaries and the routes it opens", a.listPermissions),
		route("POST", "/keygate/permissions/suggest", plain, "Keygate extension: the smallest granular_scopes that allow a list of requests", a.suggestPermissions),
		route("GET", "/personal_access_tokens/{id}/keygate/usage", plain, "Keygate extension: a token's recorded use and the smallest grant that allows it (?days=)", a.tokenUsage),
	}
}

type permissionRouteJSON struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

type permissionJSON struct {
	Name        string                `json:"name"`
	Label       string                `json:"label"`
	Description string                `json:"description"`
	Boundaries  []string              `json:"boundaries"`
	Routes      []permissionRouteJSON `json:"routes"`
	Outside     string                `json:"outside_api,omitempty"`
	Extension   bool                  `json:"keygate_extension"`
}

// permissionCatalogue is the catalogue joined with the routes that declare each
// permission, in route-table order.
func (a *API) permissionCatalogue() []permissionJSON {
	routes := a.Routes()
	var out []permissionJSON
	for _, p := range authz.Permissions() {
		pj := permissionJSON{Name: p.Name, Label: p.Label(), Description: p.Description, Outside: p.Outside, Extension: p.Extension, Routes: []permissionRouteJSON{}}
		for _, b := range p.Boundaries {
			pj.Boundaries = append(pj.Boundaries, string(b))
		}
		for _, rt := range routes {
			if slices.Contains(rt.Fine.Permissions, p.Name) {
				pj.Routes = append(pj.Routes, permissionRouteJSON{Method: rt.Method, Path: Prefix + rt.Pattern})
			}
		}
		out = append(out, pj)
	}
	return out
}

func (a *API) listPermissions(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, 200, a.permissionCatalogue())
	return nil
}

// suggestedJSON is a suggested grant entry, ready for a create call's granular_scopes.
type suggestedJSON struct {
	Access      string   `json:"access"`
	Permissions []string `json:"permissions"`
	ProjectIDs  []int64  `json:"project_ids,omitempty"`
	GroupIDs    []int64  `json:"group_ids,omitempty"`
}

func suggestedBody(grant []authz.SuggestedScope) []suggestedJSON {
	out := make([]suggestedJSON, len(grant))
	for i, s := range grant {
		out[i] = suggestedJSON{Access: string(s.Access), Permissions: s.Permissions, ProjectIDs: s.ProjectIDs, GroupIDs: s.GroupIDs}
	}
	return out
}

// maxSuggestRequests bounds POST /keygate/permissions/suggest.
const maxSuggestRequests = 1000

func (a *API) suggestPermissions(w http.ResponseWriter, r *http.Request, c *call) error {
	raw, ok := c.p.values["requests"]
	if !ok || raw == nil {
		return paramError("requests is missing")
	}
	items, ok := raw.([]any)
	if !ok {
		return paramError("requests is invalid")
	}
	if len(items) == 0 {
		return paramError("requests is empty")
	}
	if len(items) > maxSuggestRequests {
		return paramError("requests has more than " + strconv.Itoa(maxSuggestRequests) + " items")
	}
	var needs []authz.Need
	for i, it := range items {
		field := "requests[" + strconv.Itoa(i) + "]"
		obj, ok := it.(map[string]any)
		if !ok {
			return paramError(field + " is invalid")
		}
		method, _ := obj["method"].(string)
		path, _ := obj["path"].(string)
		if method == "" {
			return paramError(field + "[method] is missing")
		}
		if path == "" {
			return paramError(field + "[path] is missing")
		}
		method = strings.ToUpper(method)
		u, err := url.Parse(path)
		if err != nil {
			return paramError(field + "[path] is invalid")
		}
		rt, vals, ok := a.matchRoute(method, u.EscapedPath())
		if !ok {
			return paramError(field + " matches no route: " + method + " " + u.Path)
		}
		if rt.Fine.Unsupported != "" || !rt.Fine.Declared() {
			return paramError(field + " (" + rt.Method + " " + Prefix + rt.Pattern + ") does not support fine-grained tokens")
		}
		if len(rt.Fine.Permissions) == 0 {
			continue // open to every fine-grained token
		}
		b, err := a.boundaryFor(r.Context(), c.subject, rt.Fine, vals[rt.Fine.Param])
		if err != nil {
			return err
		}
		if onResource(rt.Fine) && (!b.Found || !b.Readable) {
			return message(404, "404 "+titleKind(rt.Fine.Boundary)+" Not Found")
		}
		needs = append(needs, authz.Need{Permissions: rt.Fine.Permissions, Kind: b.Kind, ID: b.ID})
	}
	writeJSON(w, 200, map[string]any{"granular_scopes": suggestedBody(authz.Suggest(needs))})
	return nil
}

func titleKind(k authz.BoundaryKind) string {
	if k == authz.BoundaryGroup {
		return "Group"
	}
	return "Project"
}

// usageJSON answers GET /personal_access_tokens/:id/keygate/usage.
type usageJSON struct {
	TokenID        int64           `json:"token_id"`
	Days           int             `json:"days"`
	Since          string          `json:"since"`
	Uses           []useJSON       `json:"uses"`
	GranularScopes []suggestedJSON `json:"granular_scopes"`
	// UnusedScopes are the legacy scopes no recorded request needed (legacy tokens).
	UnusedScopes []string `json:"unused_scopes"`
}

type useJSON struct {
	Route       string   `json:"route"`
	Permissions []string `json:"permissions"`
	Boundary    string   `json:"boundary_type"`
	BoundaryID  *int64   `json:"boundary_id"`
	Count       int64    `json:"count"`
	LastUsedAt  string   `json:"last_used_at"`
}

// DefaultUsageDays is the look-back of a usage report without ?days=.
const DefaultUsageDays = 30

func (a *API) tokenUsage(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	days := DefaultUsageDays
	if n, err := c.p.integer("days"); err != nil {
		return err
	} else if n != nil {
		if *n < 1 || *n > service.PermissionUseRetentionDays {
			return paramError("days does not have a valid value")
		}
		days = int(*n)
	}
	t, err := a.svc.Token(r.Context(), c.subject, id)
	if err != nil {
		return err
	}
	rep, err := a.UsageReport(r.Context(), t, days)
	if err != nil {
		return err
	}
	writeJSON(w, 200, rep)
	return nil
}

// otherRoutes are the recorded names of Git operations and registry actions (no API
// route of their own) and the permission each needs.
var otherRoutes = map[string]string{
	authz.GitUseRoute(authz.GitFetch):            authz.GitPermission(authz.GitFetch),
	authz.GitUseRoute(authz.GitPush):             authz.GitPermission(authz.GitPush),
	authz.RegistryUseRoute(authz.RegistryPull):   authz.PermReadContainerRepository,
	authz.RegistryUseRoute(authz.RegistryDelete): authz.PermDeleteContainerRepository,
}

// UsageReport builds a token's usage report over days (the API route and the admin
// CLI's `token suggest` share it).
func (a *API) UsageReport(ctx context.Context, t keygate.Token, days int) (any, error) {
	uses, err := a.svc.PermissionUses(ctx, t.ID, days)
	if err != nil {
		return nil, err
	}
	now := a.svc.Clock().Now()
	out := usageJSON{TokenID: t.ID, Days: days, Since: keygate.DateOf(now).AddDays(-(days - 1)).String(), Uses: []useJSON{}, UnusedScopes: []string{}}
	byKey := map[string]Route{}
	for _, rt := range a.Routes() {
		byKey[routeKey(rt.Method, rt.Pattern)] = rt
	}
	merged := map[[3]string]*useJSON{}
	var order [][3]string
	var needs []authz.Need
	used := map[keygate.Scope]bool{}
	for _, u := range uses {
		perms, route := []string(nil), u.Route
		if p, ok := otherRoutes[u.Route]; ok {
			perms = []string{p}
		} else if rt, ok := byKey[u.Route]; ok {
			perms = rt.Fine.Permissions
			route = rt.Method + " " + Prefix + rt.Pattern
		} else {
			continue // a route Keygate no longer serves
		}
		for _, s := range t.Scopes {
			if !used[s] && scopeOpened(byKey, u.Route, s) {
				used[s] = true
			}
		}
		needs = append(needs, authz.Need{Permissions: perms, Kind: authz.BoundaryKind(u.BoundaryKind), ID: u.BoundaryID})
		k := [3]string{route, u.BoundaryKind, strconv.FormatInt(u.BoundaryID, 10)}
		m, ok := merged[k]
		if !ok {
			m = &useJSON{Route: route, Permissions: perms, Boundary: u.BoundaryKind}
			if u.BoundaryID != 0 {
				id := u.BoundaryID
				m.BoundaryID = &id
			}
			merged[k] = m
			order = append(order, k)
		}
		m.Count += u.Uses
		if l := ts(u.LastUsedAt); l > m.LastUsedAt {
			m.LastUsedAt = l
		}
	}
	for _, k := range order {
		out.Uses = append(out.Uses, *merged[k])
	}
	out.GranularScopes = suggestedBody(authz.Suggest(needs))
	for _, s := range t.Scopes {
		if !used[s] {
			out.UnusedScopes = append(out.UnusedScopes, string(s))
		}
	}
	return out, nil
}

// scopeOpened reports whether scope s alone opens the recorded route.
func scopeOpened(byKey map[string]Route, route string, s keygate.Scope) bool {
	switch route {
	case authz.GitUseRoute(authz.GitFetch):
		return authz.GitAbilitiesFor(keygate.Scopes{s}).Download
	case authz.GitUseRoute(authz.GitPush):
		return authz.GitAbilitiesFor(keygate.Scopes{s}).Push
	case authz.RegistryUseRoute(authz.RegistryPull):
		return authz.RegistryAbilitiesFor(keygate.Scopes{s}).Pull
	case authz.RegistryUseRoute(authz.RegistryDelete):
		return authz.RegistryAbilitiesFor(keygate.Scopes{s}).Admin
	}
	rt, ok := byKey[route]
	if !ok || rt.Rule.AnyScope {
		return false // a route every scope opens needs none in particular
	}
	return authz.ScopeAllows(rt.Rule, rt.Method, keygate.Scopes{s})
}
