package goroutine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a handler that records when it was invoked, in virtual time,
// and returns the errors it is given in turn (nil once they run out).
type recorder struct {
	mu     sync.Mutex
	starts []time.Time
	errs   []error
}

func (r *recorder) Handle(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, time.Now())
	if len(r.errs) == 0 {
		return nil
	}
	err := r.errs[0]
	r.errs = r.errs[1:]
	return err
}

// offsets returns the invocation times relative to origin.
func (r *recorder) offsets(origin time.Time) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Duration, len(r.starts))
	for i, s := range r.starts {
		out[i] = s.Sub(origin)
	}
	return out
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// run starts r in the bubble, lets virtual time pass, stops r and waits for
// Start to return.
func run(t *testing.T, r *PeriodicGoroutine, d time.Duration) {
	t.Helper()
	returned := make(chan struct{})
	go func() {
		r.Start()
		close(returned)
	}()
	time.Sleep(d)
	synctest.Wait()
	r.Stop()
	<-returned
}

func TestPeriodic_RunsAtStartAndThenEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{}
		r := f.periodic(t.Context(), "ticker", time.Minute, h)
		origin := time.Now()
		run(t, r, 3*time.Minute+time.Second)

		want := []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute}
		if got := h.offsets(origin); !equalDurations(got, want) {
			t.Errorf("invocations at %v, want %v", got, want)
		}
	})
}

func TestPeriodic_SlowHandlerKeepsTheGridAndSkipsMissedTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var mu sync.Mutex
		var starts []time.Duration
		origin := time.Now()
		calls := 0
		h := HandlerFunc(func(ctx context.Context) error {
			mu.Lock()
			starts = append(starts, time.Since(origin))
			calls++
			slow := calls == 2
			mu.Unlock()
			if slow {
				time.Sleep(25 * time.Second) // overruns two ticks
			}
			return nil
		})
		r := f.periodic(t.Context(), "slow", 10*time.Second, h)
		run(t, r, 50*time.Second)

		// 0, 10 (runs until 35), next tick on the grid is 40, then 50.
		want := []time.Duration{0, 10 * time.Second, 40 * time.Second, 50 * time.Second}
		mu.Lock()
		defer mu.Unlock()
		if !equalDurations(starts, want) {
			t.Errorf("invocations at %v, want %v", starts, want)
		}
	})
}

func TestPeriodic_InitialDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{}
		r := f.periodic(t.Context(), "delayed", time.Minute, h, WithInitialDelay(30*time.Second))
		origin := time.Now()
		run(t, r, 2*time.Minute)

		want := []time.Duration{30 * time.Second, 90 * time.Second}
		if got := h.offsets(origin); !equalDurations(got, want) {
			t.Errorf("invocations at %v, want %v", got, want)
		}
	})
}

func TestPeriodic_DynamicIntervalIsReReadEachTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		intervals := []time.Duration{time.Second, 2 * time.Second, -1, 3 * time.Second}
		var calls atomic.Int32
		next := func() time.Duration {
			i := int(calls.Add(1)) - 1
			return intervals[min(i, len(intervals)-1)]
		}
		h := &recorder{}
		r := f.periodic(t.Context(), "dynamic", 5*time.Second, h, WithIntervalFunc(next))
		origin := time.Now()
		run(t, r, 14*time.Second)

		// 0; +1s; +2s; -1 falls back to the 5s static interval; +3s; +3s.
		want := []time.Duration{0, 1 * time.Second, 3 * time.Second, 8 * time.Second, 11 * time.Second, 14 * time.Second}
		if got := h.offsets(origin); !equalDurations(got, want) {
			t.Errorf("invocations at %v, want %v", got, want)
		}
		if got := f.value(names.Interval, "dynamic"); got != 3 {
			t.Errorf("%s = %v, want the interval in force, 3", names.Interval, got)
		}
		if got := r.Status().Interval; got != 3*time.Second {
			t.Errorf("Status().Interval = %v, want 3s", got)
		}
	})
}

func TestPeriodic_JitterStaysWithinBoundsAndDoesNotDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{}
		const interval = 10 * time.Second
		const fraction = 0.2
		r := f.periodic(t.Context(), "jittery", interval, h, WithJitter(fraction))
		origin := time.Now()
		run(t, r, 1000*interval)

		got := h.offsets(origin)
		if len(got) < 990 {
			t.Fatalf("%d invocations in 1000 intervals", len(got))
		}
		maxOffset := time.Duration(fraction * float64(interval))
		distinct := map[time.Duration]bool{}
		for k, at := range got {
			offset := at - time.Duration(k)*interval
			distinct[offset] = true
			if offset < -maxOffset || offset > maxOffset {
				t.Fatalf("invocation %d at %v is %v off its grid point, more than ±%v", k, at, offset, maxOffset)
			}
		}
		if len(distinct) < 100 {
			t.Errorf("only %d distinct offsets in %d invocations: jitter is not applied", len(distinct), len(got))
		}
	})
}

func TestPeriodic_BackoffAfterConsecutiveErrorsIsCappedAndResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		boom := errors.New("boom")
		h := &recorder{errs: []error{boom, boom, boom, boom, boom}}
		r := f.periodic(t.Context(), "backoff", time.Minute, h, WithBackoff(time.Second, 4*time.Second))
		origin := time.Now()

		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := r.Status().State; got != StateBackingOff {
			t.Errorf("State while backing off = %q, want %q", got, StateBackingOff)
		}
		time.Sleep(10*time.Second + time.Minute)
		synctest.Wait()
		r.Stop()
		<-returned

		// Errors at 0, 1, 3, 7, 11 (waits 1, 2, 4, 4), success at 15, then
		// the interval again: 75.
		s := time.Second
		want := []time.Duration{0, 1 * s, 3 * s, 7 * s, 11 * s, 15 * s, 75 * s}
		if got := h.offsets(origin); !equalDurations(got, want) {
			t.Errorf("invocations at %v, want %v", got, want)
		}
	})
}

func TestPeriodic_TimeoutCancelsTheInvocationAndCountsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var gotErr error
		var took time.Duration
		h := HandlerFunc(func(ctx context.Context) error {
			start := time.Now()
			<-ctx.Done()
			took = time.Since(start)
			gotErr = ctx.Err()
			return ctx.Err()
		})
		r := f.periodic(t.Context(), "timeout", time.Hour, h, WithTimeout(3*time.Second))
		run(t, r, 10*time.Second)

		if !errors.Is(gotErr, context.DeadlineExceeded) || took != 3*time.Second {
			t.Errorf("handler saw %v after %v, want deadline exceeded after 3s", gotErr, took)
		}
		if got := f.value(names.HandlerErrors, "timeout"); got != 1 {
			t.Errorf("%s = %v, want 1", names.HandlerErrors, got)
		}
		if got := f.durationCount("timeout", "error"); got != 1 {
			t.Errorf("error samples = %v, want 1", got)
		}
	})
}

func TestPeriodic_ConcurrencyRunsNLoops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		release := make(chan struct{})
		var running, peak atomic.Int32
		h := HandlerFunc(func(ctx context.Context) error {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			running.Add(-1)
			return nil
		})
		r := f.periodic(t.Context(), "pool", time.Minute, h, WithConcurrency(3))
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		synctest.Wait()

		if got := f.value(names.HandlerInFlight, "pool"); got != 3 {
			t.Errorf("%s = %v with 3 blocked loops, want 3", names.HandlerInFlight, got)
		}
		if st := r.Status(); st.State != StateRunning || !st.RunningSince.Equal(time.Now()) {
			t.Errorf("Status = %q since %v, want %q since now", st.State, st.RunningSince, StateRunning)
		}
		close(release)
		synctest.Wait()
		if got := f.value(names.HandlerInFlight, "pool"); got != 0 {
			t.Errorf("%s = %v after the handlers returned, want 0", names.HandlerInFlight, got)
		}
		if st := r.Status(); st.State != StateIdle || !st.RunningSince.IsZero() {
			t.Errorf("Status = %q since %v, want %q", st.State, st.RunningSince, StateIdle)
		}
		r.Stop()
		<-returned
		if peak.Load() != 3 {
			t.Errorf("peak concurrency %d, want 3", peak.Load())
		}
	})
}
