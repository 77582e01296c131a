package goroutine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/observation"
)

// A periodic routine calls its handler at once and then every interval
// until it is stopped. Here the handler cancels the context after three
// runs, which stops the routine.
func ExampleNewPeriodicGoroutine() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Metrics go to a registry of the example's own instead of the default.
	reg := prometheus.NewRegistry()
	runs := 0
	h := goroutine.NewHandlerWithErrorMessage("greeter", func(ctx context.Context) error {
		runs++
		fmt.Println("hello, run", runs)
		if runs == 2 {
			return errors.New("the second run fails")
		}
		if runs == 3 {
			cancel()
		}
		return nil
	})
	r := goroutine.NewPeriodicGoroutine(ctx, 10*time.Millisecond, h,
		goroutine.WithObservationContext(observation.NewContext(nil, nil, reg)))
	r.Start() // blocks until ctx is cancelled

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "routine_handler_errors_total" {
			fmt.Println("errors counted:", mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	// Output:
	// hello, run 1
	// hello, run 2
	// hello, run 3
	// errors counted: 1
}

// MonitorBackgroundRoutines runs routines until the context is cancelled
// (or SIGINT/SIGTERM arrives), then stops them all and returns.
func ExampleMonitorBackgroundRoutines() {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	worker := &printingRoutine{name: "worker", stop: make(chan struct{})}
	goroutine.MonitorBackgroundRoutines(ctx, worker, goroutine.NoopRoutine())
	fmt.Println("all routines stopped")
	// Output:
	// worker started
	// worker stopped
	// all routines stopped
}

type printingRoutine struct {
	name string
	stop chan struct{}
}

func (p *printingRoutine) Start() {
	fmt.Println(p.name, "started")
	<-p.stop
}

func (p *printingRoutine) Stop() {
	close(p.stop)
	fmt.Println(p.name, "stopped")
}

// Monitor bounds shutdown: a routine that does not stop in time is
// reported instead of hanging the process forever.
func ExampleMonitor() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // shut down at once

	stuck := &stuckRoutine{release: make(chan struct{})}
	defer close(stuck.release)
	err := goroutine.Monitor{ShutdownTimeout: 20 * time.Millisecond, Signals: []os.Signal{}}.Run(ctx, stuck)
	fmt.Println(err)
	// Output:
	// goroutine: 1 routine(s) did not stop within 20ms: stuck
}

type stuckRoutine struct{ release chan struct{} }

func (s *stuckRoutine) Name() string { return "stuck" }
func (s *stuckRoutine) Start()       { <-s.release }
func (s *stuckRoutine) Stop()        { <-s.release }

// A queue worker drains its backlog in back-to-back runs: while items
// remain, its handler returns ErrReinvokeImmediately and is called again
// at once, instead of an hour later.
func ExampleErrReinvokeImmediately() {
	queue := []string{"a", "b", "c"}
	drained := make(chan struct{})
	h := goroutine.NewHandlerWithErrorMessage("drainer", func(ctx context.Context) error {
		item := queue[0]
		queue = queue[1:]
		fmt.Println("processed", item)
		if len(queue) > 0 {
			return goroutine.ErrReinvokeImmediately
		}
		close(drained)
		return nil
	})
	r := goroutine.NewPeriodicGoroutine(context.Background(), time.Hour, h,
		goroutine.WithObservationContext(observation.NewContext(nil, nil, prometheus.NewRegistry())))
	start := time.Now()
	go r.Start()
	<-drained
	fmt.Println("drained without waiting for the interval:", time.Since(start) < time.Minute)
	r.Stop()
	// Output:
	// processed a
	// processed b
	// processed c
	// drained without waiting for the interval: true
}
