package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/service"
)

// app holds the process's streams and environment, passed to every command constructor.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func (a *app) notice(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) }

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "keygate",
		Short:         "GitLab-compatible access tokens: server and operator commands",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(a), withSeed(a, newAdminCmd(a)), newVersionCmd(a), newLoadtestCmd(a), newGateCmd(a))
	root.AddCommand(newDoctorCmd(a), newAdviseCmd(a), newConnectionsCmd(a))
	return root
}

// instanceFlags are the flags every command that opens the instance shares, each with
// the environment variable of the same meaning (DESIGN §1).
type instanceFlags struct {
	dataDir, databaseURL, secretFile, externalURL string
	repositoriesDir                               string
	smtpURL                                       string
	ban                                           *service.BanConfig // set by serve
	cacheSize                                     int                // set by serve
}

func (a *app) envOr(name, def string) string {
	if v := a.getenv(name); v != "" {
		return v
	}
	return def
}

func (f *instanceFlags) register(cmd *cobra.Command, a *app) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.dataDir, "data-dir", a.envOr("KEYGATE_DATA_DIR", instance.DefaultDataDir), "data directory: SQLite database, secret, initial root password (KEYGATE_DATA_DIR)")
	fl.StringVar(&f.databaseURL, "database-url", a.envOr("KEYGATE_DATABASE_URL", ""), "postgres:// URL selects PostgreSQL; empty uses SQLite in the data dir (KEYGATE_DATABASE_URL)")
	fl.StringVar(&f.secretFile, "secret-file", a.envOr("KEYGATE_SECRET_FILE", ""), "instance secret for token digests, shared by all nodes (KEYGATE_SECRET_FILE; default <data-dir>/secret)")
	fl.StringVar(&f.externalURL, "external-url", a.envOr("KEYGATE_EXTERNAL_URL", ""), "URL users see, for links and clone URLs (KEYGATE_EXTERNAL_URL)")
	fl.StringVar(&f.repositoriesDir, "repositories-dir", a.envOr("KEYGATE_REPOSITORIES_DIR", ""), "Git repositories, shared by all nodes (KEYGATE_REPOSITORIES_DIR; default <data-dir>/repositories)")
	fl.StringVar(&f.smtpURL, "smtp-url", a.envOr("KEYGATE_SMTP_URL", ""), "SMTP server for notices, smtp://[user:pass@]host[:port][?from=addr] (STARTTLS when offered) or smtps://; empty: notices go to the log and the in-app list (KEYGATE_SMTP_URL)")
}

func (f *instanceFlags) open(ctx context.Context, a *app, log *slog.Logger, externalDefault string) (*instance.Instance, error) {
	ext := f.externalURL
	if ext == "" {
		ext = externalDefault
	}
	return instance.Open(ctx, instance.Config{
		DataDir: f.dataDir, DatabaseURL: f.databaseURL, SecretFile: f.secretFile,
		ExternalURL: ext, Clock: clock.FromEnv(a.getenv), Logger: log, Notices: a.notice,
		PasswordIterations: passwordIterations(a.getenv), Ban: f.ban,
		RepositoriesDir: f.repositoriesDir, SMTPURL: f.smtpURL,
	})
}

// revision is the VCS revision the binary was built from, when the build recorded it.
func revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the GitLab API level and revision",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.stdout, strings.TrimSpace("keygate 19.6.0-keygate "+revision()))
			return nil
		},
	}
}
