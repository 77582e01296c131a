package goroutine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sourcegraph/log"

	"github.com/routinely/routinely/observation"
)

// DefaultShutdownTimeout bounds a shutdown when Monitor.ShutdownTimeout is
// zero, as it is for MonitorBackgroundRoutines. It is well below the 30s
// Kubernetes waits between SIGTERM and SIGKILL, so a stuck routine is
// reported (and the process can exit on its own terms) before it is killed.
const DefaultShutdownTimeout = 10 * time.Second

// MonitorBackgroundRoutines starts each routine in its own goroutine and
// blocks until ctx is cancelled or the process receives SIGINT or SIGTERM.
// It then stops every routine concurrently and returns once every Stop and
// every Start has returned, or once DefaultShutdownTimeout has passed, when
// it logs the routines still stopping at Error level. While it is
// stopping, SIGINT or SIGTERM exits the process at once with status
// 128+signal (130 or 143), as a shell reports a process killed by that
// signal.
//
// It is the zero Monitor's Run without the error; use Monitor to choose
// the deadline, the signals or the logger, or to run shutdown hooks.
func MonitorBackgroundRoutines(ctx context.Context, routines ...BackgroundRoutine) {
	_ = Monitor{}.Run(ctx, routines...)
}

// Monitor runs background routines until shutdown. The zero value is
// MonitorBackgroundRoutines: it handles SIGINT and SIGTERM and waits at
// most DefaultShutdownTimeout for every routine to stop.
type Monitor struct {
	// ShutdownTimeout bounds the whole shutdown: stopping the routines,
	// then running OnShutdown. Zero means DefaultShutdownTimeout; a
	// negative value waits without a deadline.
	ShutdownTimeout time.Duration
	// Signals start shutdown when received. Nil means SIGINT and SIGTERM;
	// an empty non-nil slice handles no signal (only ctx stops Run).
	Signals []os.Signal
	// Logger receives shutdown progress. Nil means the global logger.
	Logger log.Logger
	// OnShutdown are called one after the other, in order, once every
	// routine has stopped (every Stop and Start has returned), with a
	// context that carries the values of Run's ctx and whose deadline is
	// what is left of ShutdownTimeout (none when it is negative): shutting
	// down a server, flushing telemetry, within the same deadline as the
	// routines. Run returns their errors. A hook that panics is recovered
	// and its panic returned as a *PanicError. Hooks are not called once
	// the deadline has passed.
	OnShutdown []func(context.Context) error

	// exit is os.Exit, replaceable in tests.
	exit func(code int)
}

// ShutdownError reports what had not finished when the shutdown deadline
// passed. The goroutines of the routines it names may still be running.
type ShutdownError struct {
	// Timeout is the deadline that passed.
	Timeout time.Duration
	// Pending names the routines that had not stopped: their Stop, or the
	// call of their Start, had not returned. A routine is named by its
	// Name method, or its Go type; they are in the order given to Run.
	Pending []string
	// Stopping names the routines among Pending whose Stop had not
	// returned.
	Stopping []string
	// Running names the routines among Pending whose Start had not
	// returned.
	Running []string
	// Hooks counts the OnShutdown hooks that had not returned, including
	// those never called because the deadline had passed.
	Hooks int
}

// Error names the routines that did not stop, marking those whose Stop
// returned but whose Start did not, and counts the unfinished hooks.
func (e *ShutdownError) Error() string {
	var b strings.Builder
	b.WriteString("goroutine: ")
	if len(e.Pending) > 0 {
		// Stopping lists, in the same order, the routines of Pending
		// whose Stop had not returned: walking both at once marks as
		// many routines as had only Start running, also when two share
		// a name (a lookup by name would mark neither).
		names := make([]string, len(e.Pending))
		stopping := e.Stopping
		for i, name := range e.Pending {
			names[i] = name
			if len(stopping) > 0 && stopping[0] == name {
				stopping = stopping[1:]
			} else {
				names[i] += " (Start still running)"
			}
		}
		fmt.Fprintf(&b, "%d routine(s) did not stop within %v: %s", len(e.Pending), e.Timeout, strings.Join(names, ", "))
		if e.Hooks > 0 {
			fmt.Fprintf(&b, "; %d shutdown hook(s) did not finish", e.Hooks)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%d shutdown hook(s) did not finish within %v", e.Hooks, e.Timeout)
	return b.String()
}

// Run starts each routine in its own goroutine and blocks until ctx is done
// or one of the Signals arrives. Then it calls Stop on every routine,
// concurrently, before anything else (logging included); once every Stop
// and every routine's Start has returned, it calls the OnShutdown hooks.
//
// Run returns only when all of that has returned: nil, or the hooks'
// errors. When ShutdownTimeout passes first, it returns at the deadline
// with a *ShutdownError (joined with the errors of the hooks that did
// return) naming the routines whose Stop or Start had not returned, which
// it also logs at Error level; halfway to the deadline it logs at Warn
// level those still stopping. Without a deadline it logs them after
// DefaultShutdownTimeout/2, then each time the wait has doubled.
//
// A routine whose Start returns early (or panics, which is recovered and
// logged) is logged and does not stop the others. Once shutdown has begun,
// whether ctx or a signal began it, any of the Signals exits the process
// at once with status 128+signal.
func (m Monitor) Run(ctx context.Context, routines ...BackgroundRoutine) error {
	logger := m.Logger
	if logger == nil {
		logger = observation.Default().Logger()
	}
	sigs := m.Signals
	if sigs == nil {
		sigs = []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	}
	signals := make(chan os.Signal, 2)
	if len(sigs) > 0 {
		signal.Notify(signals, sigs...)
		defer signal.Stop(signals)
	}

	var shuttingDown atomic.Bool
	starts := goEach(logger, routines, func(r BackgroundRoutine) {
		r.Start()
		// A routine bound to ctx returns as soon as ctx is done,
		// possibly before the monitor has noticed: that is not early.
		if !shuttingDown.Load() && ctx.Err() == nil {
			logger.Warn("background routine returned before shutdown", log.String("routine", routineName(r)))
		}
	})

	var reason []log.Field
	select {
	case <-ctx.Done():
		reason = []log.Field{log.String("reason", "context done")}
	case sig := <-signals:
		reason = []log.Field{log.String("reason", "signal"), log.String("signal", sig.String())}
	}
	shuttingDown.Store(true)
	began := time.Now()
	// The Stop calls go out before anything else, logging included; the
	// goroutines making them exist only from now on.
	var stopsCalled sync.WaitGroup
	stopsCalled.Add(len(routines))
	stops := goEach(logger, routines, func(r BackgroundRoutine) {
		stopsCalled.Done()
		r.Stop()
	})
	stopsCalled.Wait()

	// From now on a signal ends the process, whatever started shutdown.
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case sig := <-signals:
			logger.Error("signal during shutdown: exiting now", log.String("signal", sig.String()))
			m.exitFunc()(exitCode(sig))
		case <-finished:
		}
	}()
	logger.Info("stopping background routines", reason...)

	s := m.newShutdown(ctx, logger, routines, starts, stops, began)
	defer s.stop()
	if !s.wait(stops.done()) || !s.wait(starts.done()) {
		return s.timedOut(nil)
	}
	var errs []error
	for i, hook := range m.OnShutdown {
		s.hook = i
		var err error
		returned := make(chan struct{})
		go func() {
			defer close(returned)
			finished := false
			defer func() {
				if !finished { // the hook called runtime.Goexit
					err = goexitError()
				}
			}()
			err = callRecovering(func() error { return hook(s.ctx) })
			finished = true
		}()
		if !s.wait(returned) {
			return s.timedOut(errs)
		}
		if err != nil {
			err = fmt.Errorf("goroutine: shutdown hook %d: %w", i, err)
			logger.Error("shutdown hook failed", log.Error(err))
			errs = append(errs, err)
		}
	}
	logger.Info("background routines stopped", log.Int("routines", len(routines)))
	return errors.Join(errs...)
}

// shutdown is a shutdown under way: its deadline and what is left.
type shutdown struct {
	logger   log.Logger
	routines []BackgroundRoutine
	starts   *fanOut // the calls of Start
	stops    *fanOut // the calls of Stop
	hooks    int
	hook     int // the hook running, or -1 while the routines stop
	timeout  time.Duration
	began    time.Time

	ctx    context.Context // the hooks' context, done at the deadline
	cancel context.CancelFunc
	warn   *time.Timer
	warnIn time.Duration // the delay of the next warning after the last
}

func (m Monitor) newShutdown(ctx context.Context, logger log.Logger, routines []BackgroundRoutine, starts, stops *fanOut, began time.Time) *shutdown {
	s := &shutdown{
		logger: logger, routines: routines, starts: starts, stops: stops,
		hooks: len(m.OnShutdown), hook: -1,
		timeout: m.ShutdownTimeout, began: began,
	}
	if s.timeout == 0 {
		s.timeout = DefaultShutdownTimeout
	}
	if s.timeout > 0 {
		s.ctx, s.cancel = context.WithDeadline(context.WithoutCancel(ctx), began.Add(s.timeout))
		s.warnIn = s.timeout / 2
	} else {
		s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
		s.warnIn = DefaultShutdownTimeout / 2
	}
	s.warn = time.NewTimer(time.Until(began.Add(s.warnIn)))
	return s
}

func (s *shutdown) stop() {
	s.cancel()
	s.warn.Stop()
}

// wait waits for done, logging what is left at Warn level on the way. It
// returns false if the deadline passed first.
func (s *shutdown) wait(done <-chan struct{}) bool {
	for {
		select {
		case <-done:
			return true
		case <-s.ctx.Done():
			return false
		case <-s.warn.C:
			s.warnStillStopping()
		}
	}
}

func (s *shutdown) warnStillStopping() {
	stopping, running, _ := s.unfinished()
	fields := []log.Field{
		log.Duration("elapsed", time.Since(s.began)),
		log.Strings("stopping", stopping),
		log.Strings("running", running),
	}
	if s.hook >= 0 {
		fields = append(fields, log.Int("hook", s.hook))
	}
	if s.timeout > 0 {
		fields = append(fields, log.Duration("deadline", s.timeout))
	} else {
		// No deadline: warn again each time the wait doubles.
		s.warn.Reset(s.warnIn)
		s.warnIn *= 2
	}
	s.logger.Warn("background routines still stopping", fields...)
}

// unfinished names the routines whose Stop, and those whose Start, have
// not returned, and both together.
func (s *shutdown) unfinished() (stopping, running, pending []string) {
	starts, stops := s.starts.pending(), s.stops.pending()
	for i, r := range s.routines {
		name := routineName(r)
		if stops[i] {
			stopping = append(stopping, name)
		}
		if starts[i] {
			running = append(running, name)
		}
		if stops[i] || starts[i] {
			pending = append(pending, name)
		}
	}
	return stopping, running, pending
}

// timedOut logs and returns the ShutdownError, joined with errs.
func (s *shutdown) timedOut(errs []error) error {
	err := &ShutdownError{Timeout: s.timeout, Hooks: s.hooks}
	if s.hook >= 0 {
		err.Hooks = s.hooks - s.hook
	}
	err.Stopping, err.Running, err.Pending = s.unfinished()
	s.logger.Error("shutdown did not finish in time", log.Error(err),
		log.Strings("stopping", err.Stopping), log.Strings("running", err.Running), log.Int("hooks", err.Hooks))
	return errors.Join(append(errs, err)...)
}

func (m Monitor) exitFunc() func(int) {
	if m.exit != nil {
		return m.exit
	}
	return os.Exit
}

func exitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

func routineName(r BackgroundRoutine) string {
	if n, ok := r.(Named); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", r)
}
