package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// apiError is an answer other than success: a status, a body already in GitLab's shape,
// and headers. Handlers return it (or any error) and writeError renders it.
type apiError struct {
	status int
	body   any
	header map[string]string
	cause  error
	// reasons explain a 403 to the token's owner when they ask (X-Keygate-Explain);
	// nil for answers that must not explain (401, existence-hiding 404s).
	reasons []string
}

func (e *apiError) Error() string {
	b, _ := json.Marshal(e.body)
	return http.StatusText(e.status) + ": " + string(b)
}

func (e *apiError) Unwrap() error { return e.cause }

func message(status int, msg string) *apiError {
	return &apiError{status: status, body: map[string]any{"message": msg}}
}

// GitLab's helper formats (lib/api/helpers.rb), spec §5.3.
func unauthorized() *apiError { return message(401, "401 Unauthorized") }

func forbidden(reason string) *apiError {
	if reason == "" {
		return message(403, "403 Forbidden")
	}
	return message(403, "403 Forbidden - "+reason)
}

func badRequest(reason string) *apiError {
	if reason == "" {
		return message(400, "400 Bad request")
	}
	return message(400, "400 Bad request - "+reason)
}

func notFound(what string) *apiError {
	if what == "" {
		return message(404, "404 Not Found")
	}
	return message(404, "404 "+what+" Not Found")
}

// paramError is Grape's parameter-validation shape: {"error":"name is missing"}.
func paramError(msg string) *apiError {
	return &apiError{status: 400, body: map[string]any{"error": msg}}
}

// validationError is the model-validation shape: {"message":{"field":["msg"]}}.
func validationError(field, msg string) *apiError {
	return &apiError{status: 400, body: map[string]any{"message": map[string][]string{field: {msg}}}}
}

// unavailable answers while the store does not: GitLab's 503 shape, with a hint when to
// come back.
func unavailable() *apiError {
	e := message(503, "503 Service Unavailable")
	e.header = map[string]string{"Retry-After": retryAfterOutage}
	return e
}

// retryAfterOutage is the Retry-After of a 503: a few seconds, the time a database
// failover or restart usually takes.
const retryAfterOutage = "5"

func unknownRoute() *apiError {
	return &apiError{status: 404, body: map[string]any{"error": "404 Not Found"}}
}

// oauthError is the rack-oauth2 shape used for token failures (spec §5.3).
func oauthError(status int, code, desc string) *apiError {
	e := &apiError{status: status, body: map[string]any{"error": code, "error_description": desc}}
	if status == 401 {
		e.header = map[string]string{"WWW-Authenticate": `Bearer realm="Protected by OAuth 2.0", error="` + code + `", error_description="` + desc + `"`}
	}
	return e
}

func insufficientScope(scope string) *apiError {
	return &apiError{status: 403, body: map[string]any{
		"error":             "insufficient_scope",
		"error_description": "The request requires higher privileges than provided by the access token.",
		"scope":             scope,
	}}
}

// denial turns an authz decision into GitLab's answer.
func denial(d authz.Decision) *apiError {
	var e *apiError
	switch {
	case d.Code == keygate.CodeInsufficientScope:
		e = insufficientScope(d.Scope)
	case d.Code == keygate.CodeInsufficientGranularScope:
		e = insufficientGranular(d.Message)
	case d.Code == keygate.CodeUnauthenticated:
		return unauthorized()
	case d.Status == 404:
		return message(404, d.Message)
	case d.Status == 403 && len(d.Reasons) > 0 && strings.HasPrefix(d.Reasons[0], "Must be"):
		e = forbidden(d.Reasons[0])
	default:
		e = forbidden("")
	}
	e.reasons = d.Reasons
	return e
}

// ExplainHeader asks for explained denials (Keygate extension).
const ExplainHeader = "X-Keygate-Explain"

// explain adds keygate_explanation to a 403 body built from the decision's reasons.
func explain(r *http.Request, e *apiError) {
	if e.status != 403 || len(e.reasons) == 0 || !strings.EqualFold(r.Header.Get(ExplainHeader), "true") {
		return
	}
	if body, ok := e.body.(map[string]any); ok {
		body["keygate_explanation"] = map[string]any{"reasons": e.reasons}
	}
}

// toAPIError is the one mapping from Keygate's error vocabulary to GitLab's statuses and
// bodies. Handlers that answer a code differently (a 422 here, a model body there)
// convert before returning.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(err, keygate.ErrTokenExpired):
		return oauthError(401, "invalid_token", keygate.ErrTokenExpired.Message)
	case errors.Is(err, keygate.ErrTokenRevoked):
		return oauthError(401, "invalid_token", keygate.ErrTokenRevoked.Message)
	case errors.Is(err, keygate.ErrImpersonationDisabled):
		return oauthError(401, "invalid_token", keygate.ErrImpersonationDisabled.Message)
	}
	var th *service.ErrThrottled
	if errors.As(err, &th) {
		secs := int(th.RetryAfter.Seconds()) + 1
		return &apiError{status: 429, body: map[string]any{"message": "Retry later"}, header: map[string]string{"Retry-After": strconv.Itoa(secs)}}
	}
	var ke *keygate.Error
	if !errors.As(err, &ke) {
		return &apiError{status: 500, cause: err}
	}
	switch ke.Code {
	case keygate.CodeUnauthenticated:
		return unauthorized()
	case keygate.CodeForbidden:
		e := forbidden(ke.Message)
		e.reasons = ke.Reasons
		return e
	case keygate.CodeNotFound:
		if ke.Message == "Not found" {
			return message(404, "404 Not found") // ActiveRecord's lowercase form
		}
		if ke.Message == "Not Found" {
			return notFound("")
		}
		return notFound(ke.Message)
	case keygate.CodeInvalid:
		return badRequest(ke.Message)
	case keygate.CodeUnprocessable:
		return message(422, ke.Message)
	case keygate.CodeConflict:
		return message(409, ke.Message)
	case keygate.CodeNotAllowed:
		return message(405, "405 Method Not Allowed")
	case keygate.CodeInsufficientScope:
		return insufficientScope(ke.Message)
	}
	return &apiError{status: 500, cause: err}
}

// writeError renders err. A 500's cause is logged under the request ID and never shown.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toAPIError(err)
	if e.status == 500 && a.svc.StoreDown(r.Context(), err) {
		// The database is gone, not Keygate broken: say so, and that retrying will work.
		a.log.Warn("store unavailable", "request_id", w.Header().Get("X-Request-Id"), "method", r.Method, "path", r.URL.Path, "err", err)
		e = unavailable()
	}
	explain(r, e)
	for k, v := range e.header {
		w.Header().Set(k, v)
	}
	if e.status == 500 {
		id := w.Header().Get("X-Request-Id")
		a.log.Error("internal error", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		e.body = map[string]any{"message": "500 Internal Server Error", "request_id": id}
	}
	writeJSON(w, e.status, e.body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil {
		w.Header()["Content-Type"] = contentTypeJSON
		w.WriteHeader(status)
		return
	}
	b, _ := encodeJSON(body) // every body is a plain struct, map or slice
	writeBody(w, status, b)
}

// contentTypeJSON is shared by every answer; net/http only reads header values.
var contentTypeJSON = []string{"application/json"}

// writeBody sends already encoded JSON.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client went away; nothing to tell it
}

// encodeJSON is the bytes writeJSON sends (HTML left unescaped, a final newline).
func encodeJSON(body any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(body)
	return b.Bytes(), err
}
