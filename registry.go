package keygate

// RegistryAccessLevel is who may use a project's container registry (GitLab's
// container_registry_access_level): everyone who can see the project, only its members
// (Reporter and above), or nobody.
type RegistryAccessLevel string

// The container registry access levels, spelled as GitLab's API spells them.
const (
	RegistryEnabled  RegistryAccessLevel = "enabled"
	RegistryPrivate  RegistryAccessLevel = "private"
	RegistryDisabled RegistryAccessLevel = "disabled"
)

// ParseRegistryAccessLevel reads one of the three names.
func ParseRegistryAccessLevel(s string) (RegistryAccessLevel, bool) {
	switch l := RegistryAccessLevel(s); l {
	case RegistryEnabled, RegistryPrivate, RegistryDisabled:
		return l, true
	}
	return "", false
}

// Or returns l, or RegistryEnabled (GitLab's default for new projects) when l is unset.
func (l RegistryAccessLevel) Or() RegistryAccessLevel {
	if l == "" {
		return RegistryEnabled
	}
	return l
}

// DefaultRegistryTokenExpireDelay is GitLab's default lifetime of a registry token, in
// minutes (container_registry_token_expire_delay).
const DefaultRegistryTokenExpireDelay = 5
