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
	// DisablePersonalAccessTokens turns personal access tokens off instance-wide: none can
	// be created, rotated or used (GitLab's disable_personal_access_tokens). Project,
	// group and impersonation tokens are unaffected.
	DisablePersonalAccessTokens bool
	// AllowLocalRequestsFromWebHooksAndServices lets webhooks target loopback and private
	// addresses (GitLab's allow_local_requests_from_web_hooks_and_services, default off).
	AllowLocalRequestsFromWebHooksAndServices bool
	// ResourceAccessTokenNotifyInherited also mails inherited Maintainers and Owners about
	// project and group tokens (GitLab's resource_access_token_notify_inherited).
	ResourceAccessTokenNotifyInherited bool
	// ContainerRegistryTokenExpireDelay is the lifetime of a /jwt/auth registry token in
	// minutes (GitLab's container_registry_token_expire_delay); 0 reads as the default.
	ContainerRegistryTokenExpireDelay int
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

// MaxTokenLifetimeSettingDays is the largest max_personal_access_token_lifetime an
// administrator may set (GitLab's 400 days under buffered_token_expiration_limit).
const MaxTokenLifetimeSettingDays = 400

// DefaultSettings are the settings of a new instance.
func DefaultSettings() Settings {
	return Settings{
		PersonalAccessTokenPrefix:             "glpat-",
		RequirePersonalAccessTokenExpiry:      true,
		ImpersonationEnabled:                  true,
		InactiveResourceTokensDeleteAfterDays: 30,
		ServiceAccessTokensExpirationEnforced: true,
		EnforceCIInboundJobTokenScope:         true,
		ContainerRegistryTokenExpireDelay:     DefaultRegistryTokenExpireDelay,
	}
}

// TokenLifetimeDays is the effective maximum lifetime in days.
func (s Settings) TokenLifetimeDays() int {
	if s.MaxPersonalAccessTokenLifetime > 0 {
		return s.MaxPersonalAccessTokenLifetime
	}
	return DefaultTokenLifetimeDays
}

// RegistryTokenMinutes is the effective lifetime of a registry token in minutes.
func (s Settings) RegistryTokenMinutes() int {
	if s.ContainerRegistryTokenExpireDelay > 0 {
		return s.ContainerRegistryTokenExpireDelay
	}
	return DefaultRegistryTokenExpireDelay
}
