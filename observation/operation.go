package observation

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap/zapcore"

	"github.com/routinely/routinely/internal/errtext"
	"github.com/routinely/routinely/metrics"
)

// ErrorFilterBehaviour says where an error is reported. It is a bit set:
// combine values with |.
type ErrorFilterBehaviour uint8

const (
	// EmitForMetrics counts the error in the error counter.
	EmitForMetrics ErrorFilterBehaviour = 1 << iota
	// EmitForLogs logs the observation at Error level with the error.
	EmitForLogs
	// EmitForTraces records the error on the span and sets status Error.
	EmitForTraces

	// EmitForNone treats the error as expected everywhere: it is logged at
	// Debug level and neither counted nor recorded on the span as a failure.
	EmitForNone ErrorFilterBehaviour = 0
	// EmitForAll reports the error everywhere; it is what happens without
	// a filter.
	EmitForAll = EmitForMetrics | EmitForLogs | EmitForTraces
)

// Has reports whether b includes every bit of other.
func (b ErrorFilterBehaviour) Has(other ErrorFilterBehaviour) bool { return b&other == other }

// ErrorFilter decides where a non-nil error is reported. It is called once
// per failed observation and must be safe for concurrent use.
type ErrorFilter func(err error) ErrorFilterBehaviour

// IgnoreCanceled is an ErrorFilter that treats context.Canceled as expected
// (EmitForNone) and reports every other error everywhere.
func IgnoreCanceled(err error) ErrorFilterBehaviour {
	if errors.Is(err, context.Canceled) {
		return EmitForNone
	}
	return EmitForAll
}

// Op describes one kind of operation. Build an Operation from it with
// Context.Operation.
type Op struct {
	// Name names the span and the log line, e.g. "indexer.sync". Required.
	Name string
	// Description is a human description, added to the log line.
	Description string
	// Metrics, if set, gets one Observe call per finished observation.
	Metrics *metrics.REDMetrics
	// MetricLabelValues are the leading label values for Metrics; the ones
	// passed to the finish function's Args follow them.
	MetricLabelValues []string
	// ErrorFilter decides where errors are reported; nil reports all.
	ErrorFilter ErrorFilter
	// Attrs are set on every span and added to every log line.
	Attrs []attribute.KeyValue
}

// Operation is a reusable, concurrency-safe description of an operation
// from which each occurrence is observed with With.
type Operation struct {
	ctx        *Context
	op         Op
	logFields  []log.Field
	metricVals []string
	startOpts  []trace.SpanStartOption
	closing    atomic.Pointer[log.Logger]
}

// Operation returns the Operation described by op in c. A nil receiver is
// the default Context.
func (c *Context) Operation(op Op) *Operation {
	if c == nil {
		c = Default()
	}
	fields := attrsToFields(nil, op.Attrs)
	if op.Description != "" {
		fields = append(fields, log.String("description", op.Description))
	}
	startOpts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	if len(op.Attrs) > 0 {
		startOpts = append(startOpts, trace.WithAttributes(op.Attrs...))
	}
	return &Operation{ctx: c, op: op, logFields: fields, metricVals: op.MetricLabelValues, startOpts: startOpts}
}

// Name returns the operation's name.
func (o *Operation) Name() string { return o.op.Name }

// Args are the per-occurrence additions to an observation.
type Args struct {
	// Attrs are set on the span and added to the log line. Passed to With,
	// they are set once the span has started, so a sampler sees only
	// Op.Attrs.
	Attrs []attribute.KeyValue
	// MetricLabelValues follow Op.MetricLabelValues when observing metrics.
	MetricLabelValues []string
	// Classified, set on the Args passed to the finish function, says the
	// caller has already decided where the error is reported: ErrorBehaviour
	// is used and Op.ErrorFilter is not called. A caller that needs the
	// classification itself (to pick a metric outcome, say) uses it so that
	// the user's filter runs once per error.
	Classified bool
	// ErrorBehaviour is where the error is reported when Classified is set.
	ErrorBehaviour ErrorFilterBehaviour
}

// FinishFunc ends an observation; count is the number of items the
// operation handled (1 for a single operation) and args are added to it.
// Call it exactly once, typically deferred.
type FinishFunc func(count float64, args Args)

// With starts one observation of the operation: a span named after the
// operation, started from ctx, and a timer. It returns the context carrying
// the span, a logger whose lines carry the span's trace and span ids, and
// the function that ends the observation.
//
// The finish function reads *err when it is called (err may be nil for an
// operation that cannot fail). An error whose Error method panics (a
// typed-nil pointer, say) is reported as an error naming its type
// instead of crashing, and a panicking Op.ErrorFilter
// reports the error everywhere. Then it:
//
//   - ends the span, recording the error and status Error on failure;
//   - observes the duration, the count and the error in Op.Metrics;
//   - writes one log line: Debug on success, Error on failure, with the
//     duration, the operation's and args' attributes and the error; the
//     line's caller is the code that called the finish function.
//
// Op.ErrorFilter can keep an error out of any of these separately.
func (o *Operation) With(ctx context.Context, err *error, args Args) (context.Context, TraceLogger, FinishFunc) {
	start := time.Now()
	// Per-occurrence attributes are set after the start, and only on a
	// recording span: passing them as start options costs three
	// allocations per observation. Samplers see Op.Attrs only.
	ctx, span := o.ctx.Tracer().Start(ctx, o.op.Name, o.startOpts...)
	if len(args.Attrs) > 0 && span.IsRecording() {
		span.SetAttributes(args.Attrs...)
	}
	tl := &traceLogger{base: o.ctx.Logger(), span: span}
	startArgs := args

	finish := func(count float64, args Args) {
		elapsed := time.Since(start)
		var e error
		if err != nil {
			e, _ = errtext.Safe(*err)
		}
		behaviour := EmitForAll
		switch {
		case e == nil:
		case args.Classified:
			behaviour = args.ErrorBehaviour
		case o.op.ErrorFilter != nil:
			behaviour = o.classify(e)
		}

		if len(args.Attrs) > 0 {
			span.SetAttributes(args.Attrs...)
		}
		if e != nil && behaviour.Has(EmitForTraces) {
			span.RecordError(e)
			span.SetStatus(codes.Error, e.Error())
		}
		span.End()

		if m := o.op.Metrics; m != nil {
			labels := o.metricVals
			if n := len(startArgs.MetricLabelValues) + len(args.MetricLabelValues); n > 0 {
				labels = make([]string, 0, len(o.metricVals)+n)
				labels = append(labels, o.metricVals...)
				labels = append(labels, startArgs.MetricLabelValues...)
				labels = append(labels, args.MetricLabelValues...)
			}
			m.Observe(elapsed.Seconds(), count, e != nil && behaviour.Has(EmitForMetrics), labels...)
		}

		o.log(span, elapsed, count, e, behaviour, startArgs, args)
	}
	return ctx, tl, finish
}

// classify calls Op.ErrorFilter; a filter that panics reports the error
// everywhere, and its panic is logged.
func (o *Operation) classify(err error) (b ErrorFilterBehaviour) {
	defer func() {
		if v := recover(); v != nil {
			b = EmitForAll
			o.ctx.Logger().Error(o.op.Name+": error filter panicked; reporting the error everywhere",
				log.String("panic", fmt.Sprint(v)), log.String("stack", string(debug.Stack())))
		}
	}()
	return o.op.ErrorFilter(err)
}

func (o *Operation) log(span trace.Span, elapsed time.Duration, count float64, e error, behaviour ErrorFilterBehaviour, startArgs, args Args) {
	level := zapcore.DebugLevel
	if e != nil && behaviour.Has(EmitForLogs) {
		level = zapcore.ErrorLevel
	}
	l := o.finishLogger()
	if !levelEnabled(l, level) {
		return // e.g. the success line at Info level: build nothing
	}
	l = withSpan(l, span)

	fields := make([]log.Field, 0, len(o.logFields)+len(startArgs.Attrs)+len(args.Attrs)+3)
	fields = append(fields, o.logFields...)
	fields = attrsToFields(fields, startArgs.Attrs)
	fields = attrsToFields(fields, args.Attrs)
	fields = append(fields, log.Duration("duration", elapsed))
	if count != 1 {
		fields = append(fields, log.Float64("count", count))
	}
	if e != nil {
		fields = append(fields, log.Error(e))
	}
	if level == zapcore.ErrorLevel {
		l.Error(o.op.Name+" failed", fields...)
		return
	}
	l.Debug(o.op.Name, fields...)
}

// finishLogger returns the Context's logger set to report the caller of
// the finish function as the line's caller (skipping log and the finish
// closure), built once per Operation.
func (o *Operation) finishLogger() log.Logger {
	if l := o.closing.Load(); l != nil {
		return *l
	}
	l := o.ctx.Logger().AddCallerSkip(2)
	o.closing.Store(&l)
	return l
}

// levelEnabled reports whether l writes lines at level, so that a line
// that would be discarded costs nothing to build. Loggers that do not
// expose their zap core are assumed to write everything.
func levelEnabled(l log.Logger, level zapcore.Level) bool {
	switch l := l.(type) {
	case *lazyLogger:
		return levelEnabled(l.logger(), level)
	case interface{ Core() zapcore.Core }:
		return l.Core().Enabled(level)
	}
	return true
}

// attrsToFields appends one log field per attribute to fields.
func attrsToFields(fields []log.Field, attrs []attribute.KeyValue) []log.Field {
	for _, a := range attrs {
		switch a.Value.Type() {
		case attribute.BOOL:
			fields = append(fields, log.Bool(string(a.Key), a.Value.AsBool()))
		case attribute.INT64:
			fields = append(fields, log.Int64(string(a.Key), a.Value.AsInt64()))
		case attribute.FLOAT64:
			fields = append(fields, log.Float64(string(a.Key), a.Value.AsFloat64()))
		default:
			fields = append(fields, log.String(string(a.Key), a.Value.Emit()))
		}
	}
	return fields
}
