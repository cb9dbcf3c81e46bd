package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// errFsckProblems makes `admin fsck` exit non-zero after printing what it found.
var errFsckProblems = errors.New("the database breaks invariants")

func newAdminFsckCmd(a *app, f *instanceFlags) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "fsck",
		Short: "Check the database's invariants (no orphan bot, no half-rotated chain); exit 1 on a problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			return with(cmd, a, f, func(s *session) error {
				ps, err := s.in.Service.Fsck(cmd.Context())
				if err != nil {
					return err
				}
				if format == "json" {
					type problem struct {
						Check  string `json:"check"`
						ID     int64  `json:"id"`
						Detail string `json:"detail"`
					}
					out := make([]problem, 0, len(ps))
					for _, p := range ps {
						out = append(out, problem{p.Check, p.ID, p.Detail})
					}
					if err := writeJSONOut(a.stdout, out); err != nil {
						return err
					}
				} else if len(ps) > 0 {
					tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "CHECK\tID\tDETAIL")
					for _, p := range ps {
						fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Check, p.ID, p.Detail)
					}
					if err := tw.Flush(); err != nil {
						return err
					}
				}
				if len(ps) > 0 {
					return fmt.Errorf("%w: %d problem(s)", errFsckProblems, len(ps))
				}
				a.notice("fsck: no problems found")
				return nil
			})
		},
	}
	formatFlag(cmd, &format)
	return cmd
}
