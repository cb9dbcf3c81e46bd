package service

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// SeedOptions tune bulk seeding (`keygate admin seed`, the load command's --create).
type SeedOptions struct {
	// Batch is how many rows one transaction writes; 0 means DefaultSeedBatch.
	Batch int
	// Workers is how many transactions run at once; 0 means 1. PostgreSQL gains from a
	// few; SQLite has one writer, so more only overlap the CPU work (token generation)
	// with the writes.
	Workers int
}

// DefaultSeedBatch keeps a seeding transaction short enough that a server running on the
// same store waits at most a few hundred milliseconds for the write lock.
const DefaultSeedBatch = 2000

func (o SeedOptions) norm() SeedOptions {
	if o.Batch <= 0 {
		o.Batch = DefaultSeedBatch
	}
	o.Workers = max(o.Workers, 1)
	return o
}

// batches runs fn(lo, hi) for consecutive ranges of n in up to workers goroutines, and
// stops at the first error.
func batches(ctx context.Context, n int, o SeedOptions, fn func(lo, hi int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for lo := range next {
				if err := fn(lo, min(lo+o.Batch, n)); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for lo := 0; lo < n; lo += o.Batch {
		select {
		case next <- lo:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// SeedUsers creates n human users named prefix-1 … prefix-n (e-mail
// <username>@example.com, no password: tokens only), each with a personal namespace as
// CreateUser gives one, in batched transactions. After each batch commits it calls emit
// with the users it created (calls are serialized, not ordered). A taken name fails the
// batch and stops the seeding; batches already committed stay.
func (s *Service) SeedUsers(ctx context.Context, prefix string, n int, o SeedOptions, emit func([]keygate.User) error) error {
	o = o.norm()
	if !validUsername(prefix + "-1") {
		return invalid("username", "seed prefix %q does not make valid usernames", prefix)
	}
	var mu sync.Mutex
	return batches(ctx, n, o, func(lo, hi int) error {
		now := s.clock.Now()
		users := make([]keygate.User, hi-lo)
		err := s.store.InTx(ctx, func(tx store.Tx) error {
			for i := range users {
				name := fmt.Sprintf("%s-%d", prefix, lo+i+1)
				users[i] = keygate.User{
					Username: name, Name: name, Email: name + "@example.com",
					State: keygate.UserActive, Type: keygate.UserHuman, CreatedAt: now, ConfirmedAt: &now,
					ProjectsLimit: 100000, CanCreateGroup: true,
				}
				if err := tx.CreateUser(ctx, &users[i]); err != nil {
					return err
				}
				if err := createPersonalNamespace(ctx, tx, users[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return userWriteError("seed users", err)
		}
		mu.Lock()
		defer mu.Unlock()
		return emit(users)
	})
}

// SeedTokens creates n personal access tokens, token i owned by owners[i % len(owners)],
// with the same rules as CreatePersonalToken for an administrator acting (validation
// against each owner, the settings' prefix and default expiry), and the same digest:
// the plaintexts exist only in the Issued values handed to emit after each batch commits
// (calls serialized, not ordered). The caller decides where they go; nothing here logs
// or stores them.
func (s *Service) SeedTokens(ctx context.Context, owners []keygate.User, n int, in TokenInput, o SeedOptions, emit func([]Issued) error) error {
	o = o.norm()
	if len(owners) == 0 {
		return invalid("owners", "no owners to seed tokens for")
	}
	if in.Impersonation {
		return invalid("impersonation", "seeding makes personal tokens only")
	}
	st, err := s.settings(ctx)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	for _, u := range owners {
		if err := validateTokenInput(in, u, st, now); err != nil {
			return fmt.Errorf("seed tokens for %s: %w", u.Username, err)
		}
	}
	def := keygate.DateOf(now).AddDays(st.TokenLifetimeDays())
	expiry := func(owner keygate.User) *keygate.Date {
		switch {
		case in.ExpiresAt != nil:
			return in.ExpiresAt
		case !st.RequirePersonalAccessTokenExpiry:
			return nil
		case owner.Type == keygate.UserServiceAccount && !st.ServiceAccessTokensExpirationEnforced:
			return nil
		}
		return &def
	}
	var mu sync.Mutex
	return batches(ctx, n, o, func(lo, hi int) error {
		out := make([]Issued, hi-lo)
		for i := range out {
			owner := owners[(lo+i)%len(owners)]
			out[i].Token = keygate.Token{
				UserID: owner.ID, Name: in.Name, Description: in.Description, Scopes: in.Scopes,
				ExpiresAt: expiry(owner), CreatedAt: now, UpdatedAt: now,
			}
			if err := s.newSecret(st, &out[i]); err != nil {
				return err
			}
		}
		err := s.store.InTx(ctx, func(tx store.Tx) error {
			for i := range out {
				err := tx.CreateToken(ctx, &out[i].Token)
				for try := 0; errors.Is(err, store.ErrConflict) && try < 3; try++ {
					if err := s.newSecret(st, &out[i]); err != nil {
						return err
					}
					err = tx.CreateToken(ctx, &out[i].Token)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return internal("seed tokens", err)
		}
		mu.Lock()
		defer mu.Unlock()
		return emit(out)
	})
}

// newSecret gives iss a fresh plaintext and its keyed digest, as insertToken does.
func (s *Service) newSecret(st keygate.Settings, iss *Issued) error {
	sec, err := secret.Generate(st.PersonalAccessTokenPrefix)
	if err != nil {
		return internal("seed tokens", err)
	}
	d := s.dig.Digest(sec)
	iss.Secret, iss.Token.Digest = sec, d[:]
	return nil
}

// RevokeTokens revokes tokens by ID in batched transactions (the load command's clean-up
// of the tokens it created). Already revoked or missing tokens are skipped.
func (s *Service) RevokeTokens(ctx context.Context, ids []int64, o SeedOptions) error {
	o = o.norm()
	o.Workers = 1
	err := batches(ctx, len(ids), o, func(lo, hi int) error {
		now := s.clock.Now()
		return s.store.InTx(ctx, func(tx store.Tx) error {
			for _, id := range ids[lo:hi] {
				if _, err := tx.RevokeToken(ctx, id, now); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return nil
		})
	})
	s.cache.invalidate()
	if err != nil {
		return internal("revoke tokens", err)
	}
	return nil
}
