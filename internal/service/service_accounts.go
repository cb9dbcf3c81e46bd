package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/store"
)

// ServiceAccountInput names a service account; every field is optional.
type ServiceAccountInput struct {
	Name, Username, Email *string
}

// CreateServiceAccount creates an instance service account (groupID 0, administrators)
// or one provisioned by a top-level group (its Owners).
func (s *Service) CreateServiceAccount(ctx context.Context, sub authz.Subject, groupID int64, in ServiceAccountInput) (keygate.User, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return keygate.User{}, internal("service account name", err)
	}
	username := "service_account_" + hex.EncodeToString(rnd[:])
	if groupID != 0 {
		username = "service_account_group_" + itoa(groupID) + "_" + hex.EncodeToString(rnd[:])
	}
	if in.Username != nil && *in.Username != "" {
		username = strings.TrimSpace(*in.Username)
	}
	name := "Service account user"
	if in.Name != nil && *in.Name != "" {
		name = strings.TrimSpace(*in.Name)
	}
	email := username + "@noreply." + s.host()
	if in.Email != nil && *in.Email != "" {
		email = strings.TrimSpace(*in.Email)
	}
	if !validUsername(username) {
		return keygate.User{}, invalid("username", "Username can contain only letters, digits, '_', '-' and '.'")
	}
	if !strings.Contains(email, "@") {
		return keygate.User{}, invalid("email", "Email is invalid")
	}
	now := s.clock.Now()
	u := keygate.User{
		Username: username, Name: name, Email: email, State: keygate.UserActive, Type: keygate.UserServiceAccount,
		CreatedAt: now, ConfirmedAt: &now, CreatedByID: sub.User.ID,
	}
	if groupID != 0 {
		u.BotSourceType, u.BotSourceID = keygate.SourceNamespace, groupID
	}
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.UserByEmail(ctx, email); err == nil {
			return invalid("email", "Email has already been taken")
		}
		if _, err := tx.UserByUsername(ctx, username); err == nil {
			return invalid("username", "Username has already been taken")
		}
		if _, err := tx.NamespaceByPath(ctx, username); err == nil {
			return invalid("username", "Username has already been taken")
		}
		return tx.CreateUser(ctx, &u)
	})
	if errors.Is(err, store.ErrConflict) {
		return keygate.User{}, invalid("username", "Username has already been taken")
	}
	if err != nil {
		return keygate.User{}, internal("create service account", err)
	}
	return u, nil
}

// ServiceAccounts lists every service account (groupID 0, GitLab's User.service_account)
// or those a group provisioned.
func (s *Service) ServiceAccounts(ctx context.Context, groupID int64, orderBy, sort string, pg store.Page) ([]keygate.User, int, error) {
	f := store.UserFilter{Type: keygate.UserServiceAccount, BotSourceID: groupID, OrderBy: orderBy, Sort: sort, Page: pg}
	us, n, err := s.store.Users(ctx, f)
	if err != nil {
		return nil, 0, internal("list service accounts", err)
	}
	return us, n, nil
}

// GroupServiceAccount finds a service account provisioned by the group.
func (s *Service) GroupServiceAccount(ctx context.Context, groupID, userID int64) (keygate.User, error) {
	u, err := s.store.User(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !(u.BotSourceType == keygate.SourceNamespace && u.BotSourceID == groupID) {
		return keygate.User{}, notFound("User")
	}
	if err != nil {
		return u, internal("find service account", err)
	}
	if u.Type != keygate.UserServiceAccount {
		return u, invalid("", "User is not of type Service Account")
	}
	return u, nil
}

// UpdateServiceAccount renames a service account.
func (s *Service) UpdateServiceAccount(ctx context.Context, u keygate.User, in ServiceAccountInput) (keygate.User, error) {
	if u.Type != keygate.UserServiceAccount {
		return u, invalid("", "User is not of type Service Account")
	}
	ui := UserInput{Name: in.Name, Username: in.Username, Email: in.Email}
	return s.UpdateUser(ctx, authz.SystemSubject(), u.ID, ui)
}

// DeleteServiceAccount removes a service account with its tokens and memberships.
func (s *Service) DeleteServiceAccount(ctx context.Context, u keygate.User) error {
	err := s.store.InTx(ctx, func(tx store.Tx) error { return tx.DeleteUser(ctx, u.ID) })
	s.cache.invalidate()
	if err != nil {
		return internal("delete service account", err)
	}
	return nil
}
