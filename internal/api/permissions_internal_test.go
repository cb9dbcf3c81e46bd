package api

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/authz"
)

// TestRoutePermissions keeps the fine-grained declarations honest (spec §3.1, §6): every
// route has an entry, every entry names a route, every permission is known and applies
// to the entry's boundary, project and group boundaries come from a path parameter of
// the route, and every permission of the catalogue opens some route (or Git operation).
func TestRoutePermissions(t *testing.T) {
	routes := New(Config{}).Routes()
	keys := map[string]bool{}
	opened := map[string]bool{}
	for _, rt := range routes {
		key := routeKey(rt.Method, rt.Pattern)
		keys[key] = true
		f, ok := routePermissions[key]
		if !ok {
			t.Errorf("route %s has no entry in routePermissions (a permission or a reason for none)", key)
			continue
		}
		if !f.Declared() {
			t.Errorf("route %s declares neither a permission nor a reason", key)
		}
		if len(f.Permissions) > 0 && (f.Open != "" || f.Unsupported != "") {
			t.Errorf("route %s declares permissions and a reason for none", key)
		}
		for _, p := range f.Permissions {
			perm, ok := authz.LookupPermission(p)
			if !ok {
				t.Errorf("route %s names unknown permission %q", key, p)
				continue
			}
			opened[p] = true
			if !slices.Contains(perm.Boundaries, f.Boundary) {
				t.Errorf("route %s: permission %s does not apply to the %s boundary (it applies to %v)", key, p, f.Boundary, perm.Boundaries)
			}
		}
		if len(f.Permissions) > 0 && onResource(f) && !strings.Contains(rt.Pattern, "{"+f.Param+"}") {
			t.Errorf("route %s: boundary parameter {%s} is not in the pattern", key, f.Param)
		}
		if rt.Fine.Boundary != f.Boundary || !slices.Equal(rt.Fine.Permissions, f.Permissions) {
			t.Errorf("route %s: the table's joined rule %+v differs from its entry %+v", key, rt.Fine, f)
		}
	}
	for key := range routePermissions {
		if !keys[key] {
			t.Errorf("routePermissions entry %s names no route", key)
		}
	}
	for _, p := range authz.Permissions() {
		if !opened[p.Name] && p.Outside == "" {
			t.Errorf("permission %s opens no route", p.Name)
		}
	}
}

// TestPermissionDocs keeps docs/permissions.md equal to what the tables render.
func TestPermissionDocs(t *testing.T) {
	want := New(Config{}).PermissionsMarkdown()
	got, err := os.ReadFile("../../docs/permissions.md")
	if err != nil || string(got) != want {
		t.Errorf("docs/permissions.md is stale (err %v); run go generate ./...", err)
	}
}
