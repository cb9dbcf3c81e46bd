package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/loadtest"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
)

// maxCreate bounds --create: the tokens live in memory for the run.
const maxCreate = 1_000_000

const loadtestLong = `Drive GET /api/v4/user on a Keygate server with many distinct tokens and C
connections for a duration, then drive a bare net/http handler (on 127.0.0.1,
answering the same bytes as the server's first /user answer, checking nothing) the
same way, and report both and the ratio of their throughputs (goal >= 0.70). The bare
handler runs in a process of its own (this executable, started for the run and
stopped after it), so that both sides pay for a server process next to the load
command's; --bare-process=false runs it inside this command instead, which spares it
the inter-process wake-ups and so measures it faster than any separate server.

Tokens come from --tokens-file (one per line; blank lines and lines starting with # are
skipped) or, with --create N, are created for root directly in the instance given by
--data-dir / --database-url (as keygate admin does) and revoked when the run ends. Tokens
are never taken from a flag's value. Only loopback addresses may be loaded.

--mix sends 90 % verifies, 9 % creates (POST /api/v4/user/personal_access_tokens, a
k8s_proxy token, with a token of the set: they need the api scope) and 1 % revokes
(DELETE /api/v4/personal_access_tokens/self with a token created in the run), or the
shares given by --mix-weights. Tokens created and not revoked are revoked after the
measurement, unmeasured. --first-use presents every token (or a --sample of them)
exactly once, in random order: the latency of cache misses; its first token is spent
on the probe. --rounds R alternates Keygate and the bare handler R times, each for
--duration/R, so that other load on the machine weighs on both alike.

Measuring: each connection is opened before the clock starts; every request's latency,
from sending to the end of the body, goes into a log-linear histogram (values within
0.78 %); percentiles are nearest-rank, reported as the top of their bucket, so never low.
Throughput is requests completed over the wall time from start until the last in-flight
request ended. A request is an error when it got no answer or a status other than the
operation's (200 verify, 201 create, 204 revoke); the exit status is 1 when Keygate had
any error.

--nginx-gate measures forward auth instead: the command starts a static upstream and
nginx (--nginx) with two servers in front of it, one asking Keygate's /-/gate at --url
on every request (the docs/gate.md snippet) and one not, and drives GET ` + "`/loadtest/static`" + `
with the tokens through both in alternating rounds; the rows are nginx+keygate and nginx,
the ratio's goal 0.50. The server's gate file must let the tokens through on
/loadtest/ (docs/performance.md has one).

Output (stdout; progress once a second on stderr):
  text: a header line; a table with one row per target (keygate, bare) and, in the mixed
        load, per operation: requests, errors, req/s, p50, p90, p99, max; then where the
        bare handler ran, "ratio R (keygate/bare throughput; meets|misses the goal of 0.70)", "errors N",
        the first error if any, and the clean-up line.
  json: {"url","mode","mix":{verify,create,revoke},"tokens","connections",
        "duration_seconds","rounds","keygate":RESULT,"bare":RESULT,"bare_process"
        ("own" or "in-process"),"ratio","ratio_goal",
        "cleanup":{"revoked","failed"}} where RESULT is {"requests","errors",
        "elapsed_seconds","throughput","latency":{"p50_ms","p90_ms","p99_ms","max_ms",
        "mean_ms"},"ops":{"verify"|"create"|"revoke":{"requests","errors","latency"}},
        "statuses":{"200":n,…,"transport_error":n},"first_error"}.`

func newLoadtestCmd(a *app) *cobra.Command {
	var f instanceFlags
	var rawURL, tokensFile, format, weights string
	var create, conns, sample, rounds int
	var duration time.Duration
	var mix, firstUse, bare, bareProcess, nginxGate bool
	var nginxBin string
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Measure Keygate's token check under load against a bare handler",
		Long:  loadtestLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := loadtest.Config{Connections: conns, Duration: duration, Rounds: rounds, Bare: bare, Once: firstUse, Progress: a.stderr}
			var err error
			if cfg.URL, err = loadtest.CheckURL(rawURL); err != nil {
				return err
			}
			if mix {
				if cfg.Mix, err = parseWeights(weights); err != nil {
					return err
				}
			}
			if err := checkLoadFlags(cmd, a, format, tokensFile, create, sample, mix, firstUse); err != nil {
				return err
			}
			if nginxGate && (mix || firstUse) {
				return errors.New("--nginx-gate is verify only; drop --mix and --first-use")
			}
			if duration <= 0 || duration > loadtest.MaxDuration {
				return fmt.Errorf("--duration must be above 0 and at most %s", loadtest.MaxDuration)
			}
			if conns < 1 || conns > loadtest.MaxConnections {
				return fmt.Errorf("--connections must be 1 to %d", loadtest.MaxConnections)
			}
			if bare && bareProcess && !nginxGate {
				if cfg.BareExec, err = os.Executable(); err != nil {
					return fmt.Errorf("loadtest: find this executable to start the bare handler: %w (or --bare-process=false)", err)
				}
			}
			var cleanup func() error
			if create > 0 {
				cfg.Tokens, cleanup, err = createLoadTokens(cmd, a, &f, create)
			} else {
				cfg.Tokens, err = readTokensFile(a, tokensFile)
			}
			if err != nil {
				return err
			}
			if firstUse || sample > 0 {
				rand.Shuffle(len(cfg.Tokens), func(i, j int) { cfg.Tokens[i], cfg.Tokens[j] = cfg.Tokens[j], cfg.Tokens[i] })
			}
			if sample > 0 {
				n := sample
				if firstUse {
					n++ // the probe's
				}
				cfg.Tokens = cfg.Tokens[:min(n, len(cfg.Tokens))]
			}
			var rep *loadtest.Report
			if nginxGate {
				rep, err = loadtest.RunNginx(cmd.Context(), loadtest.NginxConfig{Config: cfg, Nginx: nginxBin})
			} else {
				rep, err = loadtest.Run(cmd.Context(), cfg)
			}
			if cleanup != nil {
				err = errors.Join(err, cleanup())
			}
			if err != nil {
				return err
			}
			if err := writeReport(a.stdout, format, rep); err != nil {
				return err
			}
			if n := rep.Errors(); n > 0 {
				return fmt.Errorf("loadtest: %d requests to Keygate failed (first: %s)", n, rep.Keygate.FirstError)
			}
			return nil
		},
	}
	f.register(cmd, a)
	cmd.AddCommand(newLoadtestRevocationCmd(a))
	fl := cmd.Flags()
	fl.StringVar(&rawURL, "url", "http://"+defaultLoadAddr, "Keygate's base URL (loopback only)")
	fl.StringVar(&tokensFile, "tokens-file", "", "file of tokens, one per line")
	fl.IntVar(&create, "create", 0, "create this many tokens for root in the instance of --data-dir/--database-url instead (revoked at the end)")
	fl.IntVar(&conns, "connections", 16, "concurrent connections")
	fl.DurationVar(&duration, "duration", 10*time.Second, "how long each target is driven (at most 10m)")
	fl.IntVar(&rounds, "rounds", 1, "alternate Keygate and the bare handler this many times, splitting --duration (evens out other load on the machine)")
	fl.BoolVar(&mix, "mix", false, "mixed load: 90 % verify, 9 % create, 1 % revoke")
	fl.StringVar(&weights, "mix-weights", "90,9,1", "with --mix: the shares of verify,create,revoke")
	fl.BoolVar(&firstUse, "first-use", false, "present each token once, in random order (cache-miss latency)")
	fl.IntVar(&sample, "sample", 0, "use this many random tokens of the set (0: all)")
	fl.BoolVar(&bare, "bare", true, "also drive the bare handler and report the ratio")
	fl.BoolVar(&bareProcess, "bare-process", true, "run the bare handler in a process of its own, as the Keygate server is (false: inside this command)")
	fl.StringVar(&format, "format", "text", "output format: text or json")
	fl.BoolVar(&nginxGate, "nginx-gate", false, "measure nginx asking Keygate's /-/gate against nginx alone, in front of one static upstream (goal >= 0.50)")
	fl.StringVar(&nginxBin, "nginx", "nginx", "with --nginx-gate: the nginx binary")
	return cmd
}

// writeReport writes a load report in the --format asked for.
func writeReport(w io.Writer, format string, rep interface {
	WriteJSON(io.Writer) error
	WriteText(io.Writer) error
}) error {
	if format == "json" {
		return rep.WriteJSON(w)
	}
	return rep.WriteText(w)
}

// parseWeights reads "verify,create,revoke" shares.
func parseWeights(s string) (loadtest.Mix, error) {
	parts := strings.Split(s, ",")
	var w [3]int
	if len(parts) != 3 {
		return loadtest.Mix{}, fmt.Errorf("--mix-weights %q: want verify,create,revoke, e.g. 90,9,1", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return loadtest.Mix{}, fmt.Errorf("--mix-weights %q: want three integers", s)
		}
		w[i] = n
	}
	m := loadtest.Mix{Verify: w[0], Create: w[1], Revoke: w[2]}
	if err := m.Validate(); err != nil {
		return loadtest.Mix{}, fmt.Errorf("--mix-weights %q: %w", s, err)
	}
	return m, nil
}

// defaultLoadAddr is where `keygate serve` listens by default.
const defaultLoadAddr = "127.0.0.1:8080"

func checkLoadFlags(cmd *cobra.Command, a *app, format, tokensFile string, create, sample int, mix, firstUse bool) error {
	instanceGiven := cmd.Flags().Changed("data-dir") || cmd.Flags().Changed("database-url") ||
		a.getenv("KEYGATE_DATA_DIR") != "" || a.getenv("KEYGATE_DATABASE_URL") != ""
	switch {
	case format != "text" && format != "json":
		return fmt.Errorf("--format must be text or json, not %q", format)
	case (tokensFile == "") == (create == 0):
		return errors.New("give exactly one of --tokens-file and --create")
	case create < 0 || create > maxCreate:
		return fmt.Errorf("--create must be 1 to %d", maxCreate)
	case create > 0 && !instanceGiven:
		return errors.New("--create needs --data-dir or --database-url (the instance the server at --url runs on)")
	case sample < 0:
		return errors.New("--sample must not be negative")
	case mix && firstUse:
		return errors.New("--first-use is verify only; drop --mix")
	}
	return nil
}

// readTokensFile reads one token per line, refusing anything that is not token-shaped
// (by line number: the line itself could be a secret).
func readTokensFile(a *app, path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--tokens-file: %w", err)
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		a.notice("warning: %s is readable by others (mode %v); tokens files should be 0600", path, fi.Mode().Perm())
	}
	return parseTokens(fh, path)
}

func parseTokens(r io.Reader, name string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if _, err := secret.Parse(s); err != nil {
			return nil, fmt.Errorf("%s line %d: not a token", name, line)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no tokens", name)
	}
	return out, nil
}

// createLoadTokens creates n api tokens for root directly in the instance and returns
// them with the clean-up that revokes them and closes the instance.
func createLoadTokens(cmd *cobra.Command, a *app, f *instanceFlags, n int) ([]string, func() error, error) {
	s, err := openSession(cmd, a, f)
	if err != nil {
		return nil, nil, err
	}
	ctx := cmd.Context()
	fail := func(err error) ([]string, func() error, error) { return nil, nil, errors.Join(err, s.close(cmd)) }
	root, err := s.in.Service.User(ctx, 1)
	if err != nil {
		return fail(err)
	}
	tokens := make([]string, 0, n)
	ids := make([]int64, 0, n)
	in := service.TokenInput{Name: "loadtest", Scopes: keygate.Scopes{keygate.ScopeAPI}}
	began := time.Now()
	err = s.in.Service.SeedTokens(ctx, []keygate.User{root}, n, in, service.SeedOptions{}, func(b []service.Issued) error {
		for _, iss := range b {
			tokens = append(tokens, iss.Secret.Reveal())
			ids = append(ids, iss.Token.ID)
		}
		return nil
	})
	if err != nil {
		return fail(errors.Join(err, s.in.Service.RevokeTokens(ctx, ids, service.SeedOptions{})))
	}
	a.notice("loadtest: created %d tokens for root in %s", n, time.Since(began).Round(time.Millisecond))
	cleanup := func() error {
		// Also after an interrupt: the tokens' plaintexts die with this process.
		err := s.in.Service.RevokeTokens(context.WithoutCancel(ctx), ids, service.SeedOptions{})
		if err == nil {
			a.notice("loadtest: revoked the %d tokens --create made", len(ids))
		}
		return errors.Join(err, s.close(cmd))
	}
	return tokens, cleanup, nil
}
