package goroutine

// Regression tests for the failure modes of issue 8: a handler or a
// callback that returns, calls or panics with anything must never crash,
// hang or misreport the service.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/codes"

	"github.com/routinely/routinely/observation"
)

type nilPtrErr struct{ msg string }

func (e *nilPtrErr) Error() string { return e.msg } // panics on a nil receiver

type panickyErr struct{}

func (panickyErr) Error() string { panic("Error() exploded") }

func TestPeriodic_TypedNilAndPanickingErrorsAreFailedRuns(t *testing.T) {
	for _, tc := range []struct {
		desc string
		err  func() error
		want string
	}{
		{"typed nil", func() error { var e *nilPtrErr; return e }, "typed-nil error *goroutine.nilPtrErr"},
		{"Error panics", func() error { return panickyErr{} }, "goroutine.panickyErr whose Error method panicked: Error() exploded"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t)
				var handled []error
				h := &errorHandling{Handler: HandlerFunc(func(context.Context) error { return tc.err() }), handled: &handled}
				r := f.periodic(t.Context(), "hostile", time.Minute, h)
				run(t, r, 90*time.Second) // two runs, the process survives both

				if got := f.durationCount("hostile", "error"); got != 2 {
					t.Errorf("error samples = %v, want 2", got)
				}
				if got := f.value(names.HandlerErrors, "hostile"); got != 2 {
					t.Errorf("%s = %v, want 2", names.HandlerErrors, got)
				}
				if st := r.Status(); !strings.Contains(st.LastError, tc.want) {
					t.Errorf("LastError = %q, want it to contain %q", st.LastError, tc.want)
				}
				spans := f.spanNamed("routine.hostile")
				if len(spans) != 2 || spans[0].Status().Code != codes.Error || !strings.Contains(spans[0].Status().Description, tc.want) {
					t.Errorf("span status = %+v, want Error naming %q", spans[0].Status(), tc.want)
				}
				if lines := f.logsMatching("routine.hostile failed"); len(lines) != 2 || !strings.Contains(logAttrs(lines[0])["error"].(string), tc.want) {
					t.Errorf("failure lines = %v, want 2 naming %q", lines, tc.want)
				}
				if len(handled) != 2 {
					t.Errorf("HandleError called %d times, want 2", len(handled))
				}
			})
		})
	}
}

func TestObservation_TypedNilErrorDoesNotCrashAnOperation(t *testing.T) {
	f := newFixture(t)
	op := f.obs.Operation(observation.Op{Name: "typed-nil-op"})
	var e *nilPtrErr
	err := error(e)
	_, _, finish := op.With(t.Context(), &err, observation.Args{})
	finish(1, observation.Args{}) // must not panic
	if lines := f.logsMatching("typed-nil-op failed"); len(lines) != 1 {
		t.Errorf("%d failure lines, want 1", len(lines))
	}
}

func TestPeriodic_PanickingErrorFilterIsRecoveredCountedAndLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{errs: []error{errors.New("first"), errors.New("second")}}
		var calls atomic.Int32
		filter := func(error) observation.ErrorFilterBehaviour {
			calls.Add(1)
			panic("filter bug")
		}
		r := f.periodic(t.Context(), "bad-filter", time.Minute, h, WithErrorFilter(filter))
		run(t, r, 150*time.Second) // three runs: fail, fail, succeed

		if got := len(h.offsets(time.Now())); got != 3 {
			t.Fatalf("handler ran %d times, want 3: the routine must survive its filter", got)
		}
		if got := calls.Load(); got != 2 {
			t.Errorf("filter called %d times for 2 failures, want once each", got)
		}
		if got := f.value(names.HandlerErrors, "bad-filter"); got != 2 {
			t.Errorf("%s = %v: an error whose filter panicked is reported everywhere, want 2", names.HandlerErrors, got)
		}
		if got := f.value(names.HandlerPanics, "bad-filter"); got != 2 {
			t.Errorf("%s = %v, want the filter's 2 panics counted", names.HandlerPanics, got)
		}
		if lines := f.logsMatching("routine error filter panicked"); len(lines) != 2 || !strings.Contains(logAttrs(lines[0])["stack"].(string), "failure_test.go") {
			t.Errorf("filter panics logged %d times with stack, want 2: %v", len(lines), lines)
		}
	})
}

func TestPeriodic_ErrorFilterIsCalledOncePerFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{errs: []error{errors.New("a"), errors.New("b"), errors.New("c")}}
		var calls atomic.Int32
		filter := func(error) observation.ErrorFilterBehaviour {
			calls.Add(1)
			return observation.EmitForMetrics | observation.EmitForTraces
		}
		r := f.periodic(t.Context(), "filter-once", time.Minute, h, WithErrorFilter(filter))
		run(t, r, 150*time.Second)
		if got := calls.Load(); got != 3 {
			t.Errorf("filter called %d times for 3 failures, want 3", got)
		}
		// The filter's verdict is honoured everywhere: counted and traced,
		// not logged at Error.
		if got := f.value(names.HandlerErrors, "filter-once"); got != 3 {
			t.Errorf("%s = %v, want 3", names.HandlerErrors, got)
		}
		if lines := f.logsMatching("routine.filter-once failed"); len(lines) != 0 {
			t.Errorf("error logged at Error level against the filter: %v", lines)
		}
		if spans := f.spanNamed("routine.filter-once"); spans[0].Status().Code != codes.Error {
			t.Errorf("span status %v, want Error", spans[0].Status())
		}
	})
}

func TestPeriodic_PanickingIntervalFuncFallsBackToTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{}
		r := f.periodic(t.Context(), "bad-interval", time.Minute, h,
			WithIntervalFunc(func() time.Duration { panic("no interval today") }))
		origin := time.Now()
		run(t, r, 150*time.Second)

		want := []time.Duration{0, time.Minute, 2 * time.Minute}
		if got := h.offsets(origin); !equalDurations(got, want) {
			t.Errorf("runs at %v, want %v on the constructor's interval", got, want)
		}
		if got := f.value(names.HandlerPanics, "bad-interval"); got != 3 {
			t.Errorf("%s = %v, want the interval function's 3 panics", names.HandlerPanics, got)
		}
		if lines := f.logsMatching("routine interval function panicked"); len(lines) != 3 {
			t.Errorf("%d interval-function panic lines, want 3", len(lines))
		}
	})
}

// stopper is a handler that stops its own routine from one of its methods.
type stopper struct {
	r                                         atomic.Pointer[PeriodicGoroutine]
	inHandle, inHandleError, inOnShutdown     bool
	calls, handleErrors, shutdowns            atomic.Int32
	stopReturnedInside, returnedAfterStopping atomic.Bool
}

func (s *stopper) stop() {
	s.r.Load().Stop()
	s.stopReturnedInside.Store(true)
}

func (s *stopper) Handle(ctx context.Context) error {
	s.calls.Add(1)
	if s.inHandle {
		s.stop()
		if ctx.Err() == nil {
			return errors.New("Stop from the handler did not cancel its context")
		}
		return nil
	}
	if s.inHandleError {
		return errors.New("fail, so that HandleError runs")
	}
	return nil
}

func (s *stopper) HandleError(error) {
	s.handleErrors.Add(1)
	if s.inHandleError {
		s.stop()
	}
}

func (s *stopper) OnShutdown() {
	s.shutdowns.Add(1)
	if s.inOnShutdown {
		s.stop()
	}
}

func TestStop_FromInsideTheRoutineReturnsAndStopsIt(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		setup func(*stopper)
	}{
		{"handler", func(s *stopper) { s.inHandle = true }},
		{"HandleError", func(s *stopper) { s.inHandleError = true }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t)
				s := &stopper{}
				tc.setup(s)
				r := f.periodic(t.Context(), "self-stopping", time.Minute, s)
				s.r.Store(r)
				returned := make(chan struct{})
				go func() { r.Start(); close(returned) }()
				<-returned // Start returns: the routine stopped itself

				if !s.stopReturnedInside.Load() {
					t.Error("Stop called from inside did not return")
				}
				if got := s.calls.Load(); got != 1 {
					t.Errorf("handler ran %d times, want 1: no run after the routine stopped itself", got)
				}
				if got := s.shutdowns.Load(); got != 1 {
					t.Errorf("OnShutdown ran %d times, want 1", got)
				}
				if got := f.value(names.Up, "self-stopping"); got != 0 {
					t.Errorf("%s = %v after stopping, want 0", names.Up, got)
				}
				if st := r.Status(); st.State != StateStopped {
					t.Errorf("State = %q, want stopped", st.State)
				}
				r.Stop() // and from outside, afterwards: returns at once
			})
		})
	}
}

func TestStop_FromOnShutdownReturns(t *testing.T) {
	for _, started := range []bool{true, false} {
		t.Run(map[bool]string{true: "started", false: "never started"}[started], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t)
				s := &stopper{inOnShutdown: true}
				r := f.periodic(t.Context(), "stop-in-finalizer", time.Minute, s)
				s.r.Store(r)
				if started {
					go r.Start()
					synctest.Wait()
				}
				r.Stop() // calls OnShutdown, which calls Stop
				if !s.stopReturnedInside.Load() || s.shutdowns.Load() != 1 {
					t.Errorf("Stop inside OnShutdown returned = %v, OnShutdown calls = %d; want true, 1",
						s.stopReturnedInside.Load(), s.shutdowns.Load())
				}
			})
		})
	}
}

func TestPeriodic_HandlerCallingGoexitIsAPanicAndTheRoutineGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var calls atomic.Int32
		var handled []error
		h := &recordingCallbacks{errorHandling: errorHandling{Handler: HandlerFunc(func(context.Context) error {
			if calls.Add(1) == 1 {
				runtime.Goexit() // what t.FailNow does
			}
			return nil
		}), handled: &handled}}
		r := f.periodic(t.Context(), "goexit", time.Minute, h)
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		synctest.Wait()

		if got := f.value(names.HandlerInFlight, "goexit"); got != 0 {
			t.Errorf("%s = %v after the handler's Goexit, want 0", names.HandlerInFlight, got)
		}
		if got := f.durationCount("goexit", "panic"); got != 1 {
			t.Errorf("panic samples = %v, want 1 for the Goexit", got)
		}
		if len(handled) != 1 || !errors.Is(handled[0], ErrGoexit) {
			t.Errorf("HandleError got %v, want one error wrapping ErrGoexit", handled)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := calls.Load(); got != 2 {
			t.Errorf("handler ran %d times, want 2: the routine must go on after a Goexit", got)
		}
		r.Stop()
		<-returned
		if got := h.finalized.Load(); got != 1 {
			t.Errorf("OnShutdown ran %d times, want 1", got)
		}
		if got := f.value(names.Up, "goexit"); got != 0 {
			t.Errorf("%s = %v after Stop, want 0", names.Up, got)
		}
	})
}

// recordingCallbacks records HandleError and OnShutdown calls.
type recordingCallbacks struct {
	errorHandling
	finalized atomic.Int32
}

func (c *recordingCallbacks) OnShutdown() { c.finalized.Add(1) }

// goexitFinalizer calls runtime.Goexit from its callbacks.
type goexitFinalizer struct{ Handler }

func (goexitFinalizer) HandleError(error) { runtime.Goexit() }
func (goexitFinalizer) OnShutdown()       { runtime.Goexit() }

func TestPeriodic_CallbacksCallingGoexitAreContained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := goexitFinalizer{Handler: &recorder{errs: []error{errors.New("boom")}}}
		r := f.periodic(t.Context(), "goexit-callbacks", time.Minute, h)
		startReturned := false
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.Start()
			startReturned = true // Goexit in OnShutdown must not end Start's caller
		}()
		time.Sleep(90 * time.Second)
		synctest.Wait()
		r.Stop()
		<-done
		if !startReturned {
			t.Error("Start's caller was ended by a callback's Goexit")
		}
		if got := f.value(names.HandlerPanics, "goexit-callbacks"); got != 2 {
			t.Errorf("%s = %v, want 2 (HandleError and OnShutdown)", names.HandlerPanics, got)
		}
	})
}

func TestPeriodic_RunCutShortByStopIsCanceledNotSuccess(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		handle func(ctx context.Context) error
	}{
		{"returns nil", func(ctx context.Context) error { <-ctx.Done(); return nil }},
		{"returns ctx.Err()", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{"returns a wrapped ctx.Err()", func(ctx context.Context) error {
			<-ctx.Done()
			return errors.Join(errors.New("query"), ctx.Err())
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t)
				r := f.periodic(t.Context(), "cut-short", time.Minute, HandlerFunc(tc.handle))
				run(t, r, time.Second) // Stop while the handler waits

				if got := f.durationCount("cut-short", "canceled"); got != 1 {
					t.Errorf("canceled samples = %v, want 1", got)
				}
				if got := f.durationCount("cut-short", "success"); got != 0 {
					t.Errorf("success samples = %v, want 0", got)
				}
				if got := f.value(names.LastSuccess, "cut-short"); got != 0 {
					t.Errorf("%s = %v, want 0: a canceled run is not a success", names.LastSuccess, got)
				}
				if got := f.value(names.HandlerErrors, "cut-short"); got != 0 {
					t.Errorf("%s = %v, want 0: a canceled run is not a failure", names.HandlerErrors, got)
				}
				st := r.Status()
				if st.Canceled != 1 || st.Successes != 0 || st.Errors != 0 || st.LastRun == nil || st.LastRun.Outcome != OutcomeCanceled {
					t.Errorf("Status = %+v, want one canceled run", st)
				}
				spans := f.spanNamed("routine.cut-short")
				if len(spans) != 1 {
					t.Fatalf("%d spans, want 1", len(spans))
				}
				if got := attrs(spans[0])["routine.outcome"].AsString(); got != "canceled" {
					t.Errorf("routine.outcome = %q, want canceled", got)
				}
				if spans[0].Status().Code == codes.Error {
					t.Errorf("canceled span marked as an error")
				}
				if ev := spans[0].Events(); len(ev) != 1 || ev[0].Name != "routine.canceled" {
					t.Errorf("span events = %v, want one routine.canceled", ev)
				}
			})
		})
	}
}

func TestPeriodic_NextRunGaugeShowsBackoffAndHangs(t *testing.T) {
	t.Run("backoff puts it in the future", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t)
			h := HandlerFunc(func(context.Context) error { return errors.New("down") })
			r := f.periodic(t.Context(), "backing-off", time.Minute, h, WithBackoff(5*time.Minute, time.Hour))
			go r.Start()
			synctest.Wait()
			want := float64(time.Now().Add(5*time.Minute).UnixNano()) / 1e9
			if got := f.value(names.NextRun, "backing-off"); got != want {
				t.Errorf("%s = %v, want %v: due after the 5m backoff", names.NextRun, got, want)
			}
			r.Stop()
		})
	})
	t.Run("a hung handler leaves it in the past", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t)
			release := make(chan struct{})
			h := HandlerFunc(func(context.Context) error { <-release; return nil })
			r := f.periodic(t.Context(), "hung", time.Minute, h)
			due := float64(time.Now().UnixNano()) / 1e9
			go r.Start()
			time.Sleep(time.Hour)
			synctest.Wait()
			if got := f.value(names.NextRun, "hung"); got != due {
				t.Errorf("%s = %v an hour into a hung run, want its due time %v", names.NextRun, got, due)
			}
			close(release)
			synctest.Wait()
			if got, want := f.value(names.NextRun, "hung"), float64(time.Now().Add(time.Minute).UnixNano())/1e9; got != want {
				t.Errorf("%s = %v after the run, want the next tick %v", names.NextRun, got, want)
			}
			r.Stop()
		})
	})
}

func TestStatus_HugeErrorIsCutInTheHistoryButNotInLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		huge := errors.New(strings.Repeat("x", 1<<20))
		r := f.periodic(t.Context(), "huge-error", time.Minute, &recorder{errs: []error{huge}})
		run(t, r, time.Second)

		st := r.Status()
		if n := len(st.LastError); n > MaxRunErrorBytes+40 {
			t.Errorf("LastError is %d bytes, want at most %d plus the note", n, MaxRunErrorBytes)
		}
		if !strings.HasSuffix(st.Recent[0].Error, "bytes cut]") {
			t.Errorf("history error has no note that it was cut")
		}
		lines := f.logsMatching("routine.huge-error failed")
		if len(lines) != 1 || len(logAttrs(lines[0])["error"].(string)) != 1<<20 {
			t.Errorf("the log line must keep the full error text")
		}
	})
}

// TestPeriodic_ChurnWithFreshNamesStaysFlat: a service that builds and
// stops a routine per tenant, with WithDeleteMetricsOnStop, keeps only the
// live routines' series however many names it has used.
func TestPeriodic_ChurnWithFreshNamesStaysFlat(t *testing.T) {
	f := newFixture(t)
	for i := range 2000 {
		r, err := NewPeriodic(t.Context(), time.Hour, &recorder{},
			WithName(fmt.Sprintf("tenant-%d", i)),
			WithObservationContext(f.obs), WithDeleteMetricsOnStop())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { r.Start(); close(done) }()
		r.Stop()
		<-done
	}
	if got := testutil.CollectAndCount(f.reg); got != 0 {
		t.Errorf("%d series left after 2000 routines came and went, want 0", got)
	}
	// This registry's entry among the live names is gone (other tests'
	// registries may still hold theirs).
	c, err := registerCollectors(f.reg, "routine")
	if err != nil {
		t.Fatal(err)
	}
	liveNames.Lock()
	names, held := liveNames.m[c.duration]
	liveNames.Unlock()
	if held {
		t.Errorf("the registry still holds %d live names, want none", len(names))
	}
}
