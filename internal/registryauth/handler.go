package registryauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/githttp"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
)

// Path is where the token service answers.
const Path = "/jwt/auth"

// Pattern names the route in the access log and metrics.
const Pattern = "GET /jwt/auth"

// Config carries the handler's dependencies.
type Config struct {
	Service *service.Service
	// Signer signs the tokens; nil means the registry is off and every request that gets
	// that far is answered 404 UNAVAILABLE, as GitLab without a registry.
	Signer *Signer
	Logger *slog.Logger
	// ExternalURL is the instance URL users see, for the help link of the 401 message.
	ExternalURL string
	// Grants, when set, is told of every token that grants push, delete or "*" (the audit
	// hook); nil tells nobody.
	Grants GrantObserver
}

// GrantObserver learns of the registry tokens that can change images, for audit events:
// the caller (user, token ID and fingerprint, or the job), its address and every access
// granted. It runs after the token is signed, before the answer is written.
type GrantObserver interface {
	RegistryTokenGranted(ctx context.Context, c Caller, ip string, access []Access)
}

// writes reports whether any access grants an action that changes images.
func writes(access []Access) bool {
	for _, a := range access {
		for _, act := range a.Actions {
			if act == string(authz.RegistryPush) || act == string(authz.RegistryDelete) || act == string(authz.RegistryAll) {
				return true
			}
		}
	}
	return false
}

// Handler serves GET /jwt/auth.
type Handler struct {
	svc    *service.Service
	signer *Signer
	log    *slog.Logger
	ext    string
	auth   Authorizer
	grants GrantObserver
}

// New builds the handler.
func New(cfg Config) *Handler {
	h := &Handler{svc: cfg.Service, signer: cfg.Signer, log: cfg.Logger, ext: strings.TrimRight(cfg.ExternalURL, "/"),
		auth: NewAuthorizer(cfg.Service), grants: cfg.Grants}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// Enabled reports whether the registry is on (a signer is configured).
func (h *Handler) Enabled() bool { return h.signer != nil }

// tokenIDSetter is implemented by the server's logging ResponseWriter.
type tokenIDSetter interface{ SetTokenID(int64) }

// ServeHTTP answers in GitLab's order (JwtController, then
// ContainerRegistryAuthenticationService#execute): only GET (and HEAD, as Rails routes
// it) exists; credentials are checked before the service parameter; then the registry
// must be on, the credential must carry a registry ability, and an anonymous caller must
// be granted something.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Pattern = Pattern
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	ctx := r.Context()
	c, err := h.authenticate(r)
	if err != nil {
		h.writeAuthError(w, r, err)
		return
	}
	if ts, ok := w.(tokenIDSetter); ok && c.TokenID != 0 {
		ts.SetTokenID(c.TokenID)
	}
	q := r.URL.Query()
	if q.Get("service") != Audience {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if h.signer == nil {
		writeServiceError(w, http.StatusNotFound, "UNAVAILABLE", "registry not enabled")
		return
	}
	if !c.Abilities.Any() {
		writeServiceError(w, http.StatusForbidden, "DENIED", "access forbidden")
		return
	}
	scopes, capped := ParseScopes(q["scope"])
	if capped {
		h.log.Info("jwt/auth: scopes beyond the cap ignored", "max", MaxScopes)
	}
	var access []Access
	for _, sc := range scopes {
		a, ok, err := h.auth.Grant(ctx, c, sc)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		if ok {
			access = append(access, a)
		}
	}
	if len(access) == 0 && !c.Authenticated() {
		writeServiceError(w, http.StatusForbidden, "DENIED", "access forbidden")
		return
	}
	st, err := h.svc.Settings(ctx)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	ttl := time.Duration(st.RegistryTokenMinutes()) * time.Minute
	claims, err := NewClaims(h.signer.Issuer(), c.Username, h.svc.Clock().Now(), ttl, access)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	tok, err := h.signer.Sign(claims)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if h.grants != nil && writes(access) {
		h.grants.RegistryTokenGranted(ctx, c, clientIP(r), access)
	}
	writeJSON(w, http.StatusOK, struct {
		Token string `json:"token"`
	}{tok})
}

// errUnauthorized marks a failed authentication (401).
var errUnauthorized = errors.New("registryauth: access denied")

// authenticate reads HTTP Basic credentials as Git over HTTP does (spec §5.5): none is
// anonymous; gitlab-ci-token with a job token is the job; any other token as the
// password, whatever the login. A Basic header that does not decode is a failure.
func (h *Handler) authenticate(r *http.Request) (Caller, error) {
	ctx, ip := r.Context(), clientIP(r)
	user, password, basic, ok := githttp.ParseBasic(r.Header.Get("Authorization"))
	switch {
	case !basic:
		return Anonymous(), nil
	case !ok:
		if err := h.svc.CheckBanned(ip); err != nil {
			return Caller{}, err
		}
		h.svc.CountFailure(ip)
		return Caller{}, errUnauthorized
	case user == githttp.JobTokenUsername && strings.HasPrefix(password, secret.PrefixJob):
		jp, err := h.svc.AuthenticateJob(ctx, password, ip)
		if err != nil {
			return Caller{}, err
		}
		return Caller{Subject: jp.Subject(), Abilities: authz.JobRegistryAbilities(), Job: &jp, Username: jp.User.Username,
			Fingerprint: fingerprint(password)}, nil
	}
	pr, err := h.svc.Authenticate(ctx, service.Credential{Token: password, IP: ip, Uncounted: user == githttp.JobTokenUsername})
	if err != nil {
		if keygate.ErrorCode(err) == keygate.CodeForbidden {
			// A blocked or deactivated owner cannot sign in: GitLab's Git client
			// authentication fails (401), and counts it.
			h.svc.CountFailure(ip)
		}
		return Caller{}, err
	}
	return Caller{
		Subject: pr.Subject(), Abilities: authz.TokenRegistryAbilities(pr.Token),
		Username: pr.User.Username, TokenID: pr.Token.ID, Fingerprint: fingerprint(password),
	}, nil
}

// fingerprint is the audit fingerprint of a token that authenticated.
func fingerprint(raw string) string {
	tok, err := secret.Parse(raw)
	if err != nil {
		return ""
	}
	return secret.Fingerprint(tok)
}

// unauthorizedMessage is GitLab's 401 text for /jwt/auth (JwtController#render_access_denied).
func (h *Handler) unauthorizedMessage() string {
	return "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect " +
		"or you're required to use a token instead of a password. If a token was provided, it was either incorrect, " +
		"expired, or improperly scoped. See " + h.ext + "/help/user/profile/account/two_factor_authentication_troubleshooting.md" +
		"#error-http-basic-access-denied-if-a-password-was-provided-for-git-authentication-"
}

// writeAuthError answers a failed authentication: the failed-authentication ban as Git
// (403 "Forbidden", rack-attack's answer), a credential failure 401, anything else 500.
func (h *Handler) writeAuthError(w http.ResponseWriter, r *http.Request, err error) {
	var th *service.ErrThrottled
	switch {
	case errors.As(err, &th):
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Forbidden\n"))
	case errors.Is(err, errUnauthorized), keygate.ErrorCode(err) == keygate.CodeUnauthenticated, keygate.ErrorCode(err) == keygate.CodeForbidden:
		writeJSON(w, http.StatusUnauthorized, errorsBody{Errors: []errorJSON{{Code: "UNAUTHORIZED", Message: h.unauthorizedMessage()}}})
	default:
		h.internal(w, r, err)
	}
}

// internal answers 500 with a generic body; the cause is logged under the request ID.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	id := w.Header().Get("X-Request-Id")
	h.log.Error("internal error", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorsBody{Errors: []errorJSON{{Code: "UNKNOWN", Message: "internal server error (request " + id + ")"}}})
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorsBody is GitLab's error shape. The service's errors carry http_status too:
// GitLab renders the service's result hash, status key included.
type errorsBody struct {
	Errors     []errorJSON `json:"errors"`
	HTTPStatus int         `json:"http_status,omitempty"`
}

func writeServiceError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorsBody{Errors: []errorJSON{{Code: code, Message: msg}}, HTTPStatus: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"errors":[{"code":"UNKNOWN","message":"internal server error"}]}`)
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// clientIP is the peer address, as the API and Git take it.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
