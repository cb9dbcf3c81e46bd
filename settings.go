package keygate

// Settings are the instance-wide application settings, named as GitLab names them where
// GitLab has a name.
type Settings struct {
	PersonalAccessTokenPrefix        string
	RequirePersonalAccessTokenExpiry bool
	// MaxPersonalAccessTokenLifetime is in days; 0 means GitLab's default of 365.
	MaxPersonalAccessTokenLifetime int
	AdminMode                      bool
	ImpersonationEnabled           bool
}

// DefaultTokenLifetimeDays is GitLab's maximum (and default) token lifetime.
const DefaultTokenLifetimeDays = 365

// DefaultSettings are the settings of a new instance.
func DefaultSettings() Settings {
	return Settings{
		PersonalAccessTokenPrefix:        "glpat-",
		RequirePersonalAccessTokenExpiry: true,
		ImpersonationEnabled:             true,
	}
}

// TokenLifetimeDays is the effective maximum lifetime in days.
func (s Settings) TokenLifetimeDays() int {
	if s.MaxPersonalAccessTokenLifetime > 0 {
		return s.MaxPersonalAccessTokenLifetime
	}
	return DefaultTokenLifetimeDays
}
