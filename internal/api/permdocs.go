package api

//go:generate go run ./permdocs -o ../../docs/permissions.md

import (
	"fmt"
	"strings"
)

// PermissionsMarkdown renders docs/permissions.md from the permission catalogue and the
// route table: every assignable permission with its boundaries and the routes it opens,
// then every route with its fine-grained rule.
func (a *API) PermissionsMarkdown() string {
	var b strings.Builder
	b.WriteString("# Fine-grained permissions\n\n")
	b.WriteString("Generated from the permission catalogue (`internal/authz/granular.go`) and the route\n")
	b.WriteString("table's fine-grained rules (`internal/api/permissions.go`) by `go generate ./...`; a test\n")
	b.WriteString("fails when this page is stale. `GET /api/v4/keygate/permissions` serves the same data.\n")
	b.WriteString("How tokens are created, matched and enforced: [fine-grained.md](fine-grained.md).\n\n")
	b.WriteString("## Permissions\n\n| Permission | Label | Boundaries | Opens | Description |\n|---|---|---|---|---|\n")
	for _, p := range a.permissionCatalogue() {
		var opens []string
		for _, rt := range p.Routes {
			opens = append(opens, "`"+rt.Method+" "+rt.Path+"`")
		}
		if p.Outside != "" {
			opens = append(opens, p.Outside)
		}
		desc := p.Description
		if p.Extension {
			desc += " (Keygate extension)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", p.Name, p.Label, strings.Join(p.Boundaries, ", "), strings.Join(opens, "<br>"), desc)
	}
	b.WriteString("\n## Routes\n\n")
	b.WriteString("Every route needs all its permissions on its boundary (the path's `{id}` for project and\n")
	b.WriteString("group boundaries). *Open* routes take any fine-grained token; *not supported* ones refuse\n")
	b.WriteString("fine-grained tokens with 403 `insufficient_granular_scope`.\n\n")
	b.WriteString("| Method | Path | Permissions | Boundary |\n|---|---|---|---|\n")
	for _, rt := range a.Routes() {
		f := rt.Fine
		perms, boundary := "", string(f.Boundary)
		switch {
		case len(f.Permissions) > 0:
			perms = "`" + strings.Join(f.Permissions, "`, `") + "`"
			if f.Param != "" {
				boundary += " `{" + f.Param + "}`"
			}
		case f.Open != "":
			perms, boundary = "open: "+f.Open, "—"
		default:
			perms, boundary = "not supported: "+f.Unsupported, "—"
		}
		fmt.Fprintf(&b, "| %s | `%s%s` | %s | %s |\n", rt.Method, Prefix, rt.Pattern, perms, boundary)
	}
	b.WriteString("\nGit over HTTP: clone, fetch and pull need `download_code`, push needs `push_code`, both\n")
	b.WriteString("on the project.\n")
	return b.String()
}
