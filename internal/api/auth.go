package api

import (
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
)

// call is what a handler knows of its request besides the request itself.
type call struct {
	p         *params
	principal *service.Principal // nil when anonymous
	subject   authz.Subject
	// sudo is set when an administrator acts as another user.
	sudo bool
	// The resource named by {id} on routes that act on one, with the caller's access.
	project keygate.Project
	group   keygate.Group
	res     authz.Resource
	// job is set when a CI/CD job token authenticated (on routes that accept them).
	job *service.JobPrincipal
}

// tokenIDSetter is implemented by the server's logging ResponseWriter, so the access log
// can name the token that authenticated a request without a context value.
type tokenIDSetter interface{ SetTokenID(int64) }

// rotatePathRE matches the paths where presenting a revoked token counts as reuse
// (spec §6.3): access_tokens/<digits or self>/rotate.
var rotatePathRE = regexp.MustCompile(`access_tokens/(\d+|self)/rotate$`)

// isRotatePath keeps the regexp off the hot path: only rotate URLs reach it.
func isRotatePath(path string) bool {
	return strings.HasSuffix(path, "/rotate") && rotatePathRE.MatchString(path)
}

func (a *API) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		// Audit events name the request they came from.
		r = r.WithContext(service.WithOrigin(r.Context(), service.Origin{IP: clientIP(r), RequestID: w.Header().Get("X-Request-Id")}))
		p, err := readParams(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		c := &call{p: p}
		raw := credential(r, p)
		jp := p
		if rt.tokenIsData {
			jp = p.without("token")
		}
		job := jobCredential(r, jp, raw)
		// A retry of an answered rotate is replayed before authentication: its token
		// was rotated away by the first attempt and must not count as a reuse.
		ir := idempotentRequest(rt, r, p, raw)
		if ir != nil && job == "" {
			if a.replay(w, r, ir) {
				return
			}
			// The key is held from here, before authentication: a racing retry then
			// waits (409) instead of presenting the token this request rotates away.
			tw, ir2, finish, ok := a.holdIdempotency(w, r, ir)
			if !ok {
				return
			}
			defer finish()
			w, r = tw, ir2
		}
		if job != "" && rt.Rule.JobToken {
			jp, err := a.svc.AuthenticateJob(r.Context(), job, clientIP(r))
			if err != nil {
				a.observe(authResult(err))
				a.writeError(w, r, err)
				return
			}
			a.observe("success")
			c.job, c.subject = &jp, jp.Subject()
		} else if job != "" {
			// A job token where none is accepted is not recognised (spec §5.1).
			a.observe("invalid")
			a.writeError(w, r, unauthorized())
			return
		} else if raw != "" {
			pr, err := a.svc.Authenticate(r.Context(), service.Credential{
				Token: raw, IP: clientIP(r), RotatePath: isRotatePath(r.URL.Path),
			})
			if err != nil {
				a.observe(authResult(err))
				a.writeError(w, r, err)
				return
			}
			a.observe("success")
			if ts, ok := w.(tokenIDSetter); ok {
				ts.SetTokenID(pr.Token.ID)
			}
			c.principal, c.subject = &pr, pr.Subject()
			o := service.OriginFrom(r.Context())
			o.UserID = pr.User.ID
			r = r.WithContext(service.WithOrigin(r.Context(), o))
		}
		rule := rt.Rule
		if id := sudoID(r, p); id != "" {
			if err := a.applySudo(r, c, id); err != nil {
				a.writeError(w, r, err)
				return
			}
			// With sudo only the sudo scope is checked (spec §5.2), except on Keygate's
			// exclusive routes: introspect is never implied.
			rule.AnyScope = !rule.Exclusive
		}
		if d := authz.Decide(c.subject, rule, r.Method); !d.Allowed {
			if d.Code == keygate.CodeInsufficientScope {
				a.observe("insufficient_scope")
			}
			a.writeError(w, r, denial(d))
			return
		}
		if rt.pre != nil {
			if err := rt.pre(c); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if rt.Kind == authz.KindNone || !onResource(rt.Fine) {
			if err := a.fineCheck(r, c, rt, nil); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if rt.Kind != authz.KindNone {
			if err := a.resolve(r, c, rt); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if err := rt.handler(w, r, c); err != nil {
			a.writeError(w, r, err)
		}
	})
}

func (a *API) observe(result string) {
	if a.obs != nil {
		a.obs.AuthResult(result)
	}
}

func authResult(err error) string {
	switch {
	case errors.Is(err, keygate.ErrTokenExpired):
		return "token_expired"
	case errors.Is(err, keygate.ErrTokenRevoked):
		return "token_revoked"
	case errors.Is(err, keygate.ErrImpersonationDisabled):
		return "impersonation_disabled"
	case errors.Is(err, keygate.ErrTokenInvalid):
		return "invalid"
	}
	return "forbidden"
}

// credential finds the presented token in GitLab's order (spec §5.1): private_token
// parameter, PRIVATE-TOKEN header, then the OAuth-style token (access_token parameter,
// Authorization: Bearer, bearer_token parameter).
func credential(r *http.Request, p *params) string {
	if s, ok, _ := p.str("private_token"); ok && s != "" {
		return s
	}
	if s := r.Header.Get("Private-Token"); s != "" {
		return strings.TrimSpace(s)
	}
	if s, ok, _ := p.str("access_token"); ok && s != "" {
		return s
	}
	if s, ok := BearerToken(r.Header.Get("Authorization")); ok {
		return s
	}
	if s, ok, _ := p.str("bearer_token"); ok && s != "" {
		return s
	}
	return ""
}

// jobCredential finds a CI/CD job token: the JOB-TOKEN header, the job_token or token
// parameter, or a glcbt- value where an access token would be (spec §5.1).
// raw is the request's access-token credential (credential), already read.
func jobCredential(r *http.Request, p *params, raw string) string {
	if s := strings.TrimSpace(r.Header.Get("Job-Token")); s != "" {
		return s
	}
	for _, name := range []string{"job_token", "token"} {
		if s, ok, _ := p.str(name); ok && strings.HasPrefix(s, secret.PrefixJob) {
			return s
		}
	}
	if strings.HasPrefix(raw, secret.PrefixJob) {
		return raw
	}
	return ""
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header value. The
// scheme is case-insensitive; anything else is not a bearer credential.
func BearerToken(h string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok := strings.TrimSpace(rest)
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

func sudoID(r *http.Request, p *params) string {
	if s, ok, _ := p.str("sudo"); ok && s != "" {
		return s
	}
	return strings.TrimSpace(r.Header.Get("Sudo"))
}

// applySudo switches the caller to the user named by id (ID or username), after GitLab's
// checks in GitLab's order.
func (a *API) applySudo(r *http.Request, c *call, id string) error {
	if d := authz.Sudo(c.subject); !d.Allowed {
		if d.Code == keygate.CodeInsufficientScope {
			return insufficientScope("sudo")
		}
		if d.Code == keygate.CodeUnauthenticated {
			return unauthorized()
		}
		return forbidden(d.Reasons[0])
	}
	var target keygate.User
	var err error
	if n, perr := strconv.ParseInt(id, 10, 64); perr == nil {
		target, err = a.svc.User(r.Context(), n)
	} else {
		target, err = a.svc.UserByUsername(r.Context(), id)
	}
	if err != nil {
		if keygate.ErrorCode(err) == keygate.CodeNotFound {
			return message(404, "404 User with ID or username '"+id+"' Not Found")
		}
		return err
	}
	pr := *c.principal
	admin := pr.User
	pr.User = target
	c.principal, c.subject, c.sudo = &pr, pr.Subject(), true
	return a.svc.AuditSudo(r.Context(), admin, pr.Token, target, r.Method+" "+r.URL.Path)
}

// clientIP is the peer address. Keygate does not trust forwarding headers here; a proxy
// deployment sets the peer it trusts at the server layer.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// requireUser is for handlers on routes open to anonymous callers that still need one.
func (c *call) requireUser() error {
	if c.principal == nil {
		return unauthorized()
	}
	return nil
}

// resolve loads the route's resource and judges the action on it: hidden → 404 with
// GitLab's "404 Project Not Found" / "404 Group Not Found", readable but not allowed → 403.
func (a *API) resolve(r *http.Request, c *call, rt Route) error {
	ctx, ref := r.Context(), r.PathValue("id")
	var err error
	switch rt.Kind {
	case authz.KindProject:
		if c.project, err = a.svc.Project(ctx, ref); err != nil {
			return err
		}
		c.res, err = a.svc.ProjectAccess(ctx, c.subject, c.project)
	case authz.KindGroup:
		if c.group, err = a.svc.Group(ctx, ref); err != nil {
			return err
		}
		c.res, err = a.svc.GroupAccess(ctx, c.subject, c.group)
	}
	if err != nil {
		return err
	}
	if b, ok := resourceBoundary(c, rt); ok {
		if err := a.fineCheck(r, c, rt, &b); err != nil {
			return err
		}
	} else if onResource(rt.Fine) {
		if err := a.fineCheck(r, c, rt, nil); err != nil {
			return err
		}
	}
	act := rt.Action
	if rt.deferred {
		act = authz.ActRead
	}
	if d := authz.DecideResource(c.subject, c.res, act); !d.Allowed {
		return denial(d)
	}
	if c.job != nil && rt.Kind == authz.KindProject {
		// A job of another project reaches this one only through its allowlist.
		return a.svc.JobReach(ctx, *c.job, c.project)
	}
	return nil
}

// requireResourceBot: the self routes of project and group tokens take only such a token;
// anything else is 405 (GitLab's not_allowed!, before the resource is looked up).
func requireResourceBot(c *call) error {
	if c.principal == nil || c.principal.User.Type != keygate.UserProjectBot || c.principal.Token.Impersonation {
		return message(405, "405 Method Not Allowed")
	}
	return nil
}
