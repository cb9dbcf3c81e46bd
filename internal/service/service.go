// Package service holds Keygate's use cases: authenticate a token, issue, rotate and
// revoke tokens, manage users and instance settings. It owns transactions and the clock,
// asks authz for decisions and store for data, and knows nothing of HTTP.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/repo"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// Config carries a Service's dependencies.
type Config struct {
	Store    store.Store
	Clock    clock.Clock
	Digester *secret.Digester
	Logger   *slog.Logger
	// CacheSize bounds the verified-token cache (entries); 0 means 50,000.
	CacheSize int
	// ExternalURL is the instance URL users see, used in messages that point at it.
	ExternalURL string
	// Ban configures failed-authentication throttling; nil means DefaultBanConfig.
	Ban *BanConfig
	// PasswordIterations is the PBKDF2 cost; 0 means the production default. Tests lower it.
	PasswordIterations int
	// Repositories keeps the projects' Git repositories; nil means projects have none.
	Repositories repo.Store
	// Mailer sends notices; nil means they go to the log and the in-app list only.
	Mailer Mailer
	// Hooks delivers webhooks; nil means deliveries fail and are retried.
	Hooks HookPoster
	// LookupIP resolves webhook hosts for the local-address check; nil means the
	// system resolver.
	LookupIP func(ctx context.Context, host string) ([]net.IP, error)
	// LifecycleInterval is how often Start runs the expiry-notice pass (0: 5 s); the
	// outbox is retried at least as often.
	LifecycleInterval time.Duration
}

// Service is the use-case layer. Create it with New, Start its background work, Close it.
type Service struct {
	store       store.Store
	clock       clock.Clock
	dig         *secret.Digester
	log         *slog.Logger
	cache       *tokenCache
	uses        *useRecorder
	pwIters     int
	externalURL string
	throttle    *throttle
	repos       repo.Store
	idem        *idemKeys
	signIns     *signInLimiter
	mailer      Mailer
	poster      HookPoster
	lookupIP    func(ctx context.Context, host string) ([]net.IP, error)
	lifeEvery   time.Duration
	revocations *revocationLimiter
}

// New builds a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Digester == nil {
		return nil, errors.New("service: Store and Digester are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 50_000
	}
	if cfg.PasswordIterations <= 0 {
		cfg.PasswordIterations = defaultPasswordIterations
	}
	var err error
	s := &Service{
		store:       cfg.Store,
		clock:       cfg.Clock,
		dig:         cfg.Digester,
		log:         cfg.Logger,
		cache:       newTokenCache(cfg.CacheSize),
		pwIters:     cfg.PasswordIterations,
		externalURL: cfg.ExternalURL,
	}
	s.uses = newUseRecorder(cfg.Store, cfg.Logger, cfg.Clock.Now)
	ban := DefaultBanConfig()
	if cfg.Ban != nil {
		ban = *cfg.Ban
	}
	s.throttle = newThrottle(ban, cfg.Clock)
	s.signIns = newSignInLimiter(cfg.Clock)
	s.repos = cfg.Repositories
	if s.idem, err = newIdemKeys(cfg.Digester); err != nil {
		return nil, fmt.Errorf("service: idempotency keys: %w", err)
	}
	s.mailer, s.poster, s.lookupIP = cfg.Mailer, cfg.Hooks, cfg.LookupIP
	if s.lookupIP == nil {
		s.lookupIP = func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		}
	}
	s.lifeEvery = cfg.LifecycleInterval
	if s.lifeEvery <= 0 {
		s.lifeEvery = 5 * time.Second
	}
	s.uses.sighted = s.auditSightings
	s.revocations = newRevocationLimiter(cfg.Clock)
	return s, nil
}

// Start runs the background work until ctx ends or Close: the writer of last-used data,
// and an hourly purge of the bots of long-inactive project and group tokens.
func (s *Service) Start(ctx context.Context) {
	s.uses.start(ctx)
	go s.lifecycleLoop(ctx)
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		// Closed idempotency windows hold successors' sealed plaintext: erase them
		// within a minute (lookups erase a closed record they meet at once).
		idem := time.NewTicker(time.Minute)
		defer idem.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.uses.stop:
				return
			case <-idem.C:
				if _, err := s.PurgeIdempotency(ctx); err != nil {
					s.log.Warn("purge idempotency records", "err", err)
				}
			case <-t.C:
				if _, err := s.PurgeInactiveBots(ctx); err != nil {
					s.log.Warn("purge inactive bots", "err", err)
				}
			}
		}
	}()
}

// Close flushes pending last-used data and stops background work.
func (s *Service) Close(ctx context.Context) error { return s.uses.close(ctx) }

// FlushUses writes pending last-used data now (tests and the admin CLI).
func (s *Service) FlushUses(ctx context.Context) error { return s.uses.flush(ctx) }

// Clock returns the service clock, so transports judge time the same way.
func (s *Service) Clock() clock.Clock { return s.clock }

// Ping reports whether the store answers (readiness).
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// settings returns the instance settings through the cache.
func (s *Service) settings(ctx context.Context) (keygate.Settings, error) {
	if err := s.refresh(ctx); err != nil {
		return keygate.Settings{}, err
	}
	return s.cachedSettings(ctx)
}

// cachedSettings is settings for callers that have just synced the cache with the marker.
func (s *Service) cachedSettings(ctx context.Context) (keygate.Settings, error) {
	if st, ok := s.cache.getSettings(); ok {
		return st, nil
	}
	st, err := s.store.Settings(ctx)
	if err != nil {
		return keygate.Settings{}, internal("load settings", err)
	}
	s.cache.putSettings(st)
	return st, nil
}

// refresh empties the cache when another writer moved the store's marker.
func (s *Service) refresh(ctx context.Context) error {
	m, err := s.store.Marker(ctx)
	if err != nil {
		return internal("read change marker", err)
	}
	s.cache.sync(m)
	return nil
}

// internal wraps an unexpected failure; its cause is logged by the transport, never shown.
func internal(op string, err error) error {
	var ke *keygate.Error
	if errors.As(err, &ke) {
		return err
	}
	return &keygate.Error{Code: keygate.CodeInternal, Op: op, Err: err}
}

func notFound(what string) error {
	return &keygate.Error{Code: keygate.CodeNotFound, Message: what}
}

func invalid(field, format string, args ...any) error {
	return &keygate.Error{Code: keygate.CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func forbidden(reason string) error {
	return &keygate.Error{Code: keygate.CodeForbidden, Message: reason}
}

// storeDownTimeout bounds StoreDown's ping: an outage must fail requests fast.
const storeDownTimeout = time.Second

// StoreDown reports whether err came from a lost database connection, or the store fails
// to answer a ping now. Error paths call it to tell a database outage (503, retry later)
// from a bug (500); the hot path never does.
func (s *Service) StoreDown(ctx context.Context, err error) bool {
	if s.store.ConnectionLost(err) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeDownTimeout)
	defer cancel()
	return s.store.Ping(ctx) != nil
}
