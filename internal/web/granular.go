package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// Fine-grained tokens in the UI (docs/fine-grained.md): the create form's grant section,
// the grant shown in the token tables, and the usage-based suggestion of a token's page.
// The form is read into the same service.TokenInput.Granular the API builds from
// granular_scopes; every rule about the grant stays in the service and authz.

// accessDescriptions say what each access value covers (docs/fine-grained.md).
var accessDescriptions = map[keygate.GranularAccess]string{
	keygate.AccessPersonalProjects:    "Projects in your personal namespace",
	keygate.AccessAllMemberships:      "Every project and group you are a member of",
	keygate.AccessSelectedMemberships: "Only the projects and groups listed below (a group includes its subgroups and projects)",
	keygate.AccessUser:                "User-level routes: your user, your tokens, creating projects and groups",
	keygate.AccessInstance:            "Administrators' routes (administrators only)",
}

type accessOption struct {
	Value       string
	Description string
}

type permissionOption struct {
	Name        string
	Label       string
	Description string
	Boundaries  string
}

// granularForm is the fine-grained section of a create form; nil hides it.
type granularForm struct {
	Accesses    []accessOption
	Permissions []permissionOption
}

// granularOptions lists the five access values and the permission catalogue.
func granularOptions() *granularForm {
	f := &granularForm{}
	for _, a := range keygate.GranularAccesses {
		f.Accesses = append(f.Accesses, accessOption{Value: string(a), Description: accessDescriptions[a]})
	}
	for _, p := range authz.Permissions() {
		kinds := make([]string, len(p.Boundaries))
		for i, k := range p.Boundaries {
			kinds[i] = string(k)
		}
		f.Permissions = append(f.Permissions, permissionOption{Name: p.Name, Label: p.Label(), Description: p.Description, Boundaries: strings.Join(kinds, ", ")})
	}
	return f
}

// Form fields of the grant section.
const (
	fieldKind        = "token_kind" // "legacy" (default) or "granular"
	fieldAccess      = "granular_access"
	fieldPermissions = "granular_permissions"
	fieldProjects    = "granular_projects"
	fieldGroups      = "granular_groups"
	// fieldNamespaces is where errors about the listed projects and groups are shown.
	fieldNamespaces = "granular_namespaces"
)

// wantsGranular reports whether a create form asked for a fine-grained token.
func wantsGranular(f url.Values) bool { return f.Get(fieldKind) == "granular" }

// refSplit separates the project and group references of a field.
var refSplit = regexp.MustCompile(`[\s,]+`)

func refs(s string) []string {
	var out []string
	for _, r := range refSplit.Split(strings.TrimSpace(s), -1) {
		if r = strings.Trim(r, "/"); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// msgNamespaceNotFound is one answer for a project or group that does not exist and one
// the owner cannot see, so the form reveals no more than the API's 404.
const (
	msgProjectNotFound = "A project was not found, or you cannot see it"
	msgGroupNotFound   = "A group was not found, or you cannot see it"
)

// parseGrant reads the grant section into one granular_scopes entry. Project and group
// paths are turned into IDs with the service's lookups; whether the owner may see them,
// and every rule on the permissions, is the service's (service.CreatePersonalToken).
func (w *Web) parseGrant(ctx context.Context, f url.Values, errs fieldErrors) ([]service.GranularRequest, error) {
	var r service.GranularRequest
	a, err := keygate.ParseGranularAccess(f.Get(fieldAccess))
	if err != nil {
		errs[fieldAccess] = "Select the access of the token"
	}
	r.Access = a
	r.Permissions = append([]string{}, f[fieldPermissions]...)
	projects, groups := refs(f.Get(fieldProjects)), refs(f.Get(fieldGroups))
	if a != keygate.AccessSelectedMemberships && (len(projects) > 0 || len(groups) > 0) && err == nil {
		errs[fieldNamespaces] = "Projects and groups can be listed only with selected_memberships access"
	}
	for _, ref := range projects {
		p, err := w.svc.Project(ctx, ref)
		if errors.Is(err, service.ErrProjectNotFound) {
			errs[fieldNamespaces] = msgProjectNotFound
			break
		} else if err != nil {
			return nil, err
		}
		r.ProjectIDs = append(r.ProjectIDs, p.ID)
	}
	for _, ref := range groups {
		g, err := w.svc.Group(ctx, ref)
		if errors.Is(err, service.ErrGroupNotFound) {
			if errs[fieldNamespaces] == "" {
				errs[fieldNamespaces] = msgGroupNotFound
			}
			break
		} else if err != nil {
			return nil, err
		}
		r.GroupIDs = append(r.GroupIDs, g.ID)
	}
	return []service.GranularRequest{r}, nil
}

// grantFieldRE finds the field a service message about granular_scopes[i][x] names.
var grantFieldRE = regexp.MustCompile(`^granular_scopes\[\d+\]\[(\w+)\] `)

// grantErrors places the service's refusal of a grant next to the form field it is
// about; ok is false for errors that are not the request's fault.
func grantErrors(err error) (fieldErrors, bool) {
	switch {
	case errors.Is(err, service.ErrProjectNotFound):
		return fieldErrors{fieldNamespaces: msgProjectNotFound}, true
	case errors.Is(err, service.ErrGroupNotFound):
		return fieldErrors{fieldNamespaces: msgGroupNotFound}, true
	}
	var ke *keygate.Error
	if !errors.As(err, &ke) || ke.Field != "granular_scopes" {
		return errorFor(err)
	}
	msg := ke.Message
	if m := grantFieldRE.FindStringSubmatch(msg); m != nil {
		rest := strings.TrimPrefix(msg, m[0])
		if m[1] == "permissions" {
			if rest == "is empty" {
				return fieldErrors{fieldPermissions: "Select at least one permission"}, true
			}
			return fieldErrors{fieldPermissions: "Permissions " + rest}, true
		}
		return fieldErrors{fieldAccess: msg}, true
	}
	switch msg {
	case authz.MsgGranularNoScopes:
		return fieldErrors{fieldNamespaces: "List at least one project or group for selected_memberships access"}, true
	case authz.MsgGranularSameNamespace:
		return fieldErrors{fieldNamespaces: "A project or group is listed twice"}, true
	}
	return fieldErrors{fieldAccess: msg}, true
}

// grantDescriber writes a fine-grained token's stored scopes as text, naming selected
// projects and groups by path; lookups are shared across one page.
type grantDescriber struct {
	w     *Web
	names map[string]string
}

func (w *Web) grantDescriber() *grantDescriber {
	return &grantDescriber{w: w, names: map[string]string{}}
}

// target names a stored scope's project, group or personal namespace ("" for none).
func (d *grantDescriber) target(ctx context.Context, sc keygate.GranularScope) string {
	var key string
	switch {
	case sc.ProjectID != 0:
		key = "project " + strconv.FormatInt(sc.ProjectID, 10)
	case sc.GroupID != 0:
		key = "group " + strconv.FormatInt(sc.GroupID, 10)
	case sc.NamespaceID != 0:
		key = "namespace " + strconv.FormatInt(sc.NamespaceID, 10)
	default:
		return ""
	}
	if n, ok := d.names[key]; ok {
		return n
	}
	n := key // a project or group deleted since: its ID
	switch {
	case sc.ProjectID != 0:
		if p, err := d.w.svc.Project(ctx, strconv.FormatInt(sc.ProjectID, 10)); err == nil {
			n = "project " + p.FullPath()
		}
	case sc.GroupID != 0:
		if g, err := d.w.svc.Group(ctx, strconv.FormatInt(sc.GroupID, 10)); err == nil {
			n = "group " + g.FullPath
		}
	}
	d.names[key] = n
	return n
}

// grantLine is one stored scope of a fine-grained token, for the tables.
type grantLine struct {
	Access      string
	Permissions string
	Target      string
}

func (d *grantDescriber) lines(ctx context.Context, t keygate.Token) []grantLine {
	if !t.Granular {
		return nil
	}
	out := make([]grantLine, 0, len(t.GranularScopes))
	for _, sc := range t.GranularScopes {
		out = append(out, grantLine{Access: string(sc.Access), Permissions: strings.Join(sc.Permissions, ", "), Target: d.target(ctx, sc)})
	}
	return out
}

// describe fills the rows' grants.
func (d *grantDescriber) describe(ctx context.Context, rows []tokenRow) []tokenRow {
	for i := range rows {
		rows[i].Grant = d.lines(ctx, rows[i].Token)
	}
	return rows
}

// UsageFunc returns the body of GET /personal_access_tokens/:id/keygate/usage for a
// token over days (wired by the server to api.API.UsageReport, so the UI and the API
// suggest alike).
type UsageFunc func(ctx context.Context, t keygate.Token, days int) ([]byte, error)

// usageDays is the suggestion's look-back: the API's default.
const usageDays = 30

// usageReport is the part of the usage body the token page shows.
type usageReport struct {
	Since string `json:"since"`
	Uses  []struct {
		Route       string   `json:"route"`
		Permissions []string `json:"permissions"`
		Boundary    string   `json:"boundary_type"`
		BoundaryID  *int64   `json:"boundary_id"`
		Count       int64    `json:"count"`
		LastUsedAt  string   `json:"last_used_at"`
		// Where names the boundary for the page ("project group/app").
		Where string `json:"-"`
	} `json:"uses"`
	GranularScopes json.RawMessage `json:"granular_scopes"`
	UnusedScopes   []string        `json:"unused_scopes"`
	// Suggestion is granular_scopes indented, ready to paste; Lines its height.
	Suggestion string `json:"-"`
	Lines      int    `json:"-"`
}

func decodeUsage(body []byte) (usageReport, error) {
	var u usageReport
	if err := json.Unmarshal(body, &u); err != nil {
		return u, err
	}
	pretty, err := json.MarshalIndent(json.RawMessage(u.GranularScopes), "", "  ")
	if err != nil {
		return u, err
	}
	u.Suggestion = string(pretty)
	u.Lines = strings.Count(u.Suggestion, "\n") + 1
	return u, nil
}

// tokenDetailPage is the model of token.html.
type tokenDetailPage struct {
	Row  tokenRow
	Base string
	// Usage is nil when the server wired no usage report.
	Usage *usageReport
	Days  int
}

// tokenDetail shows one token: its scopes or grant, and its recorded use of the last
// usageDays days with the smallest grant that would have allowed it and the legacy
// scopes it never needed (GET /personal_access_tokens/:id/keygate/usage).
func (w *Web) tokenDetail(rw http.ResponseWriter, r *http.Request, s signedIn, sc tokenScope, id int64) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(rw, "GET")
		return
	}
	t, err := sc.get(r.Context(), id)
	if err != nil {
		w.pageNotFound(rw, r)
		return
	}
	row := rowFor(t, w.svc.Clock().Now())
	row.Grant = w.grantDescriber().lines(r.Context(), t)
	p := tokenDetailPage{Row: row, Base: sc.base, Days: usageDays}
	if w.usage != nil {
		body, err := w.usage(r.Context(), t, usageDays)
		if err != nil {
			w.internalError(rw, r, err)
			return
		}
		u, err := decodeUsage(body)
		if err != nil {
			w.internalError(rw, r, err)
			return
		}
		d := w.grantDescriber()
		for i, use := range u.Uses {
			u.Uses[i].Where = use.Boundary
			if use.BoundaryID != nil {
				sc := keygate.GranularScope{}
				switch use.Boundary {
				case string(authz.BoundaryProject):
					sc.ProjectID = *use.BoundaryID
				case string(authz.BoundaryGroup):
					sc.GroupID = *use.BoundaryID
				}
				if u.Uses[i].Where = d.target(r.Context(), sc); u.Uses[i].Where == "" {
					u.Uses[i].Where = use.Boundary + " " + strconv.FormatInt(*use.BoundaryID, 10)
				}
			}
			if at, err := time.Parse(time.RFC3339, use.LastUsedAt); err == nil {
				u.Uses[i].LastUsedAt = at.UTC().Format("2006-01-02 15:04 UTC")
			}
		}
		p.Usage = &u
	}
	v := s.view("Token " + t.Name)
	v.Data = p
	w.render(rw, r, http.StatusOK, "token.html", v)
}
