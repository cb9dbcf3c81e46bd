package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// routes is the UI's route table (GitLab's web paths). Project pages live below
// /<namespace>/<project>/-/, so the catch-all hands every path it does not know to the
// server's 404; the server mounts the API, /-/health and Git before it.
func (w *Web) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /assets/{file}", w.assets())
	mux.HandleFunc("GET /{$}", w.home)
	mux.HandleFunc("GET /users/sign_in", w.signInForm)
	mux.HandleFunc("POST /users/sign_in", w.signIn)
	mux.HandleFunc("POST /users/sign_out", w.auth(w.signOut))
	mux.HandleFunc("GET /-/user_settings/password/edit", w.auth(w.passwordForm))
	mux.HandleFunc("POST /-/user_settings/password", w.auth(w.changePassword))
	mux.HandleFunc("/-/user_settings/personal_access_tokens", w.auth(w.personalTokens))
	mux.HandleFunc("/-/user_settings/personal_access_tokens/{rest...}", w.auth(w.personalTokens))
	mux.HandleFunc("/-/user_settings/can_i", w.auth(w.canIPage))
	mux.HandleFunc("GET /admin", w.admin(func(rw http.ResponseWriter, r *http.Request, _ signedIn) { redirect(rw, r, "/admin/users") }))
	mux.HandleFunc("/admin/users", w.admin(w.adminUsers))
	mux.HandleFunc("/admin/users/{username}", w.admin(w.adminUser))
	mux.HandleFunc("/admin/users/{username}/{rest...}", w.admin(w.adminUser))
	mux.HandleFunc("GET /admin/credentials", w.admin(w.credentials))
	mux.HandleFunc("/admin/credentials/{id}/revoke", w.admin(w.credentialRevoke))
	mux.HandleFunc("/admin/application_settings/general", w.admin(w.settingsForm))
	mux.HandleFunc("/groups/{rest...}", w.groupPages)
	mux.HandleFunc("/", w.projectPages)
	return mux
}

type dashboardPage struct {
	Projects []dashboardRow
	Groups   []dashboardRow
}

// dashboardRow is a project or group with the pages the user's role opens.
type dashboardRow struct {
	Path            string // web path: "/ns/proj" or "/groups/g"
	Name            string
	Members         string // members page
	Tokens          bool
	ServiceAccounts bool
}

// dashboard lists the user's projects and groups with links to their pages.
func (w *Web) dashboard(rw http.ResponseWriter, r *http.Request, s signedIn) {
	ctx, sub := r.Context(), s.sess.Subject()
	pg := store.Page{Number: 1, Size: 100}
	ps, _, err := w.svc.Projects(ctx, sub, service.ProjectListInput{Membership: true, OrderBy: "name", Sort: "asc", Page: pg})
	if err != nil {
		w.internalError(rw, r, err)
		return
	}
	gs, _, err := w.svc.Groups(ctx, sub, service.GroupListInput{OrderBy: "name", Sort: "asc", Page: pg})
	if err != nil {
		w.internalError(rw, r, err)
		return
	}
	var d dashboardPage
	for _, p := range ps {
		acc, err := w.svc.ProjectAccess(ctx, sub, p)
		if err != nil {
			w.internalError(rw, r, err)
			return
		}
		full := p.Namespace.FullPath + "/" + p.Path
		d.Projects = append(d.Projects, dashboardRow{Path: "/" + full, Name: full, Members: "project_members",
			Tokens: authz.DecideResource(sub, acc, authz.ActReadTokens).Allowed})
	}
	for _, g := range gs {
		acc, err := w.svc.GroupAccess(ctx, sub, g)
		if err != nil {
			w.internalError(rw, r, err)
			return
		}
		d.Groups = append(d.Groups, dashboardRow{Path: "/groups/" + g.FullPath, Name: g.FullPath, Members: "group_members",
			Tokens:          authz.DecideResource(sub, acc, authz.ActReadTokens).Allowed,
			ServiceAccounts: authz.DecideResource(sub, acc, authz.ActAdminServiceAc).Allowed})
	}
	v := s.view("Dashboard")
	v.Notice = noticeFrom(r)
	v.Data = d
	w.render(rw, r, http.StatusOK, "dashboard.html", v)
}

type canIPage struct {
	Tokens  []keygate.Token
	Methods []string
	Answer  *CanIAnswer
	Enabled bool
}

// canIPage asks the decision engine what one of the user's tokens may do, without the
// token: the API's can_i judgement through the CanI function the server wires.
func (w *Web) canIPage(rw http.ResponseWriter, r *http.Request, s signedIn) {
	ctx, sub := r.Context(), s.sess.Subject()
	ts, _, err := w.svc.Tokens(ctx, sub, store.TokenFilter{UserID: s.sess.User.ID, Impersonation: ptr(false), State: "active", Sort: "name_asc", Page: store.Page{Number: 1, Size: 100}})
	if err != nil {
		w.internalError(rw, r, err)
		return
	}
	p := canIPage{Tokens: ts, Methods: []string{"GET", "POST", "PUT", "PATCH", "DELETE"}, Enabled: w.canI != nil}
	v := s.view("Can this token do it?")
	status := http.StatusOK
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		v.Form.Set("method", "GET")
	case http.MethodPost:
		v.Form = r.PostForm
		fe := fieldErrors{}
		id, err := strconv.ParseInt(r.PostForm.Get("token_id"), 10, 64)
		if err != nil {
			fe["token_id"] = "Choose one of your active tokens"
		}
		method := strings.ToUpper(r.PostForm.Get("method"))
		if !contains(p.Methods, method) {
			fe["method"] = "Choose a method from the list"
		}
		path := strings.TrimSpace(r.PostForm.Get("path"))
		if path == "" {
			fe["path"] = "Path can't be blank"
		}
		if len(fe) == 0 && !p.Enabled {
			fe[""] = "The decision engine is not available on this server"
		}
		if len(fe) == 0 {
			pr, err := w.svc.TokenPrincipal(ctx, sub, id)
			if err != nil {
				var ok bool
				if fe, ok = errorFor(err); !ok {
					w.internalError(rw, r, err)
					return
				}
				if m, ok := fe[""]; ok { // not found: the token select is the field
					delete(fe, "")
					fe["token_id"] = m
				}
			} else {
				ans, err := w.canI(ctx, pr, method, path)
				if err != nil {
					var ok bool
					if fe, ok = errorFor(err); !ok {
						w.internalError(rw, r, err)
						return
					}
				} else {
					p.Answer = &ans
				}
			}
		}
		if len(fe) > 0 {
			v.Errors, status = fe, http.StatusUnprocessableEntity
		}
	default:
		methodNotAllowed(rw, "GET, POST")
		return
	}
	v.Data = p
	w.render(rw, r, status, "can_i.html", v)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
