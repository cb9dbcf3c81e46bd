package api

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/keygate/keygate/internal/service"
)

// IdempotencyKeyHeader makes a rotate request safe to retry (Keygate extension): within
// 24 hours the same key with the same token and request answers the first attempt's
// status and body, successor token included, before reuse detection runs.
const IdempotencyKeyHeader = "Idempotency-Key"

// ReplayedHeader marks an answer replayed from an earlier request with the same key.
const ReplayedHeader = "Idempotent-Replayed"

// isRotateRoute: every rotate endpoint, by the one shape they share, so that a rotate
// route added later is idempotent without a second list to keep.
func (rt Route) isRotateRoute() bool {
	return rt.Method == http.MethodPost && strings.HasSuffix(rt.Pattern, "/rotate")
}

// idempotentRequest returns the request's idempotency identity, or nil when the route is
// no rotate endpoint, the header is absent, or no access token was presented (the
// request then fails authentication as it would without the header).
func idempotentRequest(rt Route, r *http.Request, p *params, raw string) *service.IdempotentRequest {
	vals, ok := r.Header[IdempotencyKeyHeader]
	if !ok || !rt.isRotateRoute() || raw == "" {
		return nil
	}
	key := strings.TrimSpace(strings.Join(vals, ","))
	exp, _, _ := p.str("expires_at")
	return &service.IdempotentRequest{
		Key: key, Credential: raw,
		Request: r.Method + " " + r.URL.EscapedPath() + "\nexpires_at=" + exp,
	}
}

// replay answers a retry from the stored record. handled is false when there is none.
func (a *API) replay(w http.ResponseWriter, r *http.Request, ir *service.IdempotentRequest) (handled bool) {
	rep, found, err := a.svc.IdempotentReplay(r.Context(), *ir)
	if err != nil {
		a.writeError(w, r, err)
		return true
	}
	if !found {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(ReplayedHeader, "true")
	w.WriteHeader(rep.Status)
	_, _ = w.Write(rep.Body)
	return true
}

// runIdempotent runs an authenticated rotate under a reserved key and stores a success;
// a failure changed nothing, so its key is released for a corrected retry.
func (a *API) runIdempotent(w http.ResponseWriter, r *http.Request, c *call, rt Route, ir *service.IdempotentRequest) {
	ctx := r.Context()
	if err := a.svc.ReserveIdempotency(ctx, *ir); err != nil {
		a.writeError(w, r, err)
		return
	}
	rec := &teeWriter{ResponseWriter: w}
	if err := rt.handler(rec, r, c); err != nil {
		a.writeError(rec, r, err)
	}
	if rec.status >= 200 && rec.status < 300 {
		if err := a.svc.CompleteIdempotency(ctx, *ir, service.Replay{Status: rec.status, Body: rec.body.Bytes()}); err != nil {
			// The answer already went out; a retry will hear 409 (not finished).
			a.log.Error("store idempotent answer", "path", r.URL.Path, "err", err)
		}
		return
	}
	if err := a.svc.ReleaseIdempotency(ctx, *ir); err != nil {
		a.log.Error("release idempotency key", "path", r.URL.Path, "err", err)
	}
}

// teeWriter passes a response through while keeping its status and body.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (t *teeWriter) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	t.body.Write(b)
	return t.ResponseWriter.Write(b)
}
