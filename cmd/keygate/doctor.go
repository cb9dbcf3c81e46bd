package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/doctor"
	"github.com/keygate/keygate/internal/secret"
)

// clientToken reads the token a client command acts with: --token-file, else
// KEYGATE_TOKEN, else GITLAB_TOKEN. There is deliberately no flag taking the value: it
// would land in shell history and in the process list.
func clientToken(a *app, file string) (secret.Token, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return secret.Token{}, fmt.Errorf("--token-file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return secret.Wrap(t), nil
		}
		return secret.Token{}, fmt.Errorf("--token-file %s is empty", file)
	}
	for _, env := range []string{"KEYGATE_TOKEN", "GITLAB_TOKEN"} {
		if t := strings.TrimSpace(a.getenv(env)); t != "" {
			return secret.Wrap(t), nil
		}
	}
	return secret.Token{}, fmt.Errorf("no token: set KEYGATE_TOKEN or GITLAB_TOKEN, or pass --token-file")
}

var roleLevels = map[string]int{"guest": 10, "planner": 15, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}

func newDoctorCmd(a *app) *cobra.Command {
	var url, project, tokenFile, format, minRole, registry string
	var git bool
	cmd := &cobra.Command{
		Use:   "doctor --url URL [--project PATH] [--git] [--registry HOST]",
		Short: "Diagnose a token against GitLab or Keygate: reachability, identity, scopes, expiry, role, Git",
		Long: `doctor checks a token against any GitLab-compatible instance and explains every failure
with its cause and fix. The token comes from --token-file, KEYGATE_TOKEN or GITLAB_TOKEN.
Exit status: 0 all good (warnings allowed), 1 a problem, 2 could not check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			level, ok := roleLevels[strings.ToLower(minRole)]
			if !ok {
				return fmt.Errorf("--min-role %q: want guest, planner, reporter, developer, maintainer or owner", minRole)
			}
			if url == "" {
				return fmt.Errorf("--url is required")
			}
			tok, err := clientToken(a, tokenFile)
			if err != nil {
				fmt.Fprintln(a.stderr, "keygate doctor:", err)
				return exitStatus(2)
			}
			rep := doctor.Run(cmd.Context(), doctor.Config{
				URL: url, Token: tok, Project: project, Git: git, MinRole: level, Registry: registry, Now: clock.FromEnv(a.getenv).Now,
			})
			if format == "json" {
				err = writeJSONOut(a.stdout, rep)
			} else {
				err = rep.WriteText(a.stdout)
			}
			if err != nil {
				return err
			}
			if rep.ExitCode != 0 {
				return exitStatus(rep.ExitCode)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "url", "", "instance base URL, e.g. https://gitlab.example.com")
	fl.StringVar(&project, "project", "", "project full path (group/app) or ID: check the role on it")
	fl.BoolVar(&git, "git", false, "also run an authenticated git ls-remote of --project")
	fl.StringVar(&registry, "registry", "", "container registry host: log in through its token service (GitLab's /jwt/auth) and ask pull on --project")
	fl.StringVar(&tokenFile, "token-file", "", "read the token from this file (else KEYGATE_TOKEN, GITLAB_TOKEN)")
	fl.StringVar(&minRole, "min-role", "reporter", "least role wanted on --project")
	formatFlag(cmd, &format)
	return cmd
}
