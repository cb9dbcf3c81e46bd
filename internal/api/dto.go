package api

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/service"
)

// Wire shapes, field for field and in declaration order as GitLab's API entities
// (lib/api/entities). Domain structs never go to the wire directly.

// timeLayout is Rails' ISO 8601 with milliseconds, UTC.
const timeLayout = "2006-01-02T15:04:05.000Z"

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

func tsPtr(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := ts(*t)
	return &s
}

func datePtr(d *keygate.Date) *string {
	if d == nil {
		return nil
	}
	s := d.String()
	return &s
}

type userBasicJSON struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	State     string `json:"state"`
	Locked    bool   `json:"locked"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

type userJSON struct {
	userBasicJSON
	CreatedAt       string  `json:"created_at"`
	Bio             string  `json:"bio"`
	Location        string  `json:"location"`
	PublicEmail     *string `json:"public_email"`
	Skype           string  `json:"skype"`
	Linkedin        string  `json:"linkedin"`
	Twitter         string  `json:"twitter"`
	Discord         string  `json:"discord"`
	WebsiteURL      string  `json:"website_url"`
	Organization    string  `json:"organization"`
	JobTitle        string  `json:"job_title"`
	Pronouns        *string `json:"pronouns"`
	Bot             bool    `json:"bot"`
	WorkInformation *string `json:"work_information"`
	Followers       int     `json:"followers"`
	Following       int     `json:"following"`
	IsFollowed      bool    `json:"is_followed"`
	LocalTime       *string `json:"local_time"`
}

type identityJSON struct {
	Provider  string `json:"provider"`
	ExternUID string `json:"extern_uid"`
}

type userPublicJSON struct {
	userJSON
	LastSignInAt      *string        `json:"last_sign_in_at"`
	ConfirmedAt       *string        `json:"confirmed_at"`
	LastActivityOn    *string        `json:"last_activity_on"`
	Email             string         `json:"email"`
	ThemeID           int            `json:"theme_id"`
	ColorSchemeID     int            `json:"color_scheme_id"`
	ProjectsLimit     int            `json:"projects_limit"`
	CurrentSignInAt   *string        `json:"current_sign_in_at"`
	Identities        []identityJSON `json:"identities"`
	CanCreateGroup    bool           `json:"can_create_group"`
	CanCreateProject  bool           `json:"can_create_project"`
	TwoFactorEnabled  bool           `json:"two_factor_enabled"`
	External          bool           `json:"external"`
	PrivateProfile    bool           `json:"private_profile"`
	CommitEmail       string         `json:"commit_email"`
	PreferredLanguage string         `json:"preferred_language"`
}

type userWithAdminJSON struct {
	userPublicJSON
	IsAdmin     bool    `json:"is_admin"`
	Note        *string `json:"note"`
	NamespaceID int64   `json:"namespace_id"`
	CreatedBy   *string `json:"created_by"`
}

type userDetailsWithAdminJSON struct {
	userWithAdminJSON
	HighestRole     int     `json:"highest_role"`
	CurrentSignInIP *string `json:"current_sign_in_ip"`
	LastSignInIP    *string `json:"last_sign_in_ip"`
	SignInCount     int     `json:"sign_in_count"`
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a *API) userBasic(u keygate.User) userBasicJSON {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(u.Email))))
	return userBasicJSON{
		ID: u.ID, Username: u.Username, Name: u.Name, State: string(u.State),
		AvatarURL: "https://www.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?s=80&d=identicon",
		WebURL:    a.externalURL + "/" + u.Username,
	}
}

func (a *API) user(u keygate.User) userJSON {
	return userJSON{
		userBasicJSON: a.userBasic(u),
		CreatedAt:     ts(u.CreatedAt), Bio: u.Bio, Location: u.Location,
		PublicEmail: strOrNil(u.PublicEmail), WebsiteURL: u.WebsiteURL,
		Organization: u.Organization, JobTitle: u.JobTitle, Pronouns: strOrNil(u.Pronouns),
		Bot: u.Bot(),
	}
}

func (a *API) userPublic(u keygate.User) userPublicJSON {
	var lastActivity *string
	if u.LastActivityOn != nil {
		lastActivity = datePtr(u.LastActivityOn)
	}
	return userPublicJSON{
		userJSON:    a.user(u),
		ConfirmedAt: tsPtr(u.ConfirmedAt), LastActivityOn: lastActivity, Email: u.Email,
		ThemeID: 3, ColorSchemeID: 1, ProjectsLimit: u.ProjectsLimit,
		Identities: []identityJSON{}, CanCreateGroup: u.CanCreateGroup,
		CanCreateProject: u.ProjectsLimit > 0, External: u.External,
		PrivateProfile: u.PrivateProfile, CommitEmail: u.Email, PreferredLanguage: "en",
	}
}

func (a *API) userWithAdmin(u keygate.User) userWithAdminJSON {
	return userWithAdminJSON{userPublicJSON: a.userPublic(u), IsAdmin: u.Admin, Note: strOrNil(u.Note)}
}

func (a *API) userDetailsWithAdmin(u keygate.User) userDetailsWithAdminJSON {
	return userDetailsWithAdminJSON{userWithAdminJSON: a.userWithAdmin(u)}
}

// tokenJSON is API::Entities::PersonalAccessToken (newest field order).
type tokenJSON struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Active      bool     `json:"active"`
	Revoked     bool     `json:"revoked"`
	Expired     bool     `json:"expired"`
	Granular    bool     `json:"granular"`
	CreatedAt   string   `json:"created_at"`
	Description *string  `json:"description"`
	Scopes      []string `json:"scopes"`
	// GranularScopes is present only for fine-grained tokens (spec §2).
	GranularScopes []granularScopeJSON `json:"granular_scopes,omitempty"`
	UserID         int64               `json:"user_id"`
	LastUsedAt     *string             `json:"last_used_at"`
	ExpiresAt      *string             `json:"expires_at"`
}

// tokenWithIPsJSON adds last_used_ips (PersonalAccessTokenWithLastUsedIps).
type tokenWithIPsJSON struct {
	tokenJSON
	LastUsedIPs []string `json:"last_used_ips"`
}

// tokenWithSecretJSON adds the plaintext, shown once (PersonalAccessTokenWithToken).
type tokenWithSecretJSON struct {
	tokenJSON
	LastUsedIPs []string `json:"last_used_ips"`
	Token       string   `json:"token"`
}

// impersonationJSON is API::Entities::ImpersonationToken.
type impersonationJSON struct {
	tokenWithIPsJSON
	Impersonation bool `json:"impersonation"`
}

func (a *API) token(t keygate.Token) tokenJSON {
	now := a.svc.Clock().Now()
	out := tokenJSON{
		ID: t.ID, Name: t.Name, Active: t.Active(now), Revoked: t.Revoked, Expired: t.Expired(now),
		CreatedAt: ts(t.CreatedAt), Description: strOrNil(t.Description), Scopes: t.Scopes.Strings(),
		UserID: t.UserID, LastUsedAt: tsPtr(t.LastUsedAt), ExpiresAt: datePtr(t.ExpiresAt),
		Granular: t.Granular, GranularScopes: granularScopes(t),
	}
	if t.Granular {
		out.Scopes = []string{string(keygate.ScopeGranular)}
	}
	return out
}

func (a *API) tokenWithIPs(t keygate.Token) tokenWithIPsJSON {
	ips := t.LastUsedIPs
	if ips == nil {
		ips = []string{}
	}
	return tokenWithIPsJSON{tokenJSON: a.token(t), LastUsedIPs: ips}
}

// TokenObject is a token as the API shows it (with last_used_ips), for the admin CLI's
// JSON output.
func (a *API) TokenObject(t keygate.Token) any { return a.tokenWithIPs(t) }

// UserObject is a user as the API shows it to an administrator, for the admin CLI.
func (a *API) UserObject(u keygate.User) any { return a.userWithAdmin(u) }

// inventoryJSON is a token of the credentials inventory: the token object with its
// type, owner and, for project and group tokens, role and resource (Keygate's fields
// beside GitLab's).
type inventoryJSON struct {
	tokenWithIPsJSON
	Impersonation bool    `json:"impersonation"`
	TokenType     string  `json:"token_type"`
	OwnerUsername string  `json:"owner_username"`
	AccessLevel   *int    `json:"access_level"`
	ResourceType  *string `json:"resource_type"`
	ResourceID    *int64  `json:"resource_id"`
}

// InventoryObject is an inventory entry as `keygate admin token list --format json`
// prints it.
func (a *API) InventoryObject(it service.InventoryItem) any {
	out := inventoryJSON{
		tokenWithIPsJSON: a.tokenWithIPs(it.Token), Impersonation: it.Token.Impersonation,
		TokenType: string(it.Type), OwnerUsername: it.Owner.Username,
	}
	if it.ResourceType != "" {
		lvl, rt, id := int(it.AccessLevel), it.ResourceType, it.ResourceID
		out.AccessLevel, out.ResourceType, out.ResourceID = &lvl, &rt, &id
	}
	return out
}
