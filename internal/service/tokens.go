package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// TokenInput is a request for a new token. Scopes are already parsed by the transport
// (unknown names are a parameter error there).
type TokenInput struct {
	Name          string
	Description   string
	Scopes        keygate.Scopes
	ExpiresAt     *keygate.Date
	Impersonation bool
	// Granular, when set, asks for a fine-grained token instead of Scopes (exactly one
	// of the two is given; the transport checks that).
	Granular []GranularRequest
	// Bound, when set, is the requester whose fine-grained grant bounds the new token
	// when the actor is Keygate itself (a group Owner's request for a service account).
	Bound *authz.Subject
}

// Issued is a token just created or rotated: the stored row and, once, its plaintext.
type Issued struct {
	Token  keygate.Token
	Secret secret.Token
}

// ErrTokenNotVisible is returned when the caller may not see a token, whether or not it
// exists; transports decide how much that reveals (GitLab: 401 for non-admins).
var ErrTokenNotVisible = &keygate.Error{Code: keygate.CodeUnauthenticated, Message: "401 Unauthorized"}

// MsgExpiryInPast refuses an expiry date that has already begun. GitLab stores such a
// token, born expired; Keygate refuses it (docs/compatibility.md).
const MsgExpiryInPast = "Expires at must be in the future"

// MsgTokensDisabled refuses a personal access token while the instance disables them
// (disable_personal_access_tokens).
const MsgTokensDisabled = "Not permitted to create"

// MaxDescriptionLen is GitLab's limit on a token description.
const MaxDescriptionLen = 255

// RotationDefaultDays is the lifetime of a rotated token without an explicit expiry when
// expiry is required (rotate_service.rb).
const RotationDefaultDays = 7

// CreatePersonalToken issues a personal (or impersonation) token for user owner.
// Administrators may issue for anyone; others only for themselves.
func (s *Service) CreatePersonalToken(ctx context.Context, actor authz.Subject, ownerID int64, in TokenInput) (Issued, error) {
	owner, err := s.User(ctx, ownerID)
	if err != nil {
		return Issued{}, err
	}
	if !authz.CanManageTokensOf(actor, ownerID) || in.Impersonation && !actor.Admin() {
		return Issued{}, forbidden("")
	}
	if actor.User.Type == keygate.UserProjectBot && !actor.Admin() {
		return Issued{}, forbidden("") // project and group tokens cannot mint personal tokens
	}
	if err := grantable(actor, in.Scopes); err != nil {
		return Issued{}, err
	}
	st, err := s.settings(ctx)
	if err != nil {
		return Issued{}, err
	}
	now := s.clock.Now()
	if st.DisablePersonalAccessTokens && !in.Impersonation && owner.Type == keygate.UserHuman {
		return Issued{}, invalid("", MsgTokensDisabled)
	}
	var grant []keygate.GranularScope
	bound := actor
	if in.Bound != nil {
		bound = *in.Bound
	}
	if in.Granular != nil {
		if grant, err = s.expandGranular(ctx, bound, owner, owner, in.Granular); err != nil {
			return Issued{}, err
		}
		in.Scopes = keygate.Scopes{keygate.ScopeGranular} // validated as present; not stored
	} else if bound.Token != nil && bound.Token.Granular {
		return Issued{}, errGranularEscalation // a legacy token is broader than any grant
	} else if legacyRefused(st, owner, now) {
		return Issued{}, invalid("scopes", MsgLegacyEnforced)
	}
	if err := validateTokenInput(in, owner, st, now); err != nil {
		return Issued{}, err
	}
	exp := in.ExpiresAt
	required := st.RequirePersonalAccessTokenExpiry
	if owner.Type == keygate.UserServiceAccount && !st.ServiceAccessTokensExpirationEnforced {
		required = false // "Service account token expiration" cleared: tokens may be non-expiring
	}
	if exp == nil && required {
		d := keygate.DateOf(now).AddDays(st.TokenLifetimeDays())
		exp = &d
	}
	t := keygate.Token{
		UserID: owner.ID, Name: in.Name, Description: in.Description, Scopes: in.Scopes,
		Impersonation: in.Impersonation, ExpiresAt: exp, CreatedAt: now, UpdatedAt: now,
	}
	if grant != nil {
		t.Scopes, t.Granular, t.GranularScopes = nil, true, grant
	}
	var sec secret.Token
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		var err error
		if sec, err = s.insertToken(ctx, tx, st, &t); err != nil {
			return err
		}
		return s.auditIssued(ctx, tx, actorUser(actor), keygate.AuditTokenCreated, t, owner, sec, "Created")
	})
	if err != nil {
		return Issued{}, internal("create token", err)
	}

	return Issued{Token: t, Secret: sec}, nil
}

// insertToken generates the secret and stores the row, retrying the astronomically
// unlikely digest collision.
func (s *Service) insertToken(ctx context.Context, tx store.Tx, st keygate.Settings, t *keygate.Token) (secret.Token, error) {
	for range 3 {
		sec, err := secret.Generate(st.PersonalAccessTokenPrefix)
		if err != nil {
			return secret.Token{}, err
		}
		d := s.dig.Digest(sec)
		t.Digest = d[:]
		err = tx.CreateToken(ctx, t)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return sec, err
		}
		return sec, tx.PutTokenFingerprint(ctx, t.ID, secret.Fingerprint(sec))
	}
	return secret.Token{}, errors.New("could not generate a unique token")
}

func validateTokenInput(in TokenInput, owner keygate.User, st keygate.Settings, now time.Time) error {
	if in.Name == "" {
		return invalid("name", "name is missing")
	}
	if len(in.Name) > 255 {
		return invalid("name", "Name is too long (maximum is 255 characters)")
	}
	if len(in.Description) > MaxDescriptionLen {
		return invalid("description", "Description is too long (maximum is %d characters)", MaxDescriptionLen)
	}
	if len(in.Scopes) == 0 {
		return invalid("scopes", "scopes is missing")
	}
	if in.Scopes.Has(keygate.ScopeSudo) && !owner.Admin {
		return invalid("scopes", "Sudo can only be enabled for administrators")
	}
	if in.Scopes.Has(keygate.ScopeAdminMode) && !owner.Admin {
		return invalid("scopes", "Admin mode can only be enabled for administrators")
	}
	return validateExpiry(in.ExpiresAt, st, now)
}

// grantable refuses the scopes only an administrator may hand out (Keygate's introspect)
// to any other actor, whoever the token is for.
func grantable(actor authz.Subject, scopes keygate.Scopes) error {
	for _, sc := range scopes {
		if sc.GrantedByAdmin() && !actor.Admin() {
			return invalid("scopes", "%s can only be granted by an administrator", sc)
		}
	}
	return nil
}

// validateExpiry applies the lifetime rules of spec §6.1: with expiry required, a date no
// later than today plus the maximum lifetime; never a date already begun.
func validateExpiry(exp *keygate.Date, st keygate.Settings, now time.Time) error {
	if exp == nil {
		return nil // the caller applies the default
	}
	today := keygate.DateOf(now)
	if !exp.After(today) {
		return invalid("expires_at", MsgExpiryInPast)
	}
	if st.RequirePersonalAccessTokenExpiry {
		if max := today.AddDays(st.TokenLifetimeDays()); exp.After(max) {
			return invalid("expires_at", "Expires at must be before %s", max)
		}
	}
	return nil
}

// Token returns one token the actor may see. ErrTokenNotVisible covers both "not yours"
// and, for non-administrators, "no such token".
func (s *Service) Token(ctx context.Context, actor authz.Subject, id int64) (keygate.Token, error) {
	t, err := s.store.Token(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		if actor.Admin() {
			return keygate.Token{}, notFound("Not Found")
		}
		return keygate.Token{}, ErrTokenNotVisible
	}
	if err != nil {
		return keygate.Token{}, internal("get token", err)
	}
	if !authz.CanManageTokensOf(actor, t.UserID) {
		return keygate.Token{}, ErrTokenNotVisible
	}
	return t, nil
}

// TokenByID loads a token without a visibility check (self endpoints, the admin CLI).
func (s *Service) TokenByID(ctx context.Context, id int64) (keygate.Token, error) {
	t, err := s.store.Token(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return keygate.Token{}, notFound("Not Found")
	}
	if err != nil {
		return keygate.Token{}, internal("get token", err)
	}
	return t, nil
}

// Tokens lists tokens. Non-administrators see only their own, without impersonation
// tokens; asking for another user's is ErrTokenNotVisible.
func (s *Service) Tokens(ctx context.Context, actor authz.Subject, f store.TokenFilter) ([]keygate.Token, int, error) {
	if !actor.Admin() {
		if f.UserID != 0 && f.UserID != actor.User.ID {
			return nil, 0, ErrTokenNotVisible
		}
		f.UserID = actor.User.ID
		no := false
		f.Impersonation = &no
	} else if f.UserID != 0 {
		if _, err := s.User(ctx, f.UserID); err != nil {
			return nil, 0, err
		}
	}
	f.Now = s.clock.Now()
	ts, n, err := s.store.Tokens(ctx, f)
	if err != nil {
		return nil, 0, internal("list tokens", err)
	}
	return ts, n, nil
}

// Rotate revokes token id and issues its successor with the same name, description and
// scopes, in one transaction: of two concurrent rotations exactly one wins, the other gets
// "Token already revoked". expiresAt nil means the default (7 days when expiry is required).
func (s *Service) Rotate(ctx context.Context, actor authz.Subject, id int64, expiresAt *keygate.Date) (Issued, error) {
	old, err := s.Token(ctx, actor, id)
	if err != nil {
		return Issued{}, err
	}
	if err := s.checkNotBroader(ctx, actor, old); err != nil {
		return Issued{}, err
	}
	return s.rotate(ctx, actorUser(actor), old, expiresAt, nil)
}

// RotateSelf rotates the token the principal authenticated with.
func (s *Service) RotateSelf(ctx context.Context, p Principal, expiresAt *keygate.Date) (Issued, error) {
	return s.rotate(ctx, &p.User, p.Token, expiresAt, nil)
}

// rotate revokes old and issues its successor in one transaction. also, when set, runs
// in that transaction too and returns the caller's result (nil: the result is the
// Issued); an idempotent request in ctx has that result sealed into its record there,
// so the successor is never committed without the answer that hands it out.
func (s *Service) rotate(ctx context.Context, actor *keygate.User, old keygate.Token, expiresAt *keygate.Date,
	also func(tx store.Tx, iss Issued) (any, error)) (Issued, error) {
	st, err := s.settings(ctx)
	if err != nil {
		return Issued{}, err
	}
	now := s.clock.Now()
	if st.DisablePersonalAccessTokens && !old.Impersonation {
		if owner, err := s.store.User(ctx, old.UserID); err == nil && owner.Type == keygate.UserHuman {
			return Issued{}, invalid("", MsgTokensDisabled)
		}
	}
	if err := validateExpiry(expiresAt, st, now); err != nil {
		return Issued{}, err
	}
	if !old.Granular && st.GranularEnforcement().Active(now) {
		owner, err := s.User(ctx, old.UserID)
		if err != nil {
			return Issued{}, err
		}
		if legacyRefused(st, owner, now) {
			return Issued{}, invalid("token", MsgLegacyEnforced)
		}
	}
	exp := expiresAt
	if exp == nil && st.RequirePersonalAccessTokenExpiry {
		d := keygate.DateOf(now).AddDays(RotationDefaultDays)
		exp = &d
	}
	next := keygate.Token{
		UserID: old.UserID, Name: old.Name, Description: old.Description, Scopes: old.Scopes,
		Impersonation: old.Impersonation, ExpiresAt: exp, CreatedAt: now, UpdatedAt: now,
		PreviousID: old.ID,
	}
	copyGranular(&next, old)
	var sec secret.Token
	answered := false
	seq, err := s.store.InTxMarker(ctx, func(tx store.Tx) error {
		ok, err := tx.RevokeToken(ctx, old.ID, now)
		if err != nil {
			return err
		}
		if !ok {
			return invalid("token", "Token already revoked")
		}
		if sec, err = s.insertToken(ctx, tx, st, &next); err != nil {
			return err
		}
		if err := s.auditIssued(ctx, tx, actor, keygate.AuditTokenRotated, next, keygate.User{}, sec, fmt.Sprintf("Rotated token %d into", old.ID)); err != nil {
			return err
		}
		var result any = Issued{Token: next, Secret: sec}
		if also != nil {
			if result, err = also(tx, Issued{Token: next, Secret: sec}); err != nil {
				return err
			}
		}
		answered, err = s.answerIdempotent(ctx, tx, result)
		return err
	})
	s.cache.ownWrite(seq, old.Digest)
	if err != nil {
		return Issued{}, internal("rotate token", err)
	}
	if answered {
		idemAnswerFrom(ctx).stored = true
	}
	return Issued{Token: next, Secret: sec}, nil
}

// Revoke revokes token id. It is idempotent. Someone else's token is refused with
// GitLab's "Not permitted to revoke"; a missing id is not found.
func (s *Service) Revoke(ctx context.Context, actor authz.Subject, id int64) error {
	t, err := s.store.Token(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("Not found")
	}
	if err != nil {
		return internal("get token", err)
	}
	if !authz.CanManageTokensOf(actor, t.UserID) {
		return invalid("token", "Not permitted to revoke")
	}
	return s.revoke(ctx, actorUser(actor), t)
}

// RevokeSelf revokes the token the principal authenticated with.
func (s *Service) RevokeSelf(ctx context.Context, p Principal) error {
	return s.revoke(ctx, &p.User, p.Token)
}

// revoke revokes one token, evicting only it from the cache when nothing else changed.
func (s *Service) revoke(ctx context.Context, actor *keygate.User, t keygate.Token) error {
	now := s.clock.Now()
	var did bool
	seq, err := s.store.InTxMarker(ctx, func(tx store.Tx) error {
		var err error
		if did, err = tx.RevokeToken(ctx, t.ID, now); err != nil || !did {
			return err
		}
		if err := s.auditTokenTx(ctx, tx, actor, keygate.AuditTokenRevoked, t, "", fmt.Sprintf("Revoked token %q (id %d)", t.Name, t.ID)); err != nil {
			return err
		}
		return s.mailTokenEventTx(ctx, tx, keygate.AuditTokenRevoked, t)
	})
	s.cache.ownWrite(seq, t.Digest)
	if err != nil {
		return internal("revoke token", err)
	}
	return nil
}

// Settings returns the instance settings.
func (s *Service) Settings(ctx context.Context) (keygate.Settings, error) { return s.settings(ctx) }

// PutSettings replaces the instance settings (administrators only).
func (s *Service) PutSettings(ctx context.Context, actor authz.Subject, st keygate.Settings) error {
	if !actor.Admin() {
		return forbidden("")
	}
	if !secret.ValidPrefix(st.PersonalAccessTokenPrefix) {
		return invalid("personal_access_token_prefix", "can contain only letters of the Base64 alphabet (RFC4648) with the addition of '@', ':' and '.'")
	}
	if st.MaxPersonalAccessTokenLifetime < 0 || st.MaxPersonalAccessTokenLifetime > keygate.MaxTokenLifetimeSettingDays {
		return invalid("max_personal_access_token_lifetime", "must be less than or equal to %d", keygate.MaxTokenLifetimeSettingDays)
	}
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		old, err := tx.Settings(ctx)
		if err != nil {
			return err
		}
		if err := tx.PutSettings(ctx, st); err != nil {
			return err
		}
		e := keygate.AuditEvent{Name: keygate.AuditSettingsUpdated, TargetID: 1, TargetType: keygate.AuditTargetSettings,
			TargetDetails: "application settings", Message: "Changed application settings: " + settingsDiff(old, st)}
		if u := actorUser(actor); u != nil {
			e.AuthorID = u.ID
		}
		return s.auditTx(ctx, tx, e)
	})
	s.cache.invalidate()
	if err != nil {
		return internal("save settings", err)
	}
	return nil
}
