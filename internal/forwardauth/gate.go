package forwardauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
)

// Path is where proxies ask.
const Path = "/-/gate"

// DefaultService is the metrics label of requests no service matched.
const DefaultService = "_default"

// Observer receives one decision per request, for metrics. It never sees a token.
type Observer interface {
	GateDecision(service string, allowed bool, d time.Duration)
}

// Config carries a Gate's dependencies.
type Config struct {
	Service  *service.Service
	Logger   *slog.Logger
	Observer Observer
	// Now measures decision latency; nil means time.Now (latency is wall time, not the
	// service clock, which tests stop).
	Now func() time.Time
}

// Gate answers forward-auth requests from reverse proxies against the policy in force.
type Gate struct {
	svc    *service.Service
	log    *slog.Logger
	obs    Observer
	now    func() time.Time
	policy atomic.Pointer[Policy]
	// loaded is the gate file content last read (good or bad), for Watch.
	loaded atomic.Pointer[[]byte]
	access *accessCache
	audit  *auditor
}

// New builds a Gate with an empty policy: until a gate file is loaded every request is
// denied.
func New(cfg Config) *Gate {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gate{svc: cfg.Service, log: cfg.Logger, obs: cfg.Observer, now: cfg.Now, access: newAccessCache(cfg.Service.Clock().Now)}
	g.audit = newAuditor(cfg.Service, cfg.Logger)
	g.policy.Store(&Policy{})
	return g
}

// SetPolicy puts a parsed policy in force.
func (g *Gate) SetPolicy(p *Policy) { g.policy.Store(p) }

// Policy returns the policy in force.
func (g *Gate) Policy() *Policy { return g.policy.Load() }

// identity is who passed: what the identity headers report.
type identity struct {
	user      keygate.User
	tokenID   int64
	tokenType keygate.TokenType
	scopes    keygate.Scopes
	subject   authz.Subject
	job       *service.JobPrincipal
}

// answer is a decision before it is written.
type answer struct {
	status int
	// authErr is the authentication failure of a 401 or a 403 from authentication.
	authErr error
	// reasons explain a 403 (nil: nothing may be explained).
	reasons []string
	id      *identity
	level   keygate.AccessLevel
	svc     *Service
}

// ServeHTTP answers one forward-auth request: 200 with identity headers, 401 with both
// challenges, or 403; never 404, 429 or 503, which nginx would turn into a 500.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := g.now()
	a := g.decide(r)
	name := DefaultService
	if a.svc != nil {
		name = a.svc.Name
	}
	if g.obs != nil {
		g.obs.GateDecision(name, a.status == http.StatusOK, g.now().Sub(start))
	}
	if a.id != nil {
		if ts, ok := w.(interface{ SetTokenID(int64) }); ok && a.id.job == nil {
			ts.SetTokenID(a.id.tokenID)
		}
	}
	g.write(w, a)
	// After the answer is written, before the handler returns: the rare audited requests
	// (a first use, a denial a minute) pay one transaction; the rest a map lookup.
	g.audit.observe(r, a)
}

func (g *Gate) decide(r *http.Request) answer {
	req, ok := originalRequest(r)
	if !ok {
		return answer{status: 403, reasons: []string{"the original request's path does not decode"}}
	}
	pol := g.policy.Load()
	svc := pol.Match(req)
	if svc == nil {
		if pol.DefaultAllow {
			return answer{status: 200}
		}
		return answer{status: 403, reasons: []string{"no service of the gate file matches " + req.Method + " " + req.Host + req.Path}}
	}
	raw, job := credential(r)
	if raw == "" {
		if svc.Anonymous {
			return answer{status: 200, svc: svc}
		}
		return answer{status: 401, authErr: keygate.ErrTokenInvalid, svc: svc}
	}
	id, err := g.authenticate(r, raw, job)
	if err != nil {
		status := 401
		if !isAuthFailure(err) {
			status = 403
		}
		if keygate.ErrorCode(err) == keygate.CodeInternal && !isThrottled(err) {
			g.log.Error("gate: authenticate", "service", svc.Name, "err", err)
			status = 500
		}
		return answer{status: status, authErr: err, svc: svc}
	}
	return g.judge(r.Context(), svc, id)
}

// judge applies the service's requirements to an authenticated caller, in the order
// token type, scope, membership, then for a fine-grained token its permissions (which
// replace the scope check: its only scope is "granular").
func (g *Gate) judge(ctx context.Context, svc *Service, id *identity) answer {
	a := answer{svc: svc, id: id}
	req := svc.Require
	fine := id.fineGrained()
	var reasons []string
	if len(req.TokenTypes) > 0 && !slices.Contains(req.TokenTypes, id.tokenType) {
		reasons = append(reasons, "this service does not accept "+string(id.tokenType)+" tokens")
	}
	switch {
	case reasons != nil: // the type is refused: the rest would not change that
	case fine && len(req.Permissions) == 0 && len(req.ScopesAny) > 0:
		reasons = []string{noPermissionsReason(req)}
	case !fine && len(req.ScopesAny) > 0 && !slices.ContainsFunc(req.ScopesAny, id.scopes.Has):
		reasons = append(reasons, "the token's scopes ("+id.scopes.String()+") do not include any of: "+req.ScopesAny.String())
	}
	boundary := userBoundary
	visible := true
	if req.MemberOf != "" {
		acc, err := g.access.get(ctx, g.svc, id, req.MemberOf)
		switch {
		case errors.Is(err, errNoResource):
			g.log.Warn("gate: member_of names no group or project", "service", svc.Name, "member_of", req.MemberOf)
			return answer{status: 403, svc: svc}
		case err != nil:
			g.log.Error("gate: membership", "service", svc.Name, "err", err)
			return answer{status: 500, svc: svc}
		}
		visible = authz.CanRead(id.subject, acc.res)
		a.level = acc.res.Access
		boundary = acc.boundary
		if reasons == nil {
			if d := authz.DecideLevel(id.subject, acc.res, req.MinAccessLevel); !d.Allowed {
				reasons = d.Reasons
			} else if id.job != nil && acc.res.Kind == authz.KindProject {
				if err := g.svc.JobReach(ctx, *id.job, acc.project); err != nil {
					reasons = []string{"the job's project is not in the inbound allowlist of " + req.MemberOf}
				}
			}
		}
	}
	if reasons == nil && fine && len(req.Permissions) > 0 {
		reasons = missingPermissions(id.subject, req, boundary)
	}
	if reasons != nil {
		a.status = 403
		if visible {
			a.reasons = reasons // only a caller who can see the resource learns why
		}
		return a
	}
	a.status = 200
	return a
}

func (g *Gate) authenticate(r *http.Request, raw string, job bool) (*identity, error) {
	ip := clientIP(r)
	if job {
		jp, err := g.svc.AuthenticateJob(r.Context(), raw, ip)
		if err != nil {
			return nil, err
		}
		return &identity{user: jp.User, tokenID: jp.Job.ID, tokenType: keygate.TokenJob, subject: jp.Subject(), job: &jp}, nil
	}
	pr, err := g.svc.Authenticate(r.Context(), service.Credential{Token: raw, IP: ip})
	if err != nil {
		return nil, err
	}
	scopes := pr.Token.Scopes
	if pr.Token.Granular {
		scopes = fineScopes // what X-Keygate-Scopes reports, as the API's token objects do
	}
	return &identity{user: pr.User, tokenID: pr.Token.ID, tokenType: pr.Type, scopes: scopes, subject: pr.Subject()}, nil
}

// isAuthFailure: the token is not (or no longer) good, so the client should present
// another one (401). Anything else is a refusal of a caller Keygate recognised (403).
func isAuthFailure(err error) bool {
	return errors.Is(err, keygate.ErrTokenInvalid) || errors.Is(err, keygate.ErrTokenExpired) ||
		errors.Is(err, keygate.ErrTokenRevoked) || errors.Is(err, keygate.ErrImpersonationDisabled)
}

func isThrottled(err error) bool {
	var th *service.ErrThrottled
	return errors.As(err, &th)
}

// credential finds the presented token in the API's sources (PRIVATE-TOKEN,
// Authorization: Bearer, JOB-TOKEN) and HTTP Basic with the token as password, so git,
// pip and docker style clients work through the proxy. job reports a CI/CD job token.
// Query parameters are not read: tokens in URLs end up in proxy logs.
func credential(r *http.Request) (raw string, job bool) {
	if s := strings.TrimSpace(r.Header.Get("Job-Token")); s != "" {
		return s, true
	}
	if s := strings.TrimSpace(r.Header.Get("Private-Token")); s != "" {
		return s, strings.HasPrefix(s, secret.PrefixJob)
	}
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(auth, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer") && rest != "":
		return rest, strings.HasPrefix(rest, secret.PrefixJob)
	case strings.EqualFold(scheme, "Basic") && rest != "":
		_, pass, ok := BasicCredentials(rest)
		if ok && pass != "" {
			return pass, strings.HasPrefix(pass, secret.PrefixJob)
		}
	}
	return "", false
}

// BasicCredentials decodes the value of an "Authorization: Basic" header after the
// scheme: user and password, split at the first colon.
func BasicCredentials(b64 string) (user, pass string, ok bool) {
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(dec), ":")
	if !ok {
		return "", "", false
	}
	return user, pass, true
}

// clientIP is the address failed authentications are counted against. A proxy on the
// same host (a loopback peer) is trusted to name the client: nginx in X-Real-IP (the
// documented snippet sets it), Caddy and Traefik as the last X-Forwarded-For hop. Any
// other peer is the client itself.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return host
	}
	if r.Header.Get("X-Original-Uri") != "" {
		if s := strings.TrimSpace(r.Header.Get("X-Real-Ip")); net.ParseIP(s) != nil {
			return s
		}
		return host
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(xff[len(xff)-1], ",")
		if s := strings.TrimSpace(hops[len(hops)-1]); net.ParseIP(s) != nil {
			return s
		}
	}
	return host
}

// Challenges are the two WWW-Authenticate challenges of every 401: Bearer for API-style
// clients, Basic so git, pip and docker prompt for a user and a token.
const (
	bearerChallenge = `Bearer realm="keygate"`
	basicChallenge  = `Basic realm="keygate"`
)

func (g *Gate) write(w http.ResponseWriter, a answer) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch a.status {
	case 200:
		// Every identity header is sent, empty unless configured and known: a proxy that
		// copies a header the answer lacks may pass the client's own copy or, Caddy 2.6,
		// its unresolved placeholder.
		for _, hd := range allHeaders {
			h[hd.HTTPName()] = []string{""}
		}
		if a.id != nil {
			g.identityHeaders(h, a)
		}
		w.WriteHeader(200)
	case 401:
		desc := ""
		switch {
		case errors.Is(a.authErr, keygate.ErrTokenExpired):
			desc = keygate.ErrTokenExpired.Message
		case errors.Is(a.authErr, keygate.ErrTokenRevoked):
			desc = keygate.ErrTokenRevoked.Message
		case errors.Is(a.authErr, keygate.ErrImpersonationDisabled):
			desc = keygate.ErrImpersonationDisabled.Message
		}
		if desc == "" {
			h.Add("WWW-Authenticate", bearerChallenge)
			h.Add("WWW-Authenticate", basicChallenge)
			writeJSON(w, 401, map[string]any{"message": "401 Unauthorized"})
			return
		}
		h.Add("WWW-Authenticate", bearerChallenge+`, error="invalid_token", error_description="`+desc+`"`)
		h.Add("WWW-Authenticate", basicChallenge)
		writeJSON(w, 401, map[string]any{"error": "invalid_token", "error_description": desc})
	case 403:
		body := map[string]any{"message": "403 Forbidden"}
		if a.authErr != nil && !isThrottled(a.authErr) {
			if msg := keygate.ErrorMessage(a.authErr); msg != "" {
				body["message"] = "403 Forbidden - " + msg // a blocked or deactivated owner, as the API says it
			}
		}
		if len(a.reasons) > 0 {
			body["keygate_explanation"] = map[string]any{"reasons": a.reasons}
		}
		writeJSON(w, 403, body)
	default:
		writeJSON(w, 500, map[string]any{"message": "500 Internal Server Error"})
	}
}

func (g *Gate) identityHeaders(h http.Header, a answer) {
	id := a.id
	for _, hd := range a.svc.Headers {
		var v string
		switch hd {
		case HeaderUser:
			v = id.user.Username
		case HeaderUserID:
			v = strconv.FormatInt(id.user.ID, 10)
		case HeaderTokenID:
			v = strconv.FormatInt(id.tokenID, 10)
		case HeaderTokenType:
			v = string(id.tokenType)
		case HeaderScopes:
			v = strings.Join(id.scopes.Strings(), " ")
		case HeaderAccessLevel:
			v = strconv.Itoa(int(a.level))
		}
		h.Set(hd.HTTPName(), v)
	}
}

// BodyHeader repeats a refusal's JSON body in a header, for proxies that drop the bodies
// of forward-auth answers: nginx's auth_request keeps only headers, and the documented
// snippet answers the client with this one.
const BodyHeader = "X-Keygate-Body"

func writeJSON(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body) // maps of strings always encode
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(BodyHeader, strings.TrimSpace(buf.String()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the proxy went away; nothing to tell it
}
