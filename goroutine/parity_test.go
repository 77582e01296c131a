package goroutine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel/codes"

	"github.com/routinely/routinely/observation"
)

// backlog is a queue worker's handler: each run takes one item and asks to
// be called again at once while items remain.
type backlog struct {
	mu      sync.Mutex
	items   int
	starts  []time.Time
	wrap    bool          // wrap ErrReinvokeImmediately instead of returning it
	took    time.Duration // how long each run sleeps
	handled int
}

func (b *backlog) Handle(ctx context.Context) error {
	b.mu.Lock()
	b.starts = append(b.starts, time.Now())
	b.mu.Unlock()
	time.Sleep(b.took)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.items == 0 {
		return nil
	}
	b.items--
	b.handled++
	if b.items == 0 {
		return nil
	}
	if b.wrap {
		return fmt.Errorf("item %d done, more queued: %w", b.handled, ErrReinvokeImmediately)
	}
	return ErrReinvokeImmediately
}

func TestPeriodic_ReinvokeImmediatelyDrainsABacklogInBackToBackSuccessfulRuns(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap bool
		took time.Duration
	}{
		{"returned", false, 0},
		{"wrapped", true, 0},
		{"slow handler", false, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t)
				var handled atomic.Int32
				h := &backlog{items: 100, wrap: tc.wrap, took: tc.took}
				eh := &countingErrorHandler{Handler: h, calls: &handled}
				const interval = time.Hour
				r := f.periodic(t.Context(), "drain", interval, eh,
					WithBackoff(time.Second, time.Minute),
					WithErrorFilter(func(error) observation.ErrorFilterBehaviour {
						t.Error("error filter called")
						return observation.EmitForAll
					}))
				origin := time.Now()
				returned := make(chan struct{})
				go func() { r.Start(); close(returned) }()
				time.Sleep(100*tc.took + time.Nanosecond)
				synctest.Wait()

				h.mu.Lock()
				starts := append([]time.Time(nil), h.starts...)
				h.mu.Unlock()
				if len(starts) != 100 {
					t.Fatalf("%d runs drained 100 items, want 100", len(starts))
				}
				for i, s := range starts {
					if want := origin.Add(time.Duration(i) * tc.took); !s.Equal(want) {
						t.Fatalf("run %d started at +%v, want +%v: back to back", i, s.Sub(origin), want.Sub(origin))
					}
				}
				if got := f.durationCount("drain", "success"); got != 100 {
					t.Errorf("success samples = %v, want 100", got)
				}
				if got := f.value(names.HandlerErrors, "drain"); got != 0 {
					t.Errorf("%s = %v, want 0", names.HandlerErrors, got)
				}
				drainEnd := origin.Add(100 * tc.took)
				if got := f.value(names.LastSuccess, "drain"); got != float64(drainEnd.UnixNano())/1e9 {
					t.Errorf("%s = %v, want the end of the last run, %v", names.LastSuccess, got, float64(drainEnd.UnixNano())/1e9)
				}
				spans := f.spanNamed("routine.drain")
				if len(spans) != 100 {
					t.Errorf("%d spans, want 100", len(spans))
				}
				reinvoked := 0
				for _, s := range spans {
					if s.Status().Code == codes.Error || len(s.Events()) > 0 {
						t.Errorf("span %v has status %v and %d events, want no error", s.Attributes(), s.Status(), len(s.Events()))
					}
					for _, a := range s.Attributes() {
						if a.Key == "routine.reinvoke" && a.Value.AsBool() {
							reinvoked++
						}
					}
				}
				if reinvoked != 99 {
					t.Errorf("%d spans with routine.reinvoke=true, want 99", reinvoked)
				}
				for _, l := range f.logsMatching("") {
					if l.Level != log.LevelDebug {
						t.Errorf("log line %s %q, want only debug lines", l.Level, l.Message)
					}
				}
				if handled.Load() != 0 {
					t.Errorf("HandleError called %d times, want 0", handled.Load())
				}
				st := r.Status()
				if st.Successes != 100 || st.Errors != 0 || st.State != StateIdle {
					t.Errorf("Status: %d successes, %d errors, %q; want 100, 0, %q", st.Successes, st.Errors, st.State, StateIdle)
				}

				// The next run is at the next grid point after the drain.
				time.Sleep(interval - 100*tc.took - time.Nanosecond)
				synctest.Wait()
				h.mu.Lock()
				n, last := len(h.starts), h.starts[len(h.starts)-1]
				h.mu.Unlock()
				if n != 101 || !last.Equal(origin.Add(interval)) {
					t.Errorf("after the drain: %d runs, the last at +%v; want 101, at +%v", n, last.Sub(origin), interval)
				}
				r.Stop()
				<-returned
			})
		})
	}
}

// countingErrorHandler counts HandleError calls.
type countingErrorHandler struct {
	Handler
	calls *atomic.Int32
}

func (c *countingErrorHandler) HandleError(error) { c.calls.Add(1) }

func TestPeriodic_ReinvokeImmediatelyDoesNotMoveTheGrid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		// Runs at 0 (a drain of 3 runs of 25s, until 75s), then at the
		// next grid point after the drain, 80s, not 75+20.
		var mu sync.Mutex
		var starts []time.Duration
		origin := time.Now()
		h := HandlerFunc(func(ctx context.Context) error {
			mu.Lock()
			starts = append(starts, time.Since(origin))
			n := len(starts)
			mu.Unlock()
			if n <= 3 {
				time.Sleep(25 * time.Second)
			}
			if n < 3 {
				return ErrReinvokeImmediately
			}
			return nil
		})
		r := f.periodic(t.Context(), "grid", 20*time.Second, h)
		run(t, r, 100*time.Second)

		s := time.Second
		want := []time.Duration{0, 25 * s, 50 * s, 80 * s, 100 * s}
		mu.Lock()
		defer mu.Unlock()
		if !equalDurations(starts, want) {
			t.Errorf("invocations at %v, want %v", starts, want)
		}
	})
}

func TestPeriodic_ReinvokeImmediatelyEndsABackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		boom := fmt.Errorf("boom")
		h := &recorder{errs: []error{boom, boom, ErrReinvokeImmediately, boom}}
		r := f.periodic(t.Context(), "backoff-drain", time.Minute, h, WithBackoff(10*time.Second, time.Minute))
		origin := time.Now()
		run(t, r, 2*time.Minute)

		// Errors at 0 and 10 (backoff 10, 20); the reinvoke at 30 is a
		// success: the error at once after it backs off from 10 again.
		s := time.Second
		want := []time.Duration{0, 10 * s, 30 * s, 30 * s, 40 * s, 100 * s}
		if got := h.offsets(origin); !equalDurations(got, want) {
			t.Errorf("invocations at %v, want %v", got, want)
		}
	})
}

func TestPeriodic_StopEndsAnEndlessReinvokeLoopPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var runs atomic.Int64
		busy := make(chan struct{})
		h := HandlerFunc(func(ctx context.Context) error {
			if runs.Add(1) == 1000 {
				close(busy)
			}
			return ErrReinvokeImmediately
		})
		r := f.periodic(t.Context(), "endless", time.Hour, h, WithHistorySize(0))
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		<-busy
		start := time.Now()
		r.Stop()
		<-returned
		if d := time.Since(start); d != 0 {
			t.Errorf("Stop took %v of virtual time, want 0", d)
		}
		if got, n := r.Status().Successes, runs.Load(); got+r.Status().Canceled != uint64(n) || got < 1000 {
			t.Errorf("Status: %d successes of %d runs", got, n)
		}
	})
}

func TestLeaderElection_EachReinvokedRunRecordsItsStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		e := newFakeElector()
		h := &backlog{items: 5}
		r := f.periodic(t.Context(), "singleton-drain", time.Hour, h, WithLeaderElection(e))
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		lease := newFakeLease(1, time.Time{})
		e.grants <- lease
		synctest.Wait()
		if got := lease.recorded(); got != 5 {
			t.Errorf("%d starts recorded with the lease for 5 runs, want 5", got)
		}
		if got := f.durationCount("singleton-drain", "success"); got != 5 {
			t.Errorf("success samples = %v, want 5", got)
		}
		r.Stop()
		<-returned
	})
}
