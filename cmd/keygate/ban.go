package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/service"
)

// banFlags configure failed-authentication throttling (DESIGN §1.1).
type banFlags struct {
	maxRetry          int
	findTime, banTime time.Duration
	exempt            string
}

// envInt reads an integer variable, falling back to d.
func envInt(a *app, name string, d int) int {
	if n, err := strconv.Atoi(a.getenv(name)); err == nil {
		return n
	}
	return d
}

func (b *banFlags) register(cmd *cobra.Command, a *app) {
	def := service.DefaultBanConfig()
	envDur := func(name string, d time.Duration) time.Duration {
		if v, err := time.ParseDuration(a.getenv(name)); err == nil {
			return v
		}
		return d
	}
	exempt := make([]string, len(def.Exempt))
	for i, p := range def.Exempt {
		exempt[i] = p.String()
	}
	fl := cmd.Flags()
	fl.IntVar(&b.maxRetry, "auth-ban-max-retry", envInt(a, "KEYGATE_AUTH_BAN_MAX_RETRY", def.MaxRetry), "failed authentications from one address within --auth-ban-find-time that ban it; 0 turns the ban off (KEYGATE_AUTH_BAN_MAX_RETRY)")
	fl.DurationVar(&b.findTime, "auth-ban-find-time", envDur("KEYGATE_AUTH_BAN_FIND_TIME", def.FindTime), "window for counting failures (KEYGATE_AUTH_BAN_FIND_TIME)")
	fl.DurationVar(&b.banTime, "auth-ban-time", envDur("KEYGATE_AUTH_BAN_TIME", def.BanTime), "how long a ban lasts (KEYGATE_AUTH_BAN_TIME)")
	fl.StringVar(&b.exempt, "auth-ban-exempt", a.envOr("KEYGATE_AUTH_BAN_EXEMPT", strings.Join(exempt, ",")), "comma-separated addresses or CIDRs never banned (KEYGATE_AUTH_BAN_EXEMPT)")
}

func (b *banFlags) config() (service.BanConfig, error) {
	cfg := service.BanConfig{MaxRetry: b.maxRetry, FindTime: b.findTime, BanTime: b.banTime, Disabled: b.maxRetry <= 0}
	for _, item := range strings.Split(b.exempt, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return cfg, fmt.Errorf("--auth-ban-exempt: %q: %w", item, err)
			}
			cfg.Exempt = append(cfg.Exempt, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return cfg, fmt.Errorf("--auth-ban-exempt: %q: %w", item, err)
		}
		cfg.Exempt = append(cfg.Exempt, p.Masked())
	}
	return cfg, nil
}
