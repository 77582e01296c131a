package goroutine

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sourcegraph/log"

	"github.com/routinely/routinely/observation"
)

// MonitorBackgroundRoutines starts each routine in its own goroutine and
// blocks until ctx is cancelled or the process receives SIGINT or SIGTERM.
// It then stops every routine concurrently and returns once every Stop has
// returned. While it is stopping, a second SIGINT or SIGTERM exits the
// process at once with status 128+signal (130 or 143), as a shell reports a
// process killed by that signal.
//
// It waits for Stop without a deadline; use Monitor to bound shutdown.
func MonitorBackgroundRoutines(ctx context.Context, routines ...BackgroundRoutine) {
	_ = Monitor{}.Run(ctx, routines...)
}

// Monitor runs background routines until shutdown. The zero value is
// MonitorBackgroundRoutines: it handles SIGINT and SIGTERM and waits for
// every routine to stop.
type Monitor struct {
	// ShutdownTimeout bounds how long Run waits for the routines' Stop
	// calls after shutdown begins. Zero waits without a deadline.
	ShutdownTimeout time.Duration
	// Signals start shutdown when received. Nil means SIGINT and SIGTERM;
	// an empty non-nil slice handles no signal (only ctx stops Run).
	Signals []os.Signal
	// Logger receives shutdown progress. Nil means the global logger.
	Logger log.Logger

	// exit is os.Exit, replaceable in tests.
	exit func(code int)
}

// ShutdownError reports routines whose Stop had not returned when the
// shutdown deadline passed. Their goroutines may still be running.
type ShutdownError struct {
	// Timeout is the deadline that passed.
	Timeout time.Duration
	// Pending names the routines still stopping (Name, or their Go type).
	Pending []string
}

func (e *ShutdownError) Error() string {
	return fmt.Sprintf("goroutine: %d routine(s) did not stop within %v: %s", len(e.Pending), e.Timeout, strings.Join(e.Pending, ", "))
}

// Run starts each routine in its own goroutine and blocks until ctx is done
// or one of the Signals arrives, then stops every routine concurrently.
// It returns nil once every Stop has returned, or a *ShutdownError naming
// the routines still stopping when ShutdownTimeout passed. A routine whose
// Start returns early (or panics, which is recovered and logged) is logged
// and does not stop the others. A second signal during shutdown exits the
// process with status 128+signal.
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

	var shuttingDown sync.Mutex // held from shutdown on; Start-return logs check it
	stopping := false
	for _, r := range routines {
		Go(func() {
			r.Start()
			shuttingDown.Lock()
			// A routine bound to ctx returns as soon as ctx is done,
			// possibly before the monitor has noticed: that is not early.
			early := !stopping && ctx.Err() == nil
			shuttingDown.Unlock()
			if early {
				logger.Warn("background routine returned before shutdown", log.String("routine", routineName(r)))
			}
		})
	}

	select {
	case <-ctx.Done():
		logger.Info("stopping background routines", log.String("reason", "context done"))
	case sig := <-signals:
		logger.Info("stopping background routines", log.String("reason", "signal"), log.String("signal", sig.String()))
		exitOnSecond := make(chan struct{})
		defer close(exitOnSecond)
		go func() {
			select {
			case sig := <-signals:
				logger.Error("second signal during shutdown: exiting now", log.String("signal", sig.String()))
				m.exitFunc()(exitCode(sig))
			case <-exitOnSecond:
			}
		}()
	}
	shuttingDown.Lock()
	stopping = true
	shuttingDown.Unlock()

	return m.stopAll(logger, routines)
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

// stopAll stops the routines concurrently, waiting at most ShutdownTimeout.
func (m Monitor) stopAll(logger log.Logger, routines []BackgroundRoutine) error {
	var mu sync.Mutex
	pending := make(map[int]bool, len(routines))
	var wg sync.WaitGroup
	for i := range routines {
		pending[i] = true
	}
	for i, r := range routines {
		wg.Add(1)
		Go(func() {
			defer wg.Done()
			r.Stop()
			mu.Lock()
			delete(pending, i)
			mu.Unlock()
		})
	}
	allStopped := make(chan struct{})
	go func() {
		wg.Wait()
		close(allStopped)
	}()
	if m.ShutdownTimeout <= 0 {
		<-allStopped
		logger.Info("background routines stopped", log.Int("routines", len(routines)))
		return nil
	}
	timer := time.NewTimer(m.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-allStopped:
		logger.Info("background routines stopped", log.Int("routines", len(routines)))
		return nil
	case <-timer.C:
	}
	mu.Lock()
	err := &ShutdownError{Timeout: m.ShutdownTimeout}
	for i, r := range routines {
		if pending[i] {
			err.Pending = append(err.Pending, routineName(r))
		}
	}
	mu.Unlock()
	logger.Error("background routines did not stop in time", log.Error(err), log.Strings("pending", err.Pending))
	return err
}

func routineName(r BackgroundRoutine) string {
	if n, ok := r.(Named); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", r)
}
