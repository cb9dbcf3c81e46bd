package api

import (
	"bytes"
	"fmt"
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

// holdIdempotency reserves the key for a rotate about to be authenticated and run. The
// rotation seals its answer into the key's record in the transaction that rotates
// (renderRotation builds it as the handlers do), so no crash after the commit can lose
// the successor. finish, deferred by the caller, releases the key of a request that
// failed (it changed nothing: a corrected retry with the same key runs). ok is false
// when the reservation was refused and answered.
func (a *API) holdIdempotency(w http.ResponseWriter, r *http.Request, ir *service.IdempotentRequest) (tw *teeWriter, _ *http.Request, finish func(), ok bool) {
	ctx := r.Context()
	if err := a.svc.ReserveIdempotency(ctx, *ir); err != nil {
		a.writeError(w, r, err)
		return nil, nil, nil, false
	}
	ans := &service.IdempotentAnswer{Request: *ir, Render: a.renderRotation}
	tw = &teeWriter{ResponseWriter: w}
	finish = func() {
		switch {
		case ans.Stored():
		case tw.status >= 200 && tw.status < 300:
			// A rotate that did not go through the service's rotation: store after the fact.
			if err := a.svc.CompleteIdempotency(ctx, *ir, service.Replay{Status: tw.status, Body: tw.body.Bytes()}); err != nil {
				a.log.Error("store idempotent answer", "path", r.URL.Path, "err", err)
			}
		default:
			if err := a.svc.ReleaseIdempotency(ctx, *ir); err != nil {
				a.log.Error("release idempotency key", "path", r.URL.Path, "err", err)
			}
		}
	}
	return tw, r.WithContext(service.WithIdempotentAnswer(ctx, ans)), finish, true
}

// renderRotation is the answer the rotate handlers write for a rotation's result.
func (a *API) renderRotation(result any) (service.Replay, error) {
	var body any
	switch v := result.(type) {
	case service.Issued:
		body = a.issued(v)
	case service.RotatedResource:
		body = a.resourceTokenWithSecret(v.Source, v.Token)
	default:
		return service.Replay{}, fmt.Errorf("api: no answer for a rotation result %T", result)
	}
	b, err := encodeJSON(body)
	return service.Replay{Status: http.StatusOK, Body: b}, err
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

// SetTokenID passes the authenticated token's ID to the access log underneath.
func (t *teeWriter) SetTokenID(id int64) {
	if ts, ok := t.ResponseWriter.(tokenIDSetter); ok {
		ts.SetTokenID(id)
	}
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	t.body.Write(b)
	return t.ResponseWriter.Write(b)
}
