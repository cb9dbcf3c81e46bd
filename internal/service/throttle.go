package service

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/clock"
)

// BanConfig is failed-authentication throttling (DESIGN §1.1): per source address,
// MaxRetry failures within FindTime ban the address for BanTime. Exempt addresses are
// never counted (loopback by default, like GitLab's Git allowlist).
type BanConfig struct {
	Disabled bool
	MaxRetry int
	FindTime time.Duration
	BanTime  time.Duration
	Exempt   []netip.Prefix
}

// DefaultBanConfig is Keygate's default: 30 failures in 60 s ban for an hour; 127.0.0.1
// and ::1 exempt.
func DefaultBanConfig() BanConfig {
	return BanConfig{
		MaxRetry: 30, FindTime: time.Minute, BanTime: time.Hour,
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
	}
}

// ErrThrottled answers a banned address. Transports give it their own status (the API 429
// with Retry-After, Git 403, as GitLab's rack-attack ban).
type ErrThrottled struct{ RetryAfter time.Duration }

func (e *ErrThrottled) Error() string { return "too many failed authentications; retry later" }

// throttle counts failures per address on the service clock. The banned count lets the
// hot path skip the map entirely while nobody is banned.
type throttle struct {
	cfg    BanConfig
	clock  clock.Clock
	mu     sync.Mutex
	fails  map[netip.Addr]*failWindow
	bans   map[netip.Addr]time.Time
	banned atomic.Int64
}

type failWindow struct {
	start time.Time
	n     int
}

// maxTracked bounds memory under a flood from many addresses.
const maxTracked = 100_000

func newThrottle(cfg BanConfig, c clock.Clock) *throttle {
	return &throttle{cfg: cfg, clock: c, fails: map[netip.Addr]*failWindow{}, bans: map[netip.Addr]time.Time{}}
}

func (t *throttle) addr(ip string) (netip.Addr, bool) {
	if t.cfg.Disabled || ip == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	for _, p := range t.cfg.Exempt {
		if p.Contains(a) {
			return netip.Addr{}, false
		}
	}
	return a, true
}

// check refuses a banned address.
func (t *throttle) check(ip string) error {
	if t.banned.Load() == 0 {
		return nil
	}
	a, ok := t.addr(ip)
	if !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.bans[a]
	if !ok {
		return nil
	}
	now := t.clock.Now()
	if !now.Before(until) {
		delete(t.bans, a)
		t.banned.Add(-1)
		return nil
	}
	return &ErrThrottled{RetryAfter: until.Sub(now)}
}

// failed counts one failure and bans the address at the limit.
func (t *throttle) failed(ip string) {
	a, ok := t.addr(ip)
	if !ok || t.cfg.MaxRetry <= 0 {
		return
	}
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.fails[a]
	if w == nil || now.Sub(w.start) >= t.cfg.FindTime {
		if len(t.fails) >= maxTracked {
			clear(t.fails)
		}
		w = &failWindow{start: now}
		t.fails[a] = w
	}
	w.n++
	if w.n >= t.cfg.MaxRetry {
		delete(t.fails, a)
		if _, already := t.bans[a]; !already {
			t.banned.Add(1)
		}
		t.bans[a] = now.Add(t.cfg.BanTime)
	}
}

// succeeded resets an address's count, as GitLab's Git ban does.
func (t *throttle) succeeded(ip string) {
	if len(ip) == 0 {
		return
	}
	t.mu.Lock()
	if len(t.fails) > 0 {
		if a, ok := t.addr(ip); ok {
			delete(t.fails, a)
		}
	}
	t.mu.Unlock()
}

// countsAsFailure: only credential failures feed the ban, not blocked accounts.
func countsAsFailure(err error) bool {
	return err == keygate.ErrTokenInvalid || err == keygate.ErrTokenExpired || err == keygate.ErrTokenRevoked || err == keygate.ErrImpersonationDisabled
}
