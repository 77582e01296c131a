package goroutine

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/routinely/routinely/observation"
)

// Option configures a PeriodicGoroutine. Options are applied in order; an
// invalid value makes NewPeriodic return an error (and NewPeriodicGoroutine
// panic) naming the option.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// DefaultHistorySize is how many recent runs a routine keeps for Status
// unless WithHistorySize says otherwise.
const DefaultHistorySize = 32

// Limits that bound a routine's memory whatever its configuration and
// whatever its handler returns.
const (
	// MaxHistorySize is the largest WithHistorySize accepted.
	MaxHistorySize = 1000
	// MaxConcurrency is the largest WithConcurrency accepted, and the
	// most loops WithConcurrencyFunc runs.
	MaxConcurrency = 1000
	// MaxRunErrorBytes is how much of an error's text the history keeps
	// per run (Status, the status page). Longer texts are cut at a UTF-8
	// boundary and end with a note of how many bytes were cut; logs and
	// spans keep the full text. With MaxHistorySize, it bounds a
	// routine's history to about 2 MiB.
	MaxRunErrorBytes = 2048
)

type config struct {
	name, description  string
	intervalFunc       func() time.Duration
	initialDelay       time.Duration
	jitter             float64
	timeout            time.Duration
	concurrency        int
	concurrencySet     bool
	concurrencyFunc    func() int
	backoffInitial     time.Duration
	backoffMax         time.Duration
	observation        *observation.Context
	errorFilter        observation.ErrorFilter
	historySize        int
	namespace          string
	deleteSeriesOnStop bool
	elector            Elector
}

// WithName sets the routine's name: the value of the routine label of its
// metrics, and its span name routine.<name>. Without it, the handler's name
// (see Named and NewHandlerWithErrorMessage) is used. See ValidateName for
// what a name may contain.
func WithName(name string) Option {
	return optionFunc(func(c *config) error {
		if err := ValidateName(name); err != nil {
			return fmt.Errorf("WithName: %w", err)
		}
		c.name = name
		return nil
	})
}

// WithDescription sets a human description of what the routine does, shown
// in logs and on the status page.
func WithDescription(description string) Option {
	return optionFunc(func(c *config) error {
		c.description = description
		return nil
	})
}

// WithIntervalFunc makes the interval dynamic: f is called before each wait
// and its result used as the interval. When f returns zero or a negative
// duration, or panics (recovered, logged and counted like any callback),
// the interval given to the constructor is used instead.
func WithIntervalFunc(f func() time.Duration) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return errors.New("WithIntervalFunc: nil function")
		}
		c.intervalFunc = f
		return nil
	})
}

// WithInitialDelay delays the first invocation by d; without it the handler
// runs as soon as the routine starts.
func WithInitialDelay(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithInitialDelay: negative delay %v", d)
		}
		c.initialDelay = d
		return nil
	})
}

// WithJitter spreads invocations: each wait is the interval scaled by a
// factor drawn uniformly from [1-fraction, 1+fraction]. The schedule is
// kept on its grid, so jitter does not accumulate into drift. fraction
// must be in [0, 1).
func WithJitter(fraction float64) Option {
	return optionFunc(func(c *config) error {
		if math.IsNaN(fraction) || fraction < 0 || fraction >= 1 {
			return fmt.Errorf("WithJitter: fraction %v is outside [0, 1)", fraction)
		}
		c.jitter = fraction
		return nil
	})
}

// WithTimeout bounds each invocation: the handler's context is cancelled d
// after the invocation started. The handler must return for the deadline
// to take effect; an invocation that ends with the deadline exceeded is an
// error.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithTimeout: timeout %v must be positive", d)
		}
		c.timeout = d
		return nil
	})
}

// WithConcurrency runs n independent handler loops, each on its own
// schedule. The default is 1; n must be in [1, MaxConcurrency]. To change
// the number while the routine runs, use WithConcurrencyFunc instead.
func WithConcurrency(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > MaxConcurrency {
			return fmt.Errorf("WithConcurrency: %d loops is outside [1, %d] (MaxConcurrency)", n, MaxConcurrency)
		}
		c.concurrency, c.concurrencySet = n, true
		return nil
	})
}

// WithBackoff slows a failing routine down: after k consecutive failed
// invocations the next one waits min(initial·2^(k-1), max) instead of the
// interval. A successful invocation returns to the interval. An initial
// shorter than the interval makes failures retry sooner.
func WithBackoff(initial, max time.Duration) Option {
	return optionFunc(func(c *config) error {
		if initial <= 0 {
			return fmt.Errorf("WithBackoff: initial backoff %v must be positive", initial)
		}
		if max < initial {
			return fmt.Errorf("WithBackoff: max backoff %v is less than initial %v", max, initial)
		}
		c.backoffInitial, c.backoffMax = initial, max
		return nil
	})
}

// WithObservationContext sets where the routine's logs, spans and metrics
// go. The default resolves the global logger, tracer provider and
// prometheus.DefaultRegisterer (see observation.Context).
func WithObservationContext(ctx *observation.Context) Option {
	return optionFunc(func(c *config) error {
		if ctx == nil {
			return errors.New("WithObservationContext: nil context")
		}
		c.observation = ctx
		return nil
	})
}

// WithErrorFilter decides where a handler's error is reported (metrics,
// logs, traces). It is called once per failed invocation, on a goroutine
// of its own; a filter that panics is recovered, logged and counted, and
// the error is reported everywhere. An error kept out of metrics counts as
// a success. The filter is not asked about panics, which are always
// reported, nor about a run that ended because the routine was stopped
// (nil, context.Canceled or DeadlineExceeded returned after Stop), which
// is canceled, nor about ErrReinvokeImmediately, which is no error.
func WithErrorFilter(f observation.ErrorFilter) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return errors.New("WithErrorFilter: nil filter")
		}
		c.errorFilter = f
		return nil
	})
}

// WithHistorySize sets how many recent runs Status returns (default
// DefaultHistorySize); 0 keeps none. n must be in [0, MaxHistorySize]; each
// run keeps at most MaxRunErrorBytes of its error's text.
func WithHistorySize(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 || n > MaxHistorySize {
			return fmt.Errorf("WithHistorySize: %d runs is outside [0, %d] (MaxHistorySize)", n, MaxHistorySize)
		}
		c.historySize = n
		return nil
	})
}

// WithMetricNamespace sets the prefix of the routine's metric names
// (default metrics.DefaultRoutineNamespace, "routine").
func WithMetricNamespace(namespace string) Option {
	return optionFunc(func(c *config) error {
		if !namespaceRE.MatchString(namespace) {
			return fmt.Errorf("WithMetricNamespace: invalid namespace %q: must match %s", namespace, namespaceRE)
		}
		c.namespace = namespace
		return nil
	})
}

// WithDeleteMetricsOnStop deletes the routine's series from its registry
// once it has stopped (when Stop returns). Use it for routines built and
// stopped at run time, one per tenant or per job, so that the number of
// series stays bounded by the routines alive, not by every name ever used.
// Without it, a stopped routine keeps its series (routine_up 0, its
// counters), as the "routine down" alert expects of long-lived routines.
func WithDeleteMetricsOnStop() Option {
	return optionFunc(func(c *config) error {
		c.deleteSeriesOnStop = true
		return nil
	})
}
