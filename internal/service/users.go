package service

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/store"
)

// UserInput carries user fields; nil means "not given" (kept on update).
type UserInput struct {
	Username       *string
	Email          *string
	Name           *string
	Password       *string
	Admin          *bool
	External       *bool
	Bio            *string
	Location       *string
	PublicEmail    *string
	WebsiteURL     *string
	Organization   *string
	JobTitle       *string
	Pronouns       *string
	Note           *string
	ProjectsLimit  *int
	CanCreateGroup *bool
	PrivateProfile *bool
}

// usernameRE is GitLab's namespace path rule in short: letters, digits, '_', '-', '.',
// starting with a letter, digit or '_', not ending in '.', '.git' or '.atom'.
var usernameRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.\-]*$`)

func validUsername(u string) bool {
	return len(u) <= 255 && usernameRE.MatchString(u) && !strings.HasSuffix(u, ".") &&
		!strings.HasSuffix(u, ".git") && !strings.HasSuffix(u, ".atom")
}

// RootUsername is the administrator created on first start.
const RootUsername = "root"

// Bootstrap creates root (user 1, administrator) on a fresh store. It returns the
// generated password when it created root, "" when root already existed.
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	if _, err := s.store.User(ctx, 1); err == nil {
		return "", nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", internal("look up root", err)
	}
	pw, err := randomPassword()
	if err != nil {
		return "", internal("bootstrap", err)
	}
	hash, err := hashPassword(pw, s.pwIters)
	if err != nil {
		return "", internal("bootstrap", err)
	}
	now := s.clock.Now()
	root := keygate.User{
		Username: RootUsername, Name: "Administrator", Email: "admin@example.com",
		State: keygate.UserActive, Type: keygate.UserHuman, Admin: true, PasswordHash: hash,
		ProjectsLimit: 100000, CanCreateGroup: true, CreatedAt: now, ConfirmedAt: &now,
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.User(ctx, 1); err == nil {
			return store.ErrConflict
		}
		if err := tx.CreateUser(ctx, &root); err != nil {
			return err
		}
		return createPersonalNamespace(ctx, tx, root)
	})
	if errors.Is(err, store.ErrConflict) {
		return "", nil // another process bootstrapped first
	}
	if err != nil {
		return "", internal("create root", err)
	}
	return pw, nil
}

// User returns one user.
func (s *Service) User(ctx context.Context, id int64) (keygate.User, error) {
	u, err := s.store.User(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return keygate.User{}, notFound("User")
	}
	if err != nil {
		return keygate.User{}, internal("get user", err)
	}
	return u, nil
}

// UserByUsername returns one user by username, case-insensitively.
func (s *Service) UserByUsername(ctx context.Context, username string) (keygate.User, error) {
	u, err := s.store.UserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return keygate.User{}, notFound("User")
	}
	if err != nil {
		return keygate.User{}, internal("get user", err)
	}
	return u, nil
}

// UserByRef finds a user by numeric ID or username.
func (s *Service) UserByRef(ctx context.Context, ref string) (keygate.User, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.User(ctx, id)
	}
	return s.UserByUsername(ctx, ref)
}

// Users lists users.
func (s *Service) Users(ctx context.Context, f store.UserFilter) ([]keygate.User, int, error) {
	us, n, err := s.store.Users(ctx, f)
	if err != nil {
		return nil, 0, internal("list users", err)
	}
	return us, n, nil
}

// CreateUser adds a human user (administrators only).
func (s *Service) CreateUser(ctx context.Context, actor authz.Subject, in UserInput) (keygate.User, error) {
	if !actor.Admin() {
		return keygate.User{}, forbidden("")
	}
	now := s.clock.Now()
	u := keygate.User{State: keygate.UserActive, Type: keygate.UserHuman, CreatedAt: now, ConfirmedAt: &now, ProjectsLimit: 100000, CanCreateGroup: true}
	if err := s.applyUserInput(&u, in, true); err != nil {
		return keygate.User{}, err
	}
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		if err := checkTaken(ctx, tx, u, in); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, &u); err != nil {
			return err
		}
		return createPersonalNamespace(ctx, tx, u)
	})
	if err != nil {
		return keygate.User{}, userWriteError("create user", err)
	}
	return u, nil
}

// UpdateUser changes the given fields of user id (administrators only).
func (s *Service) UpdateUser(ctx context.Context, actor authz.Subject, id int64, in UserInput) (keygate.User, error) {
	if !actor.Admin() {
		return keygate.User{}, forbidden("")
	}
	var u keygate.User
	moves := s.repoMoves()
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		var err error
		if u, err = tx.User(ctx, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return notFound("User")
			}
			return err
		}
		oldUsername, oldName := u.Username, u.Name
		if err := s.applyUserInput(&u, in, false); err != nil {
			return err
		}
		if err := checkTaken(ctx, tx, u, in); err != nil {
			return err
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if u.Username == oldUsername && u.Name == oldName {
			return nil
		}
		// The personal namespace follows the username (and its display name the name).
		n, err := tx.NamespaceByPath(ctx, oldUsername)
		if errors.Is(err, store.ErrNotFound) || err == nil && (n.Kind != keygate.NamespaceUser || n.OwnerID != u.ID) {
			return nil
		}
		if err != nil {
			return err
		}
		n.Path, n.Name = u.Username, u.Name
		if err := tx.UpdateNamespace(ctx, n); err != nil {
			return err
		}
		return moves.namespace(ctx, oldUsername, u.Username) // its projects' repositories follow
	})
	moves.settle(ctx, err)
	if err != nil {
		return keygate.User{}, userWriteError("update user", err)
	}
	s.cache.invalidate()
	return u, nil
}

func userWriteError(op string, err error) error {
	if errors.Is(err, store.ErrConflict) {
		return &keygate.Error{Code: keygate.CodeConflict, Message: "Username has already been taken", Err: err}
	}
	return internal(op, err)
}

// createPersonalNamespace gives a human user the namespace of their own projects, at the
// path of their username (groups and users share the path space, as in GitLab).
func createPersonalNamespace(ctx context.Context, tx store.Tx, u keygate.User) error {
	n := keygate.Namespace{
		Kind: keygate.NamespaceUser, Name: u.Name, Path: u.Username, OwnerID: u.ID,
		Visibility: keygate.Public, CreatedAt: u.CreatedAt, ResourceAccessTokensAllowed: true,
	}
	if err := tx.CreateNamespace(ctx, &n); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &keygate.Error{Code: keygate.CodeConflict, Field: "username", Message: "Username has already been taken", Err: err}
		}
		return err
	}
	return nil
}

// checkTaken refuses a username or email another user holds, naming which (GitLab answers
// 409 with the model's message).
func checkTaken(ctx context.Context, tx store.Tx, u keygate.User, in UserInput) error {
	if in.Email != nil {
		if o, err := tx.UserByEmail(ctx, u.Email); err == nil && o.ID != u.ID {
			return &keygate.Error{Code: keygate.CodeConflict, Field: "email", Message: "Email has already been taken"}
		}
	}
	if in.Username != nil {
		if o, err := tx.UserByUsername(ctx, u.Username); err == nil && o.ID != u.ID {
			return &keygate.Error{Code: keygate.CodeConflict, Field: "username", Message: "Username has already been taken"}
		}
		if n, err := tx.NamespaceByPath(ctx, u.Username); err == nil && !(n.Kind == keygate.NamespaceUser && n.OwnerID == u.ID) {
			return &keygate.Error{Code: keygate.CodeConflict, Field: "username", Message: "Username has already been taken"}
		}
	}
	return nil
}

func (s *Service) applyUserInput(u *keygate.User, in UserInput, create bool) error {
	if create {
		switch {
		case in.Email == nil:
			return invalid("email", "email is missing")
		case in.Name == nil:
			return invalid("name", "name is missing")
		case in.Username == nil:
			return invalid("username", "username is missing")
		}
	}
	setStr := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	setStr(&u.Username, in.Username)
	setStr(&u.Email, in.Email)
	setStr(&u.Name, in.Name)
	setStr(&u.Bio, in.Bio)
	setStr(&u.Location, in.Location)
	setStr(&u.PublicEmail, in.PublicEmail)
	setStr(&u.WebsiteURL, in.WebsiteURL)
	setStr(&u.Organization, in.Organization)
	setStr(&u.JobTitle, in.JobTitle)
	setStr(&u.Pronouns, in.Pronouns)
	setStr(&u.Note, in.Note)
	if in.Admin != nil {
		u.Admin = *in.Admin
	}
	if in.External != nil {
		u.External = *in.External
	}
	if in.ProjectsLimit != nil {
		u.ProjectsLimit = *in.ProjectsLimit
	}
	if in.CanCreateGroup != nil {
		u.CanCreateGroup = *in.CanCreateGroup
	}
	if in.PrivateProfile != nil {
		u.PrivateProfile = *in.PrivateProfile
	}
	switch {
	case !validUsername(u.Username):
		return invalid("username", "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' or end in '.', '.git' or '.atom'.")
	case !strings.Contains(u.Email, "@") || strings.ContainsAny(u.Email, " \t\n"):
		return invalid("email", "is invalid")
	case u.Name == "":
		return invalid("name", "can't be blank")
	case len(u.Name) > 255:
		return invalid("name", "is too long (maximum is 255 characters)")
	}
	if in.Password != nil {
		if len(*in.Password) < MinPasswordLength {
			return invalid("password", "is too short (minimum is %d characters)", MinPasswordLength)
		}
		h, err := hashPassword(*in.Password, s.pwIters)
		if err != nil {
			return internal("hash password", err)
		}
		u.PasswordHash = h
	}
	return nil
}

// CheckPassword verifies a user's password (sign-in).
func (s *Service) CheckPassword(u keygate.User, password string) bool {
	return u.PasswordHash != "" && checkPassword(u.PasswordHash, password)
}

// StateAction is an administrator's change of a user's state.
type StateAction string

// The state actions of the Users API.
const (
	ActionBlock      StateAction = "block"
	ActionUnblock    StateAction = "unblock"
	ActionDeactivate StateAction = "deactivate"
	ActionActivate   StateAction = "activate"
)

// SetUserState applies a state action. It reports whether the state changed (GitLab
// answers 201 true when it did, 201 with no body when the user already was there).
func (s *Service) SetUserState(ctx context.Context, actor authz.Subject, id int64, action StateAction) (bool, error) {
	if !actor.Admin() {
		return false, forbidden("")
	}
	changed := false
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		u, err := tx.User(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("User")
		}
		if err != nil {
			return err
		}
		next, err := nextState(actor, u, action)
		if err != nil || next == u.State {
			return err
		}
		u.State, changed = next, true
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if next == keygate.UserBlocked { // blocking ends the user's web sessions
			_, err = tx.DeleteUserSessions(ctx, u.ID)
		}
		return err
	})
	if err != nil {
		return false, internal("set user state", err)
	}
	s.cache.invalidate()
	return changed, nil
}

// nextState holds GitLab's rules for the four actions (lib/api/users.rb).
func nextState(actor authz.Subject, u keygate.User, action StateAction) (keygate.UserState, error) {
	switch action {
	case ActionBlock:
		if actor.User.ID == u.ID {
			return "", forbidden("The API initiating user cannot be blocked by the API")
		}
		return keygate.UserBlocked, nil
	case ActionUnblock:
		if u.State == keygate.UserDeactivated {
			return "", forbidden("Deactivated users cannot be unblocked by the API")
		}
		return keygate.UserActive, nil
	case ActionDeactivate:
		if u.State == keygate.UserBlocked {
			return "", forbidden("A blocked user cannot be deactivated by the API")
		}
		if actor.User.ID == u.ID {
			return "", forbidden("The API initiating user cannot be deactivated by the API")
		}
		return keygate.UserDeactivated, nil
	case ActionActivate:
		if u.State == keygate.UserBlocked {
			return "", forbidden("A blocked user must be unblocked to be activated")
		}
		return keygate.UserActive, nil
	}
	return "", invalid("action", "unknown action %q", action)
}
