package registryauth

import (
	"regexp"
	"strings"
)

// Scope is one requested scope, `type:name:actions` (distribution's token spec).
type Scope struct {
	Type    string
	Name    string
	Actions []string
}

// Scope types Keygate grants.
const (
	TypeRepository = "repository"
	TypeRegistry   = "registry"
)

// Bounds on what a request may ask for. Real clients ask for one to three scopes (a
// cross-repository blob mount asks for two); more than MaxScopes are not considered, so
// one request costs at most MaxScopes×3 project lookups.
const (
	MaxScopes     = 50
	maxNameLength = 255 // distribution's limit on a repository name
	maxActions    = 8
)

// ParseScope reads one scope. ok is false for a string without three colon-separated
// parts, an empty type or name, or more actions than any client sends; such a scope is
// ignored (GitLab's answer to a scope without actions is a 500; Keygate drops it).
// Everything after the second colon is the action list.
func ParseScope(s string) (Scope, bool) {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok || typ == "" {
		return Scope{}, false
	}
	name, actions, ok := strings.Cut(rest, ":")
	if !ok || name == "" {
		return Scope{}, false
	}
	if strings.Count(actions, ",") >= maxActions {
		return Scope{}, false
	}
	return Scope{Type: typ, Name: name, Actions: strings.Split(actions, ",")}, true
}

// ParseScopes reads the values of the repeated scope parameter; each value may hold
// several scopes separated by whitespace. Unreadable scopes are dropped; at most
// MaxScopes are returned, and dropped reports whether any were left out for that cap.
func ParseScopes(values []string) (scopes []Scope, dropped bool) {
	for _, v := range values {
		for _, f := range strings.Fields(v) {
			sc, ok := ParseScope(f)
			if !ok {
				continue
			}
			if len(scopes) == MaxScopes {
				return scopes, true
			}
			scopes = append(scopes, sc)
		}
	}
	return scopes, false
}

// nameRE is GitLab's container repository path rule (ContainerRegistry::Path).
var nameRE = regexp.MustCompile(`^[a-z0-9]+(([._/]|__|-*)[a-z0-9])*$`)

// Segment bounds of a repository name: a project needs a namespace and a path, and
// GitLab nests at most 20 namespaces.
const (
	minSegments = 2
	maxSegments = 19
	// levels is how many trailing segments may name images below the project.
	levels = 2
)

// RepositoryName normalises a repository scope's name (lower case, as GitLab) and
// reports whether it obeys the path rule.
func RepositoryName(name string) (string, bool) {
	if len(name) > maxNameLength {
		return "", false
	}
	name = strings.ToLower(name)
	if !nameRE.MatchString(name) {
		return "", false
	}
	n := strings.Count(name, "/") + 1
	if n < minSegments || n > maxSegments {
		return "", false
	}
	return name, true
}

// ProjectCandidates lists the project full paths a valid repository name may belong to,
// longest first: the name itself and the prefixes without its last one or two segments
// (`group/project`, `group/project/image`, `group/project/a/b`), never fewer than two
// segments.
func ProjectCandidates(name string) []string {
	out := make([]string, 0, levels+1)
	p := name
	for range levels + 1 {
		if strings.Count(p, "/")+1 < minSegments {
			break
		}
		out = append(out, p)
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return out
}
