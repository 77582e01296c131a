package goroutine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sourcegraph/log"
	"github.com/sourcegraph/log/logtest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/routinely/routinely/internal/goid"
	"github.com/routinely/routinely/observation"
)

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// logAttrs returns a captured line's attributes, which sourcegraph/log
// nests under "Attributes" outside development mode.
func logAttrs(l logtest.CapturedLog) map[string]any {
	if a, ok := l.Fields["Attributes"].(map[string]any); ok {
		return a
	}
	return l.Fields
}

func TestPeriodic_EmitsTheMetricContract(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{errs: []error{nil, errors.New("boom"), nil}}
		r := f.periodic(t.Context(), "contract", 10*time.Second, h)

		// Before Start: every series exists, up is 0.
		if got := f.value(names.Up, "contract"); got != 0 {
			t.Errorf("%s before Start = %v, want 0", names.Up, got)
		}
		if got := f.value(names.Interval, "contract"); got != 10 {
			t.Errorf("%s = %v, want 10", names.Interval, got)
		}

		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		time.Sleep(25 * time.Second) // invocations at 0, 10, 20
		synctest.Wait()
		lastSuccess := time.Now().Add(-5 * time.Second)

		if got := f.value(names.Up, "contract"); got != 1 {
			t.Errorf("%s while started = %v, want 1", names.Up, got)
		}
		for outcome, want := range map[string]float64{"success": 2, "error": 1} {
			if got := f.durationCount("contract", outcome); got != want {
				t.Errorf("%s{outcome=%q} samples = %v, want %v", names.HandlerDuration, outcome, got, want)
			}
		}
		// A series per outcome that happened: no panic, no panic series.
		if got := testutil.CollectAndCount(f.reg, names.HandlerDuration); got != 2 {
			t.Errorf("%s has %d series, want 2 (success, error)", names.HandlerDuration, got)
		}
		if got := f.value(names.HandlerErrors, "contract"); got != 1 {
			t.Errorf("%s = %v, want 1", names.HandlerErrors, got)
		}
		if got := f.value(names.HandlerPanics, "contract"); got != 0 {
			t.Errorf("%s = %v, want 0", names.HandlerPanics, got)
		}
		if got := f.value(names.HandlerInFlight, "contract"); got != 0 {
			t.Errorf("%s = %v, want 0", names.HandlerInFlight, got)
		}
		if got, want := f.value(names.LastSuccess, "contract"), float64(lastSuccess.UnixNano())/1e9; got != want {
			t.Errorf("%s = %v, want %v (end of the invocation at 20s)", names.LastSuccess, got, want)
		}
		f.lint()

		r.Stop()
		<-returned
		if got := f.value(names.Up, "contract"); got != 0 {
			t.Errorf("%s after Stop = %v, want 0", names.Up, got)
		}
	})
}

func TestPeriodic_EachInvocationIsASpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{errs: []error{nil, errors.New("boom")}}
		r := f.periodic(t.Context(), "traced", 2*time.Minute, h)
		run(t, r, 3*time.Minute)

		spans := f.spanNamed("routine.traced")
		if len(spans) != 2 {
			t.Fatalf("%d spans named routine.traced, want 2 (all spans: %v)", len(spans), f.spans.Ended())
		}
		for i, s := range spans {
			a := attrs(s)
			if s.SpanKind() != trace.SpanKindInternal {
				t.Errorf("span %d kind = %v, want internal", i, s.SpanKind())
			}
			if got := a["routine.name"].AsString(); got != "traced" {
				t.Errorf("span %d routine.name = %q", i, got)
			}
			if got := a["routine.interval"].AsString(); got != "2m0s" {
				t.Errorf("span %d routine.interval = %q, want 2m0s", i, got)
			}
			if got := a["routine.invocation"].AsInt64(); got != int64(i+1) {
				t.Errorf("span %d routine.invocation = %d, want %d", i, got, i+1)
			}
		}
		if got := spans[0].Status().Code; got != codes.Unset {
			t.Errorf("successful span status = %v, want Unset", got)
		}
		failed := spans[1]
		if failed.Status().Code != codes.Error || failed.Status().Description != "boom" {
			t.Errorf("failed span status = %+v, want Error: boom", failed.Status())
		}
		if ev := failed.Events(); len(ev) != 1 || ev[0].Name != "exception" {
			t.Errorf("failed span events = %v, want one exception event", ev)
		}
	})
}

func TestPeriodic_EachInvocationLogsOneLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{errs: []error{nil, errors.New("boom")}}
		r := f.periodic(t.Context(), "logged", time.Minute, h)
		run(t, r, 90*time.Second)

		lines := f.logsMatching("routine.logged")
		if len(lines) != 2 {
			t.Fatalf("%d log lines, want one per invocation (2): %+v", len(lines), lines)
		}
		ok, failed := lines[0], lines[1]
		if ok.Level != log.LevelDebug || ok.Message != "routine.logged" {
			t.Errorf("success line = %s %q, want debug routine.logged", ok.Level, ok.Message)
		}
		if failed.Level != log.LevelError || failed.Message != "routine.logged failed" {
			t.Errorf("failure line = %s %q, want error 'routine.logged failed'", failed.Level, failed.Message)
		}
		spans := f.spanNamed("routine.logged")
		for i, l := range lines {
			attrs := logAttrs(l)
			if attrs["routine.name"] != "logged" {
				t.Errorf("line %d routine.name = %v, fields %v", i, attrs["routine.name"], l.Fields)
			}
			if _, ok := attrs["duration"]; !ok {
				t.Errorf("line %d has no duration: %v", i, l.Fields)
			}
			if got, want := l.Fields["TraceId"], spans[i].SpanContext().TraceID().String(); got != want {
				t.Errorf("line %d TraceId = %v, want the span's %v", i, got, want)
			}
			if got, want := l.Fields["SpanId"], spans[i].SpanContext().SpanID().String(); got != want {
				t.Errorf("line %d SpanId = %v, want the span's %v", i, got, want)
			}
		}
		if got := logAttrs(failed)["error"]; got != "boom" {
			t.Errorf("failure line error = %v, want boom", got)
		}
	})
}

func TestPeriodic_PanicIsRecoveredCountedLoggedAndTraced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		calls := 0
		h := HandlerFunc(func(ctx context.Context) error {
			calls++
			if calls == 1 {
				panic("kaboom")
			}
			return nil
		})
		r := f.periodic(t.Context(), "panicky", time.Minute, h)
		run(t, r, 90*time.Second)

		if calls != 2 {
			t.Errorf("handler called %d times, want 2: the routine must survive the panic", calls)
		}
		if got := f.value(names.HandlerPanics, "panicky"); got != 1 {
			t.Errorf("%s = %v, want 1", names.HandlerPanics, got)
		}
		if got := f.value(names.HandlerErrors, "panicky"); got != 1 {
			t.Errorf("%s = %v, want 1", names.HandlerErrors, got)
		}
		if got := f.durationCount("panicky", "panic"); got != 1 {
			t.Errorf("panic samples = %v, want 1", got)
		}
		spans := f.spanNamed("routine.panicky")
		if len(spans) != 2 || spans[0].Status().Code != codes.Error || spans[0].Status().Description != "panic: kaboom" {
			t.Fatalf("first span status = %+v, want Error: panic: kaboom", spans[0].Status())
		}
		if !strings.Contains(attrs(spans[0])["exception.stacktrace"].AsString(), "periodic.go") {
			t.Errorf("panic span has no stack trace attribute")
		}
		lines := f.logsMatching("routine.panicky failed")
		if len(lines) != 1 {
			t.Fatalf("%d failure lines, want 1", len(lines))
		}
		a := logAttrs(lines[0])
		if a["error"] != "panic: kaboom" || !strings.Contains(a["exception.stacktrace"].(string), "goroutine") {
			t.Errorf("panic line fields = %v, want the error and the stack", a)
		}
		st := r.Status()
		if st.Panics != 1 || st.Successes != 1 || st.LastError != "panic: kaboom" {
			t.Errorf("Status = %+v", st)
		}
	})
}

func TestPeriodic_ErrorFilterKeepsExpectedErrorsOutOfMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		errNothingToDo := errors.New("nothing to do")
		h := &recorder{errs: []error{errNothingToDo}}
		var handled []error
		eh := &errorHandling{Handler: h, handled: &handled}
		filter := func(err error) observation.ErrorFilterBehaviour {
			if errors.Is(err, errNothingToDo) {
				return observation.EmitForNone
			}
			return observation.EmitForAll
		}
		r := f.periodic(t.Context(), "filtered", time.Minute, eh, WithErrorFilter(filter))
		run(t, r, 30*time.Second)

		if got := f.value(names.HandlerErrors, "filtered"); got != 0 {
			t.Errorf("%s = %v for a filtered error, want 0", names.HandlerErrors, got)
		}
		if got := f.durationCount("filtered", "success"); got != 1 {
			t.Errorf("success samples = %v, want 1", got)
		}
		if len(handled) != 0 {
			t.Errorf("HandleError called with %v for an error reported nowhere", handled)
		}
		if lines := f.logsMatching("routine.filtered failed"); len(lines) != 0 {
			t.Errorf("filtered error logged at error level: %v", lines)
		}
	})
}

type errorHandling struct {
	Handler
	handled *[]error
}

func (e *errorHandling) HandleError(err error) { *e.handled = append(*e.handled, err) }

func TestPeriodic_HandleErrorIsCalledForEachFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		boom := errors.New("boom")
		var handled []error
		h := &errorHandling{Handler: &recorder{errs: []error{boom, nil, boom}}, handled: &handled}
		r := f.periodic(t.Context(), "handled", time.Minute, h)
		run(t, r, 150*time.Second)
		if len(handled) != 2 || handled[0] != boom || handled[1] != boom {
			t.Errorf("HandleError got %v, want boom twice", handled)
		}
	})
}

func TestPeriodic_CancellationAtShutdownIsNotAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := HandlerFunc(func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		r := f.periodic(t.Context(), "shutdown", time.Minute, h)
		run(t, r, time.Second) // Stop while the handler waits

		if got := f.value(names.HandlerErrors, "shutdown"); got != 0 {
			t.Errorf("%s = %v after a cancellation caused by Stop, want 0", names.HandlerErrors, got)
		}
		if lines := f.logsMatching("routine.shutdown failed"); len(lines) != 0 {
			t.Errorf("shutdown cancellation logged as a failure: %v", lines)
		}
		if s := f.spanNamed("routine.shutdown"); len(s) != 1 || s[0].Status().Code == codes.Error {
			t.Errorf("shutdown cancellation marked the span as failed")
		}
	})
}

// The consecutive-failures gauge counts errors and panics in a row, goes
// back to 0 on a success, and is left as it is by a run cut short: an
// hourly job's alert reads it.
func TestPeriodic_CountsConsecutiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		calls := 0
		h := HandlerFunc(func(ctx context.Context) error {
			calls++
			switch calls {
			case 1, 3, 5:
				return errors.New("upstream down")
			case 2:
				panic("kaboom")
			case 4:
				return nil
			}
			<-ctx.Done() // the sixth run is cut short by Stop
			return ctx.Err()
		})
		r := f.periodic(t.Context(), "streak", 10*time.Second, h)
		if got := f.value(names.ConsecutiveFailures, "streak"); got != 0 {
			t.Errorf("%s before Start = %v, want 0", names.ConsecutiveFailures, got)
		}

		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		time.Sleep(5 * time.Second) // runs at 0, 10, 20, …
		for i, want := range []float64{1, 2, 3, 0, 1} {
			synctest.Wait()
			if got := f.value(names.ConsecutiveFailures, "streak"); got != want {
				t.Errorf("after run %d: %s = %v, want %v", i+1, names.ConsecutiveFailures, got, want)
			}
			if got := r.Status().ConsecutiveFailures; float64(got) != want {
				t.Errorf("after run %d: Status().ConsecutiveFailures = %d, want %v", i+1, got, want)
			}
			time.Sleep(10 * time.Second)
		}
		synctest.Wait() // the sixth run waits for Stop
		r.Stop()
		<-returned
		if got := f.durationCount("streak", "canceled"); got != 1 {
			t.Fatalf("canceled samples = %v, want 1", got)
		}
		if got := f.value(names.ConsecutiveFailures, "streak"); got != 1 {
			t.Errorf("after a canceled run: %s = %v, want 1 (left as it was)", names.ConsecutiveFailures, got)
		}
		if got := r.Status().ConsecutiveFailures; got != 1 {
			t.Errorf("after a canceled run: Status().ConsecutiveFailures = %d, want 1", got)
		}
	})
}

// With several loops the gauge shows the longest streak among them: a loop
// that fails on every run shows, even while another one succeeds on
// every run.
func TestPeriodic_ConsecutiveFailuresIsTheLongestStreakAmongLoops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var mu sync.Mutex
		var broken uint64 // the goroutine of the loop that fails
		h := HandlerFunc(func(context.Context) error {
			mu.Lock()
			if broken == 0 {
				broken = goid.Get()
			}
			isBroken := goid.Get() == broken
			mu.Unlock()
			if isBroken {
				return errors.New("this loop is broken")
			}
			time.Sleep(time.Second) // the healthy loop finishes last
			return nil
		})
		r := f.periodic(t.Context(), "two-loops", 10*time.Second, h, WithConcurrency(2))
		run(t, r, 45*time.Second) // each loop runs at 0, 10, 20, 30, 40
		if got, st := f.value(names.ConsecutiveFailures, "two-loops"), r.Status().ConsecutiveFailures; got != 5 || st != 5 {
			t.Errorf("%s = %v, Status %d, want 5: the broken loop's streak", names.ConsecutiveFailures, got, st)
		}
		if s := r.Status(); s.Successes != 5 || s.Errors != 5 {
			t.Errorf("%d successes and %d errors, want 5 of each", s.Successes, s.Errors)
		}
	})
}

// An error the filter keeps out of metrics is a success: it ends the
// streak too.
func TestPeriodic_FilteredErrorEndsTheFailureStreak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		expected := errors.New("not found")
		calls := 0
		h := HandlerFunc(func(context.Context) error {
			calls++
			if calls < 3 {
				return errors.New("upstream down")
			}
			return expected
		})
		r := f.periodic(t.Context(), "filtered", 10*time.Second, h,
			WithErrorFilter(func(err error) observation.ErrorFilterBehaviour {
				if errors.Is(err, expected) {
					return observation.EmitForNone
				}
				return observation.EmitForAll
			}))
		go r.Start()
		defer r.Stop()
		time.Sleep(15 * time.Second) // runs at 0 and 10 fail
		synctest.Wait()
		if got := f.value(names.ConsecutiveFailures, "filtered"); got != 2 {
			t.Fatalf("%s = %v, want 2", names.ConsecutiveFailures, got)
		}
		time.Sleep(10 * time.Second) // the run at 20 returns the filtered error
		synctest.Wait()
		if got, st := f.value(names.ConsecutiveFailures, "filtered"), r.Status().ConsecutiveFailures; got != 0 || st != 0 {
			t.Errorf("after a filtered error: %s = %v, Status %d, want 0", names.ConsecutiveFailures, got, st)
		}
	})
}
