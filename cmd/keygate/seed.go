package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/service"
)

// withSeed adds `seed` to the admin command, whose persistent instance flags
// (--data-dir, --database-url, …) reach it.
func withSeed(a *app, admin *cobra.Command) *cobra.Command {
	admin.AddCommand(newSeedCmd(a))
	return admin
}

// inheritedInstanceFlags reads the instance flags a parent command registered.
func inheritedInstanceFlags(cmd *cobra.Command) *instanceFlags {
	get := func(name string) string {
		if f := cmd.Flag(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return &instanceFlags{dataDir: get("data-dir"), databaseURL: get("database-url"), secretFile: get("secret-file"), externalURL: get("external-url")}
}

// maxSeed bounds one seeding run's rows of each kind.
const maxSeed = 10_000_000

func newSeedCmd(a *app) *cobra.Command {
	var users, tokens, batch, workers int
	var tokensFile, scopes, name, expires, prefix string
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Bulk-create users and tokens for load and scale tests",
		Long: `Create --users human users (named <prefix>-1 … <prefix>-N, each with a personal
namespace, no password) and --tokens personal access tokens spread round robin over them
(or all for root when --users is 0), in batched transactions through the store, then
checkpoint the SQLite WAL. The tokens' plaintexts are written to --tokens-file, one per
line, created with mode 0600 (it must not exist yet); they never reach the database,
stdout or the log. Progress goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case users < 0 || users > maxSeed || tokens < 0 || tokens > maxSeed:
				return fmt.Errorf("--users and --tokens must be 0 to %d", maxSeed)
			case users == 0 && tokens == 0:
				return errors.New("nothing to seed: give --users and/or --tokens")
			case tokens > 0 && tokensFile == "":
				return errors.New("--tokens needs --tokens-file: the plaintexts exist nowhere else")
			case batch < 0 || workers < 0:
				return errors.New("--batch and --workers must not be negative")
			}
			in := service.TokenInput{Name: name}
			var err error
			if in.Scopes, err = keygate.ParseScopes(scopes); err != nil {
				return err
			}
			if expires != "" {
				d, err := keygate.ParseDate(expires)
				if err != nil {
					return fmt.Errorf("--expires-at: want YYYY-MM-DD: %w", err)
				}
				in.ExpiresAt = &d
			}
			if prefix == "" {
				var b [4]byte
				_, _ = rand.Read(b[:])
				prefix = "seed-" + hex.EncodeToString(b[:])
			}
			f := inheritedInstanceFlags(cmd)
			opts := service.SeedOptions{Batch: batch, Workers: workers}
			if opts.Workers == 0 {
				opts.Workers = 1
				if instance.IsPostgres(f.databaseURL) {
					opts.Workers = 4 // concurrent transactions; SQLite has one writer
				}
			}
			var out *os.File
			if tokens > 0 {
				if out, err = os.OpenFile(tokensFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
					return fmt.Errorf("--tokens-file: %w", err)
				}
				defer out.Close()
			}
			err = with(cmd, a, f, func(s *session) error {
				return seed(cmd.Context(), a, s, seedPlan{users: users, tokens: tokens, prefix: prefix, in: in, opts: opts, out: out})
			})
			if out != nil && err != nil {
				if fi, serr := out.Stat(); serr == nil && fi.Size() == 0 {
					_ = os.Remove(tokensFile) // nothing in it: let the next run create it again
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&users, "users", 0, "number of users to create")
	fl.IntVar(&tokens, "tokens", 0, "number of personal access tokens to create, spread over the new users (root's when --users is 0)")
	fl.StringVar(&tokensFile, "tokens-file", "", "file to write the tokens to, one per line (created with mode 0600; must not exist)")
	fl.StringVar(&scopes, "scopes", "api", "comma-separated scopes of the tokens")
	fl.StringVar(&name, "name", "seed", "name of the tokens")
	fl.StringVar(&expires, "expires-at", "", "expiry date YYYY-MM-DD (default: the maximum lifetime)")
	fl.StringVar(&prefix, "username-prefix", "", "usernames are <prefix>-1 … <prefix>-N (default seed-<random>)")
	fl.IntVar(&batch, "batch", service.DefaultSeedBatch, "rows per transaction")
	fl.IntVar(&workers, "workers", 0, "concurrent transactions (default 1 on SQLite, 4 on PostgreSQL)")
	return cmd
}

type seedPlan struct {
	users, tokens int
	prefix        string
	in            service.TokenInput
	opts          service.SeedOptions
	out           *os.File // nil without tokens
}

func seed(ctx context.Context, a *app, s *session, p seedPlan) error {
	svc := s.in.Service
	began := time.Now()
	var owners []keygate.User
	if p.users > 0 {
		pr := newProgress(a, "users", p.users)
		owners = make([]keygate.User, 0, p.users)
		err := svc.SeedUsers(ctx, p.prefix, p.users, p.opts, func(us []keygate.User) error {
			owners = append(owners, us...)
			pr.add(len(us))
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed users: %w (%d created)", err, len(owners))
		}
		pr.done()
	}
	if p.tokens > 0 {
		if len(owners) == 0 {
			root, err := svc.User(ctx, 1)
			if err != nil {
				return err
			}
			owners = []keygate.User{root}
		}
		w := bufio.NewWriterSize(p.out, 1<<20)
		pr := newProgress(a, "tokens", p.tokens)
		written := 0
		err := svc.SeedTokens(ctx, owners, p.tokens, p.in, p.opts, func(batch []service.Issued) error {
			for _, iss := range batch {
				if _, err := w.WriteString(iss.Secret.Reveal() + "\n"); err != nil {
					return fmt.Errorf("write %s: %w", p.out.Name(), err)
				}
			}
			written += len(batch)
			pr.add(len(batch))
			return nil
		})
		ferr := w.Flush()
		if ferr == nil {
			ferr = p.out.Sync()
		}
		if err != nil || ferr != nil {
			return fmt.Errorf("seed tokens: %w (%d created and written to %s)", errors.Join(err, ferr), written, p.out.Name())
		}
		pr.done()
	}
	if cp, ok := s.in.Store.(interface{ Checkpoint(context.Context) error }); ok {
		t := time.Now()
		if err := cp.Checkpoint(ctx); err != nil {
			return err
		}
		a.notice("seed: checkpointed the SQLite WAL in %s", time.Since(t).Round(time.Millisecond))
	}
	what := fmt.Sprintf("%d users", p.users)
	if p.users > 0 {
		what += fmt.Sprintf(" (%s-1 … %s-%d)", p.prefix, p.prefix, p.users)
	}
	if p.out != nil {
		what += fmt.Sprintf(" and %d tokens (in %s)", p.tokens, p.out.Name())
	}
	a.notice("seed: %s in %s", what, time.Since(began).Round(time.Millisecond))
	return nil
}

// progress prints "<what> n/total (rate/s)" on stderr at most once a second.
type progress struct {
	a          *app
	what       string
	total, n   int
	began, out time.Time
}

func newProgress(a *app, what string, total int) *progress {
	now := time.Now()
	return &progress{a: a, what: what, total: total, began: now, out: now}
}

func (p *progress) add(k int) {
	p.n += k
	if now := time.Now(); now.Sub(p.out) >= time.Second {
		p.out = now
		p.a.notice("seed: %s %d/%d (%.0f/s)", p.what, p.n, p.total, float64(p.n)/now.Sub(p.began).Seconds())
	}
}

func (p *progress) done() {
	d := time.Since(p.began)
	p.a.notice("seed: %s %d/%d in %s (%.0f/s)", p.what, p.n, p.total, d.Round(time.Millisecond), float64(p.n)/d.Seconds())
}
