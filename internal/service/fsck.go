package service

import (
	"context"

	"github.com/keygate/keygate/internal/store"
)

// Fsck lists the rows that break the store's invariants (orphan bots, half-rotated or
// forked rotation chains, memberships of missing sources). Every operation commits in one
// transaction, so a crash at any point must leave this empty; `keygate admin fsck` and
// the crash tests rely on it.
func (s *Service) Fsck(ctx context.Context) ([]store.Problem, error) {
	return s.store.Fsck(ctx)
}
