package githttp

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/repo"
	"github.com/keygate/keygate/internal/service"
)

// Config carries the bridge's dependencies.
type Config struct {
	Service      *service.Service
	Repositories *repo.Disk
	Logger       *slog.Logger
	// ExternalURL is the instance URL users see, without a trailing slash (the help link
	// in the 401 text).
	ExternalURL string
	// JobTokens authenticates CI/CD job tokens; nil recognises none (NoJobTokens).
	JobTokens JobTokens
	// MaxPushBytes bounds a receive-pack request body; 0 means DefaultMaxPushBytes.
	MaxPushBytes int64
	// TransferTimeout bounds one Git request from start to end. It replaces the server's
	// read and write timeouts, which are sized for API calls, not for packs; 0 means
	// DefaultTransferTimeout.
	TransferTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultMaxPushBytes    = 10 << 30
	DefaultTransferTimeout = time.Hour
)

// Bounds on what is read before git sees it.
const (
	// maxNegotiationBytes bounds an upload-pack request body (wants and haves, maybe
	// gzipped); git http-backend itself buffers at most 10 MB of it, inflated.
	maxNegotiationBytes = 64 << 20
	// maxCommandBytes bounds a push's command section (about 100 bytes per ref).
	maxCommandBytes = 8 << 20
)

// JobTokenUsername is the Basic username that marks a CI/CD job token (spec §5.5).
const JobTokenUsername = "gitlab-ci-token"

// Caller is a Git client as the bridge judges it: who (the zero Subject is anonymous)
// and what the credential itself permits.
type Caller struct {
	Subject   authz.Subject
	Abilities authz.GitAbilities
	// Username is passed to git as REMOTE_USER (reflogs, hooks); "" for anonymous.
	Username string
	// TokenID names the credential in the access log; 0 for none.
	TokenID int64
	// machine marks a bot or service account, whose token is only valid for projects
	// it can read (GitLab refuses it at authentication: 401).
	machine bool
}

// JobTokens is the extension point for CI/CD job tokens over Git: HTTP Basic with the
// username gitlab-ci-token and the job token as the password (spec §5.5 item 2, §7.6).
// The job-token work implements it; until then NoJobTokens recognises none.
type JobTokens interface {
	// AuthenticateGitJob verifies a job token for a Git request of op on project (the
	// zero Project when the path names none). It returns keygate.ErrTokenInvalid for a
	// token it does not recognise (answered 401; gitlab-ci-token logins never count
	// towards the failed-authentication ban), and a *keygate.Error of CodeForbidden with
	// GitLab's message for a job that may not reach the project (answered 403 with that
	// message). The Caller it returns is then judged by authz.DecideGit like any other.
	AuthenticateGitJob(ctx context.Context, token, ip string, project keygate.Project, op authz.GitOp) (Caller, error)
}

// NoJobTokens recognises no job token.
type NoJobTokens struct{}

// AuthenticateGitJob answers that the token is not recognised.
func (NoJobTokens) AuthenticateGitJob(context.Context, string, string, keygate.Project, authz.GitOp) (Caller, error) {
	return Caller{}, keygate.ErrTokenInvalid
}

// Handler serves the Git endpoints.
type Handler struct {
	svc     *service.Service
	repos   *repo.Disk
	log     *slog.Logger
	ext     string
	jobs    JobTokens
	maxPush int64
	timeout time.Duration
}

// New builds the Git handler.
func New(cfg Config) *Handler {
	h := &Handler{
		svc: cfg.Service, repos: cfg.Repositories, log: cfg.Logger, ext: strings.TrimRight(cfg.ExternalURL, "/"),
		jobs: cfg.JobTokens, maxPush: cfg.MaxPushBytes, timeout: cfg.TransferTimeout,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.jobs == nil {
		h.jobs = NoJobTokens{}
	}
	if h.maxPush <= 0 {
		h.maxPush = DefaultMaxPushBytes
	}
	if h.timeout <= 0 {
		h.timeout = DefaultTransferTimeout
	}
	return h
}

// Match reports whether a request is for a Git endpoint: GET (or HEAD) of info/refs,
// with or without ".git", and POST of the two services below a ".git" path.
func Match(r *http.Request) bool {
	p, ok := SplitPath(r.URL.Path)
	if !ok {
		return false
	}
	if p.Endpoint == InfoRefs {
		return r.Method == http.MethodGet || r.Method == http.MethodHead
	}
	return r.Method == http.MethodPost && p.DotGit
}

// patterns name the routes in the access log and metrics.
var patterns = map[Endpoint]string{
	InfoRefs:    "GET /{repository_path}.git/info/refs",
	UploadPack:  "POST /{repository_path}.git/git-upload-pack",
	ReceivePack: "POST /{repository_path}.git/git-receive-pack",
}

// tokenIDSetter is implemented by the server's logging ResponseWriter.
type tokenIDSetter interface{ SetTokenID(int64) }

// ServeHTTP serves one Git request; the server sends only requests Match accepts.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := SplitPath(r.URL.Path)
	if !ok {
		h.writeError(w, r, &gitError{status: 404, body: authz.GitMsgNotFound})
		return
	}
	r.Pattern = patterns[p.Endpoint]
	if p.Endpoint == InfoRefs && !p.DotGit {
		// GitLab redirects /group/project/info/refs to the .git path, so clones work
		// without the suffix; git follows it and uses the new base for the POSTs.
		r.Pattern = "GET /{repository_path}/info/refs"
		target := "/" + p.Project + ".git/info/refs"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusForbidden) // GitLab's deny_head_requests
		return
	}
	op := authz.GitOp(r.URL.Query().Get("service"))
	switch p.Endpoint {
	case UploadPack:
		op = authz.GitFetch
	case ReceivePack:
		op = authz.GitPush
	}
	if err := h.serve(w, r, p, op); err != nil {
		h.writeError(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, p Path, op authz.GitOp) error {
	ctx := r.Context()
	proj, err := h.svc.Project(ctx, p.Project)
	found := err == nil
	if err != nil && keygate.ErrorCode(err) != keygate.CodeNotFound {
		return err
	}
	caller, err := h.authenticate(r, proj, op)
	if err != nil {
		return err
	}
	if ts, ok := w.(tokenIDSetter); ok && caller.TokenID != 0 {
		ts.SetTokenID(caller.TokenID)
	}
	res := authz.Resource{Kind: authz.KindProject}
	if found {
		if res, err = h.svc.ProjectAccess(ctx, caller.Subject, proj); err != nil {
			return err
		}
	}
	if caller.machine && !(found && authz.CanRead(caller.Subject, res)) {
		h.svc.CountFailure(clientIP(r))
		return errAccessDenied
	}
	b, err := h.granular(r, &caller, proj, found, res)
	if err != nil {
		return err
	}
	if d := authz.DecideGit(caller.Subject, res, op, caller.Abilities); !d.Allowed {
		return denial(d)
	}
	if b != nil {
		h.svc.RecordPermissionUse(caller.TokenID, authz.GitUseRoute(op), *b)
	}
	if !h.repos.Exists(proj.FullPath()) {
		return &gitError{status: 404, body: authz.GitMsgNoRepository}
	}
	if r.Method == http.MethodPost {
		// Packs take longer than the server's API-sized timeouts, and git http-backend
		// answers while it still reads the request body.
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(h.timeout)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline)
		_ = rc.EnableFullDuplex()
	}
	switch p.Endpoint {
	case UploadPack:
		body := http.MaxBytesReader(w, r.Body, maxNegotiationBytes)
		return h.backend(w, r, proj, caller, p.Endpoint, body, r.ContentLength, r.Header.Get("Content-Encoding"), nil)
	case ReceivePack:
		return h.receivePack(w, r, proj, caller, res)
	}
	return h.backend(w, r, proj, caller, p.Endpoint, nil, 0, "", nil)
}

// authenticate reads the Basic credentials and verifies them. No Basic credentials at
// all is an anonymous caller, whom DecideGit lets fetch public projects only.
func (h *Handler) authenticate(r *http.Request, proj keygate.Project, op authz.GitOp) (Caller, error) {
	ctx, ip := r.Context(), clientIP(r)
	user, password, basic, ok := ParseBasic(r.Header.Get("Authorization"))
	switch {
	case !basic:
		return Caller{}, nil
	case ok && user == JobTokenUsername:
		return h.jobs.AuthenticateGitJob(ctx, password, ip, proj, op)
	case !ok:
		if err := h.svc.CheckBanned(ip); err != nil {
			return Caller{}, err
		}
		h.svc.CountFailure(ip)
		return Caller{}, errAccessDenied
	}
	// The username is not looked at (spec §5.5): git always sends one.
	pr, err := h.svc.Authenticate(ctx, service.Credential{Token: password, IP: ip})
	if err != nil {
		if keygate.ErrorMessage(err) == blockedReason {
			// GitLab's token check refuses a blocked owner while authenticating (401),
			// and counts it as a failure; a deactivated owner passes it and is refused
			// with the reason (403).
			h.svc.CountFailure(ip)
			return Caller{}, errAccessDenied
		}
		return Caller{}, err
	}
	return Caller{
		Subject: pr.Subject(), Abilities: authz.GitAbilitiesFor(pr.Token.Scopes),
		Username: pr.User.Username, TokenID: pr.Token.ID, machine: pr.User.Bot(),
	}, nil
}

var blockedReason = keygate.User{State: keygate.UserBlocked}.APIBlockReason("")

// receivePack judges the ref updates at the front of the body, then streams the whole
// body, unchanged, to git.
func (h *Handler) receivePack(w http.ResponseWriter, r *http.Request, proj keygate.Project, caller Caller, res authz.Resource) error {
	ctx := r.Context()
	var body io.Reader = http.MaxBytesReader(w, r.Body, h.maxPush)
	length := r.ContentLength
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		// git never compresses a push, but a body that is must be inflated to read its
		// commands; git then gets the inflated stream.
		zr, err := gzip.NewReader(body)
		if err != nil {
			return &gitError{status: 400, body: "Bad Request: the gzip body does not decode"}
		}
		defer zr.Close()
		body, length = zr, -1
	default:
		return &gitError{status: 415, body: "Unsupported Content-Encoding " + enc}
	}
	br := bufio.NewReaderSize(body, 64<<10)
	push, raw, err := ReadCommands(br, maxCommandBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &gitError{status: 413, body: "Request Entity Too Large"}
		}
		h.log.Info("refused a malformed push", "project_id", proj.ID, "err", err)
		return &gitError{status: 400, body: "Bad Request"}
	}
	target, err := h.svc.PushTarget(ctx, proj)
	if err != nil {
		return err
	}
	if d := authz.DecidePush(caller.Subject, res, target, push.Updates); !d.Allowed {
		return h.refuse(w, br, push, d)
	}
	replay := io.MultiReader(bytes.NewReader(raw), br)
	if err := h.backend(w, r, proj, caller, ReceivePack, replay, length, "", target.ForcePushProtected()); err != nil {
		return err
	}
	if target.Empty {
		if err := h.svc.RepositoryPushed(ctx, proj); err != nil {
			h.log.Error("after the first push", "project_id", proj.ID, "err", err)
		}
	}
	return nil
}

// refuse answers a refused push as GitLab's pre-receive hook refusal reads. The rest of
// the body is read first: a client still sending its pack would otherwise see the
// connection close instead of the answer.
func (h *Handler) refuse(w http.ResponseWriter, rest io.Reader, push Push, d authz.Decision) error {
	if _, err := io.Copy(io.Discard, rest); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &gitError{status: 413, body: "Request Entity Too Large"}
		}
		return nil // the client went away
	}
	body, ok := refusal(push, d.Message)
	if !ok {
		return denial(d)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/x-git-receive-pack-result")
	noCache(hd)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// noCache sets the headers git http-backend sends on every answer.
func noCache(hd http.Header) {
	hd.Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
	hd.Set("Pragma", "no-cache")
	hd.Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
}

// backend runs git http-backend for the request through CGI. git sees only what it
// needs: the endpoint path, the service, the body and the headers that shape it
// (Content-Type, Content-Encoding for upload-pack, Git-Protocol for protocol v2), and
// never the Authorization header or any other credential.
func (h *Handler) backend(w http.ResponseWriter, r *http.Request, proj keygate.Project, caller Caller, ep Endpoint,
	body io.Reader, length int64, encoding string, forcePushProtected []string) error {
	dir := h.repos.Path(proj.FullPath())
	env := append(h.repos.BackendEnv(forcePushProtected), "GIT_PROJECT_ROOT="+dir, "GIT_HTTP_EXPORT_ALL=1")
	if caller.Username != "" {
		env = append(env, "REMOTE_USER="+caller.Username)
	}
	u := &url.URL{Path: ep.Suffix()}
	if ep == InfoRefs {
		u.RawQuery = "service=" + url.QueryEscape(r.URL.Query().Get("service"))
	}
	hd := http.Header{}
	for _, k := range []string{"Content-Type", "Git-Protocol"} {
		if v := r.Header.Get(k); v != "" {
			hd.Set(k, v)
		}
	}
	if encoding != "" {
		hd.Set("Content-Encoding", encoding)
	}
	if body == nil {
		body, length = http.NoBody, 0
	}
	out := (&http.Request{
		Method: r.Method, URL: u, Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		Header: hd, Body: io.NopCloser(body), ContentLength: length, Host: r.Host, RemoteAddr: r.RemoteAddr,
		RequestURI: u.RequestURI(),
	}).WithContext(r.Context())
	(&cgi.Handler{
		Path: h.repos.Git(), Args: []string{"http-backend"}, Dir: dir, Env: env,
		Logger: slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
		Stderr: &stderrLog{log: h.log, project: proj.FullPath()},
	}).ServeHTTP(w, out)
	return nil
}

// stderrLog records what git http-backend writes to its standard error. git never sees
// a credential, so its messages are safe to log.
type stderrLog struct {
	log     *slog.Logger
	project string
}

func (s *stderrLog) Write(b []byte) (int, error) {
	if msg := strings.TrimSpace(string(b)); msg != "" {
		s.log.Warn("git http-backend", "project", s.project, "stderr", msg)
	}
	return len(b), nil
}

// clientIP is the peer address, as the API takes it.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
