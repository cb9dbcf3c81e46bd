package keygate

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Visibility is a group's or project's visibility level, as GitLab names them.
type Visibility string

// The visibility levels.
const (
	Private  Visibility = "private"
	Internal Visibility = "internal"
	Public   Visibility = "public"
)

// ParseVisibility reads a visibility name.
func ParseVisibility(s string) (Visibility, error) {
	switch v := Visibility(s); v {
	case Private, Internal, Public:
		return v, nil
	}
	return "", fmt.Errorf("unknown visibility %q", s)
}

// Level orders visibilities: private < internal < public.
func (v Visibility) Level() int {
	switch v {
	case Public:
		return 20
	case Internal:
		return 10
	}
	return 0
}

// NamespaceKind tells groups from users' personal namespaces.
type NamespaceKind string

// The namespace kinds.
const (
	NamespaceGroup NamespaceKind = "group"
	NamespaceUser  NamespaceKind = "user"
)

// Namespace holds projects: a group (possibly nested) or a user's personal namespace.
// Groups and personal namespaces share one ID space and one path space, as in GitLab.
type Namespace struct {
	ID          int64
	Kind        NamespaceKind
	Name        string
	Path        string
	FullPath    string // "top/sub/leaf"
	FullName    string // "Top / Sub / Leaf"
	ParentID    int64  // 0 at the top
	OwnerID     int64  // the user of a personal namespace
	Visibility  Visibility
	Description string
	// TraversalIDs lists the ancestors from the top down, this namespace last.
	TraversalIDs []int64
	CreatedAt    time.Time
	// ResourceAccessTokensAllowed is the top-level group setting "Users can create project
	// access tokens and group access tokens in this group" (default on).
	ResourceAccessTokensAllowed bool
	// GranularEnforcement is the top-level group's "fine-grained tokens only" policy:
	// legacy tokens of human users are held to the fine-grained checks under it.
	GranularEnforcement GranularEnforcement
}

// Group is a namespace of kind group.
type Group = Namespace

// Project is a repository-bearing resource inside a namespace.
type Project struct {
	ID             int64
	Name           string
	Path           string
	NamespaceID    int64
	Namespace      Namespace // loaded with the project
	Visibility     Visibility
	Description    string
	DefaultBranch  string
	CreatedAt      time.Time
	LastActivityAt time.Time
	CreatorID      int64
	// ContainerRegistryAccessLevel is who may use the project's container registry; ""
	// reads as RegistryEnabled.
	ContainerRegistryAccessLevel RegistryAccessLevel
}

// FullPath is "namespace/path".
func (p Project) FullPath() string { return p.Namespace.FullPath + "/" + p.Path }

// NameWithNamespace is GitLab's "Namespace Name / Project Name".
func (p Project) NameWithNamespace() string { return p.Namespace.FullName + " / " + p.Name }

// pathRE is GitLab's namespace/project path rule: letters, digits, '_', '-', '.', not
// starting with '-' or '.', not ending in '.', '.git' or '.atom'.
var pathRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.\-]*$`)

// ValidPath reports whether s may be a group, user or project path segment.
func ValidPath(s string) bool {
	return len(s) <= 255 && pathRE.MatchString(s) && !strings.HasSuffix(s, ".") &&
		!strings.HasSuffix(s, ".git") && !strings.HasSuffix(s, ".atom") && !strings.Contains(s, "..")
}

// PathError is GitLab's model message for an invalid path.
const PathError = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"
