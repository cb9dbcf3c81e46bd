package service

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store/sqlite"
)

func testService(t *testing.T) (*Service, *clock.Manual) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dig, _ := secret.NewDigester([]byte(strings.Repeat("k", 32)))
	clk := clock.NewManual(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	svc, err := New(Config{Store: st, Clock: clk, Digester: dig, PasswordIterations: 1, ExternalURL: "https://git.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	return svc, clk
}

// TestPurgeInactiveBots: a project token's bot stays while the token is active and for
// the retention period after it went inactive, then it is removed with its membership.
func TestPurgeInactiveBots(t *testing.T) {
	svc, clk := testService(t)
	ctx := context.Background()
	sys := authz.SystemSubject()
	root, _ := svc.User(ctx, 1)
	sub := authz.Subject{User: root}
	p, err := svc.CreateProject(ctx, sub, NamespaceInput{Path: new("app")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.ProjectAccess(ctx, sub, p)
	if err != nil {
		t.Fatal(err)
	}
	src, err := svc.ProjectSource(ctx, p, res)
	if err != nil {
		t.Fatal(err)
	}
	exp := keygate.DateOf(clk.Now()).AddDays(10)
	rt, err := svc.CreateResourceToken(ctx, sub, src, ResourceTokenInput{TokenInput: TokenInput{Name: "ci", Scopes: keygate.Scopes{keygate.ScopeAPI}, ExpiresAt: &exp}, AccessLevel: keygate.Developer})
	if err != nil {
		t.Fatal(err)
	}
	bot := rt.Token.UserID
	if !strings.HasPrefix(mustUser(t, svc, bot).Username, "project_"+itoa(p.ID)+"_bot_") {
		t.Fatalf("bot username = %q", mustUser(t, svc, bot).Username)
	}
	purge := func() int {
		t.Helper()
		n, err := svc.PurgeInactiveBots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := purge(); n != 0 {
		t.Fatalf("purged %d bots of an active token", n)
	}
	clk.Advance(10 * 24 * time.Hour) // expired today
	if n := purge(); n != 0 {
		t.Fatalf("purged %d bots on the expiry day, want them kept 30 days", n)
	}
	clk.Advance(29 * 24 * time.Hour)
	if n := purge(); n != 0 {
		t.Fatalf("purged %d bots after 29 days", n)
	}
	clk.Advance(2 * 24 * time.Hour)
	if n := purge(); n != 1 {
		t.Fatalf("purged %d bots after 31 days, want 1", n)
	}
	if _, err := svc.User(ctx, bot); keygate.ErrorCode(err) != keygate.CodeNotFound {
		t.Errorf("bot still there: %v", err)
	}
	// Setting 0 turns the purge off.
	st, _ := svc.Settings(ctx)
	st.InactiveResourceTokensDeleteAfterDays = 0
	if err := svc.PutSettings(ctx, sys, st); err != nil {
		t.Fatal(err)
	}
	rt2, err := svc.CreateResourceToken(ctx, sub, src, ResourceTokenInput{TokenInput: TokenInput{Name: "ci2", Scopes: keygate.Scopes{keygate.ScopeAPI}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Revoke(ctx, sys, rt2.Token.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(400 * 24 * time.Hour)
	if n := purge(); n != 0 {
		t.Fatalf("purged %d bots with retention off", n)
	}
}

func mustUser(t *testing.T, svc *Service, id int64) keygate.User {
	t.Helper()
	u, err := svc.User(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
