package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/service"
)

// signedIn is a request of a signed-in user.
type signedIn struct {
	sess service.WebSession
	id   string // the session cookie's value
	csrf string
}

// view starts a page view for the signed-in user.
func (s signedIn) view(title string) view {
	u := s.sess.User
	return view{Title: title, User: &u, CSRF: s.csrf, Form: url.Values{}}
}

// optionalSession reads the session cookie, if it names a live session.
func (w *Web) optionalSession(r *http.Request) (signedIn, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return signedIn{}, false
	}
	ws, err := w.svc.Session(r.Context(), c.Value)
	if err != nil {
		return signedIn{}, false
	}
	return signedIn{sess: ws, id: c.Value, csrf: csrfFor(c.Value)}, true
}

// pageFunc is a handler for signed-in users.
type pageFunc func(rw http.ResponseWriter, r *http.Request, s signedIn)

// auth wraps a page for signed-in users: signed out, GETs go to the sign-in page and
// come back; other methods are refused. Unsafe methods must carry the session's CSRF
// token, or nothing runs (GitLab answers 422 there).
func (w *Web) auth(h pageFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		s, ok := w.optionalSession(r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				redirect(rw, r, "/users/sign_in?redirect_to="+url.QueryEscape(r.URL.RequestURI()))
				return
			}
			w.errorPage(rw, r, http.StatusUnauthorized, "Signed out", service.MsgSessionRequired+" Nothing was changed.")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(rw, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				w.errorPage(rw, r, http.StatusBadRequest, "Bad request", "The form could not be read. Nothing was changed.")
				return
			}
			if !equalTokens(r.PostForm.Get(csrfField), s.csrf) {
				w.errorPage(rw, r, http.StatusUnprocessableEntity, "Invalid authenticity token", "The form's CSRF token is missing or wrong; reload the page and try again. Nothing was changed.")
				return
			}
		}
		o := service.OriginFrom(r.Context())
		o.UserID = s.sess.User.ID
		h(rw, r.WithContext(service.WithOrigin(r.Context(), o)), s)
	}
}

// admin wraps a page for administrators; others get the 404 GitLab gives them.
func (w *Web) admin(h pageFunc) http.HandlerFunc {
	return w.auth(func(rw http.ResponseWriter, r *http.Request, s signedIn) {
		if !s.sess.Subject().Admin() {
			w.pageNotFound(rw, r)
			return
		}
		h(rw, r, s)
	})
}

// home: signed out, the sign-in page (DESIGN §1.1); signed in, the dashboard.
func (w *Web) home(rw http.ResponseWriter, r *http.Request) {
	s, ok := w.optionalSession(r)
	if !ok {
		http.Redirect(rw, r, "/users/sign_in", http.StatusFound)
		return
	}
	w.dashboard(rw, r, s)
}

// safeRedirect keeps redirect_to on this site: a path, never "//host" or a URL.
// Browsers drop tabs and newlines inside URLs and read a backslash as a slash, so any
// control character or backslash refuses the path ("/\t/evil" would become "//evil").
func safeRedirect(to string) string {
	if !strings.HasPrefix(to, "/") || strings.HasPrefix(to, "//") || strings.ContainsFunc(to, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == '\\'
	}) {
		return "/"
	}
	if u, err := url.Parse(to); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return to
}

type signInData struct{ RedirectTo string }

// signInForm shows the sign-in form with a fresh double-submit CSRF token.
func (w *Web) signInForm(rw http.ResponseWriter, r *http.Request) {
	if _, ok := w.optionalSession(r); ok {
		redirect(rw, r, safeRedirect(r.URL.Query().Get("redirect_to")))
		return
	}
	w.renderSignIn(rw, r, http.StatusOK, view{Notice: noticeFrom(r)}, r.URL.Query().Get("redirect_to"))
}

func (w *Web) renderSignIn(rw http.ResponseWriter, r *http.Request, status int, v view, redirectTo string) {
	tok := randomToken()
	http.SetCookie(rw, &http.Cookie{Name: signInCookie, Value: tok, Path: "/users/sign_in", HttpOnly: true, Secure: w.secureRequest(r), SameSite: http.SameSiteStrictMode})
	v.Title, v.CSRF, v.Data = "Sign in", tok, signInData{RedirectTo: safeRedirect(redirectTo)}
	w.render(rw, r, status, "sign_in.html", v)
}

// signIn checks the form's double-submit token, then the password; on success the
// browser gets a new session ID (whatever it held before is ended: no fixation).
func (w *Web) signIn(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		w.errorPage(rw, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	f := r.PostForm
	redirectTo := f.Get("redirect_to")
	login := formField(f, "login")
	form := url.Values{"login": {login}}
	c, err := r.Cookie(signInCookie)
	if err != nil || !equalTokens(f.Get(csrfField), c.Value) {
		w.renderSignIn(rw, r, http.StatusUnprocessableEntity, view{Form: form, Errors: fieldErrors{"": "Invalid authenticity token: reload the page and sign in again."}}, redirectTo)
		return
	}
	prev := ""
	if pc, err := r.Cookie(sessionCookie); err == nil {
		prev = pc.Value
	}
	ws, err := w.svc.SignIn(r.Context(), service.SignInInput{
		Login: login, Password: formField(f, "password"), IP: clientIP(r), UserAgent: r.UserAgent(), Previous: prev,
	})
	var th *service.ErrThrottled
	switch {
	case errors.As(err, &th):
		mins := int((th.RetryAfter + time.Minute - 1) / time.Minute)
		w.renderSignIn(rw, r, http.StatusTooManyRequests, view{Form: form, Errors: fieldErrors{"login": fmt.Sprintf("Too many failed sign-in attempts from your address. Try again in %d minutes.", mins)}}, redirectTo)
		return
	case err != nil:
		fe, ok := errorFor(err)
		if !ok {
			w.internalError(rw, r, err)
			return
		}
		status := http.StatusUnprocessableEntity
		var ke *keygate.Error
		if errors.As(err, &ke) && (ke.Code == keygate.CodeUnauthenticated || ke.Code == keygate.CodeForbidden) {
			status = http.StatusUnauthorized
		}
		w.renderSignIn(rw, r, status, view{Form: form, Errors: fe}, redirectTo)
		return
	}
	w.clearCookie(rw, r, signInCookie, "/users/sign_in")
	w.setSessionCookie(rw, r, ws)
	redirect(rw, r, safeRedirect(redirectTo))
}

// signOut ends the session here and in the store.
func (w *Web) signOut(rw http.ResponseWriter, r *http.Request, s signedIn) {
	if err := w.svc.SignOut(r.Context(), s.id); err != nil {
		w.internalError(rw, r, err)
		return
	}
	w.clearCookie(rw, r, sessionCookie, "/")
	redirect(rw, r, "/users/sign_in?notice=signed_out")
}

func (w *Web) passwordForm(rw http.ResponseWriter, r *http.Request, s signedIn) {
	v := s.view("Password")
	v.Notice = noticeFrom(r)
	w.render(rw, r, http.StatusOK, "password.html", v)
}

// changePassword sets a new password; every other session of the user ends, and this
// browser gets a new session ID.
func (w *Web) changePassword(rw http.ResponseWriter, r *http.Request, s signedIn) {
	f := r.PostForm
	ws, err := w.svc.ChangePassword(r.Context(), s.sess, service.PasswordChange{
		Current: formField(f, "current_password"), New: formField(f, "password"), Confirmation: formField(f, "password_confirmation"),
		IP: clientIP(r), UserAgent: r.UserAgent(),
	})
	if err != nil {
		fe, ok := errorFor(err)
		if !ok {
			w.internalError(rw, r, err)
			return
		}
		v := s.view("Password")
		v.Errors = fe
		w.render(rw, r, http.StatusUnprocessableEntity, "password.html", v)
		return
	}
	w.setSessionCookie(rw, r, ws)
	redirect(rw, r, "/-/user_settings/password/edit?notice=password_updated")
}

// formField reads a user form field by GitLab's name ("user[login]") or the plain one
// ("login"), so scripts written for either work.
func formField(f url.Values, name string) string {
	if v, ok := f["user["+name+"]"]; ok && len(v) > 0 {
		return v[0]
	}
	return f.Get(name)
}
