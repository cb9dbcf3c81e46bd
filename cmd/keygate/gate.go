package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/forwardauth"
)

// gateWatchInterval is how often serve looks for a changed gate file.
const gateWatchInterval = time.Second

func newGateCmd(a *app) *cobra.Command {
	gate := &cobra.Command{
		Use:   "gate",
		Short: "Forward-auth gate file tools",
	}
	gate.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a gate file like nginx -t: exit 0, or print each error with its line and exit 1",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := forwardauth.ReadFile(args[0])
			var fe forwardauth.FileError
			if errors.As(err, &fe) {
				for _, line := range fe.Lines() {
					fmt.Fprintln(a.stderr, line)
				}
				return fmt.Errorf("gate file %s: %d error(s)", args[0], len(fe.Lines()))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "gate file %s is ok: %d service(s), default %s\n", args[0], len(p.Services), defaultWord(p))
			return nil
		},
	})
	return gate
}

func defaultWord(p *forwardauth.Policy) string {
	if p.DefaultAllow {
		return "allow"
	}
	return "deny"
}

// startGate loads the gate file (a bad one stops serve from starting, as nginx does) and
// keeps it current: reloaded on SIGHUP and when its content changes. A bad reload is
// logged and the previous policy stays in force.
func startGate(ctx context.Context, g *forwardauth.Gate, file string, log *slog.Logger) error {
	if file == "" {
		log.Info("no gate file: /-/gate denies every request (--gate-file)")
		return nil
	}
	if err := g.Load(file); err != nil {
		return err
	}
	go g.Watch(ctx, file, gateWatchInterval)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = g.Load(file) // Load logs a refusal itself
			}
		}
	}()
	return nil
}
