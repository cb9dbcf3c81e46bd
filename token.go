package keygate

import "time"

// TokenType is the kind of access token, derived from the owner and the impersonation flag.
type TokenType string

// The token types of the personal-access-token family, plus job tokens.
const (
	TokenPersonal       TokenType = "personal"
	TokenImpersonation  TokenType = "impersonation"
	TokenProject        TokenType = "project"
	TokenGroup          TokenType = "group"
	TokenServiceAccount TokenType = "service_account"
	TokenJob            TokenType = "job"
)

// Token is one row of the personal-access-token family. It never holds the plaintext:
// only the keyed digest.
type Token struct {
	ID            int64
	UserID        int64
	Name          string
	Description   string
	Scopes        Scopes
	Impersonation bool
	Revoked       bool
	ExpiresAt     *Date
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastUsedAt    *time.Time
	LastUsedIPs   []string
	PreviousID    int64 // 0: first of its rotation family
	Digest        []byte
	// Granular marks a fine-grained token: its Scopes are empty and GranularScopes say
	// what it may do (the wire shows scopes ["granular"]).
	Granular       bool
	GranularScopes []GranularScope
}

// Expired reports whether the token's expiry date has begun at now: a token with
// expires_at 2024-01-01 stops working at 2024-01-01T00:00:00Z (spec §6.1).
func (t Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(t.ExpiresAt.Start())
}

// Active reports whether the token is neither revoked nor expired at now.
func (t Token) Active(now time.Time) bool { return !t.Revoked && !t.Expired(now) }

// TypeFor classifies a token by its owner.
func (t Token) TypeFor(owner User) TokenType {
	switch {
	case t.Impersonation:
		return TokenImpersonation
	case owner.Type == UserServiceAccount:
		return TokenServiceAccount
	case owner.Type == UserProjectBot && owner.BotSourceType == SourceNamespace:
		return TokenGroup
	case owner.Type == UserProjectBot:
		return TokenProject
	}
	return TokenPersonal
}
