package goroutine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel/attribute"

	"github.com/routinely/routinely/internal/errtext"
	"github.com/routinely/routinely/internal/goid"
	"github.com/routinely/routinely/metrics"
	"github.com/routinely/routinely/observation"
)

// outcomeAttrs are the routine.outcome span attributes, built once so that
// setting one costs no allocation.
var outcomeAttrs = func() (a [len(outcomeLabels)][]attribute.KeyValue) {
	for _, o := range outcomes {
		a[o] = []attribute.KeyValue{attribute.String("routine.outcome", o.String())}
	}
	return a
}()

// reinvokeAttrs are the span attributes of a successful run that asked
// for the next at once (ErrReinvokeImmediately).
var reinvokeAttrs = []attribute.KeyValue{
	attribute.String("routine.outcome", OutcomeSuccess.String()),
	attribute.Bool("routine.reinvoke", true),
}

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
// of the duration histogram, error and panic counters, the in-flight,
// last-success and next-run gauges, and one log line (see the package
// documentation for the metric contract).
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
	due         *perLoop[time.Time] // next-run gauge
	streaks     *perLoop[uint64]    // consecutive-failures gauge
	pool        *loopPool
	leader      *leadership // nil unless WithLeaderElection
	loops       sync.WaitGroup

	mu            sync.Mutex
	started       bool
	stopRequested bool
	finishing     bool
	own           map[uint64]int // ids of the goroutines running the routine's code
	done          chan struct{}  // closed once the routine has stopped
}

var _ BackgroundRoutine = (*PeriodicGoroutine)(nil)

// NewPeriodicGoroutine returns a routine that calls handler once when
// started (after WithInitialDelay, if given) and then every interval,
// until Stop is called or ctx is done. ctx is the parent of every
// handler invocation's context.
//
// It panics when its arguments are invalid (a non-positive interval, a nil
// handler, an invalid name, an invalid option value, a name already used
// by a live routine), with the message NewPeriodic would return as an
// error: this signature, kept from the original API, leaves no other way
// to report it. Use NewPeriodic to handle such errors.
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
//
// A routine's name is its identity in its registry: from construction
// until Stop has returned, no other routine of the same registry and
// metric namespace may use it (NewPeriodic returns an error naming it), so
// that the series of one routine never describe another.
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
		var err error
		if name, err = handlerName(named); err != nil {
			return nil, fmt.Errorf("goroutine: handler name: %w", err)
		}
		if err := ValidateName(name); err != nil {
			return nil, fmt.Errorf("goroutine: handler name: %w", err)
		}
	}
	if cfg.concurrencySet && cfg.concurrencyFunc != nil {
		return nil, errors.New("goroutine: WithConcurrency and WithConcurrencyFunc both given: pass one")
	}
	if cfg.observation == nil {
		cfg.observation = observation.Default()
	}

	m, err := newRoutineMetrics(cfg.observation.Registerer(), cfg.namespace, name)
	if err != nil {
		return nil, fmt.Errorf("goroutine: routine %q: %w", name, err)
	}
	m.interval.Set(interval.Seconds())
	m.up.Set(0)
	var leader *leadership
	if cfg.elector != nil {
		leader = newLeadership(cfg.elector, m.c.leader.WithLabelValues(name), m.c.leaderTransitions.WithLabelValues(name))
	}

	r := &PeriodicGoroutine{
		name:        name,
		description: cfg.description,
		handler:     handler,
		interval:    interval,
		cfg:         cfg,
		metrics:     m,
		history:     newHistory(cfg.historySize),
		due:         newPerLoop(m.nextRun, earliestDue),
		streaks:     newPerLoop(m.consecutiveFailures, longestStreak),
		pool:        newLoopPool(),
		leader:      leader,
		own:         make(map[uint64]int),
		done:        make(chan struct{}),
	}
	r.intervalNow.Store(newIntervalState(interval))
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.op = cfg.observation.Operation(observation.Op{
		Name:        "routine." + name,
		Description: cfg.description,
		Attrs:       []attribute.KeyValue{attribute.String("routine.name", name)},
	})
	return r, nil
}

// handlerName calls the handler's Name method, which is user code.
func handlerName(n Named) (name string, err error) {
	err = callRecovering(func() error { name = n.Name(); return nil })
	return name, err
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
	s := r.history.snapshot(r.name, r.description, r.intervalNow.Load().d)
	s.ConsecutiveFailures = uint64(r.streaks.value())
	if r.leader != nil {
		s.Leadership = r.leader.snapshot()
	}
	return s
}

// Start runs the routine's handler loops and blocks until the routine has
// stopped: Stop was called or the constructor's context is done. When
// Start returns, no invocation is running and the handler's Finalizer, if
// any, has returned. Start returns at once when Stop was already called;
// a second Start waits for the routine to stop without running another
// set of loops, except from the routine's own handler or callbacks, where
// it returns at once.
func (r *PeriodicGoroutine) Start() {
	r.mu.Lock()
	if r.started || r.stopRequested {
		inside := r.own[goid.Get()] > 0
		r.mu.Unlock()
		if !inside {
			<-r.done
		}
		return
	}
	r.started = true
	r.mu.Unlock()

	r.metrics.up.Set(1)
	r.history.setStarted()
	if r.leader != nil {
		r.loops.Go(r.campaign)
	}
	first := time.Now().Add(r.cfg.initialDelay)
	r.resize(r.concurrencyNow(), first)
	if r.cfg.concurrencyFunc != nil {
		r.loops.Go(func() { r.scale(first) })
	}
	r.loops.Wait()
	r.finish()
}

// Stop cancels the context of any running invocation, stops the routine
// and returns once its loops have exited and its Finalizer has returned.
// It is idempotent, safe to call before Start (Start then returns at once)
// and from several goroutines at once.
//
// Stop may be called from the routine's own handler, ErrorHandler,
// Finalizer, error filter or interval function, which is how a routine
// stops itself: it then cancels the invocation's context and returns at
// once, without waiting for the goroutine it is called from; the routine
// stops as soon as that callback returns, and no new invocation starts.
func (r *PeriodicGoroutine) Stop() {
	r.mu.Lock()
	r.stopRequested = true
	started := r.started
	inside := r.own[goid.Get()] > 0
	r.mu.Unlock()
	r.cancel()
	if inside {
		return
	}
	if !started {
		r.finish()
	}
	<-r.done
}

// enter and leave record that the calling goroutine runs the routine's
// code, so that Stop called from there does not wait for itself.
func (r *PeriodicGoroutine) enter() uint64 {
	id := goid.Get()
	r.mu.Lock()
	r.own[id]++
	r.mu.Unlock()
	return id
}

func (r *PeriodicGoroutine) leave(id uint64) {
	r.mu.Lock()
	if r.own[id]--; r.own[id] <= 0 {
		delete(r.own, id)
	}
	r.mu.Unlock()
}

// finish marks the routine stopped exactly once: the first caller runs
// the finalizer and closes done, later callers return at once.
func (r *PeriodicGoroutine) finish() {
	r.mu.Lock()
	if r.finishing {
		r.mu.Unlock()
		return
	}
	r.finishing = true
	r.mu.Unlock()

	r.cancel()
	r.metrics.up.Set(0)
	r.history.setStopped()
	if f, ok := r.handler.(Finalizer); ok {
		r.callback("OnShutdown", f.OnShutdown)
	}
	r.metrics.release(r.cfg.deleteSeriesOnStop)
	close(r.done)
}

// loopState is one handler loop's schedule. It outlives the goroutine
// running the loop, so a loop whose goroutine a handler ended with
// runtime.Goexit carries on, on a new one, where it was.
type loopState struct {
	index      int
	grid       time.Time // the scheduled start, without jitter
	fire       time.Time // when the next invocation starts
	failures   uint64    // consecutive failed invocations (complete counts them)
	unfinished bool      // an invocation ended with Goexit: schedule after it
	ended      time.Time // when that invocation ended
}

// loop runs one handler loop on the calling goroutine until the routine's
// context is done. When a user callback ends the goroutine with
// runtime.Goexit, the loop continues on a new goroutine.
func (r *PeriodicGoroutine) loop(st *loopState) {
	id := r.enter()
	returned := false
	defer func() {
		r.leave(id)
		if !returned && r.ctx.Err() == nil {
			r.loops.Go(func() { r.loop(st) })
		}
	}()
	r.runLoop(st)
	returned = true
}

// runLoop runs one handler loop until the routine stops or the loop is
// retired (WithConcurrencyFunc): the schedule, or for a singleton routine
// the schedule while this replica leads.
func (r *PeriodicGoroutine) runLoop(st *loopState) {
	for {
		if st.unfinished {
			st.unfinished = false
			r.schedule(st, st.ended)
		}
		if r.leader != nil {
			r.leadAndRun(st)
		} else {
			r.runSchedule(r.ctx, st, nil)
		}
		if r.ctx.Err() != nil || r.exit(st.index) {
			return
		}
	}
}

// runSchedule invokes, waits and repeats until ctx is done or the loop is
// retired. The schedule is a grid of start times interval apart, so a
// slow handler or jitter does not shift later invocations. Under a lease,
// each run first records its start with it; when that fails, runSchedule
// returns.
func (r *PeriodicGoroutine) runSchedule(ctx context.Context, st *loopState, lease Lease) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if !r.wait(ctx, timer, st) {
			return
		}
		if lease != nil && !r.recordStart(ctx, lease) {
			return
		}
		reinvoke, end := r.invoke(ctx, st)
		if ctx.Err() != nil {
			return
		}
		if reinvoke {
			// At once, off the grid; st.grid stays where the drain began,
			// so that schedule, after the drain, picks the next grid
			// point after it. The next iteration checks ctx first.
			st.fire = end
			runtime.Gosched() // a handler that always asks still lets others run
			continue
		}
		r.schedule(st, end)
	}
}

// schedule sets st.fire after an invocation that ended at end, backing
// off while the loop's last invocations failed.
func (r *PeriodicGoroutine) schedule(st *loopState, end time.Time) {
	if st.failures > 0 && r.cfg.backoffMax > 0 {
		st.grid = end.Add(r.backoff(st.failures))
		st.fire = st.grid
		return
	}
	interval := r.currentInterval()
	st.grid = st.grid.Add(interval)
	if st.grid.Before(end) {
		// The invocation overran: keep the grid, skip missed ticks.
		st.grid = st.grid.Add((end.Sub(st.grid)/interval + 1) * interval)
	}
	st.fire = st.grid.Add(r.jitter(interval))
}

// wait publishes st.fire as the loop's next run and sleeps until then,
// reporting whether the run may start: false when ctx is done or the loop
// is retired.
func (r *PeriodicGoroutine) wait(ctx context.Context, timer *time.Timer, st *loopState) bool {
	for {
		retired, changed := r.pool.watch(st.index)
		if retired {
			return false
		}
		r.due.set(st.index, st.fire)
		if sleepUntil(ctx, timer, st.fire, changed) {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
	}
}

// sleepUntil waits on timer until t, or until ctx is done or wake is
// closed (a nil wake never is), reporting whether t came. The timer is
// reused across ticks; it is stopped on return.
func sleepUntil(ctx context.Context, timer *time.Timer, t time.Time, wake <-chan struct{}) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer.Reset(d)
	select {
	case <-ctx.Done():
		timer.Stop()
		return false
	case <-wake:
		timer.Stop()
		return false
	case <-timer.C:
		return ctx.Err() == nil
	}
}

// currentInterval re-reads a dynamic interval and publishes it. An
// interval function that panics (or calls runtime.Goexit) is reported like
// any callback, and the constructor's interval is used for that tick.
func (r *PeriodicGoroutine) currentInterval() time.Duration {
	interval := r.interval
	if f := r.cfg.intervalFunc; f != nil {
		var d time.Duration
		if r.callback("interval function", func() { d = f() }) && d > 0 {
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
func (r *PeriodicGoroutine) backoff(failures uint64) time.Duration {
	d := r.cfg.backoffInitial
	for i := uint64(1); i < failures && d < r.cfg.backoffMax; i++ {
		d *= 2
	}
	return min(d, r.cfg.backoffMax)
}

// recordStart records a run's start with the lease, reporting whether the
// run may start.
func (r *PeriodicGoroutine) recordStart(ctx context.Context, lease Lease) bool {
	err := callRecovering(func() error { return lease.RecordStart(ctx, time.Now()) })
	if err != nil && ctx.Err() == nil {
		r.cfg.observation.Logger().Warn("routine "+r.name+": could not record a run's start with the lease; not running",
			log.String("routine", r.name), log.Uint64("term", lease.Term()), log.Error(err))
	}
	return err == nil && ctx.Err() == nil
}

// invocation is one handler call on its way through invoke.
type invocation struct {
	// loop is the loop's context: done when the routine stops or, for a
	// singleton, when its lease ends. A run it cuts short is canceled.
	loop   context.Context
	n      uint64
	start  time.Time
	err    error
	finish observation.FinishFunc
	tl     observation.TraceLogger
}

// invoke runs the handler once, observed, and reports whether it asked
// to be called again at once (ErrReinvokeImmediately) and when it ended. A handler that calls runtime.Goexit ends the loop's
// goroutine: its invocation is still recorded (as a panic, ErrGoexit),
// and loop carries on from st on a new goroutine.
func (r *PeriodicGoroutine) invoke(ctx context.Context, st *loopState) (reinvoke bool, end time.Time) {
	inv := invocation{loop: ctx, n: r.invocations.Add(1)}
	if r.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.timeout)
		defer cancel()
	}
	r.metrics.inFlight.Inc()
	inv.start = time.Now()
	r.history.begin(inv.start)

	ctx, inv.tl, inv.finish = r.op.With(ctx, &inv.err, observation.Args{Attrs: []attribute.KeyValue{
		r.intervalNow.Load().attr,
		attribute.Int64("routine.invocation", int64(inv.n)),
	}})
	returned := false
	defer func() {
		if !returned {
			inv.err = goexitError()
			_, st.ended = r.complete(&inv, st)
			st.unfinished = true
		}
	}()
	inv.err = callRecovering(func() error { return r.handler.Handle(ctx) })
	returned = true
	return r.complete(&inv, st)
}

// complete classifies a finished invocation, then observes it (span, log
// line, metrics), records it in the history and notifies the handler's
// ErrorHandler of a failure. ErrReinvokeImmediately is no error: the run
// is classified, observed and recorded as if the handler returned nil.
func (r *PeriodicGoroutine) complete(inv *invocation, st *loopState) (reinvoke bool, end time.Time) {
	end = time.Now()
	err, text := errtext.Safe(inv.err)
	if err != nil && isReinvoke(err) {
		err, text, reinvoke = nil, "", true
	}
	o, behaviour := r.classify(err, inv.loop.Err() != nil)
	reinvoke = reinvoke && o == OutcomeSuccess
	run := Run{Invocation: inv.n, Started: inv.start, Duration: end.Sub(inv.start), Outcome: o,
		TraceID: inv.tl.Span().SpanContext().TraceID()}
	if o.Failed() {
		run.Error = errtext.Truncate(text, MaxRunErrorBytes)
	}

	r.observe(inv, err, run, behaviour, reinvoke, end)
	r.countFailures(st, o)
	r.history.end(run, o.Failed() && r.cfg.backoffMax > 0)
	if err != nil && behaviour != observation.EmitForNone {
		r.notify(err)
	}
	return reinvoke, end
}

// countFailures keeps loop st's streak of failed invocations: a success
// ends it, a failure lengthens it, a canceled run leaves it as it is.
func (r *PeriodicGoroutine) countFailures(st *loopState, o Outcome) {
	switch {
	case o.Failed():
		st.failures++
	case o == OutcomeSuccess && st.failures > 0:
		st.failures = 0
	default:
		return // canceled, or a success after a success: nothing changes
	}
	r.streaks.set(st.index, st.failures)
}

// observe ends the invocation's span and log line and records its
// metrics.
func (r *PeriodicGoroutine) observe(inv *invocation, err error, run Run, behaviour observation.ErrorFilterBehaviour, reinvoke bool, end time.Time) {
	// The finish func reads the sanitized error: nil for a success,
	// ErrReinvokeImmediately included.
	inv.err = err
	args := observation.Args{Attrs: outcomeAttrs[run.Outcome], Classified: true, ErrorBehaviour: behaviour}
	switch run.Outcome {
	case OutcomeSuccess:
		if reinvoke {
			args.Attrs = reinvokeAttrs
		}
	case OutcomePanic:
		args.Attrs = []attribute.KeyValue{
			outcomeAttrs[run.Outcome][0],
			attribute.Bool("routine.panic", true),
			attribute.String("exception.stacktrace", string(asPanic(err).Stack)),
		}
	case OutcomeCanceled:
		reason := "routine stopped"
		if r.ctx.Err() == nil { // only the loop's context ended: its lease
			reason = "leadership lost"
		}
		inv.tl.AddEvent("routine.canceled", attribute.String("reason", reason))
	}
	inv.finish(1, args)
	r.metrics.observe(run.Outcome, run.Duration, end, inv.tl.Span().SpanContext())
}

// notify passes a reported error to the handler's ErrorHandler, if any.
func (r *PeriodicGoroutine) notify(err error) {
	if eh, ok := r.handler.(ErrorHandler); ok {
		r.callback("HandleError", func() { eh.HandleError(err) })
	}
}

// classify decides an invocation's outcome and where its error is
// reported, calling the user's error filter at most once:
//
//   - a panic (or runtime.Goexit) is a panic, reported everywhere;
//   - nil, or a context error, once the run's loop was stopped (Stop,
//     shutdown, lost leadership) is canceled: reported nowhere as a
//     failure;
//   - another error is whatever the error filter says: an error kept out
//     of metrics is a success;
//   - nil is a success.
func (r *PeriodicGoroutine) classify(err error, stopped bool) (Outcome, observation.ErrorFilterBehaviour) {
	if err == nil {
		if stopped {
			return OutcomeCanceled, observation.EmitForNone
		}
		return OutcomeSuccess, observation.EmitForAll
	}
	if asPanic(err) != nil {
		return OutcomePanic, observation.EmitForAll
	}
	if stopped && isContextError(err) {
		return OutcomeCanceled, observation.EmitForNone
	}
	behaviour := observation.EmitForAll
	if f := r.cfg.errorFilter; f != nil {
		var b observation.ErrorFilterBehaviour
		if r.callback("error filter", func() { b = f(err) }) {
			behaviour = b
		}
	}
	if !behaviour.Has(observation.EmitForMetrics) {
		return OutcomeSuccess, behaviour
	}
	return OutcomeError, behaviour
}

// isReinvoke reports whether err asks for the next invocation at once:
// it is or wraps ErrReinvokeImmediately, and is no panic. errors.Is calls
// the error's own Is and Unwrap methods, user code: a panic there counts
// as no.
func isReinvoke(err error) (is bool) {
	if err == ErrReinvokeImmediately {
		return true
	}
	_ = callRecovering(func() error {
		is = errors.Is(err, ErrReinvokeImmediately)
		return nil
	})
	// Only then the rare case, so that a failed run does not pay for a
	// second look for a panic (classify makes one).
	return is && asPanic(err) == nil
}

// isContextError reports whether err is a context cancellation or
// deadline. errors.Is calls the error's own Is methods: user code.
func isContextError(err error) (is bool) {
	_ = callRecovering(func() error {
		is = errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
		return nil
	})
	return is
}

// asPanic returns the *PanicError in err's chain, or nil. It is a function
// of its own so that the target of errors.As escapes only on failures.
// errors.As calls the error's own As methods, user code, so a panic there
// counts as no *PanicError.
func asPanic(err error) (pe *PanicError) {
	if p, ok := err.(*PanicError); ok {
		return p
	}
	_ = callRecovering(func() error {
		if !errors.As(err, &pe) {
			pe = nil
		}
		return nil
	})
	return pe
}
