package service

import (
	"context"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/store"
)

// Credential inventory (GitLab's admin credentials page): every token of every type
// with its owner, role and resource.

// InventoryItem is one token of the credentials inventory.
type InventoryItem struct {
	Token keygate.Token
	Owner keygate.User
	Type  keygate.TokenType
	// AccessLevel is a project or group token's role (0 for other types).
	AccessLevel keygate.AccessLevel
	// ResourceType and ResourceID name a resource token's project or group.
	ResourceType string // "project", "group" or ""
	ResourceID   int64
}

// Inventory lists tokens for an administrator with what the inventory shows of each.
// Last-used addresses are loaded too.
func (s *Service) Inventory(ctx context.Context, sub authz.Subject, f store.TokenFilter) ([]InventoryItem, error) {
	if !sub.Admin() {
		return nil, forbidden("")
	}
	f.Now = s.clock.Now()
	ts, _, err := s.store.Tokens(ctx, f)
	if err != nil {
		return nil, internal("list tokens", err)
	}
	owners := map[int64]keygate.User{}
	out := make([]InventoryItem, 0, len(ts))
	for _, t := range ts {
		if full, err := s.store.Token(ctx, t.ID); err == nil {
			t = full
		}
		u, ok := owners[t.UserID]
		if !ok {
			if u, err = s.store.User(ctx, t.UserID); err != nil {
				return nil, internal("token owner", err)
			}
			owners[t.UserID] = u
		}
		it := InventoryItem{Token: t, Owner: u, Type: t.TypeFor(u)}
		if it.Type == keygate.TokenProject || it.Type == keygate.TokenGroup {
			it.ResourceType, it.ResourceID = kindName(u.BotSourceType), u.BotSourceID
			if m, err := s.store.Member(ctx, u.BotSourceType, u.BotSourceID, u.ID); err == nil {
				it.AccessLevel = m.AccessLevel
			}
		}
		out = append(out, it)
	}
	return out, nil
}
