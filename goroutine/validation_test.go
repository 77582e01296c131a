package goroutine

import (
	"context"
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
		{"nil observation context", time.Second, ok, []Option{WithName("x"), WithObservationContext(nil)}, "WithObservationContext: nil"},
		{"nil error filter", time.Second, ok, []Option{WithName("x"), WithErrorFilter(nil)}, "WithErrorFilter: nil"},
		{"negative history", time.Second, ok, []Option{WithName("x"), WithHistorySize(-1)}, "WithHistorySize: negative size -1"},
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

func TestNewPeriodic_SameNameTwiceSharesSeries(t *testing.T) {
	f := newFixture(t)
	for range 2 {
		if _, err := NewPeriodic(t.Context(), time.Second, &recorder{}, WithName("dup"), WithObservationContext(f.obs)); err != nil {
			t.Fatalf("second routine with the same name: %v", err)
		}
	}
	f.lint()
}
