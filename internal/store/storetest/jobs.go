package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// The cases of CI jobs, job-token scopes, inbound allowlists and the job-token log.

func newJob(projectID, userID int64, name string, digest []byte) keygate.Job {
	return keygate.Job{
		ProjectID: projectID, UserID: userID, Ref: "main", Name: name, Status: keygate.JobRunning,
		CreatedAt: t0, StartedAt: t0, Timeout: keygate.DefaultJobTimeout, TokenDigest: digest,
	}
}

func createJob(t *testing.T, s store.Store, j keygate.Job) keygate.Job {
	t.Helper()
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateJob(ctx, &j) })
	return j
}

// wantJob is j as a store must return it: times in UTC to the microsecond, the timeout in
// whole seconds.
func wantJob(j keygate.Job) keygate.Job {
	j.CreatedAt, j.StartedAt = utc(j.CreatedAt), utc(j.StartedAt)
	if j.FinishedAt != nil {
		j.FinishedAt = ptr(utc(*j.FinishedAt))
	}
	j.Timeout = j.Timeout.Truncate(time.Second)
	return j
}

// jobWorld is what the job cases run in: a user, a group with a subgroup, projects in
// both and one in the user's personal namespace.
type jobWorld struct {
	user             keygate.User
	group, sub       keygate.Namespace
	personal         keygate.Namespace
	a, b, c, d, home keygate.Project // a, b in group; c, d in sub; home in personal
}

func jobFixture(t *testing.T, s store.Store) jobWorld {
	t.Helper()
	var w jobWorld
	w.user = createUser(t, s, newUser("runner"))
	w.group = createNamespace(t, s, newGroup("group", "Group", 0, keygate.Private))
	w.sub = createNamespace(t, s, newGroup("sub", "Sub", w.group.ID, keygate.Private))
	w.personal = createNamespace(t, s, newUserNamespace(w.user))
	w.a = createProject(t, s, newProject(w.group.ID, "a", "A", keygate.Private))
	w.b = createProject(t, s, newProject(w.group.ID, "b", "B", keygate.Private))
	w.c = createProject(t, s, newProject(w.sub.ID, "c", "C", keygate.Private))
	w.d = createProject(t, s, newProject(w.sub.ID, "d", "D", keygate.Private))
	w.home = createProject(t, s, newProject(w.personal.ID, "home", "Home", keygate.Private))
	return w
}

func testJobRoundTrip(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	w := jobFixture(t, s)
	running := keygate.Job{
		ProjectID: w.a.ID, UserID: w.user.ID, Ref: "feature/ü", Name: "build 1",
		Status: keygate.JobRunning, CreatedAt: t0, StartedAt: t0.Add(time.Second),
		Timeout: 90*time.Second + 999*time.Millisecond, TokenDigest: d.next(),
	}
	finished := keygate.Job{
		ProjectID: w.b.ID, UserID: w.user.ID, Ref: "main", Name: "deploy",
		Status: keygate.JobFailed, CreatedAt: t0, StartedAt: t0.Add(time.Minute),
		FinishedAt: ptr(t0.Add(2 * time.Minute)), Timeout: 3 * time.Hour, TokenDigest: d.next(),
	}
	bare := keygate.Job{ProjectID: w.a.ID, UserID: w.user.ID, Status: keygate.JobRunning,
		CreatedAt: t0, StartedAt: t0, TokenDigest: d.next()}
	for _, c := range []struct {
		name string
		j    keygate.Job
	}{{"running", running}, {"finished", finished}, {"bare", bare}} {
		t.Run(c.name, func(t *testing.T) {
			j := c.j
			created := createJob(t, s, j)
			if created.ID == 0 {
				t.Fatalf("CreateJob(%s) left ID 0", c.name)
			}
			want := wantJob(j)
			want.ID = created.ID
			got, err := s.Job(ctx, created.ID)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Job(%d) = %+v, %v, want %+v, nil", created.ID, got, err, want)
			}
			if got.CreatedAt.Location() != time.UTC || got.StartedAt.Location() != time.UTC ||
				(got.FinishedAt != nil && got.FinishedAt.Location() != time.UTC) {
				t.Errorf("Job(%d) times = %v, %v, %v, want UTC", created.ID, got.CreatedAt, got.StartedAt, got.FinishedAt)
			}
			got, err = s.JobByDigest(ctx, j.TokenDigest)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("JobByDigest(%x) = %+v, %v, want %+v, nil", j.TokenDigest, got, err, want)
			}
		})
	}
	// The timeout is whole seconds, rounded down.
	if got, err := s.JobByDigest(ctx, running.TokenDigest); err != nil || got.Timeout != 90*time.Second {
		t.Errorf("JobByDigest(running).Timeout of 90.999 s = %v, %v, want 1m30s, nil", got.Timeout, err)
	}
	// Inside a transaction, reads see the transaction's own jobs.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		j := newJob(w.c.ID, w.user.ID, "in tx", d.next())
		if err := tx.CreateJob(ctx, &j); err != nil {
			return err
		}
		if got, err := tx.JobByDigest(ctx, j.TokenDigest); err != nil || got.ID != j.ID {
			return fmt.Errorf("Tx.JobByDigest(new) = %d, %v, want %d, nil", got.ID, err, j.ID)
		}
		if got, err := tx.Job(ctx, j.ID); err != nil || got.ProjectID != w.c.ID {
			return fmt.Errorf("Tx.Job(new) = %+v, %v, want project %d", got, err, w.c.ID)
		}
		return nil
	})
}

func testJobNotFound(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	var d digests
	w := jobFixture(t, s)
	job := createJob(t, s, newJob(w.a.ID, w.user.ID, "present", d.next()))
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.AllowProject(ctx, w.a.ID, w.b.ID); err != nil {
			return err
		}
		return tx.AllowGroup(ctx, w.a.ID, w.sub.ID)
	})
	write := func(fn func(ctx context.Context, tx store.Tx) error) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			return s.InTx(ctx, func(tx store.Tx) error { return fn(ctx, tx) })
		}
	}
	cases := []struct {
		call string
		fn   func(ctx context.Context) error
	}{
		{"Job(999)", func(ctx context.Context) error { _, err := s.Job(ctx, 999); return err }},
		{"JobByDigest(unknown)", func(ctx context.Context) error { _, err := s.JobByDigest(ctx, d.next()); return err }},
		{"JobTokenScope(999)", func(ctx context.Context) error { _, err := s.JobTokenScope(ctx, 999); return err }},
		{"Tx.Job(999)", write(func(ctx context.Context, tx store.Tx) error { _, err := tx.Job(ctx, 999); return err })},
		{"Tx.JobTokenScope(999)", write(func(ctx context.Context, tx store.Tx) error {
			_, err := tx.JobTokenScope(ctx, 999)
			return err
		})},
		{"CreateJob(project 999)", write(func(ctx context.Context, tx store.Tx) error {
			j := newJob(999, w.user.ID, "orphan", d.next())
			return tx.CreateJob(ctx, &j)
		})},
		{"CreateJob(user 999)", write(func(ctx context.Context, tx store.Tx) error {
			j := newJob(w.a.ID, 999, "orphan", d.next())
			return tx.CreateJob(ctx, &j)
		})},
		{"FinishJob(999)", write(func(ctx context.Context, tx store.Tx) error {
			_, err := tx.FinishJob(ctx, 999, keygate.JobSuccess, t0)
			return err
		})},
		{"PutJobTokenScope(project 999)", write(func(ctx context.Context, tx store.Tx) error {
			return tx.PutJobTokenScope(ctx, keygate.JobTokenScope{ProjectID: 999, InboundEnabled: true})
		})},
		{"AllowProject(999, a)", write(func(ctx context.Context, tx store.Tx) error { return tx.AllowProject(ctx, 999, w.a.ID) })},
		{"AllowProject(a, 999)", write(func(ctx context.Context, tx store.Tx) error { return tx.AllowProject(ctx, w.a.ID, 999) })},
		{"AllowGroup(999, group)", write(func(ctx context.Context, tx store.Tx) error { return tx.AllowGroup(ctx, 999, w.group.ID) })},
		{"AllowGroup(a, 999)", write(func(ctx context.Context, tx store.Tx) error { return tx.AllowGroup(ctx, w.a.ID, 999) })},
		{"AllowGroup(a, a personal namespace)", write(func(ctx context.Context, tx store.Tx) error {
			return tx.AllowGroup(ctx, w.a.ID, w.personal.ID)
		})},
		{"DisallowProject(a, c) not on the list", write(func(ctx context.Context, tx store.Tx) error {
			return tx.DisallowProject(ctx, w.a.ID, w.c.ID)
		})},
		{"DisallowProject(b, a) the other way round", write(func(ctx context.Context, tx store.Tx) error {
			return tx.DisallowProject(ctx, w.b.ID, w.a.ID)
		})},
		{"DisallowProject(999, 998)", write(func(ctx context.Context, tx store.Tx) error { return tx.DisallowProject(ctx, 999, 998) })},
		{"DisallowGroup(a, group) not on the list", write(func(ctx context.Context, tx store.Tx) error {
			return tx.DisallowGroup(ctx, w.a.ID, w.group.ID)
		})},
		{"DisallowGroup(999, 998)", write(func(ctx context.Context, tx store.Tx) error { return tx.DisallowGroup(ctx, 999, 998) })},
	}
	for _, c := range cases {
		if err := c.fn(t.Context()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s = %v, want %v", c.call, err, store.ErrNotFound)
		}
	}
	// The refusals left everything as it was.
	ctx := t.Context()
	if got, err := s.Job(ctx, job.ID); err != nil || got.Status != keygate.JobRunning {
		t.Errorf("Job(present) after the refusals = %+v, %v, want running, nil", got, err)
	}
	if got, err := s.AllowedProjects(ctx, w.a.ID); err != nil || !slices.Equal(got, []int64{w.b.ID}) {
		t.Errorf("AllowedProjects(a) after the refusals = %v, %v, want [%d], nil", got, err, w.b.ID)
	}
	if got, err := s.AllowedGroups(ctx, w.a.ID); err != nil || !slices.Equal(got, []int64{w.sub.ID}) {
		t.Errorf("AllowedGroups(a) after the refusals = %v, %v, want [%d], nil", got, err, w.sub.ID)
	}
	// Lists of a project that does not exist are empty, not an error.
	for _, c := range []struct {
		call string
		fn   func() (int, error)
	}{
		{"AllowedProjects(999)", func() (int, error) { l, err := s.AllowedProjects(ctx, 999); return len(l), err }},
		{"AllowedGroups(999)", func() (int, error) { l, err := s.AllowedGroups(ctx, 999); return len(l), err }},
		{"JobTokenAuthLog(999)", func() (int, error) { l, err := s.JobTokenAuthLog(ctx, 999); return len(l), err }},
	} {
		if n, err := c.fn(); n != 0 || err != nil {
			t.Errorf("%s = %d entries, %v, want 0, nil", c.call, n, err)
		}
	}
}

func testJobConflicts(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	w := jobFixture(t, s)
	digest := d.next()
	createJob(t, s, newJob(w.a.ID, w.user.ID, "first", digest))
	// A refused create leaves the transaction usable (a service retries with a new token).
	var fresh keygate.Job
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		dup := newJob(w.b.ID, w.user.ID, "second", digest)
		if err := tx.CreateJob(ctx, &dup); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateJob(duplicate digest) = %v, want %v", err, store.ErrConflict)
		}
		fresh = newJob(w.b.ID, w.user.ID, "second", d.next())
		return tx.CreateJob(ctx, &fresh)
	})
	if got, err := s.JobByDigest(ctx, fresh.TokenDigest); err != nil || got.ID != fresh.ID {
		t.Errorf("JobByDigest(retried job) = %d, %v, want %d, nil", got.ID, err, fresh.ID)
	}
	if got, err := s.JobByDigest(ctx, digest); err != nil || got.Name != "first" {
		t.Errorf("JobByDigest(first) = %q, %v, want first, nil", got.Name, err)
	}
	for _, c := range []struct {
		name string
		mod  func(*keygate.Job)
	}{
		{"no digest", func(j *keygate.Job) { j.TokenDigest = nil }},
		{"negative timeout", func(j *keygate.Job) { j.Timeout = -time.Second }},
		{"unknown status", func(j *keygate.Job) { j.Status = "pending" }},
	} {
		j := newJob(w.a.ID, w.user.ID, c.name, d.next())
		c.mod(&j)
		err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, &j) })
		if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateJob(%s) = %v, want an error of no store kind", c.name, err)
		}
	}
}

func testFinishJob(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	w := jobFixture(t, s)
	job := createJob(t, s, newJob(w.a.ID, w.user.ID, "job", d.next()))
	other := createJob(t, s, newJob(w.a.ID, w.user.ID, "other", d.next()))
	at := t0.Add(10 * time.Minute)
	cases := []struct {
		name      string
		id        int64
		status    keygate.JobStatus
		at        time.Time
		want      bool
		wantErr   error
		wantMoved bool
	}{
		{"running job", job.ID, keygate.JobCanceled, at, true, nil, true},
		{"finished job", job.ID, keygate.JobSuccess, at.Add(time.Hour), false, nil, false},
		{"no such job", 999, keygate.JobSuccess, at, false, store.ErrNotFound, false},
	}
	for _, c := range cases {
		before := marker(t, s)
		var got bool
		err := s.InTx(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.FinishJob(ctx, c.id, c.status, c.at)
			return err
		})
		if got != c.want || !isErr(err, c.wantErr) {
			t.Errorf("FinishJob(%s: %d, %s) = %v, %v, want %v, %v", c.name, c.id, c.status, got, err, c.want, c.wantErr)
		}
		if moved := marker(t, s) != before; moved != c.wantMoved {
			t.Errorf("Marker() after FinishJob(%s): moved = %v, want %v", c.name, moved, c.wantMoved)
		}
	}
	// The first finish holds; the second changed nothing.
	got, err := s.Job(ctx, job.ID)
	if err != nil || got.Status != keygate.JobCanceled || got.FinishedAt == nil || !got.FinishedAt.Equal(utc(at)) {
		t.Errorf("Job(%d) after FinishJob = %s, %v, %v, want canceled, %v, nil", job.ID, got.Status, got.FinishedAt, err, utc(at))
	}
	if got.FinishedAt != nil && got.FinishedAt.Location() != time.UTC {
		t.Errorf("Job(%d).FinishedAt location = %v, want UTC", job.ID, got.FinishedAt.Location())
	}
	if got.Running(at) {
		t.Errorf("Job(%d).Running(%v) after FinishJob = true, want false", job.ID, at)
	}
	// Only a final status finishes a job.
	for _, status := range []keygate.JobStatus{keygate.JobRunning, "", "pending"} {
		err := s.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.FinishJob(ctx, other.ID, status, at)
			return err
		})
		if err == nil {
			t.Errorf("FinishJob(%d, %q) = nil, want an error", other.ID, status)
		}
	}
	if got, err := s.Job(ctx, other.ID); err != nil || got.Status != keygate.JobRunning || got.FinishedAt != nil {
		t.Errorf("Job(other) after refused finishes = %s, %v, %v, want running, nil, nil", got.Status, got.FinishedAt, err)
	}
}

// testConcurrentFinish: two finishes of one job at once, in one process and in two;
// exactly one reports that it finished it.
func testConcurrentFinish(t *testing.T, open func(*testing.T) store.Store) {
	s1 := open(t)
	s2 := open(t)
	var d digests
	w := jobFixture(t, s1)
	for _, pair := range []struct {
		name string
		a, b store.Store
	}{{"one store", s1, s1}, {"two stores", s1, s2}} {
		for i := range 10 {
			job := createJob(t, s1, newJob(w.a.ID, w.user.ID, fmt.Sprintf("%s %d", pair.name, i), d.next()))
			results := make([]bool, 2)
			errs := make([]error, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for g, s := range []store.Store{pair.a, pair.b} {
				status := []keygate.JobStatus{keygate.JobSuccess, keygate.JobCanceled}[g]
				wg.Go(func() {
					<-start
					ctx := t.Context()
					errs[g] = s.InTx(ctx, func(tx store.Tx) error {
						var err error
						results[g], err = tx.FinishJob(ctx, job.ID, status, t0)
						return err
					})
				})
			}
			close(start)
			wg.Wait()
			if errs[0] != nil || errs[1] != nil || results[0] == results[1] {
				t.Errorf("%s, round %d: FinishJob twice at once = (%v, %v), (%v, %v), want one true, one false, no errors",
					pair.name, i, results[0], errs[0], results[1], errs[1])
			}
		}
	}
}

func testJobTokenScope(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	w := jobFixture(t, s)
	if got, err := s.JobTokenScope(ctx, w.a.ID); err != nil ||
		got != (keygate.JobTokenScope{ProjectID: w.a.ID, InboundEnabled: true, PushAllowed: false}) {
		t.Errorf("JobTokenScope(a) never saved = %+v, %v, want {ProjectID: %d, InboundEnabled: true, PushAllowed: false}, nil", got, err, w.a.ID)
	}
	steps := []keygate.JobTokenScope{
		{ProjectID: w.a.ID, InboundEnabled: false, PushAllowed: true},
		{ProjectID: w.a.ID, InboundEnabled: true, PushAllowed: true},
		{ProjectID: w.a.ID, InboundEnabled: false, PushAllowed: false},
	}
	for _, want := range steps {
		before := marker(t, s)
		inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			if err := tx.PutJobTokenScope(ctx, want); err != nil {
				return err
			}
			if got, err := tx.JobTokenScope(ctx, want.ProjectID); err != nil || got != want {
				return fmt.Errorf("Tx.JobTokenScope() after PutJobTokenScope = %+v, %v, want %+v", got, err, want)
			}
			return nil
		})
		if after := marker(t, s); after == before {
			t.Errorf("Marker() after PutJobTokenScope(%+v): %d → %d, want moved", want, before, after)
		}
		if got, err := s.JobTokenScope(ctx, want.ProjectID); err != nil || got != want {
			t.Errorf("JobTokenScope() after PutJobTokenScope(%+v) = %+v, %v, want the same, nil", want, got, err)
		}
	}
	// Another project keeps the defaults; a deleted project's settings go with it.
	if got, err := s.JobTokenScope(ctx, w.b.ID); err != nil || !got.InboundEnabled || got.PushAllowed || got.ProjectID != w.b.ID {
		t.Errorf("JobTokenScope(b) = %+v, %v, want the defaults", got, err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteProject(ctx, w.a.ID) })
	if _, err := s.JobTokenScope(ctx, w.a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("JobTokenScope(deleted project) = %v, want %v", err, store.ErrNotFound)
	}
}

func testAllowedProjects(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	w := jobFixture(t, s)
	list := func(id int64) []int64 {
		t.Helper()
		got, err := s.AllowedProjects(ctx, id)
		if err != nil {
			t.Fatalf("AllowedProjects(%d) = %v", id, err)
		}
		return got
	}
	if got := list(w.a.ID); len(got) != 0 {
		t.Errorf("AllowedProjects(a) with none = %v, want empty", got)
	}
	// The order added, not the ID order; the project itself may be listed too.
	for _, id := range []int64{w.home.ID, w.c.ID, w.b.ID, w.a.ID} {
		before := marker(t, s)
		inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AllowProject(ctx, w.a.ID, id) })
		if after := marker(t, s); after != before {
			t.Errorf("Marker() after AllowProject(a, %d): %d → %d, want unchanged", id, before, after)
		}
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AllowProject(ctx, w.b.ID, w.c.ID) })
	if got, want := list(w.a.ID), []int64{w.home.ID, w.c.ID, w.b.ID, w.a.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedProjects(a) = %v, want %v (the order added)", got, want)
	}
	if got, want := list(w.b.ID), []int64{w.c.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedProjects(b) = %v, want %v", got, want)
	}
	// A duplicate is refused and leaves the transaction usable.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.AllowProject(ctx, w.a.ID, w.c.ID); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("AllowProject(a, c) again = %v, want %v", err, store.ErrConflict)
		}
		if got, err := tx.AllowedProjects(ctx, w.a.ID); err != nil || len(got) != 4 {
			return fmt.Errorf("Tx.AllowedProjects(a) after a refused add = %v, %v, want 4 entries", got, err)
		}
		return tx.AllowProject(ctx, w.a.ID, w.d.ID)
	})
	// Removing moves the Marker; removing again is ErrNotFound.
	before := marker(t, s)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DisallowProject(ctx, w.a.ID, w.c.ID) })
	if after := marker(t, s); after == before {
		t.Errorf("Marker() after DisallowProject(a, c): %d → %d, want moved", before, after)
	}
	err := s.InTx(ctx, func(tx store.Tx) error { return tx.DisallowProject(ctx, w.a.ID, w.c.ID) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DisallowProject(a, c) again = %v, want %v", err, store.ErrNotFound)
	}
	if got, want := list(w.a.ID), []int64{w.home.ID, w.b.ID, w.a.ID, w.d.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedProjects(a) after DisallowProject(a, c) = %v, want %v", got, want)
	}
	if got, want := list(w.b.ID), []int64{w.c.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedProjects(b) after DisallowProject(a, c) = %v, want %v (untouched)", got, want)
	}
	// Re-adding puts it last.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AllowProject(ctx, w.a.ID, w.c.ID) })
	if got, want := list(w.a.ID), []int64{w.home.ID, w.b.ID, w.a.ID, w.d.ID, w.c.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedProjects(a) after re-adding c = %v, want %v", got, want)
	}
	// Deleting an allowed project takes it off every list; deleting a namespace takes its
	// projects off; deleting the project takes its list.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteProject(ctx, w.b.ID) })
	if got, want := list(w.a.ID), []int64{w.home.ID, w.a.ID, w.d.ID, w.c.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedProjects(a) after DeleteProject(b) = %v, want %v", got, want)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteNamespace(ctx, w.sub.ID) })
	if got, want := list(w.a.ID), []int64{w.home.ID, w.a.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedProjects(a) after DeleteNamespace(sub) = %v, want %v", got, want)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AllowProject(ctx, w.home.ID, w.a.ID) })
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteProject(ctx, w.a.ID) })
	if got := list(w.a.ID); len(got) != 0 {
		t.Errorf("AllowedProjects(deleted a) = %v, want empty", got)
	}
	if got := list(w.home.ID); len(got) != 0 {
		t.Errorf("AllowedProjects(home) after DeleteProject(a) = %v, want empty", got)
	}
}

func testAllowedGroups(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	w := jobFixture(t, s)
	other := createNamespace(t, s, newGroup("other", "Other", 0, keygate.Private))
	list := func(id int64) []int64 {
		t.Helper()
		got, err := s.AllowedGroups(ctx, id)
		if err != nil {
			t.Fatalf("AllowedGroups(%d) = %v", id, err)
		}
		return got
	}
	if got := list(w.a.ID); len(got) != 0 {
		t.Errorf("AllowedGroups(a) with none = %v, want empty", got)
	}
	for _, id := range []int64{other.ID, w.sub.ID, w.group.ID} {
		before := marker(t, s)
		inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AllowGroup(ctx, w.a.ID, id) })
		if after := marker(t, s); after != before {
			t.Errorf("Marker() after AllowGroup(a, %d): %d → %d, want unchanged", id, before, after)
		}
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AllowGroup(ctx, w.b.ID, w.group.ID) })
	if got, want := list(w.a.ID), []int64{other.ID, w.sub.ID, w.group.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedGroups(a) = %v, want %v (the order added)", got, want)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.AllowGroup(ctx, w.a.ID, w.sub.ID); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("AllowGroup(a, sub) again = %v, want %v", err, store.ErrConflict)
		}
		return nil
	})
	before := marker(t, s)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DisallowGroup(ctx, w.a.ID, other.ID) })
	if after := marker(t, s); after == before {
		t.Errorf("Marker() after DisallowGroup(a, other): %d → %d, want moved", before, after)
	}
	err := s.InTx(ctx, func(tx store.Tx) error { return tx.DisallowGroup(ctx, w.a.ID, other.ID) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DisallowGroup(a, other) again = %v, want %v", err, store.ErrNotFound)
	}
	if got, want := list(w.a.ID), []int64{w.sub.ID, w.group.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedGroups(a) after DisallowGroup(a, other) = %v, want %v", got, want)
	}
	// Deleting a group takes it (and its subgroups) off every list.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AllowGroup(ctx, w.home.ID, w.sub.ID) })
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteNamespace(ctx, w.sub.ID) })
	if got, want := list(w.a.ID), []int64{w.group.ID}; !slices.Equal(got, want) {
		t.Errorf("AllowedGroups(a) after DeleteNamespace(sub) = %v, want %v", got, want)
	}
	if got := list(w.home.ID); len(got) != 0 {
		t.Errorf("AllowedGroups(home) after DeleteNamespace(sub) = %v, want empty", got)
	}
	// Deleting the project takes its list; deleting the group the rest.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteProject(ctx, w.b.ID) })
	if got := list(w.b.ID); len(got) != 0 {
		t.Errorf("AllowedGroups(deleted b) = %v, want empty", got)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AllowGroup(ctx, w.home.ID, w.group.ID) })
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteNamespace(ctx, w.group.ID) })
	if got := list(w.home.ID); len(got) != 0 {
		t.Errorf("AllowedGroups(home) after DeleteNamespace(group) = %v, want empty", got)
	}
}

// testJobCascade: a job goes with its project (directly or with its namespace) and with
// its user.
func testJobCascade(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	var d digests
	w := jobFixture(t, s)
	other := createUser(t, s, newUser("other"))
	inA := createJob(t, s, newJob(w.a.ID, w.user.ID, "in a", d.next()))
	inC := createJob(t, s, newJob(w.c.ID, other.ID, "in c", d.next()))
	byOther := createJob(t, s, newJob(w.b.ID, other.ID, "by other", d.next()))
	kept := createJob(t, s, newJob(w.b.ID, w.user.ID, "kept", d.next()))
	gone := func(step string, jobs ...keygate.Job) {
		t.Helper()
		for _, j := range jobs {
			if _, err := s.Job(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Job(%s) after %s = %v, want %v", j.Name, step, err, store.ErrNotFound)
			}
			if _, err := s.JobByDigest(ctx, j.TokenDigest); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("JobByDigest(%s) after %s = %v, want %v", j.Name, step, err, store.ErrNotFound)
			}
		}
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteProject(ctx, w.a.ID) })
	gone("DeleteProject(a)", inA)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteNamespace(ctx, w.sub.ID) })
	gone("DeleteNamespace(sub)", inC)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteUser(ctx, other.ID) })
	gone("DeleteUser(other)", byOther)
	if got, err := s.Job(ctx, kept.ID); err != nil || got.ID != kept.ID {
		t.Errorf("Job(kept) after the deletes = %d, %v, want %d, nil", got.ID, err, kept.ID)
	}
}

func testJobTokenAuthLog(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	w := jobFixture(t, s)
	entry := func(target, source int64, at time.Time, count int64) keygate.JobTokenAuth {
		return keygate.JobTokenAuth{ProjectID: target, SourceProjectID: source, LastAt: at, Count: count}
	}
	log := func(id int64) []keygate.JobTokenAuth {
		t.Helper()
		got, err := s.JobTokenAuthLog(ctx, id)
		if err != nil {
			t.Fatalf("JobTokenAuthLog(%d) = %v", id, err)
		}
		return got
	}
	if err := s.RecordJobTokenAuths(ctx, nil); err != nil {
		t.Errorf("RecordJobTokenAuths(nil) = %v, want nil", err)
	}
	steps := []struct {
		name    string
		entries []keygate.JobTokenAuth
		want    map[int64][]keygate.JobTokenAuth // by target project
	}{
		{"one batch, one pair twice", []keygate.JobTokenAuth{
			entry(w.a.ID, w.b.ID, t0, 1),
			entry(w.a.ID, w.c.ID, t0.Add(time.Hour), 2),
			entry(w.a.ID, w.b.ID, t0.Add(-time.Hour), 3), // older: counts, but keeps t0
			entry(w.b.ID, w.a.ID, t0, 1),
		}, map[int64][]keygate.JobTokenAuth{
			w.a.ID: {entry(w.a.ID, w.c.ID, utc(t0.Add(time.Hour)), 2), entry(w.a.ID, w.b.ID, utc(t0), 4)},
			w.b.ID: {entry(w.b.ID, w.a.ID, utc(t0), 1)},
		}},
		{"a newer use moves to the front", []keygate.JobTokenAuth{
			entry(w.a.ID, w.b.ID, t0.Add(2*time.Hour), 1),
		}, map[int64][]keygate.JobTokenAuth{
			w.a.ID: {entry(w.a.ID, w.b.ID, utc(t0.Add(2*time.Hour)), 5), entry(w.a.ID, w.c.ID, utc(t0.Add(time.Hour)), 2)},
		}},
		{"an older use only counts", []keygate.JobTokenAuth{
			entry(w.a.ID, w.c.ID, t0, 10),
		}, map[int64][]keygate.JobTokenAuth{
			w.a.ID: {entry(w.a.ID, w.b.ID, utc(t0.Add(2*time.Hour)), 5), entry(w.a.ID, w.c.ID, utc(t0.Add(time.Hour)), 12)},
		}},
		{"ties by source project", []keygate.JobTokenAuth{
			entry(w.c.ID, w.home.ID, t0, 1),
			entry(w.c.ID, w.a.ID, t0, 1),
		}, map[int64][]keygate.JobTokenAuth{
			w.c.ID: {entry(w.c.ID, w.a.ID, utc(t0), 1), entry(w.c.ID, w.home.ID, utc(t0), 1)},
		}},
		{"missing projects are skipped", []keygate.JobTokenAuth{
			entry(w.d.ID, 999, t0, 1),
			entry(999, w.d.ID, t0, 1),
			entry(w.d.ID, w.a.ID, t0, 1),
		}, map[int64][]keygate.JobTokenAuth{
			w.d.ID: {entry(w.d.ID, w.a.ID, utc(t0), 1)},
			999:    nil,
		}},
	}
	for _, st := range steps {
		before := marker(t, s)
		if err := s.RecordJobTokenAuths(ctx, st.entries); err != nil {
			t.Fatalf("%s: RecordJobTokenAuths = %v", st.name, err)
		}
		if after := marker(t, s); after != before {
			t.Errorf("%s: Marker() after RecordJobTokenAuths: %d → %d, want unchanged", st.name, before, after)
		}
		for target, want := range st.want {
			if got := log(target); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: JobTokenAuthLog(%d) = %+v, want %+v", st.name, target, got, want)
			}
		}
	}
	for _, e := range log(w.a.ID) {
		if e.LastAt.Location() != time.UTC {
			t.Errorf("JobTokenAuthLog(a) LastAt location = %v, want UTC", e.LastAt.Location())
		}
	}
	// Lines go with either project.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteProject(ctx, w.c.ID) })
	if got, want := log(w.a.ID), []keygate.JobTokenAuth{entry(w.a.ID, w.b.ID, utc(t0.Add(2*time.Hour)), 5)}; !reflect.DeepEqual(got, want) {
		t.Errorf("JobTokenAuthLog(a) after DeleteProject(c) = %+v, want %+v", got, want)
	}
	if got := log(w.c.ID); len(got) != 0 {
		t.Errorf("JobTokenAuthLog(deleted c) = %+v, want empty", got)
	}
}

// testRecordJobTokenAuthsConcurrent: batches recorded at once by two stores (two nodes
// or processes), with overlapping pairs in different orders, lose no count.
func testRecordJobTokenAuthsConcurrent(t *testing.T, open func(*testing.T) store.Store) {
	s1 := open(t)
	s2 := open(t)
	ctx := t.Context()
	w := jobFixture(t, s1)
	pairs := [][2]int64{{w.a.ID, w.b.ID}, {w.a.ID, w.c.ID}, {w.b.ID, w.a.ID}, {w.c.ID, w.d.ID}}
	const writers, rounds = 4, 10
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range writers {
		s := []store.Store{s1, s2}[g%2]
		wg.Go(func() {
			<-start
			for r := range rounds {
				var batch []keygate.JobTokenAuth
				for i := range pairs {
					p := pairs[(i+g+r)%len(pairs)]
					at := t0.Add(time.Duration(g*rounds+r) * time.Second)
					batch = append(batch, keygate.JobTokenAuth{ProjectID: p[0], SourceProjectID: p[1], LastAt: at, Count: 1})
				}
				if err := s.RecordJobTokenAuths(ctx, batch); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: RecordJobTokenAuths = %v", g, err)
		}
	}
	latest := utc(t0.Add(time.Duration(writers*rounds-1) * time.Second))
	for _, p := range pairs {
		got, err := s1.JobTokenAuthLog(ctx, p[0])
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(got, func(e keygate.JobTokenAuth) bool { return e.SourceProjectID == p[1] })
		if i < 0 || got[i].Count != writers*rounds || !got[i].LastAt.Equal(latest) {
			t.Errorf("JobTokenAuthLog(%d) = %+v, want source %d with count %d, last %v", p[0], got, p[1], writers*rounds, latest)
		}
	}
}

// testJobMarker: the job writes that can take access away move the Marker; those that
// create or grant do not.
func testJobMarker(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	var d digests
	w := jobFixture(t, s)
	job := createJob(t, s, newJob(w.a.ID, w.user.ID, "job", d.next()))
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.AllowProject(ctx, w.a.ID, w.c.ID); err != nil {
			return err
		}
		return tx.AllowGroup(ctx, w.a.ID, w.sub.ID)
	})
	cases := []struct {
		write     string
		fn        func(ctx context.Context, tx store.Tx) error
		wantMoved bool
	}{
		{"CreateJob", func(ctx context.Context, tx store.Tx) error {
			j := newJob(w.b.ID, w.user.ID, "another", d.next())
			return tx.CreateJob(ctx, &j)
		}, false},
		{"AllowProject", func(ctx context.Context, tx store.Tx) error { return tx.AllowProject(ctx, w.a.ID, w.b.ID) }, false},
		{"AllowGroup", func(ctx context.Context, tx store.Tx) error { return tx.AllowGroup(ctx, w.a.ID, w.group.ID) }, false},
		{"reads only", func(ctx context.Context, tx store.Tx) error {
			if _, err := tx.JobByDigest(ctx, job.TokenDigest); err != nil {
				return err
			}
			if _, err := tx.JobTokenScope(ctx, w.a.ID); err != nil {
				return err
			}
			_, err := tx.AllowedGroups(ctx, w.a.ID)
			return err
		}, false},
		{"FinishJob", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.FinishJob(ctx, job.ID, keygate.JobSuccess, t0)
			return err
		}, true},
		{"FinishJob of a finished job", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.FinishJob(ctx, job.ID, keygate.JobFailed, t0)
			return err
		}, false},
		{"PutJobTokenScope", func(ctx context.Context, tx store.Tx) error {
			return tx.PutJobTokenScope(ctx, keygate.JobTokenScope{ProjectID: w.a.ID, InboundEnabled: true})
		}, true},
		{"DisallowProject", func(ctx context.Context, tx store.Tx) error { return tx.DisallowProject(ctx, w.a.ID, w.c.ID) }, true},
		{"DisallowGroup", func(ctx context.Context, tx store.Tx) error { return tx.DisallowGroup(ctx, w.a.ID, w.sub.ID) }, true},
	}
	for _, c := range cases {
		before := marker(t, s)
		inTx(t, s, c.fn)
		after := marker(t, s)
		if moved := after != before; moved != c.wantMoved {
			t.Errorf("Marker() after %s: %d → %d, moved = %v, want %v", c.write, before, after, moved, c.wantMoved)
		}
	}
	before := marker(t, s)
	err := s.RecordJobTokenAuths(t.Context(), []keygate.JobTokenAuth{
		{ProjectID: w.a.ID, SourceProjectID: w.b.ID, LastAt: t0, Count: 1},
	})
	if err != nil {
		t.Fatalf("RecordJobTokenAuths = %v", err)
	}
	if after := marker(t, s); after != before {
		t.Errorf("Marker() after RecordJobTokenAuths: %d → %d, want unchanged", before, after)
	}
}
