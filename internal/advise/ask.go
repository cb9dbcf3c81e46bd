package advise

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Ask fills a Question by asking on w and reading answers line by line from r: the same
// tree as the flags, for people who do not know the flags yet.
func Ask(r io.Reader, w io.Writer, q Question) (Question, error) {
	sc := bufio.NewScanner(r)
	ask := func(prompt string) (string, error) {
		fmt.Fprint(w, prompt)
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return "", err
			}
			return "", fmt.Errorf("no answer to %q (pass the answers as flags: --automation, --scope-of-access, --needs)", strings.TrimSpace(prompt))
		}
		return strings.ToLower(strings.TrimSpace(sc.Text())), nil
	}
	yes := func(prompt string) (bool, error) {
		for {
			a, err := ask(prompt + " [y/n] ")
			if err != nil {
				return false, err
			}
			switch a {
			case "y", "yes":
				return true, nil
			case "n", "no":
				return false, nil
			}
		}
	}
	var err error
	if q.Automation, err = yes("Will a program (not a person at a keyboard) use the token?"); err != nil {
		return q, err
	}
	if q.Automation {
		if q.InCI, err = yes("Does it run as a CI/CD job on this same instance?"); err != nil {
			return q, err
		}
		for {
			a, err := ask("What must it reach: one project, one group, or the whole instance? [project/group/instance] ")
			if err != nil {
				return q, err
			}
			if a == AccessProject || a == AccessGroup || a == AccessInstance {
				q.Access = a
				break
			}
		}
	}
	for {
		a, err := ask("What must it do? Comma-separated, some of " + strings.Join(AllNeeds, ", ") + ": ")
		if err != nil {
			return q, err
		}
		if q.Needs, err = ParseNeeds(a); err == nil {
			return q, nil
		}
		fmt.Fprintln(w, err)
	}
}

// WriteText prints advice for people.
func (a Advice) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Recommended: %s\n", typeName[a.Type])
	fmt.Fprintf(&b, "  why: %s\n", a.Reasons.Type)
	scopes := strings.Join(a.Scopes, ", ")
	if scopes == "" {
		scopes = "(none)"
	}
	fmt.Fprintf(&b, "Scopes: %s\n  why: %s\n", scopes, a.Reasons.Scopes)
	if a.Role != "" {
		fmt.Fprintf(&b, "Role: %s\n  why: %s\n", a.Role, a.Reasons.Role)
	}
	life := "the job's duration"
	if a.LifetimeDays > 0 {
		life = fmt.Sprintf("%d days (expires_at %s)", a.LifetimeDays, a.ExpiresAt)
	}
	fmt.Fprintf(&b, "Lifetime: %s\n  why: %s\n", life, a.Reasons.Lifetime)
	for _, n := range a.AlsoNeeded {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	b.WriteString("Create it:\n")
	for _, c := range a.Commands {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var typeName = map[string]string{
	TypePersonal: "personal access token", TypeProject: "project access token", TypeGroup: "group access token",
	TypeServiceAccount: "service account token", TypeJob: "CI/CD job token", TypeDeploy: "deploy token (deploy-style read access)",
}
