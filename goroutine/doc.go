// Package goroutine runs the background routines of a service binary —
// janitors, syncers, queue workers, periodic jobs — and makes every one of
// them observable without instrumentation code.
//
// A BackgroundRoutine has a blocking Start and a Stop. MonitorBackgroundRoutines
// starts routines and stops them all when the context is cancelled or the
// process receives SIGINT or SIGTERM; Monitor does the same with a shutdown
// deadline. PeriodicGoroutine calls a Handler on an interval, and wraps each
// invocation in an observation:
//
//   - a span named routine.<name> (kind internal) with the attributes
//     routine.name, routine.interval and routine.invocation, and the error
//     recorded with status Error on failure;
//   - a sample of routine_handler_duration_seconds{routine, outcome} with
//     outcome success, error, panic or canceled (cut short by Stop or
//     shutdown: neither a success nor a failure);
//     routine_handler_errors_total and routine_handler_panics_total; the
//     gauges routine_handler_in_flight,
//     routine_last_success_timestamp_seconds,
//     routine_consecutive_failures, routine_interval_seconds, routine_up
//     and routine_next_run_timestamp_seconds (names in package metrics;
//     the prefix is configurable);
//   - one log line through github.com/sourcegraph/log: Debug on success,
//     Error on failure, with the routine, the duration and the trace and
//     span ids.
//
// A panicking handler is recovered, counted, logged with its stack and its
// span marked as an error; the routine keeps running. So is a handler that
// calls runtime.Goexit, or returns a typed-nil error, and so is every
// callback (error filter, interval function, HandleError, OnShutdown). A
// routine may stop itself by calling its own Stop from its handler or a
// callback. A routine's name identifies its series: two live routines may
// not share one in a registry. Compared with a
// time.Ticker loop, a PeriodicGoroutine also keeps its schedule on a grid
// (slow invocations and jitter do not drift), backs off after failures,
// bounds invocations with a timeout, and its Stop returns only once the
// handler has returned.
//
// A worked example, the routine a service starts in main:
//
//	h := goroutine.NewHandlerWithErrorMessage("janitor", func(ctx context.Context) error {
//		return deleteExpiredSessions(ctx)
//	})
//	janitor := goroutine.NewPeriodicGoroutine(ctx, 2*time.Minute, h,
//		goroutine.WithDescription("deletes expired sessions"),
//		goroutine.WithTimeout(30*time.Second),
//		goroutine.WithBackoff(5*time.Second, time.Minute))
//	goroutine.MonitorBackgroundRoutines(ctx, janitor) // until SIGTERM
//
// Queue workers, as in Sourcegraph's internal/goroutine: a handler that
// returns ErrReinvokeImmediately (or an error wrapping it) is called again
// at once instead of at the next tick, so a backlog drains in back-to-back
// runs; each is a successful run, observed like any other, and after the
// drain the loop goes back to its grid. WithConcurrencyFunc changes the
// number of handler loops while the routine runs (re-read once per
// interval), to follow the length of a queue:
//
//	worker := goroutine.NewPeriodicGoroutine(ctx, 10*time.Second,
//		goroutine.HandlerFunc(func(ctx context.Context) error {
//			more, err := queue.ProcessOne(ctx)
//			if err == nil && more {
//				return goroutine.ErrReinvokeImmediately
//			}
//			return err
//		}),
//		goroutine.WithName("queue_worker"),
//		goroutine.WithConcurrencyFunc(func() int { return queue.Len()/100 + 1 }))
//
// Which constructors panic: NewPeriodicGoroutine keeps the original
// signature, which has no error result, so it panics on invalid arguments
// (with the error NewPeriodic would return); every other constructor
// returns errors.
package goroutine
