package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/githttp"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/server"
)

func newServeCmd(a *app) *cobra.Command {
	var f instanceFlags
	var addr, logLevel, tlsCert, tlsKey, gateFile string
	var shutdown time.Duration
	var ban banFlags
	var registry registryFlags
	var mem memoryFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Keygate server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			memory, restore, err := mem.apply(a.getenv, f.cacheSize)
			if err != nil {
				return err
			}
			defer restore()
			lw := newLogWriter(a.stderr)
			defer lw.Close()
			log := newLogger(lw, level)
			ctx := cmd.Context()
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			banCfg, err := ban.config()
			if err != nil {
				l.Close()
				return err
			}
			f.ban = &banCfg
			tlsCfg, err := loadTLS(tlsCert, tlsKey)
			if err != nil {
				l.Close()
				return err
			}
			scheme := "http://"
			if tlsCfg != nil {
				scheme = "https://"
			}
			in, err := f.open(ctx, a, log, scheme+l.Addr().String())
			if err != nil {
				l.Close()
				return err
			}
			reg, err := registry.config(a, in.Config.DataDir)
			if err != nil {
				l.Close()
				_ = in.Close(context.WithoutCancel(ctx))
				return err
			}
			in.Service.Start(ctx)
			srv := server.New(server.Config{
				Service: in.Service, Logger: log, ExternalURL: in.Config.ExternalURL, Revision: revision(), TLS: tlsCfg,
				Repositories: in.Repositories, GitJobTokens: githttp.ServiceJobTokens{Service: in.Service},
				Registry: reg,
			})
			if err := startGate(ctx, srv.Gate(), gateFile, log); err != nil {
				_ = in.Close(context.WithoutCancel(ctx))
				l.Close()
				return err
			}
			store := "sqlite"
			if instance.IsPostgres(in.Config.DatabaseURL) {
				store = "postgres"
			}
			log.Info("keygate listening", "addr", l.Addr().String(), "store", store, "data_dir", in.Config.DataDir, "external_url", in.Config.ExternalURL,
				"memory", memory.String(), "memory_from_env", strings.Join(memory.FromEnv, ","))
			serveErr := srv.Serve(ctx, l, shutdown)
			closeErr := in.Close(context.WithoutCancel(ctx))
			if serveErr != nil {
				return serveErr
			}
			return closeErr
		},
	}
	f.register(cmd, a)
	cmd.Flags().StringVar(&addr, "addr", a.envOr("KEYGATE_ADDR", instance.DefaultAddr), "listen address (KEYGATE_ADDR)")
	ban.register(cmd, a)
	registry.register(cmd, a)
	mem.register(cmd, a)
	cmd.Flags().StringVar(&tlsCert, "tls-cert", a.envOr("KEYGATE_TLS_CERT", ""), "PEM certificate: serve HTTPS directly, with HSTS (KEYGATE_TLS_CERT)")
	cmd.Flags().StringVar(&tlsKey, "tls-key", a.envOr("KEYGATE_TLS_KEY", ""), "PEM private key for --tls-cert (KEYGATE_TLS_KEY)")
	cmd.Flags().DurationVar(&shutdown, "shutdown-timeout", envDuration(a, "KEYGATE_SHUTDOWN_TIMEOUT", 10*time.Second), "how long SIGTERM waits for in-flight requests (KEYGATE_SHUTDOWN_TIMEOUT)")
	cmd.Flags().IntVar(&f.cacheSize, "cache-size", envInt(a, "KEYGATE_CACHE_SIZE", defaultCacheSize), "verified tokens kept in memory (KEYGATE_CACHE_SIZE); each costs 0.5–0.8 KB with its owner's share")
	cmd.Flags().StringVar(&gateFile, "gate-file", a.envOr("KEYGATE_GATE_FILE", ""), "forward-auth services for /-/gate (YAML, docs/gate.md); reloaded on SIGHUP and on change (KEYGATE_GATE_FILE)")
	cmd.Flags().StringVar(&logLevel, "log-level", a.envOr("KEYGATE_LOG_LEVEL", "info"), "debug, info, warn or error (KEYGATE_LOG_LEVEL)")
	return cmd
}

// loadTLS reads the certificate pair; both flags or neither.
func loadTLS(cert, key string) (*tls.Config, error) {
	switch {
	case cert == "" && key == "":
		return nil, nil
	case cert == "" || key == "":
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// envDuration reads a duration variable, falling back to d.
func envDuration(a *app, name string, d time.Duration) time.Duration {
	if v, err := time.ParseDuration(a.getenv(name)); err == nil {
		return v
	}
	return d
}
