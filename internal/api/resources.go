package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// namespaceInput reads the fields groups and projects share.
func namespaceInput(p *params) (service.NamespaceInput, error) {
	var in service.NamespaceInput
	var err error
	if in.Name, err = p.strPtr("name"); err != nil {
		return in, err
	}
	if in.Path, err = p.strPtr("path"); err != nil {
		return in, err
	}
	if in.Description, err = p.strPtr("description"); err != nil {
		return in, err
	}
	if in.DefaultBranch, err = p.strPtr("default_branch"); err != nil {
		return in, err
	}
	if v, err := p.oneOf("visibility", "private", "internal", "public"); err != nil {
		return in, err
	} else if v != "" {
		vis := keygate.Visibility(v)
		in.Visibility = &vis
	}
	if in.ResourceAccessTokensAllowed, err = p.boolean("resource_access_token_creation_allowed"); err != nil {
		return in, err
	}
	return in, nil
}

// registryInput reads a project's container registry setting: the access level, or the
// deprecated container_registry_enabled (true is enabled, false disabled) when the level
// is not given, as GitLab maps it.
func registryInput(p *params, in *service.NamespaceInput) error {
	v, err := p.oneOf("container_registry_access_level", "enabled", "private", "disabled")
	if err != nil {
		return err
	}
	if v != "" {
		l := keygate.RegistryAccessLevel(v)
		in.RegistryAccessLevel = &l
		return nil
	}
	on, err := p.boolean("container_registry_enabled")
	if err != nil || on == nil {
		return err
	}
	l := keygate.RegistryDisabled
	if *on {
		l = keygate.RegistryEnabled
	}
	in.RegistryAccessLevel = &l
	return nil
}

// modelErr renders a service validation failure as GitLab's model body
// {"message":{"field":["msg"]}}; other errors pass through.
func modelErr(err error) error {
	if ke, ok := err.(*keygate.Error); ok && ke.Code == keygate.CodeInvalid && ke.Field != "" {
		return validationError(ke.Field, ke.Message)
	}
	return err
}

func accepted(w http.ResponseWriter) {
	writeJSON(w, http.StatusAccepted, map[string]string{"message": "202 Accepted"})
}

func minAccess(p *params) (keygate.AccessLevel, error) {
	n, err := p.integer("min_access_level")
	if err != nil || n == nil {
		return 0, err
	}
	l := keygate.AccessLevel(*n)
	if !l.Valid() {
		return 0, paramError("min_access_level does not have a valid value")
	}
	return l, nil
}

func boolParam(p *params, name string) (bool, error) {
	b, err := p.boolean(name)
	if err != nil || b == nil {
		return false, err
	}
	return *b, nil
}

// --- groups ---

func (a *API) listGroups(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := groupListInput(c.p)
	if err != nil {
		return err
	}
	gs, total, err := a.svc.Groups(r.Context(), c.subject, in)
	if err != nil {
		return err
	}
	paginate(w, r, in.Page, total, a.externalURL)
	out := make([]groupJSON, len(gs))
	for i, g := range gs {
		out[i] = a.group(g)
	}
	writeJSON(w, 200, out)
	return nil
}

func groupListInput(p *params) (service.GroupListInput, error) {
	var in service.GroupListInput
	var err error
	if in.Page, err = p.page(); err != nil {
		return in, err
	}
	if in.AllAvailable, err = p.boolean("all_available"); err != nil {
		return in, err
	}
	if in.Owned, err = boolParam(p, "owned"); err != nil {
		return in, err
	}
	if in.TopLevelOnly, err = boolParam(p, "top_level_only"); err != nil {
		return in, err
	}
	if in.MinAccessLevel, err = minAccess(p); err != nil {
		return in, err
	}
	if in.Search, in.Visibility, err = searchAndVisibility(p); err != nil {
		return in, err
	}
	if in.OrderBy, err = p.oneOf("order_by", "name", "path", "id", "similarity"); err != nil {
		return in, err
	}
	if in.OrderBy == "similarity" {
		in.OrderBy = "name"
	}
	if in.Sort, err = p.oneOf("sort", "asc", "desc"); err != nil {
		return in, err
	}
	return in, nil
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	out := groupDetailJSON{groupJSON: a.group(c.group), SharedWithGroups: []any{}}
	with, err := c.p.boolean("with_projects")
	if err != nil {
		return err
	}
	if with == nil || *with {
		ps, _, err := a.svc.Projects(r.Context(), c.subject, service.ProjectListInput{NamespaceID: c.group.ID})
		if err != nil {
			return err
		}
		out.Projects = make([]projectJSON, 0, len(ps))
		for _, p := range ps {
			out.Projects = append(out.Projects, a.project(p, nil))
		}
		out.SharedProjects = []projectJSON{}
		if len(out.Projects) == 0 {
			out.Projects = nil // omitted rather than empty: the keys appear with content
		}
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := c.p.requiredStr("name"); err != nil {
		return err
	}
	if _, err := c.p.requiredStr("path"); err != nil {
		return err
	}
	in, err := namespaceInput(c.p)
	if err != nil {
		return err
	}
	if id, err := c.p.integer("parent_id"); err != nil {
		return err
	} else if id != nil {
		in.ParentID = *id
	}
	g, err := a.svc.CreateGroup(r.Context(), c.subject, in)
	if err != nil {
		return modelErr(err)
	}
	writeJSON(w, 201, groupDetailJSON{groupJSON: a.group(g), SharedWithGroups: []any{}})
	return nil
}

func (a *API) updateGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := namespaceInput(c.p)
	if err != nil {
		return err
	}
	if in.Granular, err = granularPolicyInput(c.p); err != nil {
		return err
	}
	g, err := a.svc.UpdateGroup(r.Context(), c.subject, c.group, in)
	if err != nil {
		return modelErr(err)
	}
	writeJSON(w, 200, groupDetailJSON{groupJSON: a.group(g), SharedWithGroups: []any{}})
	return nil
}

func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.svc.DeleteGroup(r.Context(), c.group); err != nil {
		return err
	}
	accepted(w)
	return nil
}

func (a *API) listSubgroups(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := groupListInput(c.p)
	if err != nil {
		return err
	}
	in.ParentID = &c.group.ID
	gs, total, err := a.svc.Groups(r.Context(), c.subject, in)
	if err != nil {
		return err
	}
	paginate(w, r, in.Page, total, a.externalURL)
	out := make([]groupJSON, len(gs))
	for i, g := range gs {
		out[i] = a.group(g)
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) listGroupProjects(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := projectListInput(c.p)
	if err != nil {
		return err
	}
	in.NamespaceID = c.group.ID
	if in.WithSubgroups, err = boolParam(c.p, "include_subgroups"); err != nil {
		return err
	}
	return a.writeProjects(w, r, c, in, false)
}

// --- projects ---

// searchAndVisibility reads the filters the group and project lists share.
func searchAndVisibility(p *params) (string, keygate.Visibility, error) {
	s, _, err := p.str("search")
	if err != nil {
		return "", "", err
	}
	v, err := p.oneOf("visibility", "private", "internal", "public")
	return s, keygate.Visibility(v), err
}

func projectListInput(p *params) (service.ProjectListInput, error) {
	var in service.ProjectListInput
	var err error
	if in.Page, err = p.page(); err != nil {
		return in, err
	}
	if in.Owned, err = boolParam(p, "owned"); err != nil {
		return in, err
	}
	if in.Membership, err = boolParam(p, "membership"); err != nil {
		return in, err
	}
	if in.MinAccessLevel, err = minAccess(p); err != nil {
		return in, err
	}
	if in.Search, in.Visibility, err = searchAndVisibility(p); err != nil {
		return in, err
	}
	if in.OrderBy, err = p.oneOf("order_by", "id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity", "star_count"); err != nil {
		return in, err
	}
	switch in.OrderBy {
	case "similarity", "star_count":
		in.OrderBy = "created_at"
	}
	if in.Sort, err = p.oneOf("sort", "asc", "desc"); err != nil {
		return in, err
	}
	return in, nil
}

// writeProjects lists projects; withAccess adds the caller's permissions
// (ProjectWithAccess), as GET /projects does for signed-in callers.
func (a *API) writeProjects(w http.ResponseWriter, r *http.Request, c *call, in service.ProjectListInput, withAccess bool) error {
	ps, total, err := a.svc.Projects(r.Context(), c.subject, in)
	if err != nil {
		return err
	}
	paginate(w, r, in.Page, total, a.externalURL)
	out := make([]projectJSON, 0, len(ps))
	for _, p := range ps {
		pj, err := a.projectFor(r, c, p, withAccess && c.subject.Authenticated())
		if err != nil {
			return err
		}
		out = append(out, pj)
	}
	writeJSON(w, 200, out)
	return nil
}

// projectFor renders a project for the caller, with its owner for personal projects and,
// when asked, the caller's permissions.
func (a *API) projectFor(r *http.Request, c *call, p keygate.Project, withAccess bool) (projectJSON, error) {
	var owner *keygate.User
	if p.Namespace.Kind == keygate.NamespaceUser {
		if u, err := a.svc.User(r.Context(), p.Namespace.OwnerID); err == nil {
			owner = &u
		}
	}
	pj := a.project(p, owner)
	if withAccess {
		perm, err := a.svc.Permissions(r.Context(), c.subject, p)
		if err != nil {
			return pj, err
		}
		pj.Permissions = &permissionsJSON{}
		if perm.Project > 0 {
			pj.Permissions.ProjectAccess = &memberAccessJSON{AccessLevel: int(perm.Project), NotificationLevel: 3}
		}
		if perm.Group > 0 {
			pj.Permissions.GroupAccess = &memberAccessJSON{AccessLevel: int(perm.Group), NotificationLevel: 3}
		}
	}
	return pj, nil
}

func (a *API) listProjects(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := projectListInput(c.p)
	if err != nil {
		return err
	}
	return a.writeProjects(w, r, c, in, true)
}

func (a *API) listUserProjects(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := r.PathValue("user_id")
	u, err := a.svc.UserByRef(r.Context(), ref)
	if err != nil {
		return err
	}
	in, err := projectListInput(c.p)
	if err != nil {
		return err
	}
	ps, total, err := a.svc.UserProjects(r.Context(), c.subject, u, in)
	if err != nil {
		return err
	}
	paginate(w, r, in.Page, total, a.externalURL)
	out := make([]projectJSON, 0, len(ps))
	for _, p := range ps {
		pj, err := a.projectFor(r, c, p, c.subject.Authenticated())
		if err != nil {
			return err
		}
		out = append(out, pj)
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request, c *call) error {
	pj, err := a.projectFor(r, c, c.project, c.subject.Authenticated())
	if err != nil {
		return err
	}
	if c.subject.Admin() || c.res.Access >= keygate.Maintainer {
		if err := a.adminFields(r, &pj, c.project); err != nil {
			return err
		}
	}
	writeJSON(w, 200, pj)
	return nil
}

func (a *API) createProject(w http.ResponseWriter, r *http.Request, c *call) error {
	if !c.p.has("name") && !c.p.has("path") {
		return paramError("name, path are missing, at least one parameter must be provided")
	}
	in, err := namespaceInput(c.p)
	if err != nil {
		return err
	}
	if id, err := c.p.integer("namespace_id"); err != nil {
		return err
	} else if id != nil {
		in.ParentID = *id
	}
	if err := registryInput(c.p, &in); err != nil {
		return err
	}
	p, err := a.svc.CreateProject(r.Context(), c.subject, in)
	if err != nil {
		return modelErr(err)
	}
	pj, err := a.projectFor(r, c, p, false)
	if err != nil {
		return err
	}
	writeJSON(w, 201, pj)
	return nil
}

func (a *API) updateProject(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := namespaceInput(c.p)
	if err != nil {
		return err
	}
	push, err := c.p.boolean("ci_push_repository_for_job_token_allowed")
	if err != nil {
		return err
	}
	if err := registryInput(c.p, &in); err != nil {
		return err
	}
	p, err := a.svc.UpdateProject(r.Context(), c.subject, c.project, c.res, in)
	if err != nil {
		return modelErr(err)
	}
	if push != nil {
		if _, err := a.svc.SetJobTokenScope(r.Context(), p, nil, push); err != nil {
			return err
		}
	}
	pj, err := a.projectFor(r, c, p, false)
	if err != nil {
		return err
	}
	if err := a.adminFields(r, &pj, p); err != nil {
		return err
	}
	writeJSON(w, 200, pj)
	return nil
}

// adminFields adds the fields GitLab shows only to those who may administer the project
// (Maintainer+): the job-token push setting.
func (a *API) adminFields(r *http.Request, pj *projectJSON, p keygate.Project) error {
	sc, err := a.svc.JobTokenScope(r.Context(), p)
	if err != nil {
		return err
	}
	pj.CIJobTokenScopeEnabled = &sc.InboundEnabled
	pj.CIPushRepositoryForJobToken = &sc.PushAllowed
	return nil
}

func (a *API) deleteProject(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.svc.DeleteProject(r.Context(), c.project); err != nil {
		return err
	}
	accepted(w)
	return nil
}

// --- members ---

func (a *API) source(r *http.Request, c *call) (service.Source, error) {
	if c.res.Kind == authz.KindGroup {
		return a.svc.GroupSource(r.Context(), c.group, c.res)
	}
	return a.svc.ProjectSource(r.Context(), c.project, c.res)
}

func (a *API) memberView(m service.MemberView) memberJSON {
	return a.member(m.Member, m.User, m.CreatedBy)
}

func (a *API) listMembers(all bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		pg, err := c.p.page()
		if err != nil {
			return err
		}
		src, err := a.source(r, c)
		if err != nil {
			return err
		}
		ms, err := a.svc.Members(r.Context(), src, all)
		if err != nil {
			return err
		}
		if q, _, _ := c.p.str("query"); q != "" {
			ms = filterMembers(ms, q)
		}
		total := len(ms)
		lo := min(pg.Offset(), total)
		hi := min(lo+pg.Size, total)
		paginate(w, r, pg, total, a.externalURL)
		out := make([]memberJSON, 0, hi-lo)
		for _, m := range ms[lo:hi] {
			out = append(out, a.memberView(m))
		}
		writeJSON(w, 200, out)
		return nil
	}
}

func filterMembers(ms []service.MemberView, q string) []service.MemberView {
	out := ms[:0]
	for _, m := range ms {
		if containsFold(m.User.Username, q) || containsFold(m.User.Name, q) || containsFold(m.User.Email, q) {
			out = append(out, m)
		}
	}
	return out
}

func (a *API) getMember(all bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		uid, err := pathID(r, "user_id")
		if err != nil {
			return err
		}
		src, err := a.source(r, c)
		if err != nil {
			return err
		}
		m, err := a.svc.Member(r.Context(), src, uid, all)
		if err != nil {
			return err
		}
		writeJSON(w, 200, a.memberView(m))
		return nil
	}
}

func memberInput(p *params, requireUser bool) (service.MemberInput, error) {
	var in service.MemberInput
	lvl, err := p.integer("access_level")
	if err != nil {
		return in, err
	}
	if lvl == nil {
		return in, paramError("access_level is missing")
	}
	in.AccessLevel = keygate.AccessLevel(*lvl)
	if in.ExpiresAt, err = p.date("expires_at"); err != nil {
		return in, err
	}
	if requireUser {
		hasID, hasName := p.has("user_id"), p.has("username")
		switch {
		case hasID && hasName:
			return in, paramError("user_id, username are mutually exclusive")
		case !hasID && !hasName:
			return in, paramError("user_id, username are missing, at least one parameter must be provided")
		case hasID:
			id, err := p.integer("user_id")
			if err != nil {
				return in, err
			}
			in.UserID = *id
		default:
			in.Username, _, _ = p.str("username")
		}
	}
	return in, nil
}

func (a *API) addMember(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := memberInput(c.p, true)
	if err != nil {
		return err
	}
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	m, err := a.svc.AddMember(r.Context(), c.subject, src, in)
	if err != nil {
		return modelErr(err)
	}
	writeJSON(w, 201, a.memberView(m))
	return nil
}

func (a *API) updateMember(w http.ResponseWriter, r *http.Request, c *call) error {
	uid, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	in, err := memberInput(c.p, false)
	if err != nil {
		return err
	}
	in.UserID = uid
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	m, err := a.svc.UpdateMember(r.Context(), c.subject, src, in)
	if err != nil {
		return modelErr(err)
	}
	writeJSON(w, 200, a.memberView(m))
	return nil
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request, c *call) error {
	uid, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	if err := a.svc.RemoveMember(r.Context(), c.subject, src, uid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func strconvItoa(n int64) string { return strconv.FormatInt(n, 10) }
