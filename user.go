package keygate

import "time"

// UserState is a user's account state as GitLab names it.
type UserState string

// The user states Keygate serves.
const (
	UserActive      UserState = "active"
	UserBlocked     UserState = "blocked"
	UserDeactivated UserState = "deactivated"
)

// UserType tells humans from the bot users that back project, group and service-account
// tokens. The values are GitLab's user_type names.
type UserType string

// The user types Keygate creates.
const (
	UserHuman          UserType = "human"
	UserProjectBot     UserType = "project_bot"
	UserServiceAccount UserType = "service_account"
)

// User is a Keygate account.
type User struct {
	ID             int64
	Username       string
	Name           string
	Email          string
	State          UserState
	Type           UserType
	Admin          bool
	External       bool
	PasswordHash   string // empty: the user signs in with tokens only
	Bio            string
	Location       string
	PublicEmail    string
	WebsiteURL     string
	Organization   string
	JobTitle       string
	Pronouns       string
	Note           string
	ProjectsLimit  int
	CanCreateGroup bool
	PrivateProfile bool
	CreatedAt      time.Time
	ConfirmedAt    *time.Time
	LastActivityOn *Date
	// BotSourceType and BotSourceID name the project or group a project bot belongs to;
	// a group service account records its group in BotSourceID with SourceNamespace.
	BotSourceType SourceType
	BotSourceID   int64
	// CreatedByID is the user who created a bot or service account (0: none recorded).
	CreatedByID int64
}

// Bot reports whether the user is a machine account (project/group bot or service account).
func (u User) Bot() bool { return u.Type == UserProjectBot || u.Type == UserServiceAccount }

// APIBlockReason is the 403 reason GitLab gives when this user's valid token is refused,
// or "" when the account may use the API (spec §5.3). baseURL is the instance's URL, which
// the deactivated message points to.
func (u User) APIBlockReason(baseURL string) string {
	switch u.State {
	case UserBlocked:
		return "Your account has been blocked."
	case UserDeactivated:
		return "Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at " + baseURL
	}
	return ""
}
