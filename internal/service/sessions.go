package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/store"
)

// SessionLifetime is how long a web session lasts: GitLab's session_expire_delay default
// of 10080 minutes.
const SessionLifetime = 7 * 24 * time.Hour

// Sign-in locking, GitLab's (Devise lockable) defaults: after SignInMaxAttempts failed
// passwords for one username the account refuses sign-in for SignInLockTime. The count
// is kept per process on the service clock (Keygate keeps it in memory, not on the user
// row; docs/web.md).
const (
	SignInMaxAttempts = 10
	SignInLockTime    = 10 * time.Minute
)

// Sign-in messages, GitLab's wording.
const (
	MsgInvalidLogin    = "Invalid login or password."
	MsgAccountLocked   = "Your account is locked."
	MsgAccountBlocked  = "Your account has been blocked. Please contact your administrator if you think this is an error."
	MsgBadCurrentPass  = "You must provide a valid current password"
	MsgPassMismatch    = "doesn't match Password"
	MsgSessionRequired = "You need to sign in or sign up before continuing."
)

// ErrNoSession means the presented session ID names no live session of an active user.
var ErrNoSession = &keygate.Error{Code: keygate.CodeUnauthenticated, Message: MsgSessionRequired}

// SignInInput is a sign-in attempt.
type SignInInput struct {
	Login, Password string
	IP, UserAgent   string
	// Previous is the session ID the browser already held, if any: it is ended, so a
	// session ID planted before sign-in never becomes a signed-in one (fixation).
	Previous string
}

// WebSession is a live session and its user. ID, the cookie value, is set only when
// the session was just created.
type WebSession struct {
	Session keygate.Session
	User    keygate.User
	ID      string
	// AdminMode is the instance setting, for the subject.
	AdminMode bool
}

// Subject is the session's user as authz sees it: a signed-in user with no token.
func (w WebSession) Subject() authz.Subject {
	return authz.Subject{User: w.User, AdminMode: w.AdminMode}
}

// dummyHash makes a sign-in for an unknown username cost the same PBKDF2 work as a
// wrong password, so timing does not tell which usernames exist.
func (s *Service) dummyHash() string {
	return "pbkdf2-sha256$" + itoa(int64(s.pwIters)) + "$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
}

// SignIn checks a username (or e-mail) and password and starts a new session. A banned
// address, a locked account and a wrong password are refused alike before any session
// is made; a deactivated user is reactivated, as in GitLab.
func (s *Service) SignIn(ctx context.Context, in SignInInput) (WebSession, error) {
	if err := s.throttle.check(in.IP); err != nil {
		return WebSession{}, err
	}
	login := strings.TrimSpace(in.Login)
	if login == "" {
		return WebSession{}, invalid("login", "Login can't be blank")
	}
	if in.Password == "" {
		return WebSession{}, invalid("password", "Password can't be blank")
	}
	u, err := s.store.UserByUsername(ctx, login)
	if errors.Is(err, store.ErrNotFound) && strings.Contains(login, "@") {
		u, err = s.store.UserByEmail(ctx, login)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return WebSession{}, internal("sign in", err)
	}
	// One count per account whether it is named by username or e-mail; unknown logins
	// are counted by name, so probing them costs the same.
	key := "login:" + strings.ToLower(login)
	if u.ID != 0 {
		key = "user:" + itoa(u.ID)
	}
	if s.signIns.locked(key) {
		return WebSession{}, &keygate.Error{Code: keygate.CodeForbidden, Field: "login", Message: MsgAccountLocked}
	}
	hash, real := u.PasswordHash, true
	if hash == "" || u.Type != keygate.UserHuman {
		hash, real = s.dummyHash(), false
	}
	if !checkPassword(hash, in.Password) || !real {
		locked := s.signIns.failed(key)
		s.throttle.failed(in.IP)
		s.auditSignIn(ctx, keygate.AuditSignInFailed, u, login, in.IP)
		if locked && u.ID != 0 {
			s.auditSignIn(ctx, keygate.AuditAccessLocked, u, login, in.IP)
		}
		return WebSession{}, &keygate.Error{Code: keygate.CodeUnauthenticated, Field: "login", Message: MsgInvalidLogin}
	}
	if u.State == keygate.UserBlocked {
		return WebSession{}, &keygate.Error{Code: keygate.CodeForbidden, Field: "login", Message: MsgAccountBlocked}
	}
	s.signIns.succeeded(key)
	s.throttle.succeeded(in.IP)
	st, err := s.settings(ctx)
	if err != nil {
		return WebSession{}, err
	}
	id, sess, err := s.newSession(u.ID, in.IP, in.UserAgent)
	if err != nil {
		return WebSession{}, err
	}
	reactivated := false
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		if in.Previous != "" {
			if err := tx.DeleteSession(ctx, sessionDigest(in.Previous)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if _, err := tx.DeleteExpiredSessions(ctx, sess.CreatedAt); err != nil {
			return err
		}
		if u.State == keygate.UserDeactivated {
			u.State, reactivated = keygate.UserActive, true
			if err := tx.UpdateUser(ctx, u); err != nil {
				return err
			}
		}
		if err := s.auditTx(ctx, tx, userEvent(keygate.AuditSignedIn, u, in.IP, "Signed in with a password")); err != nil {
			return err
		}
		return tx.CreateSession(ctx, &sess)
	})
	if reactivated {
		s.cache.invalidate()
	}
	if err != nil {
		return WebSession{}, internal("create session", err)
	}
	return WebSession{Session: sess, User: u, ID: id, AdminMode: st.AdminMode}, nil
}

func (s *Service) newSession(userID int64, ip, ua string) (string, keygate.Session, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", keygate.Session{}, internal("session id", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.clock.Now()
	if len(ua) > 255 {
		ua = ua[:255]
	}
	return id, keygate.Session{
		Digest: sessionDigest(id), UserID: userID, CreatedAt: now, ExpiresAt: now.Add(SessionLifetime), IP: ip, UserAgent: ua,
	}, nil
}

// sessionDigest is what the store keeps of a session ID. The ID has 256 random bits, so
// an unkeyed hash is enough for a dump to sign no one in.
func sessionDigest(id string) []byte {
	d := sha256.Sum256([]byte(id))
	return d[:]
}

// Session finds the live session a cookie names: not expired, its user active (a
// blocked or deleted user's sessions end at once). Anything else is ErrNoSession.
func (s *Service) Session(ctx context.Context, id string) (WebSession, error) {
	if id == "" || len(id) > 128 {
		return WebSession{}, ErrNoSession
	}
	d := sessionDigest(id)
	sess, err := s.store.Session(ctx, d)
	if errors.Is(err, store.ErrNotFound) {
		return WebSession{}, ErrNoSession
	}
	if err != nil {
		return WebSession{}, internal("load session", err)
	}
	u, err := s.store.User(ctx, sess.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return WebSession{}, internal("load session user", err)
	}
	if err != nil || !sess.Active(s.clock.Now()) || u.State != keygate.UserActive {
		_ = s.store.InTx(ctx, func(tx store.Tx) error { return tx.DeleteSession(ctx, d) })
		return WebSession{}, ErrNoSession
	}
	st, err := s.settings(ctx)
	if err != nil {
		return WebSession{}, err
	}
	return WebSession{Session: sess, User: u, AdminMode: st.AdminMode}, nil
}

// SignOut ends the session the ID names; an unknown ID is not an error.
func (s *Service) SignOut(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	err := s.store.InTx(ctx, func(tx store.Tx) error { return tx.DeleteSession(ctx, sessionDigest(id)) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return internal("sign out", err)
	}
	return nil
}

// PasswordChange is a user's change of their own password.
type PasswordChange struct {
	Current, New, Confirmation string
	IP, UserAgent              string
}

// ChangePassword checks the current password, sets the new one, ends every session of
// the user and returns a fresh one for the browser that asked.
func (s *Service) ChangePassword(ctx context.Context, w WebSession, in PasswordChange) (WebSession, error) {
	u, err := s.User(ctx, w.User.ID)
	if err != nil {
		return WebSession{}, err
	}
	if !s.CheckPassword(u, in.Current) {
		return WebSession{}, invalid("current_password", MsgBadCurrentPass)
	}
	if len(in.New) < MinPasswordLength {
		return WebSession{}, invalid("password", "Password is too short (minimum is %d characters)", MinPasswordLength)
	}
	if in.New != in.Confirmation {
		return WebSession{}, invalid("password_confirmation", "Password confirmation %s", MsgPassMismatch)
	}
	h, err := hashPassword(in.New, s.pwIters)
	if err != nil {
		return WebSession{}, internal("hash password", err)
	}
	id, sess, err := s.newSession(u.ID, in.IP, in.UserAgent)
	if err != nil {
		return WebSession{}, err
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		cur, err := tx.User(ctx, u.ID)
		if err != nil {
			return err
		}
		cur.PasswordHash = h
		if err := tx.UpdateUser(ctx, cur); err != nil {
			return err
		}
		u = cur
		if _, err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		if err := s.auditTx(ctx, tx, userEvent(keygate.AuditPasswordChanged, u, in.IP, "Changed the password; other sessions ended")); err != nil {
			return err
		}
		return tx.CreateSession(ctx, &sess)
	})
	s.cache.invalidate()
	if err != nil {
		return WebSession{}, internal("change password", err)
	}
	return WebSession{Session: sess, User: u, ID: id, AdminMode: w.AdminMode}, nil
}

// signInLimiter counts failed passwords per lower-cased login on the service clock.
type signInLimiter struct {
	clock clock.Clock
	mu    sync.Mutex
	fails map[string]*signInFails
}

type signInFails struct {
	n           int
	lockedUntil time.Time
	last        time.Time
}

func newSignInLimiter(c clock.Clock) *signInLimiter {
	return &signInLimiter{clock: c, fails: map[string]*signInFails{}}
}

func (l *signInLimiter) locked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[key]
	return f != nil && l.clock.Now().Before(f.lockedUntil)
}

// failed counts one wrong password and reports whether this one locked the account.
func (l *signInLimiter) failed(key string) bool {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= maxTracked {
		for k, f := range l.fails { // drop what no longer matters before growing
			if now.Sub(f.last) > SignInLockTime && !now.Before(f.lockedUntil) {
				delete(l.fails, k)
			}
		}
		if len(l.fails) >= maxTracked {
			return false
		}
	}
	f := l.fails[key]
	if f == nil {
		f = &signInFails{}
		l.fails[key] = f
	}
	if !f.lockedUntil.IsZero() && !now.Before(f.lockedUntil) {
		f.n, f.lockedUntil = 0, time.Time{} // the lock ran out: count afresh, as Devise unlocks
	}
	f.n++
	f.last = now
	if f.n >= SignInMaxAttempts && f.lockedUntil.IsZero() {
		f.lockedUntil = now.Add(SignInLockTime)
		return true
	}
	return false
}

func (l *signInLimiter) succeeded(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

// userEvent is an audit event a user caused about themself, filed under the user.
func userEvent(name string, u keygate.User, ip, message string) keygate.AuditEvent {
	return keygate.AuditEvent{
		Name: name, AuthorID: u.ID, AuthorName: u.Name, AuthorEmail: u.Email,
		EntityType: keygate.AuditUser, EntityID: u.ID, EntityPath: u.Username,
		TargetID: u.ID, TargetType: keygate.AuditTargetUser, TargetDetails: u.Username, IP: ip, Message: message,
	}
}

// auditSignIn records a refused or locking sign-in. An unknown login is filed under the
// instance with the name that was tried; a failure to record is logged, not shown.
func (s *Service) auditSignIn(ctx context.Context, name string, u keygate.User, login, ip string) {
	e := keygate.AuditEvent{Name: name, TargetType: keygate.AuditTargetUser, TargetDetails: login, IP: ip,
		AuthorName: login, Message: "Failed to sign in with a password"}
	if name == keygate.AuditAccessLocked {
		e.Message = fmt.Sprintf("Locked after %d failed sign-ins", SignInMaxAttempts)
	}
	if u.ID != 0 {
		e = userEvent(name, u, ip, e.Message)
	}
	if err := s.Audit(ctx, e); err != nil {
		s.log.Error("audit sign-in", "event", name, "err", err)
	}
}
