package observation

import (
	"sync/atomic"

	"github.com/sourcegraph/log"
	"go.uber.org/zap/zapcore"
)

func globalLazy() *lazyLogger {
	return &lazyLogger{resolve: func() (log.Logger, bool) {
		if !globalLoggerReady() {
			return log.NoOp(), false
		}
		// One frame for lazyLogger's own method, so callers are reported
		// correctly.
		return log.Scoped("routinely").AddCallerSkip(1), true
	}}
}

// globalLoggerReady reports whether log.Init has run. The plain thing,
// calling log.Scoped when a routine is built, is wrong twice over:
// sourcegraph/log exports no way to ask whether Init has run, and before
// Init its Scoped panics in development mode (SRC_DEVELOPMENT=true) and
// returns a logger that discards everything, forever, otherwise. So this
// asks Scoped, recovering its panic, and tells a no-op core (no level
// enabled) from an initialised one (Fatal always enabled).
func globalLoggerReady() (ready bool) {
	defer func() {
		if recover() != nil {
			ready = false
		}
	}()
	l := log.Scoped("routinely")
	c, ok := l.(interface{ Core() zapcore.Core })
	// A no-op core has no level enabled; an initialised one always has Fatal.
	return !ok || c.Core().Enabled(zapcore.FatalLevel)
}

// lazyLogger builds its logger on first use and keeps it once resolve says
// the result is final. Derived loggers (Scoped, With, ...) are lazy too.
type lazyLogger struct {
	resolve func() (log.Logger, bool)
	final   atomic.Pointer[log.Logger]
}

func (l *lazyLogger) get() (log.Logger, bool) {
	if p := l.final.Load(); p != nil {
		return *p, true
	}
	lg, final := l.resolve()
	if final {
		l.final.Store(&lg)
	}
	return lg, final
}

func (l *lazyLogger) logger() log.Logger {
	lg, _ := l.get()
	return lg
}

// derive returns a lazy logger built by f from l's logger. It stays lazy
// even when l is resolved so that every logger in the chain is called
// through exactly one lazyLogger frame.
func (l *lazyLogger) derive(f func(log.Logger) log.Logger) log.Logger {
	return &lazyLogger{resolve: func() (log.Logger, bool) {
		lg, final := l.get()
		return f(lg), final
	}}
}

func (l *lazyLogger) Scoped(scope string) log.Logger {
	return l.derive(func(lg log.Logger) log.Logger { return lg.Scoped(scope) })
}

func (l *lazyLogger) With(fields ...log.Field) log.Logger {
	return l.derive(func(lg log.Logger) log.Logger { return lg.With(fields...) })
}

func (l *lazyLogger) WithTrace(tc log.TraceContext) log.Logger {
	return l.derive(func(lg log.Logger) log.Logger { return lg.WithTrace(tc) })
}

func (l *lazyLogger) AddCallerSkip(skip int) log.Logger {
	return l.derive(func(lg log.Logger) log.Logger { return lg.AddCallerSkip(skip) })
}

func (l *lazyLogger) IncreaseLevel(scope, description string, level log.Level) log.Logger {
	return l.derive(func(lg log.Logger) log.Logger { return lg.IncreaseLevel(scope, description, level) })
}

func (l *lazyLogger) Debug(msg string, fields ...log.Field) { l.logger().Debug(msg, fields...) }
func (l *lazyLogger) Info(msg string, fields ...log.Field)  { l.logger().Info(msg, fields...) }
func (l *lazyLogger) Warn(msg string, fields ...log.Field)  { l.logger().Warn(msg, fields...) }
func (l *lazyLogger) Error(msg string, fields ...log.Field) { l.logger().Error(msg, fields...) }
func (l *lazyLogger) Fatal(msg string, fields ...log.Field) { l.logger().Fatal(msg, fields...) }
