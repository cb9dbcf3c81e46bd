package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

type usersPage struct {
	Users  []keygate.User
	Search string
}

// adminUsers lists users and creates them.
func (w *Web) adminUsers(rw http.ResponseWriter, r *http.Request, s signedIn) {
	if r.Method == http.MethodPost {
		f := r.PostForm
		in := service.UserInput{
			Username: ptr(strings.TrimSpace(f.Get("username"))), Name: ptr(strings.TrimSpace(f.Get("name"))),
			Email: ptr(strings.TrimSpace(f.Get("email"))), Admin: ptr(f.Get("admin") == "1"),
		}
		if pw := f.Get("password"); pw != "" {
			in.Password = &pw
		}
		fe := fieldErrors{}
		for field, p := range map[string]*string{"username": in.Username, "name": in.Name, "email": in.Email} {
			if *p == "" {
				fe[field] = fieldLabels[field] + " can't be blank"
			}
		}
		var u keygate.User
		var err error
		if len(fe) == 0 {
			u, err = w.svc.CreateUser(r.Context(), s.sess.Subject(), in)
			if err != nil {
				var ok bool
				if fe, ok = errorFor(err); !ok {
					w.internalError(rw, r, err)
					return
				}
			}
		}
		if len(fe) > 0 {
			v := s.view("Users")
			v.Errors, v.Form = fe, f
			f.Del("password")
			w.renderUsers(rw, r, s, http.StatusUnprocessableEntity, v)
			return
		}
		redirect(rw, r, "/admin/users/"+url.PathEscape(u.Username)+"?notice=user_created")
		return
	}
	v := s.view("Users")
	v.Notice = noticeFrom(r)
	v.Form = url.Values{"search": {r.URL.Query().Get("search")}}
	w.renderUsers(rw, r, s, http.StatusOK, v)
}

func (w *Web) renderUsers(rw http.ResponseWriter, r *http.Request, s signedIn, status int, v view) {
	search := r.URL.Query().Get("search")
	us, _, err := w.svc.Users(r.Context(), store.UserFilter{Search: search, OrderBy: "id", Sort: "asc", Page: store.Page{Number: 1, Size: 100}})
	if err != nil {
		w.internalError(rw, r, err)
		return
	}
	v.Data = usersPage{Users: us, Search: search}
	w.render(rw, r, status, "admin_users.html", v)
}

type userPage struct {
	Target keygate.User
	Tokens tokenPage
}

// adminUser is one user's page: state, password, impersonation tokens.
func (w *Web) adminUser(rw http.ResponseWriter, r *http.Request, s signedIn) {
	u, err := w.svc.UserByUsername(r.Context(), r.PathValue("username"))
	if err != nil {
		w.pageNotFound(rw, r)
		return
	}
	rest := strings.Trim(r.PathValue("rest"), "/")
	sub := s.sess.Subject()
	back := "/admin/users/" + url.PathEscape(u.Username)
	switch {
	case rest == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.tokenAction(rw, r, s, w.impersonationScope(s, u), "")
	case rest == "block" || rest == "unblock":
		if r.Method != http.MethodPost {
			d := confirmData{Heading: strings.ToUpper(rest[:1]) + rest[1:] + " " + u.Username + "?", Action: back + "/" + rest, Button: strings.ToUpper(rest[:1]) + rest[1:], Cancel: back}
			if rest == "block" {
				d.Message = "A blocked user cannot sign in or use their tokens, and their sessions end at once."
			} else {
				d.Message = "The user can sign in and use their tokens again."
			}
			v := s.view(d.Heading)
			v.Data = d
			w.render(rw, r, http.StatusOK, "confirm.html", v)
			return
		}
		action := service.ActionBlock
		if rest == "unblock" {
			action = service.ActionUnblock
		}
		if _, err := w.svc.SetUserState(r.Context(), sub, u.ID, action); err != nil {
			w.userError(rw, r, s, u, err)
			return
		}
		redirect(rw, r, back+"?notice="+rest+"ed")
	case rest == "password" && r.Method == http.MethodPost:
		pw := r.PostForm.Get("password")
		if pw == "" {
			w.userError(rw, r, s, u, &keygate.Error{Code: keygate.CodeInvalid, Field: "password", Message: "Password can't be blank"})
			return
		}
		if _, err := w.svc.UpdateUser(r.Context(), sub, u.ID, service.UserInput{Password: &pw}); err != nil {
			w.userError(rw, r, s, u, err)
			return
		}
		redirect(rw, r, back+"?notice=password_set")
	case rest == "impersonation_tokens" || strings.HasPrefix(rest, "impersonation_tokens/"):
		w.tokenAction(rw, r, s, w.impersonationScope(s, u), strings.TrimPrefix(rest, "impersonation_tokens"))
	default:
		w.pageNotFound(rw, r)
	}
}

func (w *Web) userError(rw http.ResponseWriter, r *http.Request, s signedIn, u keygate.User, err error) {
	fe, ok := errorFor(err)
	if !ok {
		w.internalError(rw, r, err)
		return
	}
	sc := w.impersonationScope(s, u)
	v := s.view(sc.title)
	v.Errors = fe
	w.tokenList(rw, r, s, sc, http.StatusUnprocessableEntity, v, nil)
}

// impersonationScope is an administrator's view of a user: impersonation tokens, with
// the user's own details rendered by admin_user.html.
func (w *Web) impersonationScope(s signedIn, u keygate.User) tokenScope {
	sub := s.sess.Subject()
	allowed := func(sc keygate.Scope) bool { return !sc.Admin() || u.Admin }
	base := "/admin/users/" + url.PathEscape(u.Username) + "/impersonation_tokens"
	return tokenScope{
		title: "User " + u.Username, heading: "Impersonation tokens",
		intro: "An impersonation token acts as " + u.Username + " on the API. It is listed here, not among the user's own tokens.",
		base:  base, page: "admin_user.html", extra: u,
		form: w.formWith(scopeOptions(allowed), nil),
		list: func(ctx context.Context, state string) ([]tokenRow, error) {
			ts, _, err := w.svc.Tokens(ctx, sub, store.TokenFilter{UserID: u.ID, Impersonation: ptr(true), State: state, Sort: sortFor(state), Page: store.Page{Number: 1, Size: 100}})
			return rowsFor(ts, w.svc.Clock().Now()), err
		},
		get: func(ctx context.Context, id int64) (keygate.Token, error) {
			t, err := w.svc.Token(ctx, sub, id)
			if err == nil && (t.UserID != u.ID || !t.Impersonation) {
				return keygate.Token{}, service.ErrTokenNotVisible
			}
			return t, err
		},
		create: func(ctx context.Context, f url.Values) (keygate.Token, secret.Token, fieldErrors, error) {
			in, fe := parseTokenForm(f, allowed)
			if len(fe) > 0 {
				return keygate.Token{}, secret.Token{}, fe, nil
			}
			in.Impersonation = true
			iss, err := w.svc.CreatePersonalToken(ctx, sub, u.ID, in)
			return iss.Token, iss.Secret, nil, err
		},
		revoke: func(ctx context.Context, id int64) error { return w.svc.Revoke(ctx, sub, id) },
	}
}

// credentialTypes are the inventory's type filter, named as the gate file names types.
var credentialTypes = []string{"personal", "impersonation", "project", "group", "service_account"}

type credentialsPage struct {
	Rows       []tokenRow
	Types      []string
	Total      int
	Page       int
	Prev, Next string
}

const inventoryPageSize = 50

// credentials is the inventory of every token, with filters and revoke.
func (w *Web) credentials(rw http.ResponseWriter, r *http.Request, s signedIn) {
	q := r.URL.Query()
	v := s.view("Credentials")
	v.Notice = noticeFrom(r)
	v.Form = q
	f, fe := w.inventoryFilter(r.Context(), q)
	status := http.StatusOK
	var p credentialsPage
	p.Types = credentialTypes
	if len(fe) > 0 {
		v.Errors, status = fe, http.StatusUnprocessableEntity
	} else {
		ts, n, err := w.svc.Tokens(r.Context(), s.sess.Subject(), f)
		if err != nil {
			w.internalError(rw, r, err)
			return
		}
		owners := map[int64]keygate.User{}
		now := w.svc.Clock().Now()
		grants := w.grantDescriber()
		for _, t := range ts {
			o, ok := owners[t.UserID]
			if !ok {
				if o, err = w.svc.User(r.Context(), t.UserID); err != nil {
					w.internalError(rw, r, err)
					return
				}
				owners[t.UserID] = o
			}
			row := rowFor(t, now)
			row.Owner, row.Type = o.Username, string(t.TypeFor(o))
			row.Grant = grants.lines(r.Context(), t)
			p.Rows = append(p.Rows, row)
		}
		p.Total, p.Page = n, f.Page.Number
		if f.Page.Number > 1 {
			p.Prev = pageURL(q, f.Page.Number-1)
		}
		if f.Page.Number*inventoryPageSize < n {
			p.Next = pageURL(q, f.Page.Number+1)
		}
	}
	v.Data = p
	w.render(rw, r, status, "credentials.html", v)
}

func pageURL(q url.Values, n int) string {
	c := url.Values{}
	for k, vs := range q {
		c[k] = vs
	}
	c.Set("page", strconv.Itoa(n))
	return "/admin/credentials?" + c.Encode()
}

// inventoryFilter reads type, owner, expiring_within (days), state and page.
func (w *Web) inventoryFilter(ctx context.Context, q url.Values) (store.TokenFilter, fieldErrors) {
	fe := fieldErrors{}
	f := store.TokenFilter{Sort: "created_desc", Page: store.Page{Number: 1, Size: inventoryPageSize}}
	switch q.Get("type") {
	case "":
	case "personal":
		f.HumanOwners, f.Impersonation = true, ptr(false)
	case "impersonation":
		f.Impersonation = ptr(true)
	case "project":
		f.OwnerType, f.OwnerSourceType, f.Impersonation = keygate.UserProjectBot, keygate.SourceProject, ptr(false)
	case "group":
		f.OwnerType, f.OwnerSourceType, f.Impersonation = keygate.UserProjectBot, keygate.SourceNamespace, ptr(false)
	case "service_account":
		f.OwnerType, f.Impersonation = keygate.UserServiceAccount, ptr(false)
	default:
		fe["type"] = "Choose one of the listed token types"
	}
	if owner := strings.TrimSpace(q.Get("owner")); owner != "" {
		u, err := w.svc.UserByUsername(ctx, owner)
		if err != nil {
			fe["owner"] = "No user with username " + owner
		} else {
			f.UserID = u.ID
		}
	}
	switch st := q.Get("state"); st {
	case "", "active":
		f.State = "active"
	case "inactive":
		f.State = "inactive"
	case "all":
	default:
		fe["state"] = "Choose active, inactive or all"
	}
	if raw := strings.TrimSpace(q.Get("expiring_within")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > 3650 {
			fe["expiring_within"] = "Expiring within must be a number of days from 0 to 3650"
		} else {
			d := keygate.DateOf(w.svc.Clock().Now()).AddDays(n + 1)
			f.ExpiresBefore = &d
		}
	}
	if raw := q.Get("page"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 100000 {
			fe["page"] = "Page must be a positive number"
		} else {
			f.Page.Number = n
		}
	}
	return f, fe
}

// credentialRevoke confirms (GET) and revokes (POST) any token from the inventory.
func (w *Web) credentialRevoke(rw http.ResponseWriter, r *http.Request, s signedIn) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		w.pageNotFound(rw, r)
		return
	}
	t, err := w.svc.Token(r.Context(), s.sess.Subject(), id)
	if err != nil {
		w.pageNotFound(rw, r)
		return
	}
	if r.Method != http.MethodPost {
		o, err := w.svc.User(r.Context(), t.UserID)
		if err != nil {
			w.internalError(rw, r, err)
			return
		}
		d := confirmData{
			Heading: "Revoke " + string(t.TypeFor(o)) + " token " + t.Name + " of " + o.Username + "?",
			Message: "Anything using this token stops working at once. This cannot be undone.",
			Action:  "/admin/credentials/" + strconv.FormatInt(id, 10) + "/revoke", Button: "Revoke", Cancel: "/admin/credentials",
		}
		v := s.view(d.Heading)
		v.Data = d
		w.render(rw, r, http.StatusOK, "confirm.html", v)
		return
	}
	if err := w.svc.Revoke(r.Context(), s.sess.Subject(), id); err != nil {
		fe, ok := errorFor(err)
		if !ok {
			w.internalError(rw, r, err)
			return
		}
		w.errorPage(rw, r, http.StatusUnprocessableEntity, "Not revoked", firstMessage(fe)+" Nothing was changed.")
		return
	}
	redirect(rw, r, "/admin/credentials?notice=revoked")
}

// settingsForm edits the instance's token settings.
func (w *Web) settingsForm(rw http.ResponseWriter, r *http.Request, s signedIn) {
	st, err := w.svc.Settings(r.Context())
	if err != nil {
		w.internalError(rw, r, err)
		return
	}
	v := s.view("Token settings")
	v.Notice = noticeFrom(r)
	status := http.StatusOK
	if r.Method == http.MethodPost {
		next, fe := parseSettings(st, r.PostForm)
		if len(fe) == 0 {
			if err := w.svc.PutSettings(r.Context(), s.sess.Subject(), next); err != nil {
				var ok bool
				if fe, ok = errorFor(err); !ok {
					w.internalError(rw, r, err)
					return
				}
			} else {
				redirect(rw, r, "/admin/application_settings/general?notice=settings_saved")
				return
			}
		}
		v.Errors, status = fe, http.StatusUnprocessableEntity
		v.Form = r.PostForm
	} else {
		v.Form = settingsValues(st)
	}
	w.render(rw, r, status, "admin_settings.html", v)
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return ""
}

func settingsValues(st keygate.Settings) url.Values {
	max := ""
	if st.MaxPersonalAccessTokenLifetime > 0 {
		max = strconv.Itoa(st.MaxPersonalAccessTokenLifetime)
	}
	return url.Values{
		"personal_access_token_prefix":                      {st.PersonalAccessTokenPrefix},
		"require_personal_access_token_expiry":              {boolStr(st.RequirePersonalAccessTokenExpiry)},
		"max_personal_access_token_lifetime":                {max},
		"service_access_tokens_expiration_enforced":         {boolStr(st.ServiceAccessTokensExpirationEnforced)},
		"impersonation_enabled":                             {boolStr(st.ImpersonationEnabled)},
		"admin_mode":                                        {boolStr(st.AdminMode)},
		"inactive_resource_access_tokens_delete_after_days": {strconv.Itoa(st.InactiveResourceTokensDeleteAfterDays)},
	}
}

// parseSettings reads the form over the current settings (fields the form lacks keep
// their values).
func parseSettings(st keygate.Settings, f url.Values) (keygate.Settings, fieldErrors) {
	fe := fieldErrors{}
	st.PersonalAccessTokenPrefix = strings.TrimSpace(f.Get("personal_access_token_prefix"))
	st.RequirePersonalAccessTokenExpiry = f.Get("require_personal_access_token_expiry") == "1"
	st.ServiceAccessTokensExpirationEnforced = f.Get("service_access_tokens_expiration_enforced") == "1"
	st.ImpersonationEnabled = f.Get("impersonation_enabled") == "1"
	st.AdminMode = f.Get("admin_mode") == "1"
	st.MaxPersonalAccessTokenLifetime = 0
	if raw := strings.TrimSpace(f.Get("max_personal_access_token_lifetime")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > keygate.DefaultTokenLifetimeDays {
			fe["max_personal_access_token_lifetime"] = "Maximum allowable lifetime must be a number of days from 1 to 365, or empty for 365"
		}
		st.MaxPersonalAccessTokenLifetime = n
	}
	raw := strings.TrimSpace(f.Get("inactive_resource_access_tokens_delete_after_days"))
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		fe["inactive_resource_access_tokens_delete_after_days"] = "Days must be a whole number, 0 to keep inactive tokens' bots"
	}
	st.InactiveResourceTokensDeleteAfterDays = n
	return st, fe
}
