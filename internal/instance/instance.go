// Package instance opens a Keygate instance from its configuration: the data directory,
// the instance secret, the store (SQLite in the data dir or PostgreSQL), the service, and
// the first-start bootstrap of root. `keygate serve` and `keygate admin` share it, so an
// admin command on a never-served data dir initialises it exactly as serve would.
package instance

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/repo"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
	"github.com/keygate/keygate/internal/store/postgres"
	"github.com/keygate/keygate/internal/store/sqlite"
)

// Config is the operational configuration of DESIGN §1.
type Config struct {
	DataDir     string
	DatabaseURL string
	SecretFile  string // default <DataDir>/secret
	ExternalURL string
	Clock       clock.Clock
	Logger      *slog.Logger
	// Notices receives human-readable notes (where root's password was written).
	Notices func(format string, args ...any)
	// PasswordIterations lowers the password-hash cost in tests; 0 is the default.
	PasswordIterations int
	// Ban configures failed-authentication throttling; nil is the default.
	Ban *service.BanConfig
	// RepositoriesDir holds the projects' Git repositories (default
	// <DataDir>/repositories); all nodes of a cluster share it.
	RepositoriesDir string
	// CacheSize bounds the verified-token cache (entries); 0 is the service default.
	CacheSize int
	// SMTPURL is the mail server for notices (notify.ParseSMTPURL); empty: none.
	SMTPURL string
	// LifecycleInterval is how often the scheduler's expiry pass runs (0: 15 s).
	LifecycleInterval time.Duration
}

// Instance is an opened Keygate instance.
type Instance struct {
	Store   store.Store
	Service *service.Service
	Config  Config
	// Repositories are the projects' Git repositories, served by the Git smart-HTTP bridge.
	Repositories *repo.Disk
}

// Names of files in the data dir.
const (
	DatabaseFile        = "keygate.db"
	SecretFileName      = "secret"
	RootPasswordFile    = "initial_root_password"
	RepositoriesDirName = "repositories"
	DefaultDataDir      = "./keygate-data"
	DefaultAddr         = "127.0.0.1:8080"
	defaultExternalHost = "http://127.0.0.1:8080"
)

// Open prepares and opens the instance.
func Open(ctx context.Context, cfg Config) (*Instance, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.SecretFile == "" {
		cfg.SecretFile = filepath.Join(cfg.DataDir, SecretFileName)
	}
	if cfg.ExternalURL == "" {
		cfg.ExternalURL = defaultExternalHost
	}
	cfg.ExternalURL = strings.TrimRight(cfg.ExternalURL, "/")
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Notices == nil {
		cfg.Notices = func(string, ...any) {}
	}
	if cfg.RepositoriesDir == "" {
		cfg.RepositoriesDir = filepath.Join(cfg.DataDir, RepositoriesDirName)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	key, err := loadOrCreateSecret(cfg.SecretFile)
	if err != nil {
		return nil, err
	}
	dig, err := secret.NewDigester(key)
	if err != nil {
		return nil, err
	}
	repos, err := repo.New(cfg.RepositoriesDir, "")
	if err != nil {
		return nil, err
	}
	mailer, hooks, err := deliverers(cfg)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	svc, err := service.New(service.Config{
		Mailer: mailer, Hooks: hooks, LifecycleInterval: cfg.LifecycleInterval,
		Store: st, Clock: cfg.Clock, Digester: dig, Logger: cfg.Logger,
		ExternalURL: cfg.ExternalURL, PasswordIterations: cfg.PasswordIterations, Ban: cfg.Ban,
		CacheSize:    cfg.CacheSize,
		Repositories: repos,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	pw, err := svc.Bootstrap(ctx)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if pw != "" {
		path := filepath.Join(cfg.DataDir, RootPasswordFile)
		if err := writeExclusive(path, []byte(pw+"\n")); err != nil {
			st.Close()
			return nil, fmt.Errorf("write initial root password: %w", err)
		}
		cfg.Notices("Created user root (administrator); its password is in %s", path)
	}
	if err := svc.EnsureRepositories(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("repositories: %w", err)
	}
	return &Instance{Store: st, Service: svc, Config: cfg, Repositories: repos}, nil
}

// Close flushes the service and closes the store.
func (in *Instance) Close(ctx context.Context) error {
	err := in.Service.Close(ctx)
	return errors.Join(err, in.Store.Close())
}

// IsPostgres reports whether a database URL selects PostgreSQL.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	switch {
	case cfg.DatabaseURL == "":
		return sqlite.Open(ctx, filepath.Join(cfg.DataDir, DatabaseFile))
	case IsPostgres(cfg.DatabaseURL):
		return postgres.Open(ctx, cfg.DatabaseURL)
	}
	return nil, fmt.Errorf("database URL must start with postgres:// (or be empty for SQLite)")
}

// loadOrCreateSecret reads the instance secret (hex), creating it with mode 0600 on
// first start. Two processes starting at once agree: the loser of the exclusive create
// reads the winner's file.
func loadOrCreateSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return decodeSecret(path, b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	key, err := secret.NewKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create secret dir: %w", err)
	}
	err = writeExclusive(path, []byte(hex.EncodeToString(key)+"\n"))
	if errors.Is(err, fs.ErrExist) {
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, fmt.Errorf("read secret: %w", rerr)
		}
		return decodeSecret(path, b)
	}
	if err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	return key, nil
}

func decodeSecret(path string, b []byte) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	key, err := hex.DecodeString(s)
	if err != nil {
		key = []byte(s) // a secret written by hand need not be hex
	}
	if len(key) < secret.MinKeyLen {
		return nil, fmt.Errorf("secret file %s holds %d bytes, want at least %d", path, len(key), secret.MinKeyLen)
	}
	return key, nil
}

// writeExclusive creates path with mode 0600, failing if it exists; the content is
// complete before the name appears (write to a temp file, then link).
func writeExclusive(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}
