package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/advise"
	"github.com/keygate/keygate/internal/clock"
)

func newAdviseCmd(a *app) *cobra.Command {
	var q advise.Question
	var needs, format string
	cmd := &cobra.Command{
		Use:   "advise [--automation] [--in-ci] [--scope-of-access project|group|instance] --needs LIST",
		Short: "Recommend a token type, its least scopes, role and lifetime, and the command to create it",
		Long: `advise walks the decision tree for choosing a token: personal, project, group, service
account, CI/CD job token or deploy-style read access. Without flags it asks the questions.
Needs: ` + fmt.Sprint(advise.AllNeeds) + ` (aliases: registry, git, push, api).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			q.Today = clock.FromEnv(a.getenv).Now()
			fl := cmd.Flags()
			asked := !fl.Changed("automation") && !fl.Changed("needs") && !fl.Changed("scope-of-access") && !fl.Changed("in-ci")
			var err error
			if asked {
				if q, err = advise.Ask(a.stdin, a.stderr, q); err != nil {
					return err
				}
			} else if q.Needs, err = advise.ParseNeeds(needs); err != nil {
				return err
			}
			adv, err := advise.Decide(q)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSONOut(a.stdout, adv)
			}
			return adv.WriteText(a.stdout)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&q.Automation, "automation", false, "a program, not a person, uses the token")
	fl.BoolVar(&q.InCI, "in-ci", false, "the program runs as a CI/CD job of the same instance")
	fl.StringVar(&q.Access, "scope-of-access", "project", "what it must reach: project, group or instance")
	fl.StringVar(&needs, "needs", "", "comma-separated needs, e.g. git-push,api-read,registry")
	fl.StringVar(&q.URL, "url", "", "instance URL for the commands (default https://gitlab.example.com)")
	fl.StringVar(&q.Project, "project", "", "project path for the commands")
	fl.StringVar(&q.Group, "group", "", "group path for the commands")
	fl.StringVar(&q.Name, "name", "", "token name for the commands (default automation)")
	formatFlag(cmd, &format)
	return cmd
}
