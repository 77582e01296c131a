package goroutine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeElector hands out the leases the test grants, one per Campaign.
type fakeElector struct {
	grants    chan *fakeLease
	campaigns atomic.Int64
	fail      atomic.Int64 // Campaign calls left that fail at once
}

func newFakeElector() *fakeElector { return &fakeElector{grants: make(chan *fakeLease)} }

func (e *fakeElector) Campaign(ctx context.Context, name string) (Lease, error) {
	e.campaigns.Add(1)
	if e.fail.Add(-1) >= 0 {
		return nil, errors.New("database unreachable")
	}
	select {
	case l := <-e.grants:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fakeLease is one term; lose ends it as a lost renewal would.
type fakeLease struct {
	term      uint64
	last      time.Time
	recordErr error
	done      chan struct{}
	lose      func()

	mu       sync.Mutex
	starts   []time.Time
	released bool
}

func newFakeLease(term uint64, last time.Time) *fakeLease {
	l := &fakeLease{term: term, last: last, done: make(chan struct{})}
	l.lose = sync.OnceFunc(func() { close(l.done) })
	return l
}

func (l *fakeLease) Term() uint64          { return l.term }
func (l *fakeLease) Done() <-chan struct{} { return l.done }
func (l *fakeLease) LastStart() time.Time  { return l.last }
func (l *fakeLease) RecordStart(_ context.Context, t time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.recordErr != nil {
		return l.recordErr
	}
	l.starts = append(l.starts, t)
	return nil
}
func (l *fakeLease) Release(context.Context) error {
	l.mu.Lock()
	l.released = true
	l.mu.Unlock()
	l.lose()
	return nil
}

func (l *fakeLease) recorded() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.starts)
}

func TestWithLeaderElection_RejectsNil(t *testing.T) {
	_, err := NewPeriodic(t.Context(), time.Second, HandlerFunc(func(context.Context) error { return nil }),
		WithName("nil-elector"), WithLeaderElection(nil))
	if err == nil || !strings.Contains(err.Error(), "WithLeaderElection: nil Elector") {
		t.Fatalf("err = %v, want one naming WithLeaderElection", err)
	}
}

// TestLeaderElection_RunsOnlyWhileLeading follows one replica through a
// term: no run while another leads, runs on the grid with the lease in
// their context while it leads, the in-flight run canceled the moment the
// lease is lost, and no run after that.
func TestLeaderElection_RunsOnlyWhileLeading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		e := newFakeElector()
		var runs atomic.Int64
		var terms []uint64
		block := make(chan struct{}) // closed: handlers return at once
		close(block)
		var blocking atomic.Pointer[chan struct{}]
		blocking.Store(&block)
		h := HandlerFunc(func(ctx context.Context) error {
			runs.Add(1)
			l, ok := LeaseFromContext(ctx)
			if !ok {
				return errors.New("no lease in the handler's context")
			}
			terms = append(terms, l.Term())
			select {
			case <-*blocking.Load():
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		r := f.periodic(t.Context(), "singleton", 10*time.Second, h, WithLeaderElection(e))
		go r.Start()
		defer r.Stop()

		time.Sleep(time.Minute)
		synctest.Wait()
		if n := runs.Load(); n != 0 {
			t.Fatalf("%d runs while not leading, want 0", n)
		}
		if got := f.value(names.Leader, "singleton"); got != 0 {
			t.Errorf("%s = %v while following, want 0", names.Leader, got)
		}
		if got := f.value(names.NextRun, "singleton"); got != 0 {
			t.Errorf("%s = %v while following, want 0: no run is due here", names.NextRun, got)
		}
		if l := r.Status().Leadership; l == nil || l.Leader {
			t.Errorf("Status().Leadership = %+v, want a follower", l)
		}

		lease := newFakeLease(7, time.Time{})
		e.grants <- lease
		synctest.Wait()
		time.Sleep(25 * time.Second) // runs at 0, 10, 20
		synctest.Wait()
		if n := runs.Load(); n != 3 {
			t.Fatalf("%d runs in 25s of leadership at a 10s interval, want 3", n)
		}
		if lease.recorded() != 3 {
			t.Errorf("%d starts recorded with the lease, want 3", lease.recorded())
		}
		for _, term := range terms {
			if term != 7 {
				t.Errorf("handler saw term %d, want 7", term)
			}
		}
		if got := f.value(names.Leader, "singleton"); got != 1 {
			t.Errorf("%s = %v while leading, want 1", names.Leader, got)
		}
		if l := r.Status().Leadership; l == nil || !l.Leader || l.Term != 7 {
			t.Errorf("Status().Leadership = %+v, want leader of term 7", l)
		}

		// The next run blocks; losing the lease cancels it.
		stuck := make(chan struct{})
		blocking.Store(&stuck)
		time.Sleep(5 * time.Second) // run at 30 starts
		synctest.Wait()
		lease.lose()
		synctest.Wait()
		if got := f.durationCount("singleton", "canceled"); got != 1 {
			t.Errorf("canceled runs = %v, want 1: the run cut short by lost leadership", got)
		}
		if got := f.value(names.HandlerErrors, "singleton"); got != 0 {
			t.Errorf("errors = %v, want 0: losing leadership is not the handler's failure", got)
		}
		var reasons []string
		for _, s := range f.spanNamed("routine.singleton") {
			for _, e := range s.Events() {
				if e.Name == "routine.canceled" {
					for _, a := range e.Attributes {
						reasons = append(reasons, a.Value.Emit())
					}
				}
			}
		}
		if !slices.Equal(reasons, []string{"leadership lost"}) {
			t.Errorf("routine.canceled event reasons %q, want [leadership lost]", reasons)
		}
		before := runs.Load()
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := runs.Load(); n != before {
			t.Errorf("%d runs after leadership was lost, want none", n-before)
		}
		if got := f.value(names.Leader, "singleton"); got != 0 {
			t.Errorf("%s = %v after losing the lease, want 0", names.Leader, got)
		}
		if got := f.value(names.LeaderTransitions, "singleton"); got != 2 {
			t.Errorf("%s = %v, want 2 (gained, lost)", names.LeaderTransitions, got)
		}
		if n := e.campaigns.Load(); n != 2 {
			t.Errorf("%d campaigns, want 2: it campaigns again after losing", n)
		}
		close(stuck)
	})
}

// TestLeaderElection_NewLeaderWaitsForTheSharedSchedule: a lease whose
// routine last started 4s ago, at a 10s interval, runs first 6s later, not
// at once.
func TestLeaderElection_NewLeaderWaitsForTheSharedSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		e := newFakeElector()
		started := make(chan time.Time, 10)
		h := HandlerFunc(func(context.Context) error { started <- time.Now(); return nil })
		r := f.periodic(t.Context(), "scheduled", 10*time.Second, h, WithLeaderElection(e))
		go r.Start()
		defer r.Stop()

		granted := time.Now()
		e.grants <- newFakeLease(1, granted.Add(-4*time.Second))
		first := <-started
		if got := first.Sub(granted); got != 6*time.Second {
			t.Errorf("first run %v after gaining leadership, want 6s: the rest of the interval since the last start", got)
		}
	})
}

// TestLeaderElection_NoRunWithoutARecordedStart: a lease that cannot
// record a start (its term is stale) runs nothing.
func TestLeaderElection_NoRunWithoutARecordedStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		e := newFakeElector()
		var runs atomic.Int64
		h := HandlerFunc(func(context.Context) error { runs.Add(1); return nil })
		r := f.periodic(t.Context(), "fenced", 10*time.Second, h, WithLeaderElection(e))
		go r.Start()
		defer r.Stop()

		lease := newFakeLease(2, time.Time{})
		lease.recordErr = errors.New("term 2 is stale")
		e.grants <- lease
		synctest.Wait()
		if n := runs.Load(); n != 0 {
			t.Errorf("%d runs with a lease that could not record its start, want 0", n)
		}
		if got := f.logsMatching("routine fenced: could not record"); len(got) != 1 {
			t.Errorf("%d log lines about the failed record, want 1", len(got))
		}
	})
}

// TestLeaderElection_StopReleasesTheLease lets another replica take over
// at once instead of after the lease expires.
func TestLeaderElection_StopReleasesTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		e := newFakeElector()
		h := HandlerFunc(func(context.Context) error { return nil })
		r := f.periodic(t.Context(), "released", 10*time.Second, h, WithLeaderElection(e))
		go r.Start()
		lease := newFakeLease(3, time.Time{})
		e.grants <- lease
		synctest.Wait()
		r.Stop()
		lease.mu.Lock()
		released := lease.released
		lease.mu.Unlock()
		if !released {
			t.Error("Stop returned without releasing the lease")
		}
		if got := f.value(names.Leader, "released"); got != 0 {
			t.Errorf("%s = %v after Stop, want 0", names.Leader, got)
		}
	})
}

// TestLeaderElection_CampaignErrorsAreRetriedWithBackoff: an elector that
// cannot reach its store is retried, 100ms, 200ms, 400ms apart, and each
// failure is logged.
func TestLeaderElection_CampaignErrorsAreRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		e := newFakeElector()
		e.fail.Store(3)
		var runs atomic.Int64
		h := HandlerFunc(func(context.Context) error { runs.Add(1); return nil })
		r := f.periodic(t.Context(), "retried", 10*time.Second, h, WithLeaderElection(e))
		go r.Start()
		defer r.Stop()

		synctest.Wait()
		time.Sleep(699 * time.Millisecond)
		synctest.Wait()
		if n := e.campaigns.Load(); n != 3 {
			t.Errorf("%d campaigns after 699ms, want 3 (at 0, 100ms, 300ms; the next at 700ms)", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if n := e.campaigns.Load(); n != 4 {
			t.Errorf("%d campaigns after 700ms, want 4", n)
		}
		if got := f.logsMatching("routine retried: campaign for leadership failed"); len(got) != 3 {
			t.Errorf("%d warnings, want one per failed campaign (3)", len(got))
		}
		e.grants <- newFakeLease(1, time.Time{})
		synctest.Wait()
		if runs.Load() != 1 {
			t.Errorf("%d runs after leadership came, want 1", runs.Load())
		}
	})
}

// closedElector is an Elector that was closed.
type closedElector struct{ campaigns atomic.Int64 }

func (e *closedElector) Campaign(context.Context, string) (Lease, error) {
	e.campaigns.Add(1)
	return nil, fmt.Errorf("postgres elector: %w", ErrElectorClosed)
}

// TestLeaderElection_ClosedElectorEndsTheCampaign: a closed elector is
// not retried forever; the routine stays a follower and says so once.
func TestLeaderElection_ClosedElectorEndsTheCampaign(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		e := &closedElector{}
		r := f.periodic(t.Context(), "orphan", time.Second, HandlerFunc(func(context.Context) error { return nil }), WithLeaderElection(e))
		go r.Start()
		defer r.Stop()
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := e.campaigns.Load(); n != 1 {
			t.Errorf("%d campaigns with a closed elector, want 1", n)
		}
		if got := f.logsMatching("routine orphan: its elector is closed"); len(got) != 1 {
			t.Errorf("%d error lines, want 1", len(got))
		}
	})
}

// A replica's streak of failures belongs to the term it made them in:
// losing the lease (the cut-short run canceled) leaves it, and leading
// again starts it from 0, before any run, so an old streak does not
// alert on a replica that has not failed in this term.
func TestLeaderElection_NewTermStartsANewFailureStreak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		e := newFakeElector()
		h := HandlerFunc(func(ctx context.Context) error {
			if l, _ := LeaseFromContext(ctx); l.Term() == 1 {
				return errors.New("term 1 fails")
			}
			<-ctx.Done()
			return ctx.Err()
		})
		r := f.periodic(t.Context(), "streaky", 10*time.Second, h, WithLeaderElection(e))
		go r.Start()
		defer r.Stop()

		first := newFakeLease(1, time.Time{})
		e.grants <- first
		time.Sleep(15 * time.Second) // runs at 0 and 10 fail
		synctest.Wait()
		if got := f.value(names.ConsecutiveFailures, "streaky"); got != 2 {
			t.Fatalf("%s = %v after two failed runs, want 2", names.ConsecutiveFailures, got)
		}
		first.lose()
		synctest.Wait()
		if got, st := f.value(names.ConsecutiveFailures, "streaky"), r.Status().ConsecutiveFailures; got != 2 || st != 2 {
			t.Errorf("following: %s = %v, Status %d, want 2 (kept)", names.ConsecutiveFailures, got, st)
		}

		// Term 2 is granted with its first run a whole interval away.
		e.grants <- newFakeLease(2, time.Now())
		synctest.Wait()
		if got, st := f.value(names.ConsecutiveFailures, "streaky"), r.Status().ConsecutiveFailures; got != 0 || st != 0 {
			t.Errorf("leading a new term: %s = %v, Status %d, want 0", names.ConsecutiveFailures, got, st)
		}
	})
}
