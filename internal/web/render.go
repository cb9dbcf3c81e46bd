package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// view is what every page template receives.
type view struct {
	Title string
	// User is the signed-in user (nil signed out); CSRF the token for its forms.
	User *keygate.User
	CSRF string
	// Notice is a one-line confirmation of what the last action did.
	Notice string
	Errors fieldErrors
	Form   url.Values
	// Data is the page's own model.
	Data any
	Now  time.Time
}

// Err returns the message for a field ("" for none), for the templates.
func (v view) Err(field string) string { return v.Errors[field] }

// Val returns the submitted value of a field, to refill a form after an error.
func (v view) Val(field string) string { return v.Form.Get(field) }

// Checked reports whether a checkbox group held the value.
func (v view) Checked(field, value string) bool {
	for _, x := range v.Form[field] {
		if x == value {
			return true
		}
	}
	return false
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"datetime": func(t *time.Time) string {
		if t == nil {
			return "Never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join":   strings.Join,
	"scopes": func(ss keygate.Scopes) string { return strings.Join(ss.Strings(), ", ") },
	"add":    func(a, b int) int { return a + b },
	"fieldsUser": func() []userField {
		return []userField{{"username", "Username", "text"}, {"name", "Name", "text"}, {"email", "Email", "email"}, {"password", "Password (optional: without one the user signs in only with tokens)", "password"}}
	},
	"tableArgs": func(caption string, rows []tokenRow, base string, actions, role, rotate bool, empty string) map[string]any {
		return map[string]any{"Caption": caption, "Rows": rows, "Base": base, "Actions": actions, "Role": role, "Rotate": rotate, "Empty": empty}
	},
}

// parsePages parses each page with the layout; the page defines "content".
func parsePages() (map[string]*template.Template, error) {
	files, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimPrefix(f, "templates/")
		if name == "layout.html" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", f)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render writes a page. Pages are rendered to a buffer first, so a template failure
// becomes a clean error page rather than half a page. HTML pages are never cached: they
// show tokens' state and, once, a new token.
func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, page string, v view) {
	t, ok := w.pages[page]
	if !ok {
		w.log.Error("web: no such page", "page", page)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	if v.Form == nil {
		v.Form = url.Values{}
	}
	if v.Errors == nil {
		v.Errors = fieldErrors{}
	}
	if v.Now.IsZero() {
		v.Now = w.svc.Clock().Now()
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		w.log.Error("web: render", "page", page, "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

// errorPage renders a plain message page.
func (w *Web) errorPage(rw http.ResponseWriter, r *http.Request, status int, title, msg string) {
	v := view{Title: title, Data: msg}
	if s, ok := w.optionalSession(r); ok {
		u := s.sess.User
		v.User, v.CSRF = &u, s.csrf
	}
	w.render(rw, r, status, "error.html", v)
}

func (w *Web) internalError(rw http.ResponseWriter, r *http.Request, err error) {
	id := rw.Header().Get("X-Request-Id")
	w.log.Error("web: internal error", "request_id", id, "path", r.URL.Path, "err", err)
	msg := "Something went wrong on our side. Nothing was changed."
	if id != "" {
		msg += " Request ID: " + id
	}
	w.errorPage(rw, r, http.StatusInternalServerError, "Internal error", msg)
}

func (w *Web) pageNotFound(rw http.ResponseWriter, r *http.Request) {
	w.errorPage(rw, r, http.StatusNotFound, "Page not found", "The page does not exist or you are not allowed to see it.")
}

// redirect answers a form with 303 See Other, so a reload does not resend it.
func redirect(rw http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(rw, r, to, http.StatusSeeOther)
}

// notices are the confirmations a redirect can ask for by code (no text from the URL
// reaches the page).
var notices = map[string]string{
	"signed_in":        "Signed in successfully.",
	"signed_out":       "Signed out successfully.",
	"password_updated": "Password was successfully updated.",
	"revoked":          "Revoked the token. It can no longer be used.",
	"blocked":          "Blocked the user. Their sessions have ended.",
	"unblocked":        "Unblocked the user.",
	"user_created":     "Created the user.",
	"password_set":     "Set the user's password.",
	"settings_saved":   "Saved the token settings.",
	"account_created":  "Created the service account.",
}

func noticeFrom(r *http.Request) string { return notices[r.URL.Query().Get("notice")] }

// userField is one text field of the admin's new-user form.
type userField struct{ Name, Label, Type string }
