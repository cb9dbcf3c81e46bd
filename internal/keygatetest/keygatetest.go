// Package keygatetest starts real Keygate servers for tests: a store (SQLite in a temp
// dir, or PostgreSQL in a schema of its own), the service on a manual clock, the full
// HTTP stack on a :0 port, and a root token.
package keygatetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for schema setup

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/forwardauth"
	"github.com/keygate/keygate/internal/githttp"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/registryauth"
	"github.com/keygate/keygate/internal/server"
	"github.com/keygate/keygate/internal/service"
)

// Start is the manual clock's initial time in every test server.
var Start = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// Server is a running test server.
type Server struct {
	URL     string // base URL, e.g. http://127.0.0.1:41234
	API     string // URL + "/api/v4"
	Clock   *clock.Manual
	Service *service.Service
	Inst    *instance.Instance
	DataDir string
	// DatabaseURL is empty for SQLite.
	DatabaseURL string
	// RootToken is an api+sudo+admin_mode token of root.
	RootToken string
	// Gate is the server's /-/gate handler (load policies with SetPolicy or Load).
	Gate *forwardauth.Gate
	// HTTP is the listening server; tests that take Keygate down close it.
	HTTP *httptest.Server
	logs *SyncBuffer
	// RegistrySigner signs /jwt/auth answers (Options.Registry); its certificate is
	// RegistryCertFile.
	RegistrySigner   *registryauth.Signer
	RegistryCertFile string
}

// Options select the backend.
type Options struct {
	// Postgres runs on KEYGATE_TEST_DATABASE_URL (the test skips without it).
	Postgres bool
	// Ban replaces the failed-authentication throttling (tests that need loopback counted
	// pass one without exemptions).
	Ban *service.BanConfig
	// Join makes this server a second node of another: same database and instance
	// secret (the cluster contract of DESIGN §1), its own process state and cache.
	Join *Server
	// DatabaseURL, when set, is the PostgreSQL URL to use (a test's proxy in front of a
	// schema from PostgresURL).
	DatabaseURL string
	// GateFile is loaded into /-/gate before the server answers.
	GateFile string
	// SMTPURL sends notices to this SMTP server (see NewSMTP); empty: log and in-app only.
	SMTPURL string
	// LifecycleInterval runs the server's own scheduler this often (0: the default).
	LifecycleInterval time.Duration
	// Registry turns the container registry's token service on, with a signing key
	// created in the data dir and RegistryHost as the registry's address.
	Registry bool
}

// RegistryHost is the registry address test servers with Options.Registry announce.
const RegistryHost = "registry.keygate.test:5050"

// NewServer starts a server on SQLite.
func NewServer(t testing.TB) *Server { return NewServerWith(t, Options{}) }

// NewServerWith starts a server with options.
func NewServerWith(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{Clock: clock.NewManual(Start), DataDir: t.TempDir(), logs: &SyncBuffer{}}
	secretFile := ""
	switch {
	case o.Join != nil:
		s.Clock = o.Join.Clock
		s.DatabaseURL = o.Join.DatabaseURL
		secretFile = filepath.Join(o.Join.DataDir, instance.SecretFileName)
		if s.DatabaseURL == "" {
			s.DataDir = o.Join.DataDir // SQLite: the nodes share the data dir
		}
	case o.DatabaseURL != "":
		s.DatabaseURL = o.DatabaseURL
	case o.Postgres:
		s.DatabaseURL = PostgresURL(t)
	}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	in, err := instance.Open(ctx, instance.Config{
		DataDir: s.DataDir, DatabaseURL: s.DatabaseURL, SecretFile: secretFile, Clock: s.Clock, Logger: log,
		ExternalURL: "http://keygate.test", PasswordIterations: 1000, Ban: o.Ban, SMTPURL: o.SMTPURL,
		LifecycleInterval: o.LifecycleInterval,
	})
	if err != nil {
		t.Fatalf("instance.Open: %v", err)
	}
	s.Inst, s.Service = in, in.Service
	runCtx, stop := context.WithCancel(ctx)
	in.Service.Start(runCtx)
	var reg *server.RegistryConfig
	if o.Registry {
		keyFile := instance.RegistryKeyFile(s.DataDir)
		key, err := instance.LoadOrCreateRegistryKey(keyFile, registryauth.DefaultIssuer, s.Clock.Now())
		if err != nil {
			t.Fatalf("registry key: %v", err)
		}
		if s.RegistrySigner, err = registryauth.NewSigner(key, registryauth.DefaultIssuer); err != nil {
			t.Fatalf("registry signer: %v", err)
		}
		s.RegistryCertFile = instance.RegistryCertFile(keyFile)
		reg = &server.RegistryConfig{Signer: s.RegistrySigner, Host: RegistryHost}
	}
	srv := server.New(server.Config{Service: in.Service, Logger: log, ExternalURL: "http://keygate.test", Revision: "test", Repositories: in.Repositories,
		GitJobTokens: githttp.ServiceJobTokens{Service: in.Service}, Registry: reg})
	s.Gate = srv.Gate()
	if o.GateFile != "" {
		p, err := forwardauth.ReadFile(o.GateFile)
		if err != nil {
			t.Fatalf("gate file: %v", err)
		}
		s.Gate.SetPolicy(p)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		stop()
		_ = in.Close(context.Background())
	})
	s.URL, s.API, s.HTTP = hs.URL, hs.URL+"/api/v4", hs
	s.RootToken = s.Token(t, 1, "root-test", keygate.ScopeAPI, keygate.ScopeSudo, keygate.ScopeAdminMode)
	return s
}

// Token issues a token for user id with the given scopes, expiring in 30 days.
func (s *Server) Token(t testing.TB, userID int64, name string, scopes ...keygate.Scope) string {
	t.Helper()
	exp := keygate.DateOf(s.Clock.Now()).AddDays(30)
	iss, err := s.Service.CreatePersonalToken(context.Background(), authz.SystemSubject(), userID,
		service.TokenInput{Name: name, Scopes: scopes, ExpiresAt: &exp})
	if err != nil {
		t.Fatalf("CreatePersonalToken: %v", err)
	}
	return iss.Secret.Reveal()
}

// User creates a user and returns it.
func (s *Server) User(t testing.TB, username string, admin bool) keygate.User {
	t.Helper()
	email, name := username+"@example.com", strings.ToUpper(username[:1])+username[1:]
	u, err := s.Service.CreateUser(context.Background(), authz.SystemSubject(), service.UserInput{
		Username: &username, Email: &email, Name: &name, Admin: &admin,
	})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", username, err)
	}
	return u
}

// Logs returns everything the server logged so far.
func (s *Server) Logs() string { return s.logs.String() }

// PostgresURL creates a fresh schema on KEYGATE_TEST_DATABASE_URL and returns a URL whose
// connections use it; the schema is dropped when the test ends. Without the variable the
// test is skipped.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("KEYGATE_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("KEYGATE_TEST_DATABASE_URL not set: skipping PostgreSQL test")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "kgt_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	if _, err := db.Exec("CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize()); err != nil {
		db.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP SCHEMA " + pgx.Identifier{schema}.Sanitize() + " CASCADE")
		db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers: a server's log
// written by its goroutines and searched by the test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
