package goroutine

import (
	"context"
	"sync"
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
// have returned from Start.
func (c CombinedRoutine) Start() {
	var wg sync.WaitGroup
	for _, r := range c {
		wg.Add(1)
		Go(func() {
			defer wg.Done()
			r.Start()
		})
	}
	wg.Wait()
}

// Stop stops every routine concurrently and returns once every Stop has
// returned.
func (c CombinedRoutine) Stop() {
	var wg sync.WaitGroup
	for _, r := range c {
		wg.Add(1)
		Go(func() {
			defer wg.Done()
			r.Stop()
		})
	}
	wg.Wait()
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
