package observation

import (
	"sync"

	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// TraceLogger is a logger whose lines carry the trace and span ids of one
// observation, and a handle on that observation's span.
type TraceLogger interface {
	log.Logger
	// AddEvent adds an event to the span.
	AddEvent(name string, attrs ...attribute.KeyValue)
	// SetAttributes sets attributes on the span.
	SetAttributes(attrs ...attribute.KeyValue)
	// Span returns the observation's span.
	Span() trace.Span
}

// traceLogger builds its trace-aware logger on first use: most successful
// observations never log anything but their closing Debug line, which the
// level check usually discards.
type traceLogger struct {
	base log.Logger
	span trace.Span

	once   sync.Once
	direct log.Logger // base with the trace context, for derived loggers
	l      log.Logger // direct, skipping traceLogger's own frame
}

var _ TraceLogger = (*traceLogger)(nil)

// logger returns the base logger with the span's trace context, skipping
// the traceLogger method frame when reporting callers.
func (t *traceLogger) logger() log.Logger {
	t.resolve()
	return t.l
}

func (t *traceLogger) derivable() log.Logger {
	t.resolve()
	return t.direct
}

func (t *traceLogger) resolve() {
	t.once.Do(func() {
		t.direct = withSpan(t.base, t.span)
		t.l = t.direct.AddCallerSkip(1)
	})
}

// withSpan returns l with the trace and span ids of span, or l itself
// when span has no valid context (e.g. the no-op tracer's spans).
func withSpan(l log.Logger, span trace.Span) log.Logger {
	sc := span.SpanContext()
	if !sc.IsValid() {
		return l
	}
	return l.WithTrace(log.TraceContext{TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String()})
}

func (t *traceLogger) Span() trace.Span { return t.span }

func (t *traceLogger) AddEvent(name string, attrs ...attribute.KeyValue) {
	t.span.AddEvent(name, trace.WithAttributes(attrs...))
}

func (t *traceLogger) SetAttributes(attrs ...attribute.KeyValue) { t.span.SetAttributes(attrs...) }

func (t *traceLogger) Scoped(scope string) log.Logger           { return t.derivable().Scoped(scope) }
func (t *traceLogger) With(fields ...log.Field) log.Logger      { return t.derivable().With(fields...) }
func (t *traceLogger) WithTrace(tc log.TraceContext) log.Logger { return t.derivable().WithTrace(tc) }
func (t *traceLogger) AddCallerSkip(skip int) log.Logger        { return t.derivable().AddCallerSkip(skip) }
func (t *traceLogger) IncreaseLevel(scope, description string, level log.Level) log.Logger {
	return t.derivable().IncreaseLevel(scope, description, level)
}
func (t *traceLogger) Debug(msg string, fields ...log.Field) { t.logger().Debug(msg, fields...) }
func (t *traceLogger) Info(msg string, fields ...log.Field)  { t.logger().Info(msg, fields...) }
func (t *traceLogger) Warn(msg string, fields ...log.Field)  { t.logger().Warn(msg, fields...) }
func (t *traceLogger) Error(msg string, fields ...log.Field) { t.logger().Error(msg, fields...) }
func (t *traceLogger) Fatal(msg string, fields ...log.Field) { t.logger().Fatal(msg, fields...) }
