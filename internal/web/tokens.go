package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// scopeDescriptions are shown beside the scope checkboxes (what GitLab's form says each
// scope grants, in Keygate's words).
var scopeDescriptions = map[keygate.Scope]string{
	keygate.ScopeAPI:             "Complete read and write access to the API, including all groups and projects.",
	keygate.ScopeReadAPI:         "Read access to the API, including all groups and projects.",
	keygate.ScopeReadUser:        "Read-only access to your profile through the /user API endpoint.",
	keygate.ScopeReadRepository:  "Read-only access to repositories over Git over HTTP and the repository API.",
	keygate.ScopeWriteRepository: "Read and write access (push) to repositories over Git over HTTP.",
	keygate.ScopeReadRegistry:    "Read-only (pull) access to container registry images.",
	keygate.ScopeWriteRegistry:   "Read and write (push) access to container registry images.",
	keygate.ScopeCreateRunner:    "Create runners.",
	keygate.ScopeManageRunner:    "Manage runners.",
	keygate.ScopeK8sProxy:        "Kubernetes API calls through the agent for Kubernetes.",
	keygate.ScopeSelfRotate:      "Rotate this token itself, and nothing else.",
	keygate.ScopeAIFeatures:      "Access to AI features.",
	keygate.ScopeSudo:            "Perform API actions as any user (administrators only).",
	keygate.ScopeAdminMode:       "Perform API actions as an administrator when admin mode is on (administrators only).",
}

// uiDefaultExpiryDays is the expiry the create forms suggest: GitLab's UI default of 30
// days (15.3), never past the policy maximum.
const uiDefaultExpiryDays = 30

// expiryWarningDays: tokens expiring this soon are flagged, as GitLab's list does.
const expiryWarningDays = 7

type scopeOption struct {
	Name        string
	Description string
}

type levelOption struct {
	Value int
	Name  string
}

// createForm is a token create form's model.
type createForm struct {
	Action        string
	Scopes        []scopeOption
	Levels        []levelOption // empty: no role select
	DefaultExpiry string
	MinExpiry     string
	MaxExpiry     string // "" when expiry is optional
	Required      bool
	DefaultLevel  int
	// Granular offers a fine-grained grant instead of scopes; nil: scopes only.
	Granular *granularForm
}

// tokenRow is one line of a token table.
type tokenRow struct {
	Token     keygate.Token
	Role      string
	Owner     string
	Type      string
	ExpiresIn string
	Warn      bool
	State     string
	// Grant is a fine-grained token's stored scopes (its scopes column).
	Grant []grantLine
	// Detail links the token's own page (its use and suggested grant); "" for none.
	Detail string
}

// newToken is a token just created or rotated, shown once.
type newToken struct {
	Name  string
	Value string
}

// tokenPage is the model of tokens.html.
type tokenPage struct {
	Heading  string
	Intro    string
	Base     string
	Active   []tokenRow
	Inactive []tokenRow
	Form     createForm
	New      *newToken
	Extra    any // the page's own section (service account header, admin user)
	Role     bool
	Rotate   bool
}

// tokenScope is one place tokens are managed (a user's personal tokens, a project's, a
// group's, a service account's, a user's impersonation tokens): how to list, create,
// rotate and revoke them through the service.
type tokenScope struct {
	title, heading, intro string
	base                  string
	form                  func(ctx context.Context) createForm
	list                  func(ctx context.Context, state string) ([]tokenRow, error)
	get                   func(ctx context.Context, id int64) (keygate.Token, error)
	create                func(ctx context.Context, f url.Values) (keygate.Token, secret.Token, fieldErrors, error)
	rotate                func(ctx context.Context, id int64) (keygate.Token, secret.Token, error)
	revoke                func(ctx context.Context, id int64) error
	page                  string // template, tokens.html unless set
	extra                 any
	// detail: each token has a page of its own at base/<id> (use and suggestion).
	detail bool
}

// expiryBounds are the create form's date limits on the service clock.
func (w *Web) expiryBounds(ctx context.Context) (createForm, error) {
	st, err := w.svc.Settings(ctx)
	if err != nil {
		return createForm{}, err
	}
	today := keygate.DateOf(w.svc.Clock().Now())
	def := uiDefaultExpiryDays
	f := createForm{MinExpiry: today.AddDays(1).String(), Required: st.RequirePersonalAccessTokenExpiry}
	if st.RequirePersonalAccessTokenExpiry {
		f.MaxExpiry = today.AddDays(st.TokenLifetimeDays()).String()
		def = min(def, st.TokenLifetimeDays())
	}
	f.DefaultExpiry = today.AddDays(def).String()
	return f, nil
}

func scopeOptions(allowed func(keygate.Scope) bool) []scopeOption {
	var out []scopeOption
	for _, sc := range keygate.AllScopes {
		if allowed(sc) {
			out = append(out, scopeOption{Name: string(sc), Description: scopeDescriptions[sc]})
		}
	}
	return out
}

// parseTokenForm reads name, description, expiry and scopes. Shape errors are the
// transport's (as the API's parameter errors); the rules are the service's.
func parseTokenForm(f url.Values, allowed func(keygate.Scope) bool) (service.TokenInput, fieldErrors) {
	in, errs := parseTokenBasics(f)
	for _, name := range f["scopes"] {
		sc := keygate.Scope(name)
		if !sc.Valid() || !allowed(sc) {
			errs["scopes"] = fmt.Sprintf("Scope %q cannot be given to this token", name)
			break
		}
		if !in.Scopes.Has(sc) {
			in.Scopes = append(in.Scopes, sc)
		}
	}
	if len(in.Scopes) == 0 && errs["scopes"] == "" {
		errs["scopes"] = "Select at least one scope"
	}
	return in, errs
}

// parseTokenBasics reads name, description and expiry.
func parseTokenBasics(f url.Values) (service.TokenInput, fieldErrors) {
	errs := fieldErrors{}
	in := service.TokenInput{Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description"))}
	if in.Name == "" {
		errs["name"] = "Name can't be blank"
	}
	if raw := strings.TrimSpace(f.Get("expires_at")); raw != "" {
		d, err := keygate.ParseDate(raw)
		if err != nil {
			errs["expires_at"] = "Expiration date must be a date such as 2026-07-31"
		} else {
			in.ExpiresAt = &d
		}
	}
	return in, errs
}

// rowFor describes a token for the tables, on the service clock.
func rowFor(t keygate.Token, now time.Time) tokenRow {
	r := tokenRow{Token: t, State: "active"}
	switch {
	case t.Revoked:
		r.State = "revoked"
	case t.Expired(now):
		r.State = "expired"
	}
	if t.ExpiresAt == nil {
		r.ExpiresIn = "Never"
		return r
	}
	days := int(t.ExpiresAt.Start().Sub(keygate.DateOf(now).Start()).Hours() / 24)
	switch {
	case r.State != "active":
		r.ExpiresIn = t.ExpiresAt.String()
	case days == 1:
		r.ExpiresIn, r.Warn = t.ExpiresAt.String()+" (expires in 1 day)", true
	default:
		r.ExpiresIn = fmt.Sprintf("%s (expires in %d days)", t.ExpiresAt, days)
		r.Warn = days <= expiryWarningDays
	}
	return r
}

func rowsFor(ts []keygate.Token, now time.Time) []tokenRow {
	out := make([]tokenRow, 0, len(ts))
	for _, t := range ts {
		out = append(out, rowFor(t, now))
	}
	return out
}

// tokenList renders a scope's page, optionally with a token just issued and form errors.
func (w *Web) tokenList(rw http.ResponseWriter, r *http.Request, s signedIn, sc tokenScope, status int, v view, issued *newToken) {
	ctx := r.Context()
	active, err := sc.list(ctx, "active")
	if err != nil {
		w.internalError(rw, r, err)
		return
	}
	inactive, err := sc.list(ctx, "inactive")
	if err != nil {
		w.internalError(rw, r, err)
		return
	}
	d := w.grantDescriber()
	active, inactive = d.describe(ctx, active), d.describe(ctx, inactive)
	if sc.detail {
		for _, rows := range [][]tokenRow{active, inactive} {
			for i := range rows {
				rows[i].Detail = fmt.Sprintf("%s/%d", sc.base, rows[i].Token.ID)
			}
		}
	}
	if v.Title == "" {
		v = s.view(sc.title)
	}
	v.Title = sc.title
	if v.Notice == "" {
		v.Notice = noticeFrom(r)
	}
	p := tokenPage{Heading: sc.heading, Intro: sc.intro, Base: sc.base, Active: active, Inactive: inactive, New: issued, Extra: sc.extra, Rotate: sc.rotate != nil}
	if sc.form != nil {
		p.Form = sc.form(ctx)
		p.Form.Action = sc.base
	}
	if p.Role = len(p.Form.Levels) > 0; p.Role {
		p.Form.DefaultLevel = defaultLevel(p.Form.Levels, v.Form.Get("access_level"))
	}
	v.Data = p
	page := sc.page
	if page == "" {
		page = "tokens.html"
	}
	w.render(rw, r, status, page, v)
}

// tokenAction serves a scope's page and its actions: "" (list, create), "{id}/revoke"
// and "{id}/rotate" (a confirmation on GET, the action on POST).
func (w *Web) tokenAction(rw http.ResponseWriter, r *http.Request, s signedIn, sc tokenScope, rest string) {
	rest = strings.Trim(rest, "/")
	if rest == "" {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			w.tokenList(rw, r, s, sc, http.StatusOK, view{}, nil)
		case http.MethodPost:
			w.tokenCreate(rw, r, s, sc)
		default:
			methodNotAllowed(rw, "GET, POST")
		}
		return
	}
	idStr, action, ok := strings.Cut(rest, "/")
	id, err := strconv.ParseInt(idStr, 10, 64)
	if !ok && err == nil && id > 0 && sc.detail {
		w.tokenDetail(rw, r, s, sc, id)
		return
	}
	if !ok || err != nil || id <= 0 || (action != "revoke" && action != "rotate") || sc.revoke == nil {
		w.pageNotFound(rw, r)
		return
	}
	if action == "rotate" && sc.rotate == nil {
		w.pageNotFound(rw, r)
		return
	}
	t, err := sc.get(r.Context(), id)
	if err != nil {
		w.pageNotFound(rw, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		w.confirmToken(rw, r, s, sc, t, action)
	case http.MethodPost:
		if action == "revoke" {
			if err := sc.revoke(r.Context(), id); err != nil {
				w.actionError(rw, r, s, sc, err)
				return
			}
			redirect(rw, r, sc.base+"?notice=revoked")
			return
		}
		nt, sec, err := sc.rotate(r.Context(), id)
		if err != nil {
			w.actionError(rw, r, s, sc, err)
			return
		}
		v := s.view(sc.title)
		v.Notice = "Rotated the token. The old token no longer works; the new one expires on " + expiryText(nt) + "."
		w.tokenList(rw, r, s, sc, http.StatusOK, v, &newToken{Name: nt.Name, Value: sec.Reveal()})
	default:
		methodNotAllowed(rw, "GET, POST")
	}
}

func expiryText(t keygate.Token) string {
	if t.ExpiresAt == nil {
		return "no date (it never expires)"
	}
	return t.ExpiresAt.String()
}

// actionError shows a refused rotate or revoke on the list page; nothing changed.
func (w *Web) actionError(rw http.ResponseWriter, r *http.Request, s signedIn, sc tokenScope, err error) {
	fe, ok := errorFor(err)
	if !ok {
		w.internalError(rw, r, err)
		return
	}
	v := s.view(sc.title)
	v.Errors = fieldErrors{"": firstMessage(fe)}
	w.tokenList(rw, r, s, sc, http.StatusUnprocessableEntity, v, nil)
}

func firstMessage(fe fieldErrors) string {
	for _, m := range fe {
		return m
	}
	return ""
}

type confirmData struct {
	Heading string
	Message string
	Action  string
	Button  string
	Cancel  string
}

func (w *Web) confirmToken(rw http.ResponseWriter, r *http.Request, s signedIn, sc tokenScope, t keygate.Token, action string) {
	d := confirmData{Action: fmt.Sprintf("%s/%d/%s", sc.base, t.ID, action), Cancel: sc.base}
	if action == "revoke" {
		d.Heading, d.Button = "Revoke token "+t.Name+"?", "Revoke"
		d.Message = "Anything using this token stops working at once. This cannot be undone."
	} else {
		d.Heading, d.Button = "Rotate token "+t.Name+"?", "Rotate"
		d.Message = "The current token stops working at once and a new one with the same name and scopes is shown once."
	}
	v := s.view(d.Heading)
	v.Data = d
	w.render(rw, r, http.StatusOK, "confirm.html", v)
}

func (w *Web) tokenCreate(rw http.ResponseWriter, r *http.Request, s signedIn, sc tokenScope) {
	t, sec, fe, err := sc.create(r.Context(), r.PostForm)
	if err != nil {
		var ok bool
		if fe, ok = errorFor(err); !ok {
			w.internalError(rw, r, err)
			return
		}
	}
	if len(fe) > 0 {
		v := s.view(sc.title)
		v.Errors, v.Form = fe, r.PostForm
		w.tokenList(rw, r, s, sc, http.StatusUnprocessableEntity, v, nil)
		return
	}
	v := s.view(sc.title)
	v.Notice = "Created token " + t.Name + "."
	w.tokenList(rw, r, s, sc, http.StatusCreated, v, &newToken{Name: t.Name, Value: sec.Reveal()})
}

func methodNotAllowed(rw http.ResponseWriter, allow string) {
	rw.Header().Set("Allow", allow)
	http.Error(rw, "405 Method Not Allowed", http.StatusMethodNotAllowed)
}

// personalScope is the signed-in user's personal access tokens.
func (w *Web) personalScope(s signedIn) tokenScope {
	sub, me := s.sess.Subject(), s.sess.User
	allowed := func(sc keygate.Scope) bool { return !sc.Admin() || me.Admin }
	return tokenScope{
		title: "Personal access tokens", heading: "Personal access tokens",
		intro:  "You can generate a personal access token for each application you use that needs access to the GitLab API or Git over HTTP.",
		base:   "/-/user_settings/personal_access_tokens",
		form:   w.formWithGrant(scopeOptions(allowed), nil),
		detail: true,
		list: func(ctx context.Context, state string) ([]tokenRow, error) {
			ts, _, err := w.svc.Tokens(ctx, sub, store.TokenFilter{UserID: me.ID, Impersonation: ptr(false), State: state, Sort: sortFor(state), Page: store.Page{Number: 1, Size: 100}})
			return rowsFor(ts, w.svc.Clock().Now()), err
		},
		get: func(ctx context.Context, id int64) (keygate.Token, error) {
			t, err := w.svc.Token(ctx, sub, id)
			if err == nil && (t.UserID != me.ID || t.Impersonation) {
				return keygate.Token{}, service.ErrTokenNotVisible
			}
			return t, err
		},
		create: func(ctx context.Context, f url.Values) (keygate.Token, secret.Token, fieldErrors, error) {
			return w.createPersonal(ctx, sub, me.ID, f, allowed)
		},
		rotate: func(ctx context.Context, id int64) (keygate.Token, secret.Token, error) {
			iss, err := w.svc.Rotate(ctx, sub, id, nil)
			return iss.Token, iss.Secret, err
		},
		revoke: func(ctx context.Context, id int64) error { return w.svc.Revoke(ctx, sub, id) },
	}
}

// formWith builds a scope's create-form function from its scopes and role options.
func (w *Web) formWith(scopes []scopeOption, levels []levelOption) func(ctx context.Context) createForm {
	return func(ctx context.Context) createForm {
		f, err := w.expiryBounds(ctx)
		if err != nil {
			w.log.Warn("web: settings for the token form", "err", err)
		}
		f.Scopes, f.Levels = scopes, levels
		return f
	}
}

// formWithGrant is formWith plus the fine-grained grant section.
func (w *Web) formWithGrant(scopes []scopeOption, levels []levelOption) func(ctx context.Context) createForm {
	base := w.formWith(scopes, levels)
	return func(ctx context.Context) createForm {
		f := base(ctx)
		f.Granular = granularOptions()
		return f
	}
}

// tokenInput reads a create form: legacy scopes, or a fine-grained grant read into
// service.TokenInput.Granular as the API reads granular_scopes (every rule about the
// grant stays in the service).
func (w *Web) tokenInput(ctx context.Context, f url.Values, allowed func(keygate.Scope) bool) (service.TokenInput, fieldErrors, error) {
	if !wantsGranular(f) {
		in, fe := parseTokenForm(f, allowed)
		return in, fe, nil
	}
	in, fe := parseTokenBasics(f)
	grant, err := w.parseGrant(ctx, f, fe)
	if err != nil {
		return in, nil, err
	}
	in.Granular = grant
	return in, fe, nil
}

// created is a create call's outcome for a form: the service's refusals of a grant are
// shown next to their fields.
func created(t keygate.Token, sec secret.Token, err error) (keygate.Token, secret.Token, fieldErrors, error) {
	if err != nil {
		if fe, ok := grantErrors(err); ok {
			return keygate.Token{}, secret.Token{}, fe, nil
		}
		return keygate.Token{}, secret.Token{}, nil, err
	}
	return t, sec, nil, nil
}

// createPersonal creates a personal token (legacy or fine-grained) from the form.
func (w *Web) createPersonal(ctx context.Context, sub authz.Subject, userID int64, f url.Values, allowed func(keygate.Scope) bool) (keygate.Token, secret.Token, fieldErrors, error) {
	in, fe, err := w.tokenInput(ctx, f, allowed)
	if err != nil || len(fe) > 0 {
		return keygate.Token{}, secret.Token{}, fe, err
	}
	iss, err := w.svc.CreatePersonalToken(ctx, sub, userID, in)
	return created(iss.Token, iss.Secret, err)
}

// sortFor: active tokens by expiry (soonest first, as GitLab), inactive newest first.
func sortFor(state string) string {
	if state == "active" {
		return "expires_asc"
	}
	return "created_desc"
}

func ptr[T any](v T) *T { return &v }

func (w *Web) personalTokens(rw http.ResponseWriter, r *http.Request, s signedIn) {
	w.tokenAction(rw, r, s, w.personalScope(s), r.PathValue("rest"))
}

// levelOptions lists the roles a subject with level own may give a token: never above
// their own (authz.CanAssignLevel).
func levelOptions(sub authz.Subject, own keygate.AccessLevel) []levelOption {
	var out []levelOption
	for _, l := range []keygate.AccessLevel{keygate.Guest, keygate.Planner, keygate.Reporter, keygate.Developer, keygate.Maintainer, keygate.Owner} {
		if authz.CanAssignLevel(sub, own, l) {
			out = append(out, levelOption{Value: int(l), Name: l.String()})
		}
	}
	return out
}

// defaultLevel is the role the select starts on: the one submitted, else Maintainer
// (GitLab's default), else the highest offered.
func defaultLevel(ls []levelOption, submitted string) int {
	if n, err := strconv.Atoi(submitted); err == nil && containsLevel(ls, n) {
		return n
	}
	if containsLevel(ls, int(keygate.Maintainer)) {
		return int(keygate.Maintainer)
	}
	return ls[len(ls)-1].Value
}
