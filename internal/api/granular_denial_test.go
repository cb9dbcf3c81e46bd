package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// The denial matrix's fine-grained axis: every route that declares permissions ×
// {no permission, wrong permission, right permission on the wrong boundary, right
// permission on an ancestor group}. The first three are refused with 403
// insufficient_granular_scope naming the route's permissions, and change nothing; the
// last passes the fine-grained check (can_i reports no missing permission, and a GET
// is not refused for a permission). Routes are probed on the "deep" target
// (priv/a/b/c) as olga, its Owner through priv; user and instance routes as root.
// Routes without permissions are refused (not supported) or open to every
// fine-grained token.

type fineAxis struct {
	name  string
	grant []service.GranularRequest
	// allowed: the fine-grained check passes (the ancestor axis).
	allowed bool
}

// otherPermission is a permission that applies to boundary k and is none of perms.
func otherPermission(k authz.BoundaryKind, perms []string) string {
	for _, p := range authz.Permissions() {
		if slices.Contains(p.Boundaries, k) && !slices.Contains(perms, p.Name) && p.Outside == "" {
			return p.Name
		}
	}
	return ""
}

func appliesTo(perms []string, k authz.BoundaryKind) bool {
	for _, name := range perms {
		p, _ := authz.LookupPermission(name)
		if !slices.Contains(p.Boundaries, k) {
			return false
		}
	}
	return true
}

func fineAxes(w *world, f authz.FineRule) []fineAxis {
	perms := f.Permissions
	sel := func(ps []string, project, group int64) []service.GranularRequest {
		r := service.GranularRequest{Access: keygate.AccessSelectedMemberships, Permissions: ps}
		if project != 0 {
			r.ProjectIDs = []int64{project}
		} else {
			r.GroupIDs = []int64{group}
		}
		return []service.GranularRequest{r}
	}
	plain := func(a keygate.GranularAccess, ps ...string) []service.GranularRequest {
		return []service.GranularRequest{{Access: a, Permissions: ps}}
	}
	var out []fineAxis
	switch f.Boundary {
	case authz.BoundaryProject:
		out = []fineAxis{
			{"no_permission", plain(keygate.AccessUser, "read_user"), false},
			{"wrong_permission", sel([]string{otherPermission(authz.BoundaryProject, perms)}, w.p["deep"].ID, 0), false},
			{"wrong_boundary", sel(perms, w.p["other"].ID, 0), false},
			{"ancestor_group", sel(perms, 0, w.g["private"].ID), true},
		}
	case authz.BoundaryGroup:
		out = []fineAxis{
			{"no_permission", plain(keygate.AccessUser, "read_user"), false},
			{"wrong_permission", sel([]string{otherPermission(authz.BoundaryGroup, perms)}, 0, w.g["deep"].ID), false},
			{"wrong_boundary", sel(perms, 0, w.g["public"].ID), false},
			{"ancestor_group", sel(perms, 0, w.g["private"].ID), true},
		}
	case authz.BoundaryUser:
		out = []fineAxis{
			{"no_permission", plain(keygate.AccessAllMemberships, "read_member"), false},
			{"wrong_permission", plain(keygate.AccessUser, otherPermission(authz.BoundaryUser, perms)), false},
		}
		if appliesTo(perms, authz.BoundaryInstance) {
			out = append(out, fineAxis{"wrong_boundary", plain(keygate.AccessInstance, perms...), false})
		}
	case authz.BoundaryInstance:
		out = []fineAxis{
			{"no_permission", plain(keygate.AccessAllMemberships, "read_member"), false},
			{"wrong_permission", plain(keygate.AccessInstance, otherPermission(authz.BoundaryInstance, perms)), false},
		}
		if appliesTo(perms, authz.BoundaryUser) {
			out = append(out, fineAxis{"wrong_boundary", plain(keygate.AccessUser, perms...), false})
		}
	}
	return out
}

func TestGranularDenialMatrix(t *testing.T) {
	srv := keygatetest.NewServer(t)
	w := newWorld(t, srv)
	ctx := context.Background()
	routes := api.New(api.Config{}).Routes()
	// Tokens first (one per distinct grant and owner), so that the state snapshot taken
	// before the probes already holds them.
	tokens := map[string]string{}
	tokenFor := func(owner int64, grant []service.GranularRequest) string {
		b, _ := json.Marshal(grant)
		key := itoa(owner) + string(b)
		if tok, ok := tokens[key]; ok {
			return tok
		}
		iss, err := srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), owner, service.TokenInput{Name: "fine", Granular: grant})
		if err != nil {
			t.Fatalf("grant %s for user %d: %v", b, owner, err)
		}
		tokens[key] = iss.Secret.Reveal()
		return tokens[key]
	}
	ownerOf := func(f authz.FineRule) int64 {
		if f.Boundary == authz.BoundaryUser || f.Boundary == authz.BoundaryInstance {
			return 1 // root
		}
		return w.u["olga"].ID
	}
	type probe struct {
		rt   api.Route
		axis fineAxis
		tok  string
	}
	var probes []probe
	unsupported := tokenFor(w.u["olga"].ID, []service.GranularRequest{{Access: keygate.AccessAllMemberships, Permissions: []string{"read_project"}}})
	for _, rt := range routes {
		if strings.HasSuffix(rt.Pattern, "/access_tokens/self") || strings.HasSuffix(rt.Pattern, "/access_tokens/self/rotate") {
			continue // only the resource's own bot token reaches these (405 before any check)
		}
		for _, ax := range fineAxes(w, rt.Fine) {
			probes = append(probes, probe{rt, ax, tokenFor(ownerOf(rt.Fine), ax.grant)})
		}
	}
	baseline := snapshotJSON(t, srv)
	send := func(rt api.Route, tok, path, body string) (int, []byte) {
		req, err := http.NewRequest(rt.Method, srv.API+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("PRIVATE-TOKEN", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, b
	}
	counts := map[string]int{}
	for _, p := range probes {
		key := p.rt.Method + " " + p.rt.Pattern
		path := w.fill(denialPaths[key], "deep")
		body, ok := denialBodies[key]
		if !ok {
			body = defaultDenialBody
		}
		body = w.fill(body, "deep")
		t.Run(p.axis.name+"/"+key, func(t *testing.T) {
			counts[p.axis.name]++
			if !p.axis.allowed {
				status, b := send(p.rt, p.tok, path, body)
				labels := make([]string, len(p.rt.Fine.Permissions))
				for i, perm := range p.rt.Fine.Permissions {
					labels[i] = authz.PermissionLabel(perm)
				}
				sort.Strings(labels)
				want := granularDenied(string(p.rt.Fine.Boundary), strings.Join(labels, ", "))
				if status != 403 || !jsonEqual(b, want) {
					t.Errorf("%s %s = %d %s, want 403 %s", p.rt.Method, path, status, b, want)
				}
				return
			}
			// The ancestor axis: can_i finds no missing permission (and a GET is not
			// refused for one).
			q := url.Values{"method": {p.rt.Method}, "path": {"/api/v4" + strings.SplitN(path, "?", 2)[0]}}
			req, _ := http.NewRequest("GET", srv.API+"/keygate/can_i?"+q.Encode(), nil)
			req.Header.Set("PRIVATE-TOKEN", p.tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var ci struct {
				Status  int      `json:"status"`
				Reasons []string `json:"reasons"`
			}
			err = json.NewDecoder(resp.Body).Decode(&ci)
			resp.Body.Close()
			if err != nil || strings.Contains(strings.Join(ci.Reasons, " "), "missing permission") {
				t.Errorf("can_i %s %s with the permission on an ancestor group = %+v (%v)", p.rt.Method, path, ci, err)
			}
			if p.rt.Method == "GET" {
				if status, b := send(p.rt, p.tok, path, ""); status == 403 && strings.Contains(string(b), "insufficient_granular_scope") {
					t.Errorf("GET %s with the permission on an ancestor group = %d %s", path, status, b)
				}
			}
		})
	}
	// Routes without permissions: not supported ones refuse every fine-grained token.
	for _, rt := range routes {
		if rt.Fine.Unsupported == "" {
			continue
		}
		key := rt.Method + " " + rt.Pattern
		status, b := send(rt, unsupported, w.fill(denialPaths[key], "deep"), defaultDenialBody)
		if want := `{"error":"insufficient_granular_scope","error_description":"` + authz.MsgGranularUnsupported + `"}`; status != 403 || !jsonEqual(b, want) {
			t.Errorf("%s (not supported) = %d %s, want 403 %s", key, status, b, want)
		}
	}
	if after := snapshotJSON(t, srv); after != baseline {
		t.Error("fine-grained refusals changed state")
	}
	t.Logf("probes per axis: %v", counts)
}
