package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// newAdminLifecycleCmd builds `keygate admin lifecycle run`: one pass of the scheduler
// `keygate serve` runs (expiry notices, then the outbox), safe beside running servers.
func newAdminLifecycleCmd(a *app, f *instanceFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "lifecycle", Short: "Token lifecycle: expiry notices, mails and webhooks"}
	run := &cobra.Command{
		Use:   "run",
		Short: "Run one pass: send the expiry notices due now and deliver the outbox",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return with(cmd, a, f, func(s *session) error {
				rep, err := s.in.Service.RunLifecycle(cmd.Context())
				if err != nil {
					return err
				}
				a.notice("Lifecycle pass: %d notices (%d mails, %d webhooks queued); %d delivered, %d failed (retried later)",
					rep.Notices, rep.Mails, rep.Webhooks, rep.Delivered, rep.Failed)
				return nil
			})
		},
	}
	cmd.AddCommand(run)
	return cmd
}

// parseWithin reads --expiring-within: whole days ("30d") or a Go duration ("72h").
func parseWithin(s string) (int, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("--expiring-within %q: want days like 30d", s)
		}
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--expiring-within %q: want days like 30d or a duration like 72h", s)
	}
	return int(d / (24 * time.Hour)), nil
}

// listInventory is `keygate admin token list`: the credentials inventory, every token
// of every type, as a table, JSON (token objects with GitLab's field names) or CSV.
func listInventory(cmd *cobra.Command, a *app, s *session, f store.TokenFilter, format, within string) error {
	if within != "" {
		days, err := parseWithin(within)
		if err != nil {
			return err
		}
		today := keygate.DateOf(s.in.Service.Clock().Now())
		until := today.AddDays(days + 1)
		f.State, f.ExpiresBefore = "active", &until
	}
	items, err := s.in.Service.Inventory(cmd.Context(), authz.SystemSubject(), f)
	if err != nil {
		return err
	}
	switch format {
	case "json":
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = s.api.InventoryObject(it)
		}
		return writeJSONOut(a.stdout, out)
	case "csv":
		return writeInventoryCSV(a.stdout, items, s.in.Service.Clock().Now())
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tOWNER\tNAME\tSCOPES\tROLE\tEXPIRES\tSTATE\tLAST USED")
	now := s.in.Service.Clock().Now()
	for _, it := range items {
		t := it.Token
		exp, used, role := "never", "never", "-"
		if t.ExpiresAt != nil {
			exp = t.ExpiresAt.String()
		}
		if t.LastUsedAt != nil {
			used = t.LastUsedAt.Format("2006-01-02 15:04")
		}
		if it.AccessLevel != 0 {
			role = it.AccessLevel.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, it.Type, it.Owner.Username, t.Name, t.Scopes, role, exp, tokenState(t, now), used)
	}
	return tw.Flush()
}

func tokenState(t keygate.Token, now time.Time) string {
	switch {
	case t.Revoked:
		return "revoked"
	case t.Expired(now):
		return "expired"
	}
	return "active"
}

// inventoryCSVHeader is the CSV inventory's first row.
var inventoryCSVHeader = []string{"id", "name", "token_type", "user_id", "owner_username", "scopes",
	"access_level", "resource_type", "resource_id", "state", "created_at", "expires_at",
	"last_used_at", "last_used_ips"}

func writeInventoryCSV(w io.Writer, items []service.InventoryItem, now time.Time) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(inventoryCSVHeader); err != nil {
		return err
	}
	for _, it := range items {
		t := it.Token
		exp, used, lvl, rid := "", "", "", ""
		if t.ExpiresAt != nil {
			exp = t.ExpiresAt.String()
		}
		if t.LastUsedAt != nil {
			used = t.LastUsedAt.UTC().Format(time.RFC3339)
		}
		if it.AccessLevel != 0 {
			lvl = strconv.Itoa(int(it.AccessLevel))
		}
		if it.ResourceID != 0 {
			rid = strconv.FormatInt(it.ResourceID, 10)
		}
		row := []string{strconv.FormatInt(t.ID, 10), csvSafe(t.Name), string(it.Type), strconv.FormatInt(t.UserID, 10),
			csvSafe(it.Owner.Username), strings.Join(t.Scopes.Strings(), " "), lvl, it.ResourceType, rid,
			tokenState(t, now), t.CreatedAt.UTC().Format(time.RFC3339), exp, used, strings.Join(t.LastUsedIPs, " ")}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe defuses spreadsheet formulas in user-chosen text (a token named "=cmd()").
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
