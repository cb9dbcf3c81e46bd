package api

import (
	"net/http"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// jobJSON is the subset of API::Entities::Ci::Job Keygate has meaning for.
type jobJSON struct {
	ID         int64          `json:"id"`
	Status     string         `json:"status"`
	Stage      string         `json:"stage"`
	Name       string         `json:"name"`
	Ref        string         `json:"ref"`
	Tag        bool           `json:"tag"`
	CreatedAt  string         `json:"created_at"`
	StartedAt  string         `json:"started_at"`
	FinishedAt *string        `json:"finished_at"`
	Duration   *float64       `json:"duration"`
	User       userBasicJSON  `json:"user"`
	Pipeline   map[string]any `json:"pipeline"`
	WebURL     string         `json:"web_url"`
	Project    map[string]any `json:"project"`
	TagList    []string       `json:"tag_list"`
	Artifacts  []any          `json:"artifacts"`
	Timeout    int64          `json:"keygate_timeout"` // Keygate extension: seconds the token lives
}

type jobWithTokenJSON struct {
	jobJSON
	Token string `json:"token"`
}

func (a *API) job(j keygate.Job, u keygate.User, p keygate.Project) jobJSON {
	out := jobJSON{
		ID: j.ID, Status: string(j.Status), Stage: "test", Name: j.Name, Ref: j.Ref,
		CreatedAt: ts(j.CreatedAt), StartedAt: ts(j.StartedAt), User: a.userBasic(u),
		Pipeline: map[string]any{"id": j.ID, "project_id": p.ID, "ref": j.Ref, "sha": "", "status": string(j.Status)},
		WebURL:   a.externalURL + "/" + p.FullPath() + "/-/jobs/" + itoa64(j.ID),
		Project:  map[string]any{"ci_job_token_scope_enabled": true},
		TagList:  []string{}, Artifacts: []any{}, Timeout: int64(j.Timeout / time.Second),
	}
	if j.FinishedAt != nil {
		out.FinishedAt = tsPtr(j.FinishedAt)
		d := j.FinishedAt.Sub(j.StartedAt).Seconds()
		out.Duration = &d
	}
	return out
}

// currentJob answers GET /job for a job token: its own job.
func (a *API) currentJob(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.job == nil {
		return unauthorized()
	}
	writeJSON(w, 200, a.job(c.job.Job, c.job.User, c.job.Project))
	return nil
}

func (a *API) startJob(w http.ResponseWriter, r *http.Request, c *call) error {
	ref, _, err := c.p.str("ref")
	if err != nil {
		return err
	}
	name, _, err := c.p.str("name")
	if err != nil {
		return err
	}
	in := service.JobInput{Ref: ref, Name: name}
	if t, ok, err := c.p.str("timeout"); err != nil {
		return err
	} else if ok && t != "" {
		d, perr := time.ParseDuration(t)
		if perr != nil {
			n, ierr := c.p.integer("timeout")
			if ierr != nil {
				return paramError("timeout is invalid")
			}
			d = time.Duration(*n) * time.Second
		}
		in.Timeout = d
	}
	sj, err := a.svc.StartJob(r.Context(), c.subject, c.project, c.res, in)
	if err != nil {
		return err
	}
	writeJSON(w, 201, jobWithTokenJSON{jobJSON: a.job(sj.Job, c.principal.User, c.project), Token: sj.Secret.Reveal()})
	return nil
}

func (a *API) finishJob(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "job_id")
	if err != nil {
		return err
	}
	status, err := c.p.oneOf("status", "success", "failed", "canceled")
	if err != nil {
		return err
	}
	j, err := a.svc.FinishJob(r.Context(), c.subject, c.project, c.res, id, keygate.JobStatus(status))
	if err != nil {
		return err
	}
	u, err := a.svc.User(r.Context(), j.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.job(j, u, c.project))
	return nil
}

// --- job token scope (allowlist) ---

type jobScopeJSON struct {
	InboundEnabled  bool `json:"inbound_enabled"`
	OutboundEnabled bool `json:"outbound_enabled"`
}

func (a *API) getJobTokenScope(w http.ResponseWriter, r *http.Request, c *call) error {
	sc, err := a.svc.JobTokenScope(r.Context(), c.project)
	if err != nil {
		return err
	}
	writeJSON(w, 200, jobScopeJSON{InboundEnabled: sc.InboundEnabled})
	return nil
}

func (a *API) patchJobTokenScope(w http.ResponseWriter, r *http.Request, c *call) error {
	enabled, err := c.p.boolean("enabled")
	if err != nil {
		return err
	}
	if enabled == nil {
		return paramError("enabled is missing")
	}
	if _, err := a.svc.SetJobTokenScope(r.Context(), c.project, enabled, nil); err != nil {
		return badRequestOf(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// badRequestOf renders service refusals on the job-token scope routes as
// "400 Bad request - …".
func badRequestOf(err error) error {
	if ke, ok := err.(*keygate.Error); ok && ke.Code == keygate.CodeInvalid {
		return badRequest(ke.Message)
	}
	return err
}

func (a *API) listJobAllowlist(w http.ResponseWriter, r *http.Request, c *call) error {
	pg, err := c.p.page()
	if err != nil {
		return err
	}
	ps, err := a.svc.AllowedProjects(r.Context(), c.project)
	if err != nil {
		return err
	}
	total := len(ps)
	lo, hi := min(pg.Offset(), total), min(pg.Offset()+pg.Size, total)
	paginate(w, r, pg, total, a.externalURL)
	out := make([]projectJSON, 0, hi-lo)
	for _, p := range ps[lo:hi] {
		out = append(out, a.project(p, nil))
	}
	writeJSON(w, 200, out)
	return nil
}

// allowlistTarget resolves target_project_id the way GitLab does: unknown → 404
// "target_project_id not found", not readable by the caller → 400.
func (a *API) allowlistTarget(r *http.Request, c *call) (keygate.Project, error) {
	id, err := c.p.integer("target_project_id")
	if err != nil {
		return keygate.Project{}, err
	}
	if id == nil {
		return keygate.Project{}, paramError("target_project_id is missing")
	}
	p, err := a.svc.Project(r.Context(), itoa64(*id))
	if err != nil {
		return p, message(404, "404 target_project_id not found Not Found")
	}
	res, err := a.svc.ProjectAccess(r.Context(), c.subject, p)
	if err != nil {
		return p, err
	}
	if !authz.CanRead(c.subject, res) {
		return p, badRequest("The target_project that you are attempting to access does not exist or you don't have permission to perform this action")
	}
	return p, nil
}

func (a *API) addJobAllowlist(w http.ResponseWriter, r *http.Request, c *call) error {
	target, err := a.allowlistTarget(r, c)
	if err != nil {
		return err
	}
	if err := a.svc.AllowProject(r.Context(), c.project, target); err != nil {
		return badRequestOf(err)
	}
	writeJSON(w, 201, map[string]int64{"source_project_id": c.project.ID, "target_project_id": target.ID})
	return nil
}

func (a *API) removeJobAllowlist(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "target_project_id")
	if err != nil {
		return err
	}
	target, err := a.svc.Project(r.Context(), itoa64(id))
	if err != nil {
		return notFound("Project")
	}
	if err := a.svc.DisallowProject(r.Context(), c.project, target); err != nil {
		return badRequestOf(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type allowGroupJSON struct {
	ID     int64  `json:"id"`
	WebURL string `json:"web_url"`
	Name   string `json:"name"`
}

func (a *API) listJobGroupAllowlist(w http.ResponseWriter, r *http.Request, c *call) error {
	pg, err := c.p.page()
	if err != nil {
		return err
	}
	gs, err := a.svc.AllowedGroups(r.Context(), c.project)
	if err != nil {
		return err
	}
	total := len(gs)
	lo, hi := min(pg.Offset(), total), min(pg.Offset()+pg.Size, total)
	paginate(w, r, pg, total, a.externalURL)
	out := make([]allowGroupJSON, 0, hi-lo)
	for _, g := range gs[lo:hi] {
		out = append(out, allowGroupJSON{ID: g.ID, WebURL: a.externalURL + "/groups/" + g.FullPath, Name: g.Name})
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) addJobGroupAllowlist(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.p.integer("target_group_id")
	if err != nil {
		return err
	}
	if id == nil {
		return paramError("target_group_id is missing")
	}
	g, err := a.svc.Group(r.Context(), itoa64(*id))
	if err != nil {
		return message(404, "404 target_group_id not found Not Found")
	}
	res, err := a.svc.GroupAccess(r.Context(), c.subject, g)
	if err != nil {
		return err
	}
	if !authz.CanRead(c.subject, res) {
		return message(404, "404 target_group_id not found Not Found")
	}
	if err := a.svc.AllowGroup(r.Context(), c.project, g); err != nil {
		return badRequestOf(err)
	}
	writeJSON(w, 201, map[string]int64{"source_project_id": c.project.ID, "target_group_id": g.ID})
	return nil
}

func (a *API) removeJobGroupAllowlist(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "target_group_id")
	if err != nil {
		return err
	}
	g, err := a.svc.Group(r.Context(), itoa64(id))
	if err != nil {
		return notFound("Group")
	}
	if err := a.svc.DisallowGroup(r.Context(), c.project, g); err != nil {
		return badRequestOf(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- Keygate extensions: the authentication log and the proposed allowlist ---

type jobAuthJSON struct {
	SourceProjectID   int64  `json:"source_project_id"`
	SourceProjectPath string `json:"source_project_path"`
	LastAuthorizedAt  string `json:"last_authorized_at"`
	Count             int64  `json:"count"`
}

func (a *API) jobTokenAuthLog(w http.ResponseWriter, r *http.Request, c *call) error {
	log, err := a.svc.JobTokenAuthLog(r.Context(), c.project)
	if err != nil {
		return err
	}
	out := make([]jobAuthJSON, 0, len(log))
	for _, e := range log {
		path := ""
		if p, err := a.svc.Project(r.Context(), itoa64(e.SourceProjectID)); err == nil {
			path = p.FullPath()
		}
		out = append(out, jobAuthJSON{SourceProjectID: e.SourceProjectID, SourceProjectPath: path, LastAuthorizedAt: ts(e.LastAt), Count: e.Count})
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) jobAllowlistProposal(w http.ResponseWriter, r *http.Request, c *call) error {
	ps, err := a.svc.AllowlistProposal(r.Context(), c.project)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(ps))
	paths := make([]string, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID)
		paths = append(paths, p.FullPath())
	}
	writeJSON(w, 200, map[string]any{"target_project_ids": ids, "target_project_paths": paths, "target_group_ids": []int64{}})
	return nil
}

func itoa64(n int64) string { return strconvItoa(n) }
