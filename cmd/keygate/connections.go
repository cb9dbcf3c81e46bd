package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/connection"
	"github.com/keygate/keygate/internal/secret"
)

func newConnectionsCmd(a *app) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "A registry of customer instances: add, list, check, rotate, remove",
		Long: `connections keeps one connection per customer instance (URL and token) in an embedded
SQLite database in --config-dir (KEYGATE_CONFIG_DIR; default <user config dir>/keygate),
each token sealed with AES-GCM under connections.key (created with mode 0600).`,
	}
	cmd.PersistentFlags().StringVar(&dir, "config-dir", a.getenv(connection.EnvDir), "registry directory (KEYGATE_CONFIG_DIR; default <user config dir>/keygate)")
	open := func(cmd *cobra.Command, hook func(string) error) (*connection.Registry, error) {
		d := dir
		if d == "" {
			var err error
			if d, err = connection.DefaultDir(); err != nil {
				return nil, err
			}
		}
		return connection.Open(cmd.Context(), connection.Config{Dir: d, Now: clock.FromEnv(a.getenv).Now, AfterRotate: hook})
	}
	cmd.AddCommand(connAdd(a, open), connList(a, open), connCheck(a, open), connRotate(a, open), connRemove(a, open))
	return cmd
}

type openRegistry func(cmd *cobra.Command, hook func(string) error) (*connection.Registry, error)

func connAdd(a *app, open openRegistry) *cobra.Command {
	var url, scopes, format string
	var replace bool
	cmd := &cobra.Command{
		Use:   "add NAME --url URL",
		Short: "Register an instance; the token is read from stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if url == "" {
				return fmt.Errorf("--url is required")
			}
			raw, err := io.ReadAll(io.LimitReader(a.stdin, 64<<10))
			if err != nil {
				return fmt.Errorf("read token from stdin: %w", err)
			}
			r, err := open(cmd, nil)
			if err != nil {
				return err
			}
			defer r.Close()
			var req []string
			if scopes != "" {
				for _, s := range strings.Split(scopes, ",") {
					if s = strings.TrimSpace(s); s != "" {
						req = append(req, s)
					}
				}
			}
			c, err := r.Add(cmd.Context(), connection.AddInput{Name: args[0], URL: url, Token: secret.Wrap(string(raw)), RequiredScopes: req, Replace: replace})
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSONOut(a.stdout, c)
			}
			a.notice("added %s (%s, %s token of %s, %s)", c.Name, c.URL, c.Type, c.Owner, c.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "instance base URL")
	cmd.Flags().StringVar(&scopes, "need-scopes", "", "scopes the integration needs; a token without them checks as insufficient_scope")
	cmd.Flags().BoolVar(&replace, "replace", false, "replace an existing connection's token (re-authorization)")
	formatFlag(cmd, &format)
	return cmd
}

func connList(a *app, open openRegistry) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List connections: URL, owner, type, scopes, expiry, days left, last check",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			r, err := open(cmd, nil)
			if err != nil {
				return err
			}
			defer r.Close()
			cs, err := r.List(cmd.Context())
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSONOut(a.stdout, cs)
			}
			return writeConnTable(a.stdout, cs)
		},
	}
	formatFlag(cmd, &format)
	return cmd
}

func writeConnTable(w io.Writer, cs []connection.Connection) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tURL\tOWNER\tTYPE\tSCOPES\tEXPIRES\tDAYS LEFT\tLAST CHECK\tSTATUS")
	for _, c := range cs {
		exp, days, checked := "never", "-", "never"
		if c.ExpiresAt != nil {
			exp = *c.ExpiresAt
		}
		if c.DaysLeft != nil {
			days = fmt.Sprint(*c.DaysLeft)
		}
		if c.LastCheckAt != nil {
			checked = c.LastCheckAt.UTC().Format(time.RFC3339)
		}
		status := c.Status
		if c.NeedsReauth {
			status += " (re-authorize)"
		} else if c.RotationPending {
			status += " (rotation pending)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.URL, c.Owner, c.Type,
			strings.Join(c.Scopes, ","), exp, days, checked, status)
	}
	return tw.Flush()
}

// progressBar draws "[#####.....] 5/10" on w, redrawn in place.
type progressBar struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *progressBar) update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const width = 30
	n := width * done / max(total, 1)
	fmt.Fprintf(p.w, "\rchecking [%s%s] %d/%d", strings.Repeat("#", n), strings.Repeat(".", width-n), done, total)
	if done == total {
		fmt.Fprintln(p.w)
	}
}

func connCheck(a *app, open openRegistry) *cobra.Command {
	var format, within string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "check [NAME...]",
		Short: "Check connections in parallel: healthy, expiring, expired, revoked, insufficient_scope, unreachable",
		Long: `check asks every instance (or the named ones) about its token, in parallel, with a progress
bar on stderr. Exit status 1 when a connection is expired, revoked, lacks a scope or is
unreachable; expiring ones are reported but exit 0.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			horizon, err := connection.ParseWithin(within)
			if err != nil {
				return fmt.Errorf("--expiring-within %w", err)
			}
			r, err := open(cmd, nil)
			if err != nil {
				return err
			}
			defer r.Close()
			var progress func(int, int)
			if !quiet {
				progress = (&progressBar{w: a.stderr}).update
			}
			cs, err := r.Check(cmd.Context(), horizon, progress, args...)
			if err != nil {
				return err
			}
			if format == "json" {
				err = writeJSONOut(a.stdout, cs)
			} else {
				err = writeConnTable(a.stdout, cs)
			}
			if err != nil {
				return err
			}
			for _, c := range cs {
				if c.Status != connection.Healthy && c.Status != connection.Expiring {
					return exitStatus(1)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&within, "expiring-within", "30d", "a token expiring within this is 'expiring' (e.g. 14d, 36h)")
	cmd.Flags().BoolVar(&quiet, "no-progress", false, "no progress bar")
	formatFlag(cmd, &format)
	return cmd
}

func connRotate(a *app, open openRegistry) *cobra.Command {
	var format, within string
	cmd := &cobra.Command{
		Use:   "rotate [NAME...] [--expiring-within 14d]",
		Short: "Self-rotate tokens expiring soon, saving each successor; finishes interrupted rotations",
		Long: `rotate self-rotates every connection (or the named ones) whose token expires within
--expiring-within, through /personal_access_tokens/self/rotate or a project or group
token's self-rotation. Against Keygate each rotation carries an Idempotency-Key, so a
rotation interrupted before its successor was saved is finished by the next run. Against
GitLab the intent is recorded first, and a connection whose successor was lost is flagged
for re-authorization (connections add NAME --url URL --replace). Exit status 1 when a
rotation failed or a connection needs re-authorization.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			horizon, err := connection.ParseWithin(within)
			if err != nil {
				return fmt.Errorf("--expiring-within %w", err)
			}
			r, err := open(cmd, rotateCrashHook(a.getenv))
			if err != nil {
				return err
			}
			defer r.Close()
			res, err := r.Rotate(cmd.Context(), horizon, args...)
			if err != nil {
				return err
			}
			if format == "json" {
				err = writeJSONOut(a.stdout, res)
			} else {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tOUTCOME\tEXPIRES\tDETAIL")
				for _, x := range res {
					exp := ""
					if x.ExpiresAt != nil {
						exp = *x.ExpiresAt
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Name, x.Outcome, exp, x.Detail)
				}
				err = tw.Flush()
			}
			if err != nil {
				return err
			}
			for _, x := range res {
				if x.Outcome == connection.Failed || x.Outcome == connection.Reauth {
					return exitStatus(1)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&within, "expiring-within", "14d", "rotate tokens expiring within this (e.g. 14d, 36h)")
	formatFlag(cmd, &format)
	return cmd
}

func connRemove(a *app, open openRegistry) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Forget a connection and its token (the token stays valid on the instance)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := open(cmd, nil)
			if err != nil {
				return err
			}
			defer r.Close()
			if err := r.Remove(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.notice("removed %s", args[0])
			return nil
		},
	}
}
