// Package server composes Keygate's HTTP surfaces (REST API, health, metrics) behind the
// common middleware (request IDs, access log, metrics, panic recovery) and runs them with
// timeouts and graceful shutdown.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/forwardauth"
	"github.com/keygate/keygate/internal/githttp"
	"github.com/keygate/keygate/internal/registryauth"
	"github.com/keygate/keygate/internal/repo"
	"github.com/keygate/keygate/internal/service"
)

// Config carries the server's dependencies.
type Config struct {
	Service     *service.Service
	Logger      *slog.Logger
	ExternalURL string
	Revision    string
	// TLS, when set, makes Serve answer HTTPS itself and every response carry HSTS.
	TLS *tls.Config
	// Repositories enables Git over HTTP on them; nil serves no Git.
	Repositories *repo.Disk
	// GitJobTokens authenticates CI/CD job tokens over Git; nil recognises none.
	GitJobTokens githttp.JobTokens
	// Registry turns the container registry's token service on: it signs /jwt/auth
	// answers; nil answers GitLab's 404 UNAVAILABLE.
	Registry *RegistryConfig
}

// RegistryConfig is the container registry integration.
type RegistryConfig struct {
	Signer *registryauth.Signer
	// Host is the registry's host[:port] as users see it (container_registry_image_prefix).
	Host string
	// Grants learns of issued registry tokens (audit); nil tells nobody.
	Grants registryauth.GrantObserver
}

// Server is Keygate's HTTP server.
type Server struct {
	svc     *service.Service
	log     *slog.Logger
	handler http.Handler
	metrics *metrics
	tls     *tls.Config
	gate    *forwardauth.Gate
}

// New composes the handler tree.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newMetrics(reg)
	rc := registryauth.Config{Service: cfg.Service, Logger: cfg.Logger, ExternalURL: cfg.ExternalURL}
	registryHost := ""
	if cfg.Registry != nil {
		rc.Signer, rc.Grants, registryHost = cfg.Registry.Signer, cfg.Registry.Grants, cfg.Registry.Host
	}
	if rc.Grants == nil {
		rc.Grants = registryauth.AuditGrants{Service: cfg.Service, Log: cfg.Logger}
	}
	a := api.New(api.Config{
		Service: cfg.Service, Logger: cfg.Logger, ExternalURL: cfg.ExternalURL,
		Revision: cfg.Revision, Observer: m, RegistryHost: registryHost,
	})
	s := &Server{svc: cfg.Service, log: cfg.Logger, metrics: m}
	s.gate = forwardauth.New(forwardauth.Config{Service: cfg.Service, Logger: cfg.Logger, Observer: newGateMetrics(reg)})
	mux := http.NewServeMux()
	mux.Handle(api.Prefix+"/", a.Handler())
	mux.Handle(forwardauth.Path, s.gate)
	mux.Handle("POST /oauth/introspect", a.IntrospectHandler())
	mux.HandleFunc("GET /-/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("GitLab OK"))
	})
	mux.HandleFunc("GET /-/readiness", s.readiness)
	mux.Handle(registryauth.Path, registryauth.New(rc))
	mux.Handle("GET /-/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"404 Not Found"}` + "\n"))
	})
	// The web UI takes every path the routes above leave; what it does not serve gets
	// the JSON 404 as before.
	mux.Handle("/", newWeb(cfg, a, notFound))
	var root http.Handler = mux
	if cfg.Repositories != nil {
		root = withGit(githttp.New(githttp.Config{
			Service: cfg.Service, Repositories: cfg.Repositories, Logger: cfg.Logger,
			ExternalURL: cfg.ExternalURL, JobTokens: cfg.GitJobTokens,
		}), mux)
	}
	s.handler = s.middleware(root)
	s.tls = cfg.TLS
	if cfg.TLS != nil {
		inner := s.handler
		s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
			inner.ServeHTTP(w, r)
		})
	}
	return s
}

// Gate is the forward-auth handler at /-/gate; the caller loads and watches its gate file.
func (s *Server) Gate() *forwardauth.Gate { return s.gate }

// Handler returns the composed handler (tests mount it on httptest servers).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) readiness(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	if err := s.svc.Ping(ctx); err != nil {
		s.log.Warn("readiness: store does not answer", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"failed","master_check":[{"status":"failed"}]}` + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok","master_check":[{"status":"ok"}]}` + "\n"))
}

// Serve answers on l until ctx ends, then shuts down gracefully within grace.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute, // Git transfers (later) stream long bodies
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.tls != nil {
		l = tls.NewListener(l, s.tls)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	var h [16]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}
