package goroutine

import (
	"fmt"
	"runtime/debug"

	"github.com/sourcegraph/log"

	"github.com/routinely/routinely/observation"
)

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
		defer recoverAndLog(observation.GlobalLogger())
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
