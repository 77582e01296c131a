package goroutine

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNewPeriodic_RejectsBadInputNamingTheField(t *testing.T) {
	ok := HandlerFunc(func(context.Context) error { return nil })
	var nilFunc HandlerFunc
	for _, tc := range []struct {
		desc     string
		interval time.Duration
		handler  Handler
		opts     []Option
		want     string
	}{
		{"zero interval", 0, ok, []Option{WithName("x")}, "interval 0s must be positive"},
		{"negative interval", -time.Second, ok, []Option{WithName("x")}, "interval -1s must be positive"},
		{"nil handler", time.Second, nil, []Option{WithName("x")}, "nil handler"},
		{"nil HandlerFunc", time.Second, nilFunc, []Option{WithName("x")}, "nil handler"},
		{"nil function", time.Second, NewHandlerWithErrorMessage("x", nil), nil, "nil handler"},
		{"no name", time.Second, ok, nil, "routine has no name"},
		{"empty name", time.Second, ok, []Option{WithName("")}, "WithName: name is empty"},
		{"empty handler name", time.Second, NewHandlerWithErrorMessage("", func(context.Context) error { return nil }), nil, "handler name: name is empty"},
		{"name with quote", time.Second, ok, []Option{WithName(`my"job`)}, `invalid character '"' at byte 2`},
		{"name with newline", time.Second, ok, []Option{WithName("a\nb")}, `invalid character '\n'`},
		{"non-ASCII name", time.Second, ok, []Option{WithName("jöb")}, `invalid character 'ö'`},
		{"name ending in space", time.Second, ok, []Option{WithName("job ")}, "not end with a space"},
		{"name too long", time.Second, ok, []Option{WithName(strings.Repeat("a", 129))}, "maximum is 128"},
		{"jitter 1", time.Second, ok, []Option{WithName("x"), WithJitter(1)}, "WithJitter: fraction 1 is outside [0, 1)"},
		{"negative jitter", time.Second, ok, []Option{WithName("x"), WithJitter(-0.1)}, "WithJitter"},
		{"zero timeout", time.Second, ok, []Option{WithName("x"), WithTimeout(0)}, "WithTimeout: timeout 0s must be positive"},
		{"negative delay", time.Second, ok, []Option{WithName("x"), WithInitialDelay(-1)}, "WithInitialDelay"},
		{"zero concurrency", time.Second, ok, []Option{WithName("x"), WithConcurrency(0)}, "WithConcurrency: 0 loops"},
		{"zero backoff", time.Second, ok, []Option{WithName("x"), WithBackoff(0, time.Second)}, "WithBackoff: initial backoff 0s"},
		{"backoff max < initial", time.Second, ok, []Option{WithName("x"), WithBackoff(time.Minute, time.Second)}, "WithBackoff: max backoff 1s is less than initial 1m0s"},
		{"nil interval func", time.Second, ok, []Option{WithName("x"), WithIntervalFunc(nil)}, "WithIntervalFunc: nil function"},
		{"nil concurrency func", time.Second, ok, []Option{WithName("x"), WithConcurrencyFunc(nil)}, "WithConcurrencyFunc: nil function"},
		{"static and dynamic concurrency", time.Second, ok, []Option{WithName("x"), WithConcurrency(2), WithConcurrencyFunc(func() int { return 2 })}, "WithConcurrency and WithConcurrencyFunc both given"},
		{"nil observation context", time.Second, ok, []Option{WithName("x"), WithObservationContext(nil)}, "WithObservationContext: nil"},
		{"nil error filter", time.Second, ok, []Option{WithName("x"), WithErrorFilter(nil)}, "WithErrorFilter: nil"},
		{"negative history", time.Second, ok, []Option{WithName("x"), WithHistorySize(-1)}, "WithHistorySize: -1 runs is outside [0, 1000] (MaxHistorySize)"},
		{"huge history", time.Second, ok, []Option{WithName("x"), WithHistorySize(math.MaxInt)}, "WithHistorySize: 9223372036854775807 runs is outside [0, 1000]"},
		{"history of 2^40", time.Second, ok, []Option{WithName("x"), WithHistorySize(1 << 40)}, "outside [0, 1000] (MaxHistorySize)"},
		{"concurrency of a million", time.Second, ok, []Option{WithName("x"), WithConcurrency(1e6)}, "WithConcurrency: 1000000 loops is outside [1, 1000] (MaxConcurrency)"},
		{"bad namespace", time.Second, ok, []Option{WithName("x"), WithMetricNamespace("1x")}, `WithMetricNamespace: invalid namespace "1x"`},
		{"nil option", time.Second, ok, []Option{WithName("x"), nil}, "option 2 is nil"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			f := newFixture(t)
			opts := append([]Option{WithObservationContext(f.obs)}, tc.opts...)
			r, err := NewPeriodic(t.Context(), tc.interval, tc.handler, opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewPeriodic error = %v, want one containing %q", err, tc.want)
			}
			if r != nil {
				t.Errorf("NewPeriodic returned a routine with its error")
			}
			if mfs, _ := f.reg.Gather(); len(mfs) != 0 {
				t.Errorf("a failed construction left %d metric families with series", len(mfs))
			}

			defer func() {
				p := recover()
				if p == nil || !strings.Contains(p.(error).Error(), tc.want) {
					t.Errorf("NewPeriodicGoroutine panicked with %v, want %q", p, tc.want)
				}
			}()
			NewPeriodicGoroutine(t.Context(), tc.interval, tc.handler, opts...)
		})
	}
}

func TestNewPeriodic_ConflictingMetricIsAClearError(t *testing.T) {
	f := newFixture(t)
	f.reg.MustRegister(prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: names.Up, Help: "someone else's"}, []string{"instance"}))
	_, err := NewPeriodic(t.Context(), time.Second, &recorder{}, WithName("x"), WithObservationContext(f.obs))
	if err == nil || !strings.Contains(err.Error(), `routine "x"`) || !strings.Contains(err.Error(), names.Up) {
		t.Fatalf("error = %v, want one naming the routine and %s", err, names.Up)
	}
}

func TestNewPeriodic_NameComesFromTheHandlerUnlessGiven(t *testing.T) {
	f := newFixture(t)
	h := NewHandlerWithErrorMessage("this is my cool handler", func(context.Context) error { return nil })
	r, err := NewPeriodic(t.Context(), time.Second, h, WithObservationContext(f.obs))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name() != "this is my cool handler" {
		t.Errorf("Name() = %q, want the handler's name", r.Name())
	}
	r, err = NewPeriodic(t.Context(), time.Second, h, WithObservationContext(f.obs), WithName("cool"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name() != "cool" {
		t.Errorf("Name() = %q, want WithName's", r.Name())
	}
}

// TestNewPeriodic_LiveDuplicateNameIsRefused: two live routines with one
// name would share routine_up and routine_interval_seconds (stopping one
// would report the other down), so the second is refused until the first
// has stopped.
func TestNewPeriodic_LiveDuplicateNameIsRefused(t *testing.T) {
	f := newFixture(t)
	first, err := NewPeriodic(t.Context(), time.Second, &recorder{}, WithName("dup"), WithObservationContext(f.obs))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewPeriodic(t.Context(), 2*time.Second, &recorder{}, WithName("dup"), WithObservationContext(f.obs))
	if err == nil || !strings.Contains(err.Error(), `a routine named "dup" is already live`) {
		t.Fatalf("second live routine named dup: err = %v, want one naming the live duplicate", err)
	}
	if got := f.value(names.Interval, "dup"); got != 1 {
		t.Errorf("the refused routine changed %s to %v, want the first's 1", names.Interval, got)
	}
	// Another namespace, or another registry, is another identity.
	for _, opt := range []Option{WithMetricNamespace("other"), WithObservationContext(newFixture(t).obs)} {
		other, err := NewPeriodic(t.Context(), time.Second, &recorder{}, WithName("dup"), WithObservationContext(f.obs), opt)
		if err != nil {
			t.Fatalf("same name in another namespace or registry: %v", err)
		}
		other.Stop()
	}

	first.Stop()
	second, err := NewPeriodic(t.Context(), 2*time.Second, &recorder{}, WithName("dup"), WithObservationContext(f.obs))
	if err != nil {
		t.Fatalf("the name is free once the first routine stopped, got %v", err)
	}
	if got := f.value(names.Interval, "dup"); got != 2 {
		t.Errorf("%s = %v, want the new routine's 2", names.Interval, got)
	}
	second.Stop()
	f.lint()
}
