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
	// InactiveResourceTokensDeleteAfterDays is how long the bot of a project or group
	// token stays after its last token went inactive (GitLab's
	// inactive_resource_access_tokens_delete_after_days; 0: never delete).
	InactiveResourceTokensDeleteAfterDays int
	// ServiceAccessTokensExpirationEnforced: service accounts' tokens need an expiry.
	ServiceAccessTokensExpirationEnforced bool
	// EnforceCIInboundJobTokenScope makes every project enforce its job-token allowlist
	// (GitLab's enforce_ci_inbound_job_token_scope_enabled, on since 18.0).
	EnforceCIInboundJobTokenScope bool
	// EnforceGranularTokens and GranularTokensEnforcedAfter: from that date (UTC),
	// creating or rotating a legacy personal access token is refused (GitLab's
	// enforce_granular_tokens, granular_tokens_enforced_after).
	EnforceGranularTokens       bool
	GranularTokensEnforcedAfter *Date
}

// GranularEnforcement returns the instance's fine-grained-only policy.
func (s Settings) GranularEnforcement() GranularEnforcement {
	return GranularEnforcement{Enforce: s.EnforceGranularTokens, After: s.GranularTokensEnforcedAfter}
}

// DefaultTokenLifetimeDays is GitLab's maximum (and default) token lifetime.
const DefaultTokenLifetimeDays = 365

// DefaultSettings are the settings of a new instance.
func DefaultSettings() Settings {
	return Settings{
		PersonalAccessTokenPrefix:             "glpat-",
		RequirePersonalAccessTokenExpiry:      true,
		ImpersonationEnabled:                  true,
		InactiveResourceTokensDeleteAfterDays: 30,
		ServiceAccessTokensExpirationEnforced: true,
		EnforceCIInboundJobTokenScope:         true,
	}
}

// TokenLifetimeDays is the effective maximum lifetime in days.
func (s Settings) TokenLifetimeDays() int {
	if s.MaxPersonalAccessTokenLifetime > 0 {
		return s.MaxPersonalAccessTokenLifetime
	}
	return DefaultTokenLifetimeDays
}
