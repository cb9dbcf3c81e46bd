package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/service"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets/*
var assetFiles embed.FS

// CanIAnswer is the decision engine's answer for a token and a request, as the API's
// GET /keygate/can_i gives it.
type CanIAnswer struct {
	Allowed        bool
	Status         int
	Route          string
	Reasons        []string
	RequiredScopes []string
	RequiredRole   string
}

// CanIFunc asks the API's can_i judgement for a principal (wired by the server, so the
// UI and the API answer alike).
type CanIFunc func(ctx context.Context, p service.Principal, method, path string) (CanIAnswer, error)

// Config carries the UI's dependencies.
type Config struct {
	Service *service.Service
	Logger  *slog.Logger
	// ExternalURL is the URL users see; an https URL makes cookies Secure, and its origin
	// is trusted by the cross-origin protection.
	ExternalURL string
	// CanI answers the "can this token do X?" form; nil hides the form.
	CanI CanIFunc
	// Usage gives a token's usage report for its page; nil hides the suggestion.
	Usage UsageFunc
	// NotFound answers paths the UI does not serve (the server's JSON 404).
	NotFound http.Handler
}

// Web is the UI's handler set.
type Web struct {
	svc         *service.Service
	log         *slog.Logger
	canI        CanIFunc
	usage       UsageFunc
	notFound    http.Handler
	secure      bool
	pages       map[string]*template.Template
	handler     http.Handler
	externalURL string
}

// Cookie names. GitLab's session cookie is _gitlab_session; Keygate's is its own.
const (
	sessionCookie = "_keygate_session"
	// signInCookie carries the double-submit CSRF token of the sign-in form, the one
	// form sent before there is a session.
	signInCookie = "_keygate_sign_in"
	csrfField    = "authenticity_token"
)

// contentSecurityPolicy allows only the UI's own stylesheet and copy script; no inline
// code, no framing, forms only to this origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBytes bounds every form body.
const maxFormBytes = 64 << 10

// New builds the UI.
func New(cfg Config) (*Web, error) {
	if cfg.Service == nil {
		return nil, errors.New("web: Service is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NotFound == nil {
		cfg.NotFound = http.NotFoundHandler()
	}
	w := &Web{
		svc: cfg.Service, log: cfg.Logger, canI: cfg.CanI, usage: cfg.Usage, notFound: cfg.NotFound,
		secure: strings.HasPrefix(cfg.ExternalURL, "https://"), externalURL: strings.TrimRight(cfg.ExternalURL, "/"),
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	w.pages = pages
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(cfg.ExternalURL); err == nil && u.Scheme != "" && u.Host != "" {
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, err
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.errorPage(rw, r, http.StatusForbidden, "Cross-origin request refused", "This form was sent from another site. Nothing was changed.")
	}))
	w.handler = w.headers(cop.Handler(w.routes()))
	return w, nil
}

// Handler returns the UI's handler; mount it at "/" behind the API and the /-/ routes.
func (w *Web) Handler() http.Handler { return w.handler }

// headers sets what every UI answer carries.
func (w *Web) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		// Audit events of what the UI does name the address and request they came from.
		ctx := service.WithOrigin(r.Context(), service.Origin{IP: clientIP(r), RequestID: h.Get("X-Request-Id")})
		next.ServeHTTP(rw, r.WithContext(ctx))
	})
}

// assets serves the embedded stylesheet and copy script.
func (w *Web) assets() http.Handler {
	sub, _ := fs.Sub(assetFiles, "assets")
	fsrv := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(rw, r)
	})
}

// secureRequest reports whether cookies must be Secure: HTTPS here, at the proxy in
// front (X-Forwarded-Proto), or an https external URL.
func (w *Web) secureRequest(r *http.Request) bool {
	return w.secure || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (w *Web) setSessionCookie(rw http.ResponseWriter, r *http.Request, ws service.WebSession) {
	http.SetCookie(rw, &http.Cookie{
		// Max-Age, not Expires: the browser counts from its own clock, the service from
		// its (a test clock in tests).
		Name: sessionCookie, Value: ws.ID, Path: "/", MaxAge: int(ws.Session.ExpiresAt.Sub(w.svc.Clock().Now()).Seconds()),
		HttpOnly: true, Secure: w.secureRequest(r), SameSite: http.SameSiteLaxMode,
	})
}

func (w *Web) clearCookie(rw http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(rw, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, Secure: w.secureRequest(r), SameSite: http.SameSiteLaxMode})
}

// csrfFor derives a session's CSRF token from its ID, so nothing more is stored and every
// node agrees: HMAC-SHA-256 keyed by the 256-bit session ID.
func csrfFor(sessionID string) string {
	m := hmac.New(sha256.New, []byte(sessionID))
	m.Write([]byte("keygate web csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func equalTokens(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// clientIP is the peer address without the port (the throttles' key). Forwarded headers
// are not trusted: a client could rotate them to dodge the ban.
func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// fieldErrors maps form fields to the message shown next to them; "" is the form's.
type fieldErrors map[string]string

// errorFor turns a service error into field messages, or reports false for a failure
// that is not the user's input (the caller renders the error page).
func errorFor(err error) (fieldErrors, bool) {
	var ke *keygate.Error
	if !errors.As(err, &ke) || ke.Code == keygate.CodeInternal {
		return nil, false
	}
	return fieldErrors{ke.Field: humanize(ke.Field, ke.Message)}, true
}

// fieldLabels name the fields in messages that start with a bare predicate ("is too
// short"), as Rails' full_messages do.
var fieldLabels = map[string]string{
	"name": "Name", "username": "Username", "email": "Email", "password": "Password",
	"expires_at": "Expiration date", "scopes": "Scopes", "description": "Description",
	"access_level": "Role", "login": "Login", "current_password": "Current password",
	"max_personal_access_token_lifetime": "Maximum allowable lifetime",
	"personal_access_token_prefix":       "Personal access token prefix",
}

func humanize(field, msg string) string {
	label := fieldLabels[field]
	switch {
	case msg == "" || msg == "401 Unauthorized" || msg == "403 Forbidden":
		return "You are not allowed to do this."
	case label != "" && strings.HasPrefix(msg, field+" is missing"):
		return label + " can't be blank"
	case label != "" && (strings.HasPrefix(msg, "is ") || strings.HasPrefix(msg, "can") || strings.HasPrefix(msg, "must")):
		return label + " " + msg
	}
	return msg
}
