package githttp

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// gitError is a Git answer other than success: a status and GitLab's plain-text body.
type gitError struct {
	status int
	body   string
	// challenge adds `WWW-Authenticate: Basic realm="GitLab"` and makes the body GitLab's
	// "HTTP Basic: Access denied" text.
	challenge bool
	// rackAttack is the failed-authentication ban's answer ("Forbidden\n", text/plain).
	rackAttack bool
	cause      error
}

func (e *gitError) Error() string {
	if e.cause != nil {
		return strconv.Itoa(e.status) + " " + e.body + ": " + e.cause.Error()
	}
	return strconv.Itoa(e.status) + " " + e.body
}

func (e *gitError) Unwrap() error { return e.cause }

// errAccessDenied asks for (other) credentials.
var errAccessDenied = &gitError{status: 401, challenge: true}

// accessDeniedText is GitLab's 401 body (GitHttpClientController#render_access_denied).
func accessDeniedText(externalURL string) string {
	return "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect " +
		"or you're required to use a token instead of a password. If a token was provided, it was either incorrect, " +
		"expired, or improperly scoped. See " + externalURL +
		"/help/topics/git/troubleshooting_git.md#error-on-git-fetch-http-basic-access-denied"
}

// denial turns an authz decision into GitLab's answer.
func denial(d authz.Decision) *gitError {
	switch d.Status {
	case 401:
		return errAccessDenied
	case 404:
		return &gitError{status: 404, body: d.Message}
	}
	return &gitError{status: 403, body: d.Message}
}

// toGitError is the one mapping from Keygate's error vocabulary to Git answers.
func toGitError(err error) *gitError {
	var ge *gitError
	if errors.As(err, &ge) {
		return ge
	}
	var th *service.ErrThrottled
	if errors.As(err, &th) {
		return &gitError{status: 403, body: "Forbidden\n", rackAttack: true}
	}
	switch keygate.ErrorCode(err) {
	case keygate.CodeUnauthenticated:
		return errAccessDenied // invalid, expired, revoked, impersonation disabled: all alike
	case keygate.CodeForbidden:
		msg := keygate.ErrorMessage(err)
		if msg == "" {
			msg = "Forbidden"
		}
		return &gitError{status: 403, body: msg}
	case keygate.CodeNotFound:
		return &gitError{status: 404, body: authz.GitMsgNotFound}
	}
	return &gitError{status: 500, body: "500 Internal Server Error", cause: err}
}

// writeError renders err as GitLab does: plain text with the status (git shows the text
// of an info/refs answer as "remote: …"). A 500's cause is logged, never shown.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toGitError(err)
	if e.status == 500 && h.svc.StoreDown(r.Context(), err) {
		h.log.Warn("store unavailable", "request_id", w.Header().Get("X-Request-Id"), "method", r.Method, "path", r.URL.Path, "err", err)
		e = &gitError{status: 503, body: "503 Service Unavailable"}
		w.Header().Set("Retry-After", "5")
	}
	body := e.body
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case e.challenge:
		body = accessDeniedText(h.ext)
		hd.Set("WWW-Authenticate", `Basic realm="GitLab"`)
	case e.rackAttack:
		hd.Set("Content-Type", "text/plain")
	case e.status == 500:
		h.log.Error("internal error", "request_id", hd.Get("X-Request-Id"), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(body))
}
