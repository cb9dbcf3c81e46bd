package api

import (
	"net/http"

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
	ID                               int    `json:"id"`
	PersonalAccessTokenPrefix        string `json:"personal_access_token_prefix"`
	RequirePersonalAccessTokenExpiry bool   `json:"require_personal_access_token_expiry"`
	MaxPersonalAccessTokenLifetime   *int   `json:"max_personal_access_token_lifetime"`
	AdminMode                        bool   `json:"admin_mode"`
	ImpersonationEnabled             bool   `json:"impersonation_enabled"`
	InactiveTokensDeleteAfterDays    *int   `json:"inactive_resource_access_tokens_delete_after_days"`
	ServiceTokensExpirationEnforced  bool   `json:"service_access_tokens_expiration_enforced"`
	// The instance's fine-grained-only policy (spec §5).
	EnforceGranularTokens       bool    `json:"enforce_granular_tokens"`
	GranularTokensEnforcedAfter *string `json:"granular_tokens_enforced_after"`
}

func settingsBody(s keygate.Settings) settingsJSON {
	out := settingsJSON{
		ID: 1, PersonalAccessTokenPrefix: s.PersonalAccessTokenPrefix,
		RequirePersonalAccessTokenExpiry: s.RequirePersonalAccessTokenExpiry,
		AdminMode:                        s.AdminMode, ImpersonationEnabled: s.ImpersonationEnabled,
		EnforceGranularTokens:       s.EnforceGranularTokens,
		GranularTokensEnforcedAfter: datePtr(s.GranularTokensEnforcedAfter),
	}
	if s.MaxPersonalAccessTokenLifetime > 0 {
		n := s.MaxPersonalAccessTokenLifetime
		out.MaxPersonalAccessTokenLifetime = &n
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

// putSettings changes only the settings named in the request.
func (a *API) putSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	s, err := a.svc.Settings(r.Context())
	if err != nil {
		return err
	}
	p := c.p
	if v, ok, err := p.str("personal_access_token_prefix"); err != nil {
		return err
	} else if ok {
		s.PersonalAccessTokenPrefix = v
	}
	for name, dst := range map[string]*bool{
		"require_personal_access_token_expiry":      &s.RequirePersonalAccessTokenExpiry,
		"admin_mode":                                &s.AdminMode,
		"impersonation_enabled":                     &s.ImpersonationEnabled,
		"service_access_tokens_expiration_enforced": &s.ServiceAccessTokensExpirationEnforced,
	} {
		b, err := p.boolean(name)
		if err != nil {
			return err
		}
		if b != nil {
			*dst = *b
		}
	}
	if p.has("max_personal_access_token_lifetime") {
		if v, ok, _ := p.str("max_personal_access_token_lifetime"); !ok || v == "" {
			s.MaxPersonalAccessTokenLifetime = 0
		} else {
			n, err := p.integer("max_personal_access_token_lifetime")
			if err != nil {
				return err
			}
			s.MaxPersonalAccessTokenLifetime = int(*n)
		}
	}
	if p.has("inactive_resource_access_tokens_delete_after_days") {
		// Blank means never delete, as GitLab.
		if v, ok, _ := p.str("inactive_resource_access_tokens_delete_after_days"); !ok || v == "" {
			s.InactiveResourceTokensDeleteAfterDays = 0
		} else {
			n, err := p.integer("inactive_resource_access_tokens_delete_after_days")
			if err != nil {
				return err
			}
			if *n < 0 {
				return validationError("inactive_resource_access_tokens_delete_after_days", "must be greater than or equal to 0")
			}
			s.InactiveResourceTokensDeleteAfterDays = int(*n)
		}
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
