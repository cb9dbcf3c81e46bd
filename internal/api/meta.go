package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

type kasJSON struct {
	Enabled     bool    `json:"enabled"`
	ExternalURL *string `json:"externalUrl"`
	Version     *string `json:"version"`
}

type metadataJSON struct {
	Version    string  `json:"version"`
	Revision   string  `json:"revision"`
	KAS        kasJSON `json:"kas"`
	Enterprise bool    `json:"enterprise"`
}

// version and metadata answer the same body, as lib/api/metadata.rb does.
func (a *API) version(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, 200, metadataJSON{Version: keygate.APIVersion, Revision: a.revision})
	return nil
}

func (a *API) metadata(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.version(w, r, c)
}

// settingsJSON holds the application settings Keygate serves, under GitLab's names
// (impersonation_enabled is a Keygate extension: GitLab keeps it in its config file).
type settingsJSON struct {
	ID                                        int    `json:"id"`
	PersonalAccessTokenPrefix                 string `json:"personal_access_token_prefix"`
	RequirePersonalAccessTokenExpiry          bool   `json:"require_personal_access_token_expiry"`
	MaxPersonalAccessTokenLifetime            *int   `json:"max_personal_access_token_lifetime"`
	AdminMode                                 bool   `json:"admin_mode"`
	ImpersonationEnabled                      bool   `json:"impersonation_enabled"`
	InactiveTokensDeleteAfterDays             *int   `json:"inactive_resource_access_tokens_delete_after_days"`
	ServiceTokensExpirationEnforced           bool   `json:"service_access_tokens_expiration_enforced"`
	DisablePersonalAccessTokens               bool   `json:"disable_personal_access_tokens"`
	AllowLocalRequestsFromWebHooksAndServices bool   `json:"allow_local_requests_from_web_hooks_and_services"`
	ResourceAccessTokenNotifyInherited        bool   `json:"resource_access_token_notify_inherited"`
	EnforceCIInboundJobTokenScope             bool   `json:"enforce_ci_inbound_job_token_scope_enabled"`
	RegistryTokenExpireDelay                  int    `json:"container_registry_token_expire_delay"`
	// The instance's fine-grained-only policy (spec §5).
	EnforceGranularTokens       bool    `json:"enforce_granular_tokens"`
	GranularTokensEnforcedAfter *string `json:"granular_tokens_enforced_after"`
}

func settingsBody(s keygate.Settings) settingsJSON {
	out := settingsJSON{
		ID: 1, PersonalAccessTokenPrefix: s.PersonalAccessTokenPrefix,
		RequirePersonalAccessTokenExpiry: s.RequirePersonalAccessTokenExpiry,
		AdminMode:                        s.AdminMode, ImpersonationEnabled: s.ImpersonationEnabled,
		ServiceTokensExpirationEnforced:           s.ServiceAccessTokensExpirationEnforced,
		DisablePersonalAccessTokens:               s.DisablePersonalAccessTokens,
		AllowLocalRequestsFromWebHooksAndServices: s.AllowLocalRequestsFromWebHooksAndServices,
		ResourceAccessTokenNotifyInherited:        s.ResourceAccessTokenNotifyInherited,
		EnforceCIInboundJobTokenScope:             s.EnforceCIInboundJobTokenScope,
		RegistryTokenExpireDelay:                  s.RegistryTokenMinutes(),
		EnforceGranularTokens:                     s.EnforceGranularTokens,
		GranularTokensEnforcedAfter:               datePtr(s.GranularTokensEnforcedAfter),
	}
	if s.MaxPersonalAccessTokenLifetime > 0 {
		n := s.MaxPersonalAccessTokenLifetime
		out.MaxPersonalAccessTokenLifetime = &n
	}
	if s.InactiveResourceTokensDeleteAfterDays > 0 {
		n := s.InactiveResourceTokensDeleteAfterDays
		out.InactiveTokensDeleteAfterDays = &n
	}
	return out
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	s, err := a.svc.Settings(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, 200, settingsBody(s))
	return nil
}

// settingBools are the boolean settings PUT accepts, by GitLab name.
func settingBools(s *keygate.Settings) map[string]*bool {
	return map[string]*bool{
		"require_personal_access_token_expiry":             &s.RequirePersonalAccessTokenExpiry,
		"admin_mode":                                       &s.AdminMode,
		"impersonation_enabled":                            &s.ImpersonationEnabled,
		"service_access_tokens_expiration_enforced":        &s.ServiceAccessTokensExpirationEnforced,
		"disable_personal_access_tokens":                   &s.DisablePersonalAccessTokens,
		"allow_local_requests_from_web_hooks_and_services": &s.AllowLocalRequestsFromWebHooksAndServices,
		"resource_access_token_notify_inherited":           &s.ResourceAccessTokenNotifyInherited,
		"enforce_ci_inbound_job_token_scope_enabled":       &s.EnforceCIInboundJobTokenScope,
	}
}

// otherSetting reports the non-boolean settings PUT accepts.
func otherSetting(name string) bool {
	switch name {
	case "personal_access_token_prefix", "max_personal_access_token_lifetime",
		"inactive_resource_access_tokens_delete_after_days", "container_registry_token_expire_delay",
		"enforce_granular_tokens", "granular_tokens_enforced_after":
		return true
	}
	return false
}

// requestOnlyParam reports parameters of any request (credentials, sudo), not settings.
func requestOnlyParam(name string) bool {
	switch name {
	case "private_token", "access_token", "bearer_token", "sudo", "job_token":
		return true
	}
	return false
}

// MaxTokenLifetimeSetting is the largest max_personal_access_token_lifetime accepted
// (GitLab's 400 days with buffered_token_expiration_limit).
const MaxTokenLifetimeSetting = keygate.MaxTokenLifetimeSettingDays

// optionalDays reads a day-count setting where blank means unset (0), refusing values
// outside [lo, hi] with GitLab's numericality messages.
func optionalDays(p *params, name string, lo, hi int64) (int, bool, error) {
	if !p.has(name) {
		return 0, false, nil
	}
	if v, ok, _ := p.str(name); ok && v == "" || p.values[name] == nil {
		return 0, true, nil
	}
	n, err := p.integer(name)
	if err != nil {
		return 0, false, err
	}
	if *n < lo {
		return 0, false, validationError(name, fmt.Sprintf("must be greater than or equal to %d", lo))
	}
	if *n > hi {
		return 0, false, validationError(name, fmt.Sprintf("must be less than or equal to %d", hi))
	}
	return int(*n), true, nil
}

// putSettings changes only the settings named in the request; an unknown name or a bad
// value changes nothing.
func (a *API) putSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	s, err := a.svc.Settings(r.Context())
	if err != nil {
		return err
	}
	p := c.p
	bools := settingBools(&s)
	var unknown []string
	for k := range p.values {
		if _, ok := bools[k]; !ok && !otherSetting(k) && !requestOnlyParam(k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return paramError("unknown setting: " + strings.Join(unknown, ", "))
	}
	if v, ok, err := p.str("personal_access_token_prefix"); err != nil {
		return err
	} else if ok {
		s.PersonalAccessTokenPrefix = v
	}
	for name, dst := range bools {
		b, err := p.boolean(name)
		if err != nil {
			return err
		}
		if b != nil {
			*dst = *b
		}
	}
	if n, ok, err := optionalDays(p, "max_personal_access_token_lifetime", 1, MaxTokenLifetimeSetting); err != nil {
		return err
	} else if ok {
		s.MaxPersonalAccessTokenLifetime = n
	}
	// Blank means never delete, as GitLab.
	if n, ok, err := optionalDays(p, "inactive_resource_access_tokens_delete_after_days", 0, 100_000); err != nil {
		return err
	} else if ok {
		s.InactiveResourceTokensDeleteAfterDays = n
	}
	if p.has("container_registry_token_expire_delay") {
		n, err := p.integer("container_registry_token_expire_delay")
		if err != nil {
			return err
		}
		if n == nil || *n < 1 {
			return validationError("container_registry_token_expire_delay", "must be greater than 0")
		}
		if *n > maxRegistryTokenMinutes {
			return validationError("container_registry_token_expire_delay", "must be less than or equal to 525600")
		}
		s.ContainerRegistryTokenExpireDelay = int(*n)
	}
	if pol, err := granularPolicyInput(p); err != nil {
		return err
	} else if pol != nil {
		if pol.Enforce != nil {
			s.EnforceGranularTokens = *pol.Enforce
		}
		if pol.SetAfter {
			s.GranularTokensEnforcedAfter = pol.After
		}
	}
	if err := a.svc.PutSettings(r.Context(), c.subject, s); err != nil {
		if ke, ok := err.(*keygate.Error); ok && ke.Code == keygate.CodeInvalid {
			return validationError(ke.Field, ke.Message)
		}
		return err
	}
	writeJSON(w, 200, settingsBody(s))
	return nil
}

// maxRegistryTokenMinutes bounds container_registry_token_expire_delay at a year, so the
// lifetime stays a valid duration (GitLab sets no upper bound; a Keygate bound).
const maxRegistryTokenMinutes = 365 * 24 * 60
