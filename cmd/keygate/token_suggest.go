package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/service"
)

// newAdminTokenSuggestCmd is `keygate admin token suggest --id N [--days D]` (Keygate
// extension): the token's recorded use and the smallest granular_scopes that would have
// allowed it, as JSON (the body of GET /personal_access_tokens/:id/keygate/usage).
func newAdminTokenSuggestCmd(a *app, f *instanceFlags) *cobra.Command {
	var id int64
	var days int
	cmd := &cobra.Command{
		Use:   "suggest",
		Short: "Suggest the least fine-grained grant from a token's recorded use (JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id <= 0 {
				return fmt.Errorf("--id: want a token ID, got %d", id)
			}
			if days < 1 || days > service.PermissionUseRetentionDays {
				return fmt.Errorf("--days: want 1 to %d, got %d", service.PermissionUseRetentionDays, days)
			}
			return with(cmd, a, f, func(s *session) error {
				t, err := s.in.Service.TokenByID(cmd.Context(), id)
				if err != nil {
					return fmt.Errorf("token %d: %w", id, err)
				}
				rep, err := s.api.UsageReport(cmd.Context(), t, days)
				if err != nil {
					return err
				}
				return writeJSONOut(a.stdout, rep)
			})
		},
	}
	cmd.Flags().Int64Var(&id, "id", 0, "token ID (required)")
	cmd.Flags().IntVar(&days, "days", api.DefaultUsageDays, "look back this many days")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}
