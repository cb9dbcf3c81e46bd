package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/loadtest"
)

const revocationLong = `Measure how fast a revocation crosses nodes: for each token of --tokens-file (each is
spent), GET /api/v4/user on --url (node B; the token is now cached there), revoke it with
DELETE /api/v4/personal_access_tokens/self through --via (node A), then ask node B until
it answers 401. Reports p50/p99/max of the time from the revoke's answer to B's refusal
and whether p99 is within --bound (100 ms); exit status 1 when it is not or a revocation was never
seen. Both nodes must run on one database (PostgreSQL, or SQLite in one data dir).`

func newLoadtestRevocationCmd(a *app) *cobra.Command {
	var via, check, tokensFile, format string
	var sample int
	var bound time.Duration
	cmd := &cobra.Command{
		Use:   "revocation",
		Short: "Measure a revocation through one node until another node refuses the token",
		Long:  revocationLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format must be text or json, not %q", format)
			}
			if tokensFile == "" {
				return fmt.Errorf("--tokens-file is required (the tokens are revoked)")
			}
			cfg := loadtest.RevocationConfig{Progress: a.stderr, Bound: bound}
			var err error
			if cfg.Via, err = loadtest.CheckURL(via); err != nil {
				return fmt.Errorf("--via: %w", err)
			}
			if cfg.Check, err = loadtest.CheckURL(check); err != nil {
				return fmt.Errorf("--url: %w", err)
			}
			if cfg.Tokens, err = readTokensFile(a, tokensFile); err != nil {
				return err
			}
			if sample > 0 && sample < len(cfg.Tokens) {
				cfg.Tokens = cfg.Tokens[:sample]
			}
			rep, err := loadtest.Revocation(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if err := writeReport(a.stdout, format, rep); err != nil {
				return err
			}
			if !rep.Meets {
				return fmt.Errorf("loadtest: p99 %.3f ms with %d missed; the bound is %g ms", rep.P99ms, rep.Missed, rep.BoundMs)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&via, "via", "", "node A: the base URL the revocations go through (loopback only)")
	fl.StringVar(&check, "url", "http://"+defaultLoadAddr, "node B: the base URL that must refuse the revoked tokens (loopback only)")
	fl.StringVar(&tokensFile, "tokens-file", "", "file of tokens, one per line (all are revoked)")
	fl.IntVar(&sample, "sample", 0, "revoke only the first N tokens (0: all)")
	fl.DurationVar(&bound, "bound", loadtest.RevocationBound, "the p99 goal; the exit status is 1 above it")
	fl.StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}
