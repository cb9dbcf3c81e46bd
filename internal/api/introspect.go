package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// IntrospectPath is Keygate's RFC 7662 token introspection endpoint (Keygate extension).
const IntrospectPath = "/oauth/introspect"

// introspectRule: only the introspect scope opens introspection (not api).
var introspectRule = authz.Rule{Grants: []authz.Grant{{Scope: keygate.ScopeIntrospect}}, Exclusive: true}

// maxIntrospectBody bounds the form: one token and a hint.
const maxIntrospectBody = 16 << 10

// introspectionJSON is RFC 7662's answer with Keygate's extension fields. inactive
// answers are exactly {"active":false}.
type introspectionJSON struct {
	Active           bool   `json:"active"`
	Scope            string `json:"scope"`
	Username         string `json:"username"`
	Sub              string `json:"sub"`
	TokenType        string `json:"token_type"`
	Exp              *int64 `json:"exp,omitempty"`
	Iat              int64  `json:"iat"`
	KeygateTokenID   int64  `json:"keygate_token_id"`
	KeygateTokenType string `json:"keygate_token_type"`
	KeygateProjectID int64  `json:"keygate_job_project_id,omitempty"`
	// KeygateGranularScopes is a fine-grained token's grant, in the shape of token
	// objects' granular_scopes; absent for other tokens.
	KeygateGranularScopes []granularScopeJSON `json:"keygate_granular_scopes,omitempty"`
}

// introspectTokenTypes are RFC 7662 token_type values, GitLab's names for the kinds.
var introspectTokenTypes = map[keygate.TokenType]string{
	keygate.TokenPersonal:       "personal_access_token",
	keygate.TokenServiceAccount: "personal_access_token", // a service account's token is a PAT
	keygate.TokenImpersonation:  "impersonation_token",
	keygate.TokenProject:        "project_access_token",
	keygate.TokenGroup:          "group_access_token",
	keygate.TokenJob:            "ci_job_token",
}

// IntrospectHandler serves POST /oauth/introspect. The caller authenticates with a
// Keygate token carrying the introspect scope (PRIVATE-TOKEN, Authorization: Bearer, or
// HTTP Basic with the token as password, as RFC 7662 clients send client credentials);
// the token asked about is the form field token. Each caller has a request budget.
func (a *API) IntrospectHandler() http.Handler {
	limit := a.introspectLimit
	if limit.Requests == 0 {
		limit = service.DefaultIntrospectLimit
	}
	lim := a.svc.NewLimiter(limit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := a.introspect(w, r, lim); err != nil {
			a.writeError(w, r, err)
		}
	})
}

func (a *API) introspect(w http.ResponseWriter, r *http.Request, lim *service.Limiter) error {
	caller, err := a.introspectCaller(r)
	if err != nil {
		return err
	}
	if ts, ok := w.(tokenIDSetter); ok {
		ts.SetTokenID(caller.Token.ID)
	}
	if ok, wait := lim.Allow(caller.Token.ID); !ok {
		return &apiError{status: 429, body: map[string]any{"message": "Retry later"},
			header: map[string]string{"Retry-After": strconv.Itoa(int(wait.Seconds()) + 1)}}
	}
	form, err := introspectForm(w, r)
	if err != nil {
		return err
	}
	raw := strings.TrimSpace(form.Get("token"))
	if raw == "" {
		return &apiError{status: 400, body: map[string]any{"error": "invalid_request", "error_description": "token is missing"}}
	}
	// token_type_hint is optional and only a hint (RFC 7662 §2.1): Keygate tells every
	// kind apart by its prefix, so any hint is accepted and none changes the answer.
	in, active, err := a.svc.Introspect(r.Context(), raw)
	if err != nil {
		return err
	}
	if !active {
		writeJSON(w, 200, map[string]bool{"active": false})
		return nil
	}
	out := introspectionJSON{
		Active: true, Scope: strings.Join(in.Scopes.Strings(), " "), Username: in.User.Username,
		Sub: strconv.FormatInt(in.User.ID, 10), TokenType: introspectTokenTypes[in.Type],
		Iat: in.CreatedAt.Unix(), KeygateTokenID: in.TokenID, KeygateTokenType: string(in.Type),
		KeygateProjectID:      in.JobProjectID,
		KeygateGranularScopes: granularScopes(keygate.Token{Granular: in.Granular, GranularScopes: in.GranularScopes}),
	}
	if in.ExpiresAt != nil {
		exp := in.ExpiresAt.Unix()
		out.Exp = &exp
	}
	writeJSON(w, 200, out)
	return nil
}

// introspectCaller authenticates the introspecting caller and checks its scope.
func (a *API) introspectCaller(r *http.Request) (service.Principal, error) {
	raw := callerCredential(r)
	if raw == "" {
		return service.Principal{}, unauthorized()
	}
	pr, err := a.svc.Authenticate(r.Context(), service.Credential{Token: raw, IP: clientIP(r)})
	if err != nil {
		a.observe(authResult(err))
		return service.Principal{}, err
	}
	a.observe("success")
	if d := authz.Decide(pr.Subject(), introspectRule, r.Method); !d.Allowed {
		a.observe("insufficient_scope")
		// RFC 7662 §2.3: a caller token without sufficient privileges gets 401, with the
		// RFC 6750 challenge naming the scope it needs.
		e := insufficientScope(string(keygate.ScopeIntrospect))
		e.status = 401
		e.header = map[string]string{"WWW-Authenticate": `Bearer realm="keygate", error="insufficient_scope", scope="introspect"`}
		return service.Principal{}, e
	}
	return pr, nil
}

// callerCredential reads the caller's token from headers only: the form's token field is
// the token asked about, never the caller's.
func callerCredential(r *http.Request) string {
	if s := strings.TrimSpace(r.Header.Get("Private-Token")); s != "" {
		return s
	}
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if s, ok := BearerToken(h); ok {
		return s
	}
	if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Basic") {
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err == nil {
			if _, pass, ok := strings.Cut(string(dec), ":"); ok {
				return pass
			}
		}
	}
	return ""
}

// introspectForm reads the application/x-www-form-urlencoded body RFC 7662 prescribes.
func introspectForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return nil, &apiError{status: 400, body: map[string]any{"error": "invalid_request",
			"error_description": "the body must be application/x-www-form-urlencoded"}}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxIntrospectBody)
	if err := r.ParseForm(); err != nil {
		return nil, &apiError{status: 400, body: map[string]any{"error": "invalid_request",
			"error_description": "the form does not parse"}}
	}
	return r.PostForm, nil
}

// revocationPoll is how often the revocation stream looks at the store's change marker:
// well inside the 1 s in which a revocation must reach services.
const revocationPoll = 100 * time.Millisecond

// revocationHeartbeat keeps idle proxies from closing the stream.
const revocationHeartbeat = 15 * time.Second

// revocationStream serves GET /api/v4/keygate/revocations/stream (Server-Sent Events):
// an event "revocation" whenever the store's change marker moves (a token revoked or
// rotated, an owner blocked, a membership removed: anything that can take access away),
// after a first "ready". Its data is {"marker":N}; a client drops every cached answer on
// it. The stream ends when the caller's own token stops being active.
func (a *API) revocationStream(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the server's write timeout would end the stream
	m, err := a.svc.ChangeMarker(ctx)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx must not buffer the events
	w.WriteHeader(200)
	send := func(event string, marker int64) bool {
		_, err := fmt.Fprintf(w, "event: %s\ndata: {\"marker\":%d}\n\n", event, marker)
		return err == nil && rc.Flush() == nil
	}
	if !send("ready", m) {
		return nil
	}
	poll := time.NewTicker(revocationPoll)
	defer poll.Stop()
	beat := time.NewTicker(revocationHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return nil
			}
		case <-poll.C:
			next, err := a.svc.ChangeMarker(ctx)
			if err != nil || next == m {
				continue
			}
			m = next
			if !a.callerActive(ctx, c) {
				return nil
			}
			if !send("revocation", m) {
				return nil
			}
		}
	}
}

// callerActive re-checks the stream's own token and its owner after a change.
func (a *API) callerActive(ctx context.Context, c *call) bool {
	t, err := a.svc.TokenByID(ctx, c.principal.Token.ID)
	if err != nil || !t.Active(a.svc.Clock().Now()) {
		return false
	}
	u, err := a.svc.User(ctx, t.UserID)
	return err == nil && u.APIBlockReason(a.externalURL) == ""
}
