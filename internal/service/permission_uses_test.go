package service

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

// TestPermissionUsesAggregateAndExpire: uses are counted in memory per token, day, route
// and boundary, written by a flush, and dropped once older than the retention.
func TestPermissionUsesAggregateAndExpire(t *testing.T) {
	svc, clk := testService(t)
	ctx := context.Background()
	iss, err := svc.CreatePersonalToken(ctx, authz.SystemSubject(), 1, TokenInput{Name: "t", Scopes: keygate.Scopes{keygate.ScopeAPI}})
	if err != nil {
		t.Fatal(err)
	}
	id := iss.Token.ID
	proj := authz.Boundary{Kind: authz.BoundaryProject, Found: true, ID: 5}
	for range 3 {
		svc.RecordPermissionUse(id, "GET /projects/{id}", proj)
	}
	svc.RecordPermissionUse(id, "GET /user", authz.Boundary{Kind: authz.BoundaryUser, Found: true})
	uses, err := svc.PermissionUses(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) != 2 || uses[0].Route != "GET /projects/{id}" || uses[0].Uses != 3 || uses[0].BoundaryID != 5 || uses[1].Uses != 1 {
		t.Fatalf("PermissionUses = %+v", uses)
	}
	clk.Advance(time.Duration(PermissionUseRetentionDays+1) * 24 * time.Hour)
	svc.RecordPermissionUse(id, "GET /user", authz.Boundary{Kind: authz.BoundaryUser, Found: true})
	uses, err = svc.PermissionUses(ctx, id, PermissionUseRetentionDays)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) != 1 || uses[0].Day != keygate.DateOf(clk.Now()) {
		t.Fatalf("after the retention PermissionUses = %+v, want only today's line", uses)
	}
	if all, _ := svc.store.PermissionUses(ctx, id, keygate.Date{Year: 2000, Month: 1, Day: 1}); len(all) != 1 {
		t.Errorf("stored lines = %+v, want the old day pruned", all)
	}
}

// TestPermissionUsesBounded: at permFlushAt lines add asks for an early flush; past
// maxPermPending distinct lines between flushes new lines are dropped (existing ones
// still count), so memory stays bounded when the store cannot keep up.
func TestPermissionUsesBounded(t *testing.T) {
	var p permissionUses
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxPermPending + 50 {
		full := p.add(1, "GET /projects/{id}", authz.Boundary{Kind: authz.BoundaryProject, ID: int64(i)}, now)
		if want := i+1 >= permFlushAt; full != want {
			t.Fatalf("add of line %d reports full=%v, want %v", i+1, full, want)
		}
	}
	p.add(1, "GET /projects/{id}", authz.Boundary{Kind: authz.BoundaryProject, ID: 0}, now)
	batch := p.take()
	if len(batch) != maxPermPending {
		t.Fatalf("pending lines = %d, want %d", len(batch), maxPermPending)
	}
	for _, u := range batch {
		if u.BoundaryID == 0 && u.Uses != 2 {
			t.Errorf("line of project 0 counts %d, want 2", u.Uses)
		}
	}
	if len(p.take()) != 0 {
		t.Error("take did not empty the pending lines")
	}
}

// TestGranularEnforcedCached: a top-level group's policy is read once, then served from
// the cache until the change marker moves (an update of the group moves it).
func TestGranularEnforcedCached(t *testing.T) {
	svc, clk := testService(t)
	ctx := context.Background()
	owner, err := svc.User(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	name, path := "Top", "top"
	g, err := svc.CreateGroup(ctx, authz.Subject{User: owner}, NamespaceInput{Name: &name, Path: &path})
	if err != nil {
		t.Fatal(err)
	}
	legacy := authz.Subject{User: keygate.User{ID: 9, Type: keygate.UserHuman, State: keygate.UserActive}, Token: &keygate.Token{ID: 3, Scopes: keygate.Scopes{keygate.ScopeAPI}}}
	fine := legacy
	fine.Token = &keygate.Token{ID: 4, Granular: true}
	check := func(sub authz.Subject, want bool) {
		t.Helper()
		if err := svc.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := svc.GranularEnforced(ctx, sub, g.TraversalIDs)
		if err != nil || got != want {
			t.Fatalf("GranularEnforced = %v, %v, want %v", got, err, want)
		}
	}
	check(legacy, false)
	on := true
	after := keygate.DateOf(clk.Now()).AddDays(2)
	if _, err := svc.UpdateGroup(ctx, authz.SystemSubject(), g, NamespaceInput{Granular: &GranularPolicyInput{Enforce: &on, SetAfter: true, After: &after}}); err != nil {
		t.Fatal(err)
	}
	check(legacy, false) // not yet
	clk.Advance(72 * time.Hour)
	check(legacy, true)
	check(fine, false) // fine-grained tokens are judged by their grant, not the policy
	bot := legacy
	bot.User.Type = keygate.UserProjectBot
	check(bot, false)
}

// TestPermissionUsesFlushCadence: pending lines are written once a minute (by the
// service clock), or at once when permFlushAt lines are pending, without a FlushUses.
func TestPermissionUsesFlushCadence(t *testing.T) {
	svc, clk := testService(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	iss, err := svc.CreatePersonalToken(ctx, authz.SystemSubject(), 1, TokenInput{Name: "t", Scopes: keygate.Scopes{keygate.ScopeAPI}})
	if err != nil {
		t.Fatal(err)
	}
	id := iss.Token.ID
	svc.uses.start(ctx)
	stored := func() int {
		uses, err := svc.store.PermissionUses(ctx, id, keygate.DateOf(clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		return len(uses)
	}
	waitFor := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for stored() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: stored lines = %d, want %d", what, stored(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	svc.RecordPermissionUse(id, "GET /user", authz.Boundary{Kind: authz.BoundaryUser, Found: true})
	time.Sleep(2500 * time.Millisecond) // two ticks of the last-used writer
	if n := stored(); n != 0 {
		t.Fatalf("stored lines after 2.5 s = %d, want 0 before a minute passed", n)
	}
	clk.Advance(time.Minute)
	waitFor("a minute later", 1)
	for i := range permFlushAt {
		svc.RecordPermissionUse(id, "GET /projects/{id}", authz.Boundary{Kind: authz.BoundaryProject, Found: true, ID: int64(i + 1)})
	}
	waitFor("at permFlushAt pending lines", 1+permFlushAt)
}
