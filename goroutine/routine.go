package goroutine

import (
	"context"
	"sync"

	"github.com/sourcegraph/log"

	"github.com/routinely/routinely/observation"
)

// BackgroundRoutine is a long-running process that runs alongside a
// service's main work.
//
// Start runs the routine and blocks until it has stopped. Stop asks it to
// stop and returns once it has; implementations in this package make Stop
// idempotent, safe to call before Start, and safe to call concurrently.
type BackgroundRoutine interface {
	// Start runs the routine. It blocks until the routine has stopped.
	Start()
	// Stop stops the routine and returns once it has stopped.
	Stop()
}

// Named is implemented by routines and handlers that have a name. The
// monitor uses it to report which routine did not stop in time.
type Named interface {
	Name() string
}

// CombinedRoutine is a group of routines started and stopped together.
type CombinedRoutine []BackgroundRoutine

// Start starts every routine concurrently and returns once all of them
// have returned from Start. A panic in a routine's Start is recovered and
// logged; the others keep running.
func (c CombinedRoutine) Start() {
	<-goEach(nil, c, BackgroundRoutine.Start).done()
}

// Stop stops every routine concurrently and returns once every Stop has
// returned. A panic in a routine's Stop is recovered and logged.
func (c CombinedRoutine) Stop() {
	<-goEach(nil, c, BackgroundRoutine.Stop).done()
}

// fanOut is a call of one function on each routine, each on a goroutine
// of its own, and which of them have not returned yet. It is the one
// fan-out-and-wait of the package: CombinedRoutine and Monitor both use
// it.
type fanOut struct {
	mu      sync.Mutex
	running []bool // by routine
	left    int
	all     chan struct{} // closed once every call has returned
}

// goEach calls f on every routine, each call on a goroutine of its own. A
// panic (or runtime.Goexit) in a call is recovered and logged through
// logger (nil: the global logger) and counts as a return.
func goEach(logger log.Logger, routines []BackgroundRoutine, f func(BackgroundRoutine)) *fanOut {
	g := &fanOut{
		running: make([]bool, len(routines)),
		left:    len(routines),
		all:     make(chan struct{}),
	}
	for k := range g.running {
		g.running[k] = true
	}
	if g.left == 0 {
		close(g.all)
	}
	if logger == nil {
		logger = observation.Default().Logger()
	}
	for i, r := range routines {
		go func() {
			defer g.returned(i)
			defer recoverAndLog(logger)
			f(r)
		}()
	}
	return g
}

func (g *fanOut) returned(call int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running[call] = false
	if g.left--; g.left == 0 {
		close(g.all)
	}
}

// done is closed once every call has returned.
func (g *fanOut) done() <-chan struct{} { return g.all }

// pending returns whether each routine's call has not returned yet,
// indexed like the routines.
func (g *fanOut) pending() []bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]bool(nil), g.running...)
}

// NoopRoutine returns a routine that does nothing: its Start blocks until
// Stop is called. Stop is idempotent and safe before Start.
func NoopRoutine() BackgroundRoutine {
	ctx, cancel := context.WithCancel(context.Background())
	return &noopRoutine{ctx: ctx, cancel: cancel}
}

type noopRoutine struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (r *noopRoutine) Start() { <-r.ctx.Done() }
func (r *noopRoutine) Stop()  { r.cancel() }
func (r *noopRoutine) Name() string {
	return "noop"
}
