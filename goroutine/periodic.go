package goroutine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/routinely/routinely/metrics"
	"github.com/routinely/routinely/observation"
)

// outcome is how an invocation ended, as the duration histogram's outcome
// label and the history record it.
type outcome uint8

const (
	outcomeSuccess outcome = iota
	outcomeError
	outcomePanic
)

var outcomeLabels = [...]string{metrics.OutcomeSuccess, metrics.OutcomeError, metrics.OutcomePanic}

// String returns the outcome label value: success, error or panic.
func (o outcome) String() string { return outcomeLabels[o] }

// intervalState is the interval in force and its span attribute, replaced
// together when a dynamic interval changes.
type intervalState struct {
	d    time.Duration
	attr attribute.KeyValue
}

func newIntervalState(d time.Duration) *intervalState {
	return &intervalState{d: d, attr: attribute.String("routine.interval", d.String())}
}

// PeriodicGoroutine is a BackgroundRoutine that calls a Handler on an
// interval. Every invocation is observed: a span routine.<name>, a sample
// of the duration histogram, error and panic counters, the in-flight and
// last-success gauges, and one log line (see the package documentation for
// the metric contract).
//
// Build one with NewPeriodicGoroutine or NewPeriodic.
type PeriodicGoroutine struct {
	name        string
	description string
	handler     Handler
	interval    time.Duration
	cfg         config

	ctx    context.Context // cancelled by Stop or by the constructor's ctx
	cancel context.CancelFunc

	metrics     *routineMetrics
	op          *observation.Operation
	invocations atomic.Uint64
	intervalNow atomic.Pointer[intervalState] // the interval in force
	history     *history

	mu            sync.Mutex
	started       bool
	stopRequested bool
	finishOnce    sync.Once
	done          chan struct{} // closed once the routine has stopped
}

var _ BackgroundRoutine = (*PeriodicGoroutine)(nil)

// NewPeriodicGoroutine returns a routine that calls handler once when
// started (after WithInitialDelay, if given) and then every interval,
// until Stop is called or ctx is done. ctx is the parent of every
// handler invocation's context.
//
// It panics when its arguments are invalid (a non-positive interval, a nil
// handler, an invalid name, an invalid option value), with the message
// NewPeriodic would return as an error: this signature, kept from the
// original API, leaves no other way to report it. Use NewPeriodic to
// handle such errors.
func NewPeriodicGoroutine(ctx context.Context, interval time.Duration, handler Handler, opts ...Option) *PeriodicGoroutine {
	r, err := NewPeriodic(ctx, interval, handler, opts...)
	if err != nil {
		panic(err)
	}
	return r
}

// NewPeriodic is NewPeriodicGoroutine returning an error instead of
// panicking. The error names the argument or option that was invalid.
// Nothing is started, and no metric series is created, when it fails.
func NewPeriodic(ctx context.Context, interval time.Duration, handler Handler, opts ...Option) (*PeriodicGoroutine, error) {
	if ctx == nil {
		return nil, errors.New("goroutine: nil context")
	}
	if interval <= 0 {
		return nil, fmt.Errorf("goroutine: interval %v must be positive", interval)
	}
	if isNilHandler(handler) {
		return nil, errors.New("goroutine: nil handler")
	}
	cfg := config{concurrency: 1, historySize: DefaultHistorySize, namespace: metrics.DefaultRoutineNamespace}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("goroutine: option %d is nil", i)
		}
		if err := opt.apply(&cfg); err != nil {
			return nil, fmt.Errorf("goroutine: %w", err)
		}
	}
	name := cfg.name
	if name == "" {
		named, ok := handler.(Named)
		if !ok {
			return nil, errors.New("goroutine: routine has no name: pass WithName or a handler with a Name method (NewHandlerWithErrorMessage)")
		}
		name = named.Name()
		if err := ValidateName(name); err != nil {
			return nil, fmt.Errorf("goroutine: handler name: %w", err)
		}
	}
	if cfg.observation == nil {
		cfg.observation = observation.Default()
	}

	m, err := newRoutineMetrics(cfg.observation.Registry(), cfg.namespace, name)
	if err != nil {
		return nil, fmt.Errorf("goroutine: routine %q: %w", name, err)
	}
	m.interval.Set(interval.Seconds())
	m.up.Set(0)

	r := &PeriodicGoroutine{
		name:        name,
		description: cfg.description,
		handler:     handler,
		interval:    interval,
		cfg:         cfg,
		metrics:     m,
		history:     newHistory(cfg.historySize),
		done:        make(chan struct{}),
	}
	r.intervalNow.Store(newIntervalState(interval))
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.op = cfg.observation.Operation(observation.Op{
		Name:        "routine." + name,
		Description: cfg.description,
		ErrorFilter: r.filter,
		Attrs:       []attribute.KeyValue{attribute.String("routine.name", name)},
	})
	return r, nil
}

func isNilHandler(h Handler) bool {
	switch h := h.(type) {
	case nil:
		return true
	case HandlerFunc:
		return h == nil
	case *namedHandler:
		return h == nil || h.fn == nil
	}
	return false
}

// Name returns the routine's name.
func (r *PeriodicGoroutine) Name() string { return r.name }

// Description returns the routine's description (WithDescription).
func (r *PeriodicGoroutine) Description() string { return r.description }

// Status returns a snapshot of the routine's state and recent runs.
func (r *PeriodicGoroutine) Status() Status {
	return r.history.snapshot(r.name, r.description, r.intervalNow.Load().d)
}

// Start runs the routine's handler loops and blocks until the routine has
// stopped: Stop was called or the constructor's context is done. When
// Start returns, no invocation is running and the handler's Finalizer, if
// any, has been called. Start returns at once when Stop was already
// called; a second Start waits for the routine to stop without running
// another set of loops.
func (r *PeriodicGoroutine) Start() {
	r.mu.Lock()
	if r.started || r.stopRequested {
		r.mu.Unlock()
		<-r.done
		return
	}
	r.started = true
	r.mu.Unlock()

	r.metrics.up.Set(1)
	r.history.setStarted()
	// Loop 0 runs on Start's own goroutine: a routine costs one goroutine.
	var wg sync.WaitGroup
	for range r.cfg.concurrency - 1 {
		wg.Go(r.loop)
	}
	r.loop()
	wg.Wait()
	r.finish()
}

// Stop cancels the context of any running invocation, stops the routine
// and returns once Start's loops have exited. It is idempotent, safe to
// call before Start (Start then returns at once) and from several
// goroutines at once.
func (r *PeriodicGoroutine) Stop() {
	r.mu.Lock()
	r.stopRequested = true
	started := r.started
	r.mu.Unlock()
	r.cancel()
	if !started {
		r.finish()
	}
	<-r.done
}

// finish marks the routine stopped exactly once.
func (r *PeriodicGoroutine) finish() {
	r.finishOnce.Do(func() {
		r.cancel()
		r.metrics.up.Set(0)
		r.history.setStopped()
		if f, ok := r.handler.(Finalizer); ok {
			_ = callRecovering(func() error { f.OnShutdown(); return nil })
		}
		close(r.done)
	})
}

// loop is one handler loop: invoke, wait, repeat until the routine's
// context is done. The schedule is a grid of start times interval apart,
// so a slow handler or jitter does not shift later invocations.
func (r *PeriodicGoroutine) loop() {
	ctx := r.ctx
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	grid := time.Now().Add(r.cfg.initialDelay) // the scheduled start, without jitter
	fire := grid                               // when the next invocation starts
	failures := 0
	for {
		if !sleepUntil(ctx, timer, fire) {
			return
		}
		failed, now := r.invoke(ctx)
		if ctx.Err() != nil {
			return
		}
		if failed {
			failures++
		} else {
			failures = 0
		}
		if failures > 0 && r.cfg.backoffMax > 0 {
			grid = now.Add(r.backoff(failures))
			fire = grid
			continue
		}
		interval := r.currentInterval()
		grid = grid.Add(interval)
		if grid.Before(now) {
			// The invocation overran: keep the grid, skip missed ticks.
			grid = grid.Add((now.Sub(grid)/interval + 1) * interval)
		}
		fire = grid.Add(r.jitter(interval))
	}
}

// sleepUntil waits on timer until t or until ctx is done, reporting
// whether t came. The timer is reused across ticks; it is stopped on
// return.
func sleepUntil(ctx context.Context, timer *time.Timer, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer.Reset(d)
	select {
	case <-ctx.Done():
		timer.Stop()
		return false
	case <-timer.C:
		return ctx.Err() == nil
	}
}

// currentInterval re-reads a dynamic interval and publishes it.
func (r *PeriodicGoroutine) currentInterval() time.Duration {
	interval := r.interval
	if r.cfg.intervalFunc != nil {
		if d := r.cfg.intervalFunc(); d > 0 {
			interval = d
		}
		if interval != r.intervalNow.Load().d {
			r.intervalNow.Store(newIntervalState(interval))
			r.metrics.interval.Set(interval.Seconds())
		}
	}
	return interval
}

// jitter returns an offset in [-jitter·interval, +jitter·interval].
func (r *PeriodicGoroutine) jitter(interval time.Duration) time.Duration {
	if r.cfg.jitter == 0 {
		return 0
	}
	return time.Duration((rand.Float64()*2 - 1) * r.cfg.jitter * float64(interval))
}

// backoff returns the wait after the given number of consecutive failures.
func (r *PeriodicGoroutine) backoff(failures int) time.Duration {
	d := r.cfg.backoffInitial
	for i := 1; i < failures && d < r.cfg.backoffMax; i++ {
		d *= 2
	}
	return min(d, r.cfg.backoffMax)
}

// filter applies the user's error filter, and keeps cancellations caused
// by stopping the routine out of every report.
func (r *PeriodicGoroutine) filter(err error) observation.ErrorFilterBehaviour {
	if r.ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return observation.EmitForNone
	}
	if r.cfg.errorFilter != nil {
		return r.cfg.errorFilter(err)
	}
	return observation.EmitForAll
}

// invoke runs the handler once, observed, and reports whether it failed.
func (r *PeriodicGoroutine) invoke(ctx context.Context) (failed bool, end time.Time) {
	n := r.invocations.Add(1)
	if r.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.timeout)
		defer cancel()
	}
	r.metrics.inFlight.Inc()
	start := time.Now()
	r.history.begin(start)

	var err error
	ctx, tl, finishObservation := r.op.With(ctx, &err, observation.Args{Attrs: []attribute.KeyValue{
		r.intervalNow.Load().attr,
		attribute.Int64("routine.invocation", int64(n)),
	}})
	err = callRecovering(func() error { return r.handler.Handle(ctx) })
	end = time.Now()
	elapsed := end.Sub(start)

	outcome := outcomeSuccess
	var finishArgs observation.Args
	behaviour := observation.EmitForAll
	if err != nil {
		behaviour = r.filter(err)
	}
	if err != nil && behaviour.Has(observation.EmitForMetrics) {
		outcome = outcomeError
		if pe := asPanic(err); pe != nil {
			outcome = outcomePanic
			finishArgs.Attrs = []attribute.KeyValue{
				attribute.Bool("routine.panic", true),
				attribute.String("exception.stacktrace", string(pe.Stack)),
			}
		}
	}
	finishObservation(1, finishArgs)

	switch outcome {
	case outcomeSuccess:
		r.metrics.success.Observe(elapsed.Seconds())
		r.metrics.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	case outcomeError:
		r.metrics.failure().Observe(elapsed.Seconds())
		r.metrics.errors.Inc()
	case outcomePanic:
		r.metrics.panicked().Observe(elapsed.Seconds())
		r.metrics.errors.Inc()
		r.metrics.panics.Inc()
	}
	r.metrics.inFlight.Dec()

	failed = outcome != outcomeSuccess
	// The trace id is kept raw and formatted only when Status is read.
	rec := record{invocation: n, started: start.UnixNano(), duration: elapsed, outcome: outcome,
		traceID: tl.Span().SpanContext().TraceID()}
	if failed {
		rec.err = err.Error()
	}
	r.history.end(rec, failed && r.cfg.backoffMax > 0)

	if err != nil && behaviour != observation.EmitForNone {
		if eh, ok := r.handler.(ErrorHandler); ok {
			_ = callRecovering(func() error { eh.HandleError(err); return nil })
		}
	}
	return failed, end
}

// asPanic returns the *PanicError in err's chain, or nil. It is a function
// of its own so that the target of errors.As escapes only on failures.
func asPanic(err error) *PanicError {
	var pe *PanicError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}
