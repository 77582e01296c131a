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

// gate is a handler whose runs block until the test opens the gate; it
// counts the runs in progress.
type gate struct {
	mu       sync.Mutex
	open     chan struct{}
	running  int
	starts   int
	canceled int // runs whose context was done when they were let go
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) Handle(ctx context.Context) error {
	g.mu.Lock()
	g.running++
	g.starts++
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	if ctx.Err() != nil {
		g.canceled++
	}
	return nil
}

// release lets the runs in progress return; later runs block again.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
	g.open = make(chan struct{})
}

func (g *gate) counts() (running, starts, canceled int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running, g.starts, g.canceled
}

// loopsAlive is the number of loop slots with a goroutine.
func (r *PeriodicGoroutine) loopsAlive() int {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	n := 0
	for _, a := range r.pool.alive {
		if a {
			n++
		}
	}
	return n
}

func TestPeriodic_ConcurrencyFuncResizesTheLoopsAtRunTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var want atomic.Int32
		var panics atomic.Bool
		want.Store(1)
		n := func() int {
			if panics.Load() {
				panic("no queue length")
			}
			return int(want.Load())
		}
		g := newGate()
		const interval = time.Minute
		r := f.periodic(t.Context(), "workers", interval, g, WithConcurrencyFunc(n))
		origin := time.Now()
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()

		check := func(when string, running, loops int) {
			t.Helper()
			synctest.Wait()
			got, _, _ := g.counts()
			if got != running {
				t.Errorf("%s: %d handlers running, want %d", when, got, running)
			}
			if got := f.value(names.HandlerInFlight, "workers"); got != float64(running) {
				t.Errorf("%s: %s = %v, want %d", when, names.HandlerInFlight, got, running)
			}
			if got := r.Status().State; (got == StateRunning) != (running > 0) {
				t.Errorf("%s: Status().State = %q with %d running", when, got, running)
			}
			if got := r.loopsAlive(); got != loops {
				t.Errorf("%s: %d loops, want %d", when, got, loops)
			}
		}
		check("f=1 at start", 1, 1)

		// 1 → 4: three loops start at once, while the first still runs.
		want.Store(4)
		time.Sleep(interval)
		check("f=4", 4, 4)

		// 4 → 2: the runs in progress go on, their context not cancelled;
		// the two loops beyond 2 exit after them.
		want.Store(2)
		time.Sleep(interval)
		check("f=2, runs in progress", 4, 4)
		time.Sleep(10 * time.Second) // off the grid
		g.release()
		check("f=2, runs done", 0, 2)
		if _, _, canceled := g.counts(); canceled != 0 {
			t.Errorf("%d runs of retired loops were cancelled, want 0", canceled)
		}
		// The loops left run on their grid: the next point, 3 minutes.
		if got := f.value(names.NextRun, "workers"); got != float64(origin.Add(3*interval).UnixNano())/1e9 {
			t.Errorf("%s = %v, want +3m", names.NextRun, got)
		}
		time.Sleep(interval - 10*time.Second)
		check("f=2, next tick", 2, 2)
		time.Sleep(10 * time.Second)
		g.release()

		// A panicking function is recovered and counted; the loops stay.
		panics.Store(true)
		time.Sleep(interval - 10*time.Second)
		check("f panics", 2, 2)
		if got := f.value(names.HandlerPanics, "workers"); got != 1 {
			t.Errorf("%s = %v after f panicked, want 1", names.HandlerPanics, got)
		}
		if got := f.logsMatching("routine concurrency function panicked"); len(got) != 1 {
			t.Errorf("%d log lines of the panic, want 1", len(got))
		}
		g.release()
		synctest.Wait()

		r.Stop()
		<-returned
		if got := r.loopsAlive(); got != 2 {
			t.Errorf("%d loop slots after Stop, want the last 2", got)
		}
		if st := r.Status(); st.Successes != 8 || st.Errors != 0 || st.Panics != 0 {
			// Loops 0 and 1 at 0 or 1m, 3m and 4m; loops 2 and 3 at 1m.
			t.Errorf("Status: %d successes, %d errors, %d panics; want 8, 0, 0", st.Successes, st.Errors, st.Panics)
		}
	})
}

func TestPeriodic_ConcurrencyFuncReusesARetiredLoopStillRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var want atomic.Int32
		want.Store(3)
		g := newGate()
		const interval = time.Minute
		r := f.periodic(t.Context(), "flapping", interval, g,
			WithConcurrencyFunc(func() int { return int(want.Load()) }))
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		synctest.Wait()

		// 3 → 1 → 3 while every run blocks: the retired loops carry on,
		// no new ones start, so at most 3 runs are ever in progress.
		want.Store(1)
		time.Sleep(interval)
		want.Store(3)
		time.Sleep(interval)
		synctest.Wait()
		if running, starts, _ := g.counts(); running != 3 || starts != 3 {
			t.Errorf("%d running of %d started, want 3 of 3", running, starts)
		}
		if got := r.loopsAlive(); got != 3 {
			t.Errorf("%d loops, want 3", got)
		}
		g.release()
		r.Stop()
		<-returned
	})
}

func TestPeriodic_ConcurrencyFuncRetiresWaitingLoopsAtOnceAndClamps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var want atomic.Int32
		want.Store(MaxConcurrency + 5)
		h := &recorder{}
		const interval = time.Minute
		r := f.periodic(t.Context(), "clamped", interval, h,
			WithConcurrencyFunc(func() int { return int(want.Load()) }))
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		synctest.Wait()
		if got := r.loopsAlive(); got != MaxConcurrency {
			t.Errorf("%d loops for f=MaxConcurrency+5, want MaxConcurrency", got)
		}
		want.Store(-3)
		time.Sleep(interval - time.Nanosecond)
		synctest.Wait()
		runs := len(h.offsets(time.Now()))
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		// The controller and the loops share the tick: the loops may run
		// once more before they see the change, then only one is left.
		if got := r.loopsAlive(); got != 1 {
			t.Errorf("%d loops for f=-3, want 1", got)
		}
		time.Sleep(interval)
		synctest.Wait()
		after := len(h.offsets(time.Now()))
		if after-runs > MaxConcurrency+1 || after == runs {
			t.Errorf("%d runs, then %d: want at most one tick of all loops, then 1 per tick", runs, after)
		}
		runs = after
		time.Sleep(interval)
		synctest.Wait()
		if got := len(h.offsets(time.Now())) - runs; got != 1 {
			t.Errorf("%d runs in a tick with one loop, want 1", got)
		}
		r.Stop()
		<-returned
	})
}

func TestLeaderElection_ConcurrencyFuncRetiresLoopsWaitingForLeadership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var want atomic.Int32
		want.Store(3)
		r := f.periodic(t.Context(), "follower", time.Minute, &recorder{},
			WithLeaderElection(newFakeElector()), // never grants a lease
			WithConcurrencyFunc(func() int { return int(want.Load()) }))
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		synctest.Wait()
		if got := r.loopsAlive(); got != 3 {
			t.Errorf("%d loops waiting for leadership, want 3", got)
		}
		want.Store(1)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := r.loopsAlive(); got != 1 {
			t.Errorf("%d loops after f=1, want 1", got)
		}
		r.Stop()
		<-returned
	})
}
