package goroutine

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/sourcegraph/log"

	"github.com/routinely/routinely/observation"
)

// ErrGoexit is the Value of the *PanicError an invocation ends with when
// its handler called runtime.Goexit (as t.FailNow and t.Fatal do, from a
// test's helper goroutine). The invocation counts as a panic; the routine
// keeps running.
var ErrGoexit = errors.New("handler called runtime.Goexit")

// goexitError is the *PanicError of an invocation that ended in Goexit.
func goexitError() *PanicError {
	return &PanicError{Value: ErrGoexit, Stack: debug.Stack()}
}

// PanicError is the error a handler invocation ends with when the handler
// panicked. The panic is recovered; the routine keeps running.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error reports the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error, so errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// Go runs f in a new goroutine. A panic in f is recovered and logged with
// its stack through the global sourcegraph/log logger instead of crashing
// the process.
func Go(f func()) {
	go func() {
		defer recoverAndLog(observation.Default().Logger())
		f()
	}()
}

func recoverAndLog(logger log.Logger) {
	if v := recover(); v != nil {
		logger.Error("recovered from panic in goroutine",
			log.String("panic", fmt.Sprint(v)), log.String("stack", string(debug.Stack())))
	}
}

// callRecovering calls f and turns a panic into a *PanicError.
func callRecovering(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}

// callback calls f, user code other than the handler (an error filter, an
// interval function, HandleError, OnShutdown), on a goroutine of its own
// and waits for it. A panic in f, or a call to runtime.Goexit, is
// recovered, logged with its stack and counted in the panics counter,
// and callback returns false; it returns true when f returned. Stop
// called from f returns without waiting for f.
func (r *PeriodicGoroutine) callback(name string, f func()) (ok bool) {
	failure := make(chan *PanicError, 1)
	go func() {
		id := r.enter()
		returned := false
		defer func() {
			r.leave(id)
			switch v := recover(); {
			case v != nil:
				failure <- &PanicError{Value: v, Stack: debug.Stack()}
			case !returned:
				failure <- &PanicError{Value: fmt.Errorf("%s called runtime.Goexit", name), Stack: debug.Stack()}
			default:
				failure <- nil
			}
		}()
		f()
		returned = true
	}()
	pe := <-failure
	if pe == nil {
		return true
	}
	r.metrics.panics.Inc()
	r.cfg.observation.Logger().Error("routine "+name+" panicked",
		log.String("routine", r.name), log.String("callback", name),
		log.String("panic", fmt.Sprint(pe.Value)), log.String("stack", string(pe.Stack)))
	return false
}
