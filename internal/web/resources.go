package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// resource is a project or group page's subject: the source with the caller's access.
type resource struct {
	src     service.Source
	name    string
	webPath string // "/ns/proj" or "/groups/g"
	group   keygate.Group
	isGroup bool
}

// projectPages serves /<namespace>/<project>/-/<page> (GitLab's project paths). Other
// paths are not the UI's and go to the server's 404.
func (w *Web) projectPages(rw http.ResponseWriter, r *http.Request) {
	full, page, ok := strings.Cut(strings.Trim(r.URL.Path, "/"), "/-/")
	if !ok || full == "" {
		w.notFound.ServeHTTP(rw, r)
		return
	}
	if !strings.HasPrefix(page, "settings/access_tokens") && page != "project_members" {
		w.notFound.ServeHTTP(rw, r)
		return
	}
	w.auth(func(rw http.ResponseWriter, r *http.Request, s signedIn) {
		res, ok := w.loadProject(rw, r, s, full)
		if !ok {
			return
		}
		w.resourcePage(rw, r, s, res, page)
	})(rw, r)
}

// groupPages serves /groups/<group>/-/<page>.
func (w *Web) groupPages(rw http.ResponseWriter, r *http.Request) {
	full, page, ok := strings.Cut(strings.Trim(r.PathValue("rest"), "/"), "/-/")
	if !ok || full == "" {
		w.notFound.ServeHTTP(rw, r)
		return
	}
	w.auth(func(rw http.ResponseWriter, r *http.Request, s signedIn) {
		res, ok := w.loadGroup(rw, r, s, full)
		if !ok {
			return
		}
		w.resourcePage(rw, r, s, res, page)
	})(rw, r)
}

// loadProject finds a project the user may see; otherwise the 404 page (a hidden
// project looks like a missing one).
func (w *Web) loadProject(rw http.ResponseWriter, r *http.Request, s signedIn, full string) (resource, bool) {
	ctx, sub := r.Context(), s.sess.Subject()
	p, err := w.svc.Project(ctx, full)
	src, ok := w.loadSource(rw, r, sub, err,
		func() (authz.Resource, error) { return w.svc.ProjectAccess(ctx, sub, p) },
		func(acc authz.Resource) (service.Source, error) { return w.svc.ProjectSource(ctx, p, acc) })
	if !ok {
		return resource{}, false
	}
	return resource{src: src, name: p.Namespace.FullPath + "/" + p.Path, webPath: "/" + p.Namespace.FullPath + "/" + p.Path}, true
}

func (w *Web) loadGroup(rw http.ResponseWriter, r *http.Request, s signedIn, full string) (resource, bool) {
	ctx, sub := r.Context(), s.sess.Subject()
	g, err := w.svc.Group(ctx, full)
	src, ok := w.loadSource(rw, r, sub, err,
		func() (authz.Resource, error) { return w.svc.GroupAccess(ctx, sub, g) },
		func(acc authz.Resource) (service.Source, error) { return w.svc.GroupSource(ctx, g, acc) })
	if !ok {
		return resource{}, false
	}
	return resource{src: src, name: g.FullPath, webPath: "/groups/" + g.FullPath, group: g, isGroup: true}, true
}

// loadSource is what project and group pages share after the lookup: a missing or
// unreadable resource is the 404 page, a failure the error page; otherwise its member
// source. findErr is the lookup's error.
func (w *Web) loadSource(rw http.ResponseWriter, r *http.Request, sub authz.Subject, findErr error,
	access func() (authz.Resource, error), source func(authz.Resource) (service.Source, error)) (service.Source, bool) {
	if findErr != nil {
		w.pageNotFound(rw, r)
		return service.Source{}, false
	}
	acc, err := access()
	if err != nil {
		w.internalError(rw, r, err)
		return service.Source{}, false
	}
	if !authz.DecideResource(sub, acc, authz.ActRead).Allowed {
		w.pageNotFound(rw, r)
		return service.Source{}, false
	}
	src, err := source(acc)
	if err != nil {
		w.internalError(rw, r, err)
		return service.Source{}, false
	}
	return src, true
}

// resourcePage dispatches a project's or group's page; pages the role does not open are
// the 404 GitLab shows.
func (w *Web) resourcePage(rw http.ResponseWriter, r *http.Request, s signedIn, res resource, page string) {
	sub := s.sess.Subject()
	switch {
	case page == "project_members" && !res.isGroup, page == "group_members" && res.isGroup:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(rw, "GET")
			return
		}
		w.members(rw, r, s, res)
	case page == "settings/access_tokens" || strings.HasPrefix(page, "settings/access_tokens/"):
		if !authz.DecideResource(sub, res.src.Resource, authz.ActReadTokens).Allowed {
			w.pageNotFound(rw, r)
			return
		}
		w.tokenAction(rw, r, s, w.resourceScope(s, res), strings.TrimPrefix(page, "settings/access_tokens"))
	case res.isGroup && (page == "settings/service_accounts" || strings.HasPrefix(page, "settings/service_accounts/")):
		if !authz.DecideResource(sub, res.src.Resource, authz.ActAdminServiceAc).Allowed {
			w.pageNotFound(rw, r)
			return
		}
		w.serviceAccounts(rw, r, s, res, strings.Trim(strings.TrimPrefix(page, "settings/service_accounts"), "/"))
	default:
		w.pageNotFound(rw, r)
	}
}

// resourceScope is a project's or group's access tokens.
func (w *Web) resourceScope(s signedIn, res resource) tokenScope {
	sub := s.sess.Subject()
	kind := "Project"
	if res.isGroup {
		kind = "Group"
	}
	levels := levelOptions(sub, res.src.Resource.Access)
	allowed := service.ResourceBotScope
	return tokenScope{
		title: kind + " access tokens · " + res.name, heading: kind + " access tokens",
		intro: "Generate " + strings.ToLower(kind) + " access tokens scoped to " + res.name + " for your applications that need access to the API or Git over HTTP. Each token acts as a bot member with the role you choose, never above your own.",
		base:  res.webPath + "/-/settings/access_tokens",
		form:  w.formWithGrant(scopeOptions(allowed), levels),
		list: func(ctx context.Context, state string) ([]tokenRow, error) {
			rts, _, err := w.svc.ResourceTokens(ctx, sub, res.src, store.TokenFilter{State: state, Sort: sortFor(state), Page: store.Page{Number: 1, Size: 100}})
			rows := make([]tokenRow, 0, len(rts))
			for _, rt := range rts {
				row := rowFor(rt.Token, w.svc.Clock().Now())
				row.Role = rt.AccessLevel.String()
				rows = append(rows, row)
			}
			return rows, err
		},
		get: func(ctx context.Context, id int64) (keygate.Token, error) {
			rt, err := w.svc.ResourceTokenByID(ctx, sub, res.src, id)
			return rt.Token, err
		},
		create: func(ctx context.Context, f url.Values) (keygate.Token, secret.Token, fieldErrors, error) {
			in, fe, err := w.tokenInput(ctx, f, allowed)
			if err != nil {
				return keygate.Token{}, secret.Token{}, nil, err
			}
			lvl := keygate.Maintainer
			if raw := f.Get("access_level"); raw != "" {
				n, err := strconv.Atoi(raw)
				if err != nil || !keygate.AccessLevel(n).Valid() || !containsLevel(levels, n) {
					fe["access_level"] = "Choose one of the roles offered: a token's role cannot be above your own"
				} else {
					lvl = keygate.AccessLevel(n)
				}
			}
			if len(fe) > 0 {
				return keygate.Token{}, secret.Token{}, fe, nil
			}
			rt, err := w.svc.CreateResourceToken(ctx, sub, res.src, service.ResourceTokenInput{TokenInput: in, AccessLevel: lvl})
			return created(rt.Token, rt.Secret, err)
		},
		rotate: func(ctx context.Context, id int64) (keygate.Token, secret.Token, error) {
			rt, err := w.svc.RotateResourceToken(ctx, sub, res.src, id, nil)
			return rt.Token, rt.Secret, err
		},
		revoke: func(ctx context.Context, id int64) error { return w.svc.RevokeResourceToken(ctx, sub, res.src, id) },
	}
}

func containsLevel(ls []levelOption, n int) bool {
	for _, l := range ls {
		if l.Value == n {
			return true
		}
	}
	return false
}

type memberRow struct {
	Username  string
	Name      string
	Role      string
	Source    string
	Bot       string // "", "Bot" or "Service account"
	ExpiresAt string
}

type membersPage struct {
	Heading string
	Rows    []memberRow
	Tokens  string // link to the tokens page when the role opens it
}

// members lists a project's or group's effective members, bots marked.
func (w *Web) members(rw http.ResponseWriter, r *http.Request, s signedIn, res resource) {
	sub := s.sess.Subject()
	if !authz.DecideResource(sub, res.src.Resource, authz.ActReadMembers).Allowed {
		w.pageNotFound(rw, r)
		return
	}
	ms, err := w.svc.Members(r.Context(), res.src, true)
	if err != nil {
		w.internalError(rw, r, err)
		return
	}
	p := membersPage{Heading: "Members of " + res.name}
	if authz.DecideResource(sub, res.src.Resource, authz.ActReadTokens).Allowed {
		p.Tokens = res.webPath + "/-/settings/access_tokens"
	}
	for _, m := range ms {
		row := memberRow{Username: m.User.Username, Name: m.User.Name, Role: m.Member.AccessLevel.String(), Source: "Direct member"}
		if m.Inherited {
			row.Source = "Inherited"
		}
		switch m.User.Type {
		case keygate.UserProjectBot:
			row.Bot = "Bot"
		case keygate.UserServiceAccount:
			row.Bot = "Service account"
		}
		if m.Member.ExpiresAt != nil {
			row.ExpiresAt = m.Member.ExpiresAt.String()
		}
		p.Rows = append(p.Rows, row)
	}
	v := s.view("Members · " + res.name)
	v.Data = p
	w.render(rw, r, http.StatusOK, "members.html", v)
}

type serviceAccountsPage struct {
	Heading  string
	Base     string
	Accounts []keygate.User
}

// serviceAccounts: a group's service accounts (list, create) and, below
// "<user id>/tokens", one account's tokens.
func (w *Web) serviceAccounts(rw http.ResponseWriter, r *http.Request, s signedIn, res resource, rest string) {
	base := res.webPath + "/-/settings/service_accounts"
	if rest == "" {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			w.serviceAccountList(rw, r, s, res, http.StatusOK, s.view("Service accounts · "+res.name))
		case http.MethodPost:
			name, username := strings.TrimSpace(r.PostForm.Get("name")), strings.TrimSpace(r.PostForm.Get("username"))
			_, err := w.svc.CreateServiceAccount(r.Context(), s.sess.Subject(), res.group.ID, service.ServiceAccountInput{Name: &name, Username: &username})
			if err != nil {
				fe, ok := errorFor(err)
				if !ok {
					w.internalError(rw, r, err)
					return
				}
				v := s.view("Service accounts · " + res.name)
				v.Errors, v.Form = fe, r.PostForm
				w.serviceAccountList(rw, r, s, res, http.StatusUnprocessableEntity, v)
				return
			}
			redirect(rw, r, base+"?notice=account_created")
		default:
			methodNotAllowed(rw, "GET, POST")
		}
		return
	}
	idStr, tail, _ := strings.Cut(rest, "/")
	id, err := strconv.ParseInt(idStr, 10, 64)
	tail, isTokens := strings.CutPrefix(tail, "tokens")
	if err != nil || !isTokens {
		w.pageNotFound(rw, r)
		return
	}
	acct, err := w.svc.GroupServiceAccount(r.Context(), res.group.ID, id)
	if err != nil {
		w.pageNotFound(rw, r)
		return
	}
	w.tokenAction(rw, r, s, w.serviceAccountScope(res, acct, base), tail)
}

func (w *Web) serviceAccountList(rw http.ResponseWriter, r *http.Request, s signedIn, res resource, status int, v view) {
	accts, _, err := w.svc.ServiceAccounts(r.Context(), res.group.ID, "id", "asc", store.Page{Number: 1, Size: 100})
	if err != nil {
		w.internalError(rw, r, err)
		return
	}
	if v.Notice == "" {
		v.Notice = noticeFrom(r)
	}
	v.Data = serviceAccountsPage{Heading: "Service accounts of " + res.name, Base: res.webPath + "/-/settings/service_accounts", Accounts: accts}
	w.render(rw, r, status, "service_accounts.html", v)
}

// serviceAccountScope is one group service account's tokens. The group Owner's right
// was judged by authz (admin_service_accounts); the service acts for Keygate then, as
// the API's group service-account routes do.
func (w *Web) serviceAccountScope(res resource, acct keygate.User, accountsBase string) tokenScope {
	sys := authz.SystemSubject()
	allowed := func(sc keygate.Scope) bool { return !sc.Admin() }
	base := accountsBase + "/" + strconv.FormatInt(acct.ID, 10) + "/tokens"
	return tokenScope{
		title: "Service account " + acct.Username, heading: "Tokens of service account " + acct.Username,
		intro: "Tokens of a service account act as the account (" + acct.Name + "), not as you.",
		base:  base,
		form:  w.formWith(scopeOptions(allowed), nil),
		list: func(ctx context.Context, state string) ([]tokenRow, error) {
			ts, _, err := w.svc.Tokens(ctx, sys, store.TokenFilter{UserID: acct.ID, Impersonation: ptr(false), State: state, Sort: sortFor(state), Page: store.Page{Number: 1, Size: 100}})
			return rowsFor(ts, w.svc.Clock().Now()), err
		},
		get: func(ctx context.Context, id int64) (keygate.Token, error) {
			t, err := w.svc.TokenByID(ctx, id)
			if err == nil && t.UserID != acct.ID {
				return keygate.Token{}, service.ErrTokenNotVisible
			}
			return t, err
		},
		create: func(ctx context.Context, f url.Values) (keygate.Token, secret.Token, fieldErrors, error) {
			in, fe := parseTokenForm(f, allowed)
			if len(fe) > 0 {
				return keygate.Token{}, secret.Token{}, fe, nil
			}
			iss, err := w.svc.CreatePersonalToken(ctx, sys, acct.ID, in)
			return iss.Token, iss.Secret, nil, err
		},
		rotate: func(ctx context.Context, id int64) (keygate.Token, secret.Token, error) {
			iss, err := w.svc.Rotate(ctx, sys, id, nil)
			return iss.Token, iss.Secret, err
		},
		revoke: func(ctx context.Context, id int64) error { return w.svc.Revoke(ctx, sys, id) },
	}
}
