package goroutine

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// FuzzValidateName: every name ValidateName accepts is a routine name that
// works as a Prometheus label value and a span name, and contains nothing
// HTML or a log line would need to escape; every name it rejects gets an
// error that quotes it. The seed corpus runs with go test; go test -fuzz
// explores further.
func FuzzValidateName(f *testing.F) {
	for _, seed := range []string{
		"this is my cool handler", "billing.invoice-sync", "a", "x/y:z_1", "", " ", "trailing ",
		"<script>", "名前", "a\x00b", "a\nb", "\xff", strings.Repeat("n", MaxNameLength), strings.Repeat("n", MaxNameLength+1),
		`quote"d`, "new\u2028line",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "name ") {
				t.Errorf("ValidateName(%q) error %q does not start by naming the field", name, err)
			}
			// The routine constructor refuses the same name, with the same reason.
			if _, cerr := NewPeriodic(context.Background(), time.Second, &recorder{}, WithName(name)); cerr == nil || !strings.Contains(cerr.Error(), err.Error()) {
				t.Errorf("NewPeriodic(WithName(%q)) = %v, want the ValidateName error %q", name, cerr, err)
			}
			return
		}
		if !utf8.ValidString(name) || len(name) > MaxNameLength || strings.ContainsAny(name, "<>&\"'`\\\n\r\t\x00{}=,") {
			t.Fatalf("ValidateName accepted %q, which is unsafe in a label, a span name or HTML", name)
		}
		fx := newFixture(t)
		r, err := NewPeriodic(context.Background(), time.Second, &recorder{}, WithName(name), WithObservationContext(fx.obs))
		if err != nil {
			t.Fatalf("valid name %q refused: %v", name, err)
		}
		defer r.Stop()
		if problems, err := testutil.GatherAndLint(fx.reg); err != nil || len(problems) > 0 {
			t.Errorf("name %q: gather error %v, lint %v", name, err, problems)
		}
	})
}

// FuzzNewPeriodic: whatever the combination of option values, NewPeriodic
// either returns an error naming what was wrong (and builds nothing) or a
// routine that starts, runs and stops without panicking or hanging.
func FuzzNewPeriodic(f *testing.F) {
	f.Add(int64(time.Second), int64(0), 0.0, int64(0), 1, int64(0), int64(0), 32, "routine", "seed", "a description")
	f.Add(int64(-1), int64(-1), -0.5, int64(-1), 0, int64(-1), int64(-2), -1, "1bad", "", "")
	f.Add(int64(1), int64(math.MaxInt64), 0.999, int64(1), MaxConcurrency, int64(1), int64(math.MaxInt64), MaxHistorySize, "ns_2", "x", "<b>html</b>")
	f.Add(int64(time.Minute), int64(time.Hour), math.NaN(), int64(time.Second), MaxConcurrency+1, int64(time.Second), int64(time.Millisecond), MaxHistorySize+1, "", "y", "")
	f.Add(int64(math.MaxInt64), int64(0), math.Inf(1), int64(math.MaxInt64), math.MaxInt, int64(math.MaxInt64), int64(math.MaxInt64), math.MaxInt, "routine", "z", "\xff")
	f.Fuzz(func(t *testing.T, interval, delay int64, jitter float64, timeout int64, concurrency int, backoffInitial, backoffMax int64, history int, namespace, name, description string) {
		synctest.Test(t, func(t *testing.T) {
			fx := newFixture(t)
			opts := []Option{
				WithObservationContext(fx.obs), WithName(name), WithDescription(description),
				WithInitialDelay(time.Duration(delay)), WithJitter(jitter), WithConcurrency(concurrency),
				WithHistorySize(history), WithMetricNamespace(namespace),
			}
			if timeout != 0 {
				opts = append(opts, WithTimeout(time.Duration(timeout)))
			}
			if backoffInitial != 0 || backoffMax != 0 {
				opts = append(opts, WithBackoff(time.Duration(backoffInitial), time.Duration(backoffMax)))
			}
			fail := errors.New("fails every other run")
			calls := 0
			h := HandlerFunc(func(ctx context.Context) error {
				calls++
				if calls%2 == 0 {
					return fail
				}
				return nil
			})
			r, err := NewPeriodic(t.Context(), time.Duration(interval), h, opts...)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "goroutine: ") {
					t.Errorf("error %q does not say where it comes from", err)
				}
				if r != nil {
					t.Error("a routine was returned with an error")
				}
				if mfs, _ := fx.reg.Gather(); len(mfs) != 0 {
					t.Errorf("a failed construction left %d metric families", len(mfs))
				}
				return
			}
			done := make(chan struct{})
			go func() { r.Start(); close(done) }()
			time.Sleep(10 * time.Second)
			synctest.Wait()
			r.Stop()
			<-done
			if st := r.Status(); st.State != StateStopped || len(st.Recent) > history {
				t.Errorf("after Stop: state %q, %d runs kept with history size %d", st.State, len(st.Recent), history)
			}
		})
	})
}
