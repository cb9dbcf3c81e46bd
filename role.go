package keygate

import "fmt"

// AccessLevel is GitLab's numeric role on a group or project.
type AccessLevel int

// GitLab's access levels (spec §3.1).
const (
	NoAccess      AccessLevel = 0
	MinimalAccess AccessLevel = 5
	Guest         AccessLevel = 10
	Planner       AccessLevel = 15
	Reporter      AccessLevel = 20
	Developer     AccessLevel = 30
	Maintainer    AccessLevel = 40
	Owner         AccessLevel = 50
)

var accessLevelNames = map[AccessLevel]string{
	NoAccess: "No access", MinimalAccess: "Minimal access", Guest: "Guest", Planner: "Planner",
	Reporter: "Reporter", Developer: "Developer", Maintainer: "Maintainer", Owner: "Owner",
}

// String returns the role's name as GitLab shows it.
func (l AccessLevel) String() string {
	if n, ok := accessLevelNames[l]; ok {
		return n
	}
	return fmt.Sprintf("AccessLevel(%d)", int(l))
}

// Valid reports whether l is one of GitLab's levels.
func (l AccessLevel) Valid() bool { _, ok := accessLevelNames[l]; return ok }
