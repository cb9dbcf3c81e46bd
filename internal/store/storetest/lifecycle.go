package storetest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// lifecycleCases are the audit, notice, webhook and outbox cases; Run runs them.
func lifecycleCases() []struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) store.Store)
} {
	return []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"AuditRoundTrip", testAuditRoundTrip},
		{"AuditFilter", testAuditFilter},
		{"TokenFingerprint", testTokenFingerprint},
		{"ClaimNoticeOnce", testClaimNoticeOnce},
		{"Hooks", testHooks},
		{"OutboxLifecycle", testOutboxLifecycle},
		{"OutboxLeaseAcrossStores", testOutboxLeaseAcrossStores},
		{"ResourceLifecycle", testResourceLifecycle},
		{"NoticeCandidates", testNoticeCandidates},
	}
}

func auditEvent(name string, entity keygate.AuditEntity, entityID, author int64, at time.Time) keygate.AuditEvent {
	return keygate.AuditEvent{
		Name: name, AuthorID: author, AuthorName: "Root", AuthorEmail: "root@example.com",
		EntityType: entity, EntityID: entityID, EntityPath: "root", TargetID: 7,
		TargetType: keygate.AuditTargetToken, TargetDetails: "ci", IP: "192.0.2.1",
		RequestID: "req-1", Fingerprint: "ab12", Message: "Created token", CreatedAt: at,
	}
}

func createAudit(t *testing.T, s store.Store, e keygate.AuditEvent) keygate.AuditEvent {
	t.Helper()
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateAuditEvent(ctx, &e) })
	return e
}

func testAuditRoundTrip(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	e := createAudit(t, s, auditEvent(keygate.AuditTokenCreated, keygate.AuditUser, 1, 1, t0))
	if e.ID == 0 {
		t.Fatal("CreateAuditEvent left ID 0")
	}
	got, err := s.AuditEvent(t.Context(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := e
	want.CreatedAt = utc(t0)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AuditEvent(%d) = %+v, want %+v", e.ID, got, want)
	}
	if _, err := s.AuditEvent(t.Context(), e.ID+100); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AuditEvent(missing) error = %v, want ErrNotFound", err)
	}
}

func testAuditFilter(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	a := createAudit(t, s, auditEvent(keygate.AuditTokenCreated, keygate.AuditUser, 1, 1, t0))
	b := createAudit(t, s, auditEvent(keygate.AuditTokenRevoked, keygate.AuditProject, 5, 2, t0.Add(time.Hour)))
	c := auditEvent(keygate.AuditTokenRotated, keygate.AuditProject, 6, 1, t0.Add(2*time.Hour))
	c.Fingerprint = "ffff"
	c = createAudit(t, s, c)
	idsOf := func(es []keygate.AuditEvent) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	after, before := t0.Add(30*time.Minute), t0.Add(90*time.Minute)
	cases := []struct {
		name  string
		f     store.AuditFilter
		want  []int64
		total int
	}{
		{"all newest first", store.AuditFilter{}, []int64{c.ID, b.ID, a.ID}, 3},
		{"entity type", store.AuditFilter{EntityType: keygate.AuditProject}, []int64{c.ID, b.ID}, 2},
		{"entity id", store.AuditFilter{EntityType: keygate.AuditProject, EntityID: 5}, []int64{b.ID}, 1},
		{"author", store.AuditFilter{AuthorID: 1}, []int64{c.ID, a.ID}, 2},
		{"fingerprint", store.AuditFilter{Fingerprint: "ffff"}, []int64{c.ID}, 1},
		{"name", store.AuditFilter{Name: keygate.AuditTokenRevoked}, []int64{b.ID}, 1},
		{"created after", store.AuditFilter{CreatedAfter: &after}, []int64{c.ID, b.ID}, 2},
		{"created before", store.AuditFilter{CreatedBefore: &before}, []int64{b.ID, a.ID}, 2},
		{"page", store.AuditFilter{Page: store.Page{Number: 2, Size: 2}}, []int64{a.ID}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.AuditEvents(t.Context(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(idsOf(got), tc.want) || total != tc.total {
				t.Errorf("AuditEvents(%+v) = %v (total %d), want %v (total %d)", tc.f, idsOf(got), total, tc.want, tc.total)
			}
		})
	}
}

func testTokenFingerprint(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	var d digests
	u := createUser(t, s, newUser("alice"))
	tok := createToken(t, s, newToken(u.ID, "ci", d.next()))
	if _, err := s.TokenFingerprint(t.Context(), tok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenFingerprint(before) error = %v, want ErrNotFound", err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutTokenFingerprint(ctx, tok.ID, "abc") })
	if fp, err := s.TokenFingerprint(t.Context(), tok.ID); err != nil || fp != "abc" {
		t.Errorf("TokenFingerprint = %q, %v, want abc", fp, err)
	}
	// The fingerprint goes with its token.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteUser(ctx, u.ID) })
	if _, err := s.TokenFingerprint(t.Context(), tok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenFingerprint(after owner deleted) error = %v, want ErrNotFound", err)
	}
}

// testClaimNoticeOnce: of several concurrent claims through two stores (two nodes),
// exactly one wins, and a later claim of the same threshold loses too.
func testClaimNoticeOnce(t *testing.T, open func(*testing.T) store.Store) {
	a := open(t)
	b := open(t)
	var d digests
	u := createUser(t, a, newUser("alice"))
	tok := createToken(t, a, newToken(u.ID, "ci", d.next()))
	var (
		mu   sync.Mutex
		wins int
		wg   sync.WaitGroup
	)
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			var won bool
			err := s.InTx(t.Context(), func(tx store.Tx) error {
				var err error
				won, err = tx.ClaimNotice(t.Context(), tok.ID, keygate.NoticeSevenDays, t0)
				return err
			})
			if err != nil {
				t.Error(err)
				return
			}
			if won {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("concurrent ClaimNotice winners = %d, want 1", wins)
	}
	inTx(t, b, func(ctx context.Context, tx store.Tx) error {
		again, err := tx.ClaimNotice(ctx, tok.ID, keygate.NoticeSevenDays, t0)
		if err == nil && again {
			t.Error("ClaimNotice of a claimed threshold = true, want false")
		}
		other, err2 := tx.ClaimNotice(ctx, tok.ID, keygate.NoticeThirtyDays, t0)
		if err2 == nil && !other {
			t.Error("ClaimNotice of another threshold = false, want true")
		}
		return errors.Join(err, err2)
	})
}

func testHooks(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w := jobFixture(t, s)
	ph := keygate.Hook{SourceType: keygate.SourceProject, SourceID: w.a.ID, URL: "https://example.com/h",
		Name: "n", SecretToken: "s3", ResourceAccessTokenEvents: true, EnableSSLVerification: true, CreatedAt: t0}
	gh := keygate.Hook{SourceType: keygate.SourceNamespace, SourceID: w.group.ID, URL: "https://example.com/g", CreatedAt: t0}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.CreateHook(ctx, &ph), tx.CreateHook(ctx, &gh))
	})
	got, err := s.Hook(t.Context(), ph.ID)
	want := ph
	want.CreatedAt = utc(t0)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Hook(%d) = %+v, %v, want %+v", ph.ID, got, err, want)
	}
	if hs, err := s.Hooks(t.Context(), keygate.SourceNamespace, w.group.ID); err != nil || len(hs) != 1 || hs[0].ID != gh.ID || hs[0].SourceType != keygate.SourceNamespace {
		t.Errorf("Hooks(group) = %+v, %v, want [%d]", hs, err, gh.ID)
	}
	ph.URL, ph.ResourceAccessTokenEvents = "https://example.com/new", false
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateHook(ctx, ph) })
	if got, _ := s.Hook(t.Context(), ph.ID); got.URL != ph.URL || got.ResourceAccessTokenEvents {
		t.Errorf("Hook after update = %+v", got)
	}
	err = s.InTx(t.Context(), func(tx store.Tx) error { return tx.UpdateHook(t.Context(), keygate.Hook{ID: 9999}) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateHook(missing) = %v, want ErrNotFound", err)
	}
	err = s.InTx(t.Context(), func(tx store.Tx) error {
		h := keygate.Hook{SourceType: keygate.SourceProject, SourceID: 99999, URL: "https://x", CreatedAt: t0}
		return tx.CreateHook(t.Context(), &h)
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateHook(missing project) = %v, want ErrNotFound", err)
	}
	// A hook dies with its project, its deliveries with it.
	o := keygate.Outbound{Kind: keygate.OutboxWebhook, HookID: ph.ID, Event: "expiring_access_token", CreatedAt: t0, NextAttemptAt: &t0}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.Enqueue(ctx, &o) })
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteProject(ctx, w.a.ID) })
	if _, err := s.Hook(t.Context(), ph.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Hook after project deleted: %v, want ErrNotFound", err)
	}
	if os, _, err := s.Outbox(t.Context(), store.OutboxFilter{HookID: ph.ID}); err != nil || len(os) != 0 {
		t.Errorf("Outbox of a deleted hook = %d entries, %v, want none", len(os), err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteHook(ctx, gh.ID) })
	err = s.InTx(t.Context(), func(tx store.Tx) error { return tx.DeleteHook(t.Context(), gh.ID) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteHook twice = %v, want ErrNotFound", err)
	}
}

func testOutboxLifecycle(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	u := createUser(t, s, newUser("alice"))
	due := t0
	later := t0.Add(time.Hour)
	m1 := keygate.Outbound{Kind: keygate.OutboxMail, UserID: u.ID, TokenID: 3, Event: "token_expiring_7",
		Recipient: "alice@example.com", Subject: "s", BodyText: "t", BodyHTML: "<p>h</p>", CreatedAt: t0, NextAttemptAt: &due}
	m2 := keygate.Outbound{Kind: keygate.OutboxMail, UserID: u.ID, Event: "token_created", CreatedAt: t0, NextAttemptAt: &later}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.Enqueue(ctx, &m1), tx.Enqueue(ctx, &m2))
	})

	var claimed []keygate.Outbound
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		claimed, err = tx.ClaimDue(ctx, t0.Add(time.Minute), 5*time.Minute, 10)
		return err
	})
	if len(claimed) != 1 || claimed[0].ID != m1.ID || claimed[0].BodyHTML != "<p>h</p>" || claimed[0].UserID != u.ID {
		t.Fatalf("ClaimDue = %+v, want only m1", claimed)
	}
	// Leased: not due again within the lease.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		again, err := tx.ClaimDue(ctx, t0.Add(2*time.Minute), 5*time.Minute, 10)
		if len(again) != 0 {
			t.Errorf("ClaimDue within the lease = %d entries, want 0", len(again))
		}
		return err
	})
	retry := t0.Add(10 * time.Minute)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.FinishAttempt(ctx, m1.ID, t0.Add(time.Minute), 0, "connection refused", &retry)
	})
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		again, err := tx.ClaimDue(ctx, retry, time.Minute, 10)
		if len(again) != 1 || again[0].Attempts != 1 || again[0].LastError != "connection refused" {
			t.Errorf("ClaimDue after a failure = %+v, want m1 with one attempt", again)
		}
		return err
	})
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.FinishAttempt(ctx, m1.ID, retry, 250, "", nil)
	})
	all, total, err := s.Outbox(t.Context(), store.OutboxFilter{UserID: u.ID})
	if err != nil || total != 2 || len(all) != 2 || all[0].ID != m2.ID {
		t.Fatalf("Outbox(user) = %+v (total %d), %v", all, total, err)
	}
	done := all[1]
	if done.DeliveredAt == nil || done.NextAttemptAt != nil || done.Attempts != 2 || done.ResponseStatus != 250 {
		t.Errorf("delivered entry = %+v, want delivered after 2 attempts", done)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		again, err := tx.ClaimDue(ctx, t0.Add(48*time.Hour), time.Minute, 10)
		if len(again) != 1 || again[0].ID != m2.ID {
			t.Errorf("ClaimDue after delivery = %+v, want only m2", again)
		}
		return err
	})
	err = s.InTx(t.Context(), func(tx store.Tx) error { return tx.FinishAttempt(t.Context(), 99999, t0, 0, "", nil) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishAttempt(missing) = %v, want ErrNotFound", err)
	}
}

// testOutboxLeaseAcrossStores: two nodes claiming at once never both get one entry.
func testOutboxLeaseAcrossStores(t *testing.T, open func(*testing.T) store.Store) {
	a := open(t)
	b := open(t)
	due := t0
	const n = 20
	inTx(t, a, func(ctx context.Context, tx store.Tx) error {
		for range n {
			o := keygate.Outbound{Kind: keygate.OutboxMail, Event: "e", CreatedAt: t0, NextAttemptAt: &due}
			if err := tx.Enqueue(ctx, &o); err != nil {
				return err
			}
		}
		return nil
	})
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		wg   sync.WaitGroup
	)
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			var got []keygate.Outbound
			err := s.InTx(t.Context(), func(tx store.Tx) error {
				var err error
				got, err = tx.ClaimDue(t.Context(), t0, time.Hour, n)
				return err
			})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, o := range got {
				seen[o.ID]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct entries, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("entry %d claimed %d times, want once", id, c)
		}
	}
}

func testResourceLifecycle(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	got, err := s.ResourceLifecycle(t.Context(), keygate.SourceProject, 4)
	if err != nil || got.ExtendedExpiryWebhooks || got.SourceID != 4 {
		t.Errorf("ResourceLifecycle(unsaved) = %+v, %v, want defaults", got, err)
	}
	l := keygate.ResourceLifecycle{SourceType: keygate.SourceNamespace, SourceID: 4, ExtendedExpiryWebhooks: true}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutResourceLifecycle(ctx, l) })
	if got, err := s.ResourceLifecycle(t.Context(), keygate.SourceNamespace, 4); err != nil || got != l {
		t.Errorf("ResourceLifecycle = %+v, %v, want %+v", got, err, l)
	}
	if got, _ := s.ResourceLifecycle(t.Context(), keygate.SourceProject, 4); got.ExtendedExpiryWebhooks {
		t.Error("a group's setting leaked to the project with the same ID")
	}
}

// testNoticeCandidates: the tokens whose due notice is unclaimed, and only those.
func testNoticeCandidates(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	var d digests
	u := createUser(t, s, newUser("alice"))
	today := *date("2026-06-15")
	mk := func(name string, days *int, revoked, imp bool) keygate.Token {
		tok := newToken(u.ID, name, d.next())
		if days != nil {
			e := today.AddDays(*days)
			tok.ExpiresAt = &e
		}
		tok.Revoked, tok.Impersonation = revoked, imp
		return createToken(t, s, tok)
	}
	n := func(v int) *int { return &v }
	mk("past", n(-1), false, false)
	day0 := mk("day0", n(0), false, false)
	d3 := mk("d3", n(3), false, false)
	d20 := mk("d20", n(20), false, false)
	d45 := mk("d45", n(45), false, false)
	mk("d60", n(60), false, false)
	mk("d61", n(61), false, false)
	mk("revoked", n(3), true, false)
	mk("imp", n(3), false, true)
	mk("never", nil, false, false)
	names := func() []string {
		ts, err := s.NoticeCandidates(t.Context(), today, 100)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, tk := range ts {
			out = append(out, tk.Name)
		}
		return out
	}
	if got, want := names(), []string{"day0", "d3", "d20", "d45", "d60"}; !reflect.DeepEqual(got, want) {
		t.Errorf("NoticeCandidates = %v, want %v", got, want)
	}
	// Claims of the due thresholds remove them; a claim of another threshold does not.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, c := range []struct {
			id int64
			th int
		}{{day0.ID, 0}, {d3.ID, 7}, {d20.ID, 60}, {d45.ID, 60}} {
			if _, err := tx.ClaimNotice(ctx, c.id, c.th, t0); err != nil {
				return err
			}
		}
		return nil
	})
	if got, want := names(), []string{"d20", "d60"}; !reflect.DeepEqual(got, want) {
		t.Errorf("NoticeCandidates after claims = %v, want %v", got, want)
	}
	if ts, err := s.NoticeCandidates(t.Context(), today, 1); err != nil || len(ts) != 1 || ts[0].ID != d20.ID {
		t.Errorf("NoticeCandidates(limit 1) = %v, %v", ts, err)
	}
}
