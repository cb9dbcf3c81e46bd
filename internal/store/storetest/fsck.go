package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

func fsckChecks(t *testing.T, s store.Store) []string {
	t.Helper()
	ps, err := s.Fsck(context.Background())
	if err != nil {
		t.Fatalf("Fsck: %v", err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Check)
	}
	slices.Sort(out)
	return out
}

// testFsck: a database built by whole operations is clean; each invariant is found when
// rows that no single operation writes are put there by hand.
func testFsck(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	var d digests
	g := createNamespace(t, s, newGroup("fsck", "fsck", 0, keygate.Private))
	p := createProject(t, s, newProject(g.ID, "app", "app", keygate.Private))
	// A well-formed project bot: user, membership and token in one transaction.
	bot := newUser("project_1_bot")
	bot.Type, bot.BotSourceType, bot.BotSourceID = keygate.UserProjectBot, keygate.SourceProject, p.ID
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateUser(ctx, &bot); err != nil {
			return err
		}
		m := newMember(keygate.SourceProject, p.ID, bot.ID, keygate.Developer, nil)
		if err := tx.AddMember(ctx, &m); err != nil {
			return err
		}
		tok := newToken(bot.ID, "bot", d.next())
		return tx.CreateToken(ctx, &tok)
	})
	// A clean rotation: the predecessor revoked, one successor.
	first := createToken(t, s, newToken(1, "chain", d.next()))
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.RevokeToken(ctx, first.ID, t0); err != nil {
			return err
		}
		next := newToken(1, "chain", d.next())
		next.PreviousID = first.ID
		return tx.CreateToken(ctx, &next)
	})
	if got := fsckChecks(t, s); len(got) != 0 {
		t.Fatalf("Fsck on a clean database = %v, want nothing", got)
	}

	// Damage: a bot with neither membership nor token, a successor beside an active
	// predecessor, and a second successor of the revoked one.
	orphan := newUser("project_2_bot")
	orphan.Type, orphan.BotSourceType, orphan.BotSourceID = keygate.UserProjectBot, keygate.SourceProject, p.ID
	createUser(t, s, orphan)
	active := createToken(t, s, newToken(1, "half", d.next()))
	half := newToken(1, "half", d.next())
	half.PreviousID = active.ID
	createToken(t, s, half)
	fork := newToken(1, "chain", d.next())
	fork.PreviousID = first.ID
	fork.CreatedAt = t0.Add(time.Second)
	createToken(t, s, fork)

	want := []string{"bot without a token", "bot without its membership", "rotated token still active", "rotation chain forked"}
	if got := fsckChecks(t, s); !slices.Equal(got, want) {
		t.Fatalf("Fsck = %v, want %v", got, want)
	}
}
