package api

import (
	"fmt"
	"strings"

	"github.com/keygate/keygate/internal/authz"
)

// Markdown renders the route table as the API reference in docs/api.md, so the docs can
// never drift from what the server enforces.
func (a *API) Markdown() string {
	var b strings.Builder
	b.WriteString("# Keygate REST API v4 routes\n\n")
	b.WriteString("Generated from the route table (`internal/api/api.go`) by `go test ./internal/api -run TestAPIDocs -update`.\n")
	b.WriteString("Every route is GitLab-compatible unless its summary says \"Keygate extension\".\n\n")
	b.WriteString("Scopes: a token is accepted when it holds any listed scope; `read_api` and scopes marked\n")
	b.WriteString("*(GET)* count only for GET and HEAD requests. \"any\" accepts every scope.\n\n")
	b.WriteString("| Method | Path | Scopes | Who | Summary |\n|---|---|---|---|---|\n")
	for _, rt := range a.Routes() {
		fmt.Fprintf(&b, "| %s | `%s%s` | %s | %s | %s |\n", rt.Method, Prefix, rt.Pattern, scopeDoc(rt.Rule), whoDoc(rt.Rule), rt.Summary)
	}
	return b.String()
}

func scopeDoc(r authz.Rule) string {
	if r.AnyScope {
		return "any"
	}
	var names []string
	seen := map[string]bool{}
	for _, g := range append(append([]authz.Grant{}, r.Grants...), authz.RootGrants()...) {
		n := "`" + string(g.Scope) + "`"
		if g.ReadOnly {
			n += " *(GET)*"
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

func whoDoc(r authz.Rule) string {
	switch {
	case r.Admin:
		return "administrators"
	case r.Anonymous:
		return "anyone"
	}
	return "authenticated"
}
