package goroutine

import (
	"context"
	"errors"
)

// ErrReinvokeImmediately, returned by a handler (or wrapped in the error
// it returns: it is found with errors.Is), asks for the next invocation
// at once instead of at the next tick. A queue worker returns it while
// its backlog is not empty, so that the backlog drains in back-to-back
// runs:
//
//	func (w *worker) Handle(ctx context.Context) error {
//		if err := w.processOne(ctx); err != nil {
//			return err
//		}
//		if w.queueLen() > 0 {
//			return goroutine.ErrReinvokeImmediately
//		}
//		return nil
//	}
//
// Such a run is a successful run, observed like any other (its own span,
// a success sample, the last-success gauge, a Debug log line); it is not
// an error anywhere: not counted, not logged as one, not passed to the
// error filter or HandleError, and it ends any backoff. Its span has the
// attribute routine.reinvoke=true.
//
// The schedule is kept: after the run that returns something else, the
// loop waits for the next point of its grid after that run ended (not a
// full interval: with a one-minute interval, a drain that started at
// 12:00 and ended at 12:03:20 is followed by the run of 12:04). With
// WithLeaderElection, each run still records its start with the lease
// first. Between runs, the loop checks that the routine is not stopping,
// so a handler that returns ErrReinvokeImmediately forever still stops
// promptly on Stop. A panic whose value is ErrReinvokeImmediately is a
// panic.
var ErrReinvokeImmediately = errors.New("goroutine: reinvoke immediately")

// Handler is the work a PeriodicGoroutine does on each tick.
//
// Handle is called with a context that is cancelled when the routine stops
// (and, with WithTimeout, when the invocation's deadline passes). A returned
// error is observed — counted, logged, recorded on the span — and then
// passed to HandleError if the handler implements ErrorHandler. The routine
// keeps running either way. ErrReinvokeImmediately is no error: it asks
// for the next invocation at once.
//
// A handler may also implement Named (its name becomes the routine's name
// unless WithName is given), ErrorHandler and Finalizer.
//
// To stop its own routine, a handler calls the routine's Stop: from inside
// the routine, Stop cancels the invocation's context and returns at once;
// no further invocation starts.
type Handler interface {
	Handle(ctx context.Context) error
}

// HandlerFunc adapts an ordinary function to a Handler.
type HandlerFunc func(ctx context.Context) error

// Handle calls f(ctx).
func (f HandlerFunc) Handle(ctx context.Context) error { return f(ctx) }

// ErrorHandler is an optional interface of a Handler: HandleError is called
// after each invocation that failed, with the error Handle returned (or a
// *PanicError), unless the routine's error filter reported it nowhere. It
// runs on a goroutine of its own, waited for; a panic in it is recovered,
// logged and counted.
type ErrorHandler interface {
	HandleError(err error)
}

// Finalizer is an optional interface of a Handler: OnShutdown is called
// exactly once when the routine stops, after the last invocation has
// returned (or from Stop when the routine never started). It runs on a
// goroutine of its own, waited for; a panic in it is recovered, logged and
// counted.
type Finalizer interface {
	OnShutdown()
}

// NewHandlerWithErrorMessage returns a Handler named name that calls fn.
// The name becomes the routine's name unless WithName is given, and
// failures are logged with it.
func NewHandlerWithErrorMessage(name string, fn func(ctx context.Context) error) Handler {
	return &namedHandler{name: name, fn: fn}
}

type namedHandler struct {
	name string
	fn   func(ctx context.Context) error
}

func (h *namedHandler) Handle(ctx context.Context) error { return h.fn(ctx) }
func (h *namedHandler) Name() string                     { return h.name }
