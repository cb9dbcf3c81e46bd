package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// newAdminCmd builds `keygate admin`: operator commands that work on the data dir or
// database directly, also while a server runs on it.
func newAdminCmd(a *app) *cobra.Command {
	var f instanceFlags
	cmd := &cobra.Command{Use: "admin", Short: "Operate on the instance's data directly (works while the server runs)"}
	f.register(cmd, a)
	cmd.AddCommand(newAdminTokenCmd(a, &f), newAdminUserCmd(a, &f), newAdminJobCmd(a, &f), newAdminFsckCmd(a, &f))
	cmd.AddCommand(newAdminLifecycleCmd(a, &f))
	cmd.AddCommand(newAdminRegistryCmd(a, &f))
	return cmd
}

// newAdminJobCmd builds `keygate admin job start|finish`: Keygate runs no CI, so operators
// and tests start jobs to get job tokens (a Keygate extension).
func newAdminJobCmd(a *app, f *instanceFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Start and finish CI jobs (their job tokens live while they run)"}
	var project, user, ref, name string
	var timeout time.Duration
	start := &cobra.Command{
		Use:   "start",
		Short: "Start a job and print its job token (only the token, on stdout)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return with(cmd, a, f, func(s *session) error {
				ctx := cmd.Context()
				u, err := findUser(cmd, s.in.Service, user)
				if err != nil {
					return err
				}
				p, err := s.in.Service.Project(ctx, project)
				if err != nil {
					return fmt.Errorf("project %q: %w", project, err)
				}
				sub := authz.Subject{User: u}
				res, err := s.in.Service.ProjectAccess(ctx, sub, p)
				if err != nil {
					return err
				}
				sj, err := s.in.Service.StartJob(ctx, sub, p, res, service.JobInput{Ref: ref, Name: name, Timeout: timeout})
				if err != nil {
					return fmt.Errorf("start job: %w", err)
				}
				a.notice("Started job %d in %s for %s", sj.Job.ID, p.FullPath(), u.Username)
				_, err = fmt.Fprintln(a.stdout, sj.Secret.Reveal())
				return err
			})
		},
	}
	start.Flags().StringVar(&project, "project", "", "project: ID or full path (required)")
	start.Flags().StringVar(&user, "user", "", "the user the job runs for: username or ID (required; needs Developer)")
	start.Flags().StringVar(&ref, "ref", "", "ref (default: the default branch)")
	start.Flags().StringVar(&name, "name", "job", "job name")
	start.Flags().DurationVar(&timeout, "timeout", keygate.DefaultJobTimeout, "how long the job (and its token) lives")
	for _, n := range []string{"project", "user"} {
		_ = start.MarkFlagRequired(n)
	}

	var status string
	finish := &cobra.Command{
		Use:   "finish ID",
		Short: "Finish a job; its token stops working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("job ID %q is not a number", args[0])
			}
			return with(cmd, a, f, func(s *session) error {
				ctx := cmd.Context()
				j, err := s.in.Service.JobByID(ctx, id)
				if err != nil {
					return fmt.Errorf("job %d: %w", id, err)
				}
				p, err := s.in.Service.Project(ctx, strconv.FormatInt(j.ProjectID, 10))
				if err != nil {
					return err
				}
				if _, err := s.in.Service.FinishJob(ctx, authz.SystemSubject(), p, authz.Resource{}, id, keygate.JobStatus(status)); err != nil {
					return fmt.Errorf("finish job %d: %w", id, err)
				}
				a.notice("Finished job %d", id)
				return nil
			})
		},
	}
	finish.Flags().StringVar(&status, "status", "success", "success, failed or canceled")
	cmd.AddCommand(start, finish)
	return cmd
}

// session is one admin command's open instance.
type session struct {
	in  *instance.Instance
	api *api.API
}

func openSession(cmd *cobra.Command, a *app, f *instanceFlags) (*session, error) {
	log := newLogger(a.stderr, slog.LevelWarn)
	in, err := f.open(cmd.Context(), a, log, "")
	if err != nil {
		return nil, err
	}
	return &session{in: in, api: api.New(api.Config{Service: in.Service, ExternalURL: in.Config.ExternalURL})}, nil
}

func (s *session) close(cmd *cobra.Command) error { return s.in.Close(cmd.Context()) }

// with opens the instance around fn.
func with(cmd *cobra.Command, a *app, f *instanceFlags, fn func(*session) error) (err error) {
	s, err := openSession(cmd, a, f)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.close(cmd)) }()
	return fn(s)
}

func formatFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "format", "table", "output format: table or json")
}

func checkFormat(f string) error {
	if f != "table" && f != "json" {
		return fmt.Errorf("--format must be table or json, not %q", f)
	}
	return nil
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// findUser resolves a user given by username or numeric ID.
func findUser(cmd *cobra.Command, svc *service.Service, ref string) (keygate.User, error) {
	if n, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return svc.User(cmd.Context(), n)
	}
	u, err := svc.UserByUsername(cmd.Context(), ref)
	if err != nil {
		return u, fmt.Errorf("user %q: %w", ref, err)
	}
	return u, nil
}

func newAdminTokenCmd(a *app, f *instanceFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke personal access tokens"}

	var user, name, scopes, granular, expires, description string
	var impersonation bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token and print it (only the token, on stdout)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := service.TokenInput{Name: name, Description: description, Impersonation: impersonation}
			var err error
			switch {
			case (scopes == "") == (granular == ""):
				return errors.New("give exactly one of --scopes and --granular-scopes")
			case granular != "":
				if in.Granular, err = api.ParseGranularScopes(granular); err != nil {
					return fmt.Errorf("--granular-scopes: %w", err)
				}
			default:
				if in.Scopes, err = keygate.ParseScopes(scopes); err != nil {
					return err
				}
			}
			if expires != "" {
				d, err := keygate.ParseDate(expires)
				if err != nil {
					return fmt.Errorf("--expires-at: want YYYY-MM-DD: %w", err)
				}
				in.ExpiresAt = &d
			}
			return with(cmd, a, f, func(s *session) error {
				u, err := findUser(cmd, s.in.Service, user)
				if err != nil {
					return err
				}
				iss, err := s.in.Service.CreatePersonalToken(cmd.Context(), authz.SystemSubject(), u.ID, in)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(a.stdout, iss.Secret.Reveal())
				return err
			})
		},
	}
	create.Flags().StringVar(&user, "user", "", "owner: username or ID (required)")
	create.Flags().StringVar(&name, "name", "", "token name (required)")
	create.Flags().StringVar(&scopes, "scopes", "", "comma-separated scopes, e.g. api,read_user (or --granular-scopes)")
	create.Flags().StringVar(&granular, "granular-scopes", "", `a fine-grained token's grant, as the API's granular_scopes JSON, e.g. '[{"access":"user","permissions":["read_user"]}]'`)
	create.Flags().StringVar(&expires, "expires-at", "", "expiry date YYYY-MM-DD (default: the maximum lifetime)")
	create.Flags().StringVar(&description, "description", "", "token description")
	create.Flags().BoolVar(&impersonation, "impersonation", false, "create an impersonation token")
	for _, n := range []string{"user", "name"} {
		_ = create.MarkFlagRequired(n)
	}

	var listUser, format, state, within string
	list := &cobra.Command{
		Use:   "list",
		Short: "List every token of every type: the credentials inventory (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "csv" {
				if err := checkFormat(format); err != nil {
					return fmt.Errorf("--format must be table, json or csv, not %q", format)
				}
			}
			return with(cmd, a, f, func(s *session) error {
				filter := store.TokenFilter{State: state}
				if listUser != "" {
					u, err := findUser(cmd, s.in.Service, listUser)
					if err != nil {
						return err
					}
					filter.UserID = u.ID
				}
				return listInventory(cmd, a, s, filter, format, within)
			})
		},
	}
	list.Flags().StringVar(&listUser, "user", "", "only this owner's tokens: username or ID")
	list.Flags().StringVar(&state, "state", "", "active or inactive")
	list.Flags().StringVar(&within, "expiring-within", "", "only active tokens expiring within this many days (30d) or this long (72h)")
	list.Flags().StringVar(&format, "format", "table", "output format: table, json or csv")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token by ID (idempotent)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("token ID %q is not a number", args[0])
			}
			return with(cmd, a, f, func(s *session) error {
				if err := s.in.Service.Revoke(cmd.Context(), authz.SystemSubject(), id); err != nil {
					return fmt.Errorf("revoke token %d: %w", id, err)
				}
				a.notice("Revoked token %d", id)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke, newAdminTokenSuggestCmd(a, f))
	return cmd
}

func newAdminUserCmd(a *app, f *instanceFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Create and list users"}

	var username, email, name, format string
	var admin, passwordStdin bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user (password from stdin with --password-stdin; otherwise tokens only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			in := service.UserInput{Username: &username, Email: &email, Name: &name, Admin: &admin}
			if passwordStdin {
				line, err := bufio.NewReader(a.stdin).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read password from stdin: %w", err)
				}
				pw := strings.TrimRight(line, "\r\n")
				if pw == "" {
					return errors.New("--password-stdin: stdin held no password")
				}
				in.Password = &pw
			}
			return with(cmd, a, f, func(s *session) error {
				u, err := s.in.Service.CreateUser(cmd.Context(), authz.SystemSubject(), in)
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSONOut(a.stdout, s.api.UserObject(u))
				}
				return userTable(a.stdout, []keygate.User{u})
			})
		},
	}
	create.Flags().StringVar(&username, "username", "", "username (required)")
	create.Flags().StringVar(&email, "email", "", "e-mail address (required)")
	create.Flags().StringVar(&name, "name", "", "display name (required)")
	create.Flags().BoolVar(&admin, "admin", false, "make the user an administrator")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	formatFlag(create, &format)
	for _, n := range []string{"username", "email", "name"} {
		_ = create.MarkFlagRequired(n)
	}

	var listFormat string
	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(listFormat); err != nil {
				return err
			}
			return with(cmd, a, f, func(s *session) error {
				users, _, err := s.in.Service.Users(cmd.Context(), store.UserFilter{Sort: "asc"})
				if err != nil {
					return err
				}
				if listFormat == "json" {
					out := make([]any, len(users))
					for i, u := range users {
						out[i] = s.api.UserObject(u)
					}
					return writeJSONOut(a.stdout, out)
				}
				return userTable(a.stdout, users)
			})
		},
	}
	formatFlag(list, &listFormat)
	cmd.AddCommand(create, list)
	return cmd
}

func userTable(w io.Writer, users []keygate.User) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tNAME\tEMAIL\tSTATE\tADMIN")
	for _, u := range users {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%v\n", u.ID, u.Username, u.Name, u.Email, u.State, u.Admin)
	}
	return tw.Flush()
}
