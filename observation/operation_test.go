package observation_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sourcegraph/log"
	"github.com/sourcegraph/log/logtest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/routinely/routinely/metrics"
	"github.com/routinely/routinely/observation"
)

// sinks is where the observations of one test go: a span recorder, a
// Prometheus registry with RED metrics labelled component, mode and source,
// and a captured logger.
type sinks struct {
	rec  *tracetest.SpanRecorder
	tp   *sdktrace.TracerProvider
	reg  *prometheus.Registry
	red  *metrics.REDMetrics
	logs func() logtest.CapturedLogs
	obs  *observation.Context
}

func newSinks(t *testing.T) *sinks {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	reg := prometheus.NewRegistry()
	red, err := metrics.NewREDMetrics(reg, "indexer_sync", metrics.WithLabels("component", "mode", "source"))
	if err != nil {
		t.Fatal(err)
	}
	logger, logs := logtest.Captured(t)
	return &sinks{rec: rec, tp: tp, reg: reg, red: red, logs: logs, obs: observation.NewContext(logger, tp, reg)}
}

// span returns the one ended span named name.
func (s *sinks) span(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, sp := range s.rec.Ended() {
		if sp.Name() == name {
			found = append(found, sp)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ended spans named %q, want 1", len(found), name)
	}
	return found[0]
}

// line returns the one captured log line.
func (s *sinks) line(t *testing.T) logtest.CapturedLog {
	t.Helper()
	logs := s.logs()
	if len(logs) != 1 {
		t.Fatalf("%d log lines %q, want 1", len(logs), logs.Messages())
	}
	return logs[0]
}

// op is the operation most tests observe: metric label values are one from
// the Op, one from the Args given to With and one from the finish Args.
func (s *sinks) op(filter observation.ErrorFilter) *observation.Operation {
	return s.obs.Operation(observation.Op{
		Name:              "indexer.sync",
		Description:       "syncs one repository",
		Metrics:           s.red,
		MetricLabelValues: []string{"indexer"},
		ErrorFilter:       filter,
		Attrs:             []attribute.KeyValue{attribute.String("component", "indexer")},
	})
}

// observe runs one observation of op that ends with err.
func observe(op *observation.Operation, err error) {
	_, _, finish := op.With(context.Background(), &err, observation.Args{MetricLabelValues: []string{"full"}})
	finish(1, observation.Args{MetricLabelValues: []string{"github"}})
}

func (s *sinks) count() float64 {
	return testutil.ToFloat64(s.red.Count.WithLabelValues("indexer", "full", "github"))
}

func (s *sinks) errors() float64 {
	return testutil.ToFloat64(s.red.Errors.WithLabelValues("indexer", "full", "github"))
}

// histogram returns the sample count and sum of the one duration series.
func (s *sinks) histogram(t *testing.T) (count uint64, sum float64) {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "indexer_sync_duration_seconds" {
			continue
		}
		if len(mf.GetMetric()) != 1 {
			t.Fatalf("%d indexer_sync_duration_seconds series, want 1", len(mf.GetMetric()))
		}
		h := mf.GetMetric()[0].GetHistogram()
		return h.GetSampleCount(), h.GetSampleSum()
	}
	t.Fatal("indexer_sync_duration_seconds not gathered")
	return 0, 0
}

func attr(attrs []attribute.KeyValue, key attribute.Key) (attribute.Value, bool) {
	set := attribute.NewSet(attrs...)
	return set.Value(key)
}

func TestWithSuccess(t *testing.T) {
	s := newSinks(t)
	op := s.op(nil)
	parentCtx, parent := s.tp.Tracer("test").Start(context.Background(), "parent")

	var err error
	ctx, tl, finish := op.With(parentCtx, &err, observation.Args{
		Attrs:             []attribute.KeyValue{attribute.Int64("repo.id", 42)},
		MetricLabelValues: []string{"full"},
	})
	finish(1, observation.Args{
		Attrs:             []attribute.KeyValue{attribute.Bool("changed", true)},
		MetricLabelValues: []string{"github"},
	})
	parent.End()

	span := s.span(t, "indexer.sync")
	if got := span.Parent().SpanID(); got != parent.SpanContext().SpanID() {
		t.Errorf("span parent = %s, want the span in the ctx given to With (%s)", got, parent.SpanContext().SpanID())
	}
	if got := trace.SpanContextFromContext(ctx); !got.Equal(span.SpanContext()) {
		t.Errorf("ctx returned by With carries span %v, want the observation's %v", got, span.SpanContext())
	}
	if got := tl.Span().SpanContext(); !got.Equal(span.SpanContext()) {
		t.Errorf("TraceLogger.Span() = %v, want the observation's span %v", got, span.SpanContext())
	}
	if span.SpanKind() != trace.SpanKindInternal {
		t.Errorf("span kind = %v, want internal", span.SpanKind())
	}
	for key, want := range map[attribute.Key]attribute.Value{
		"component": attribute.StringValue("indexer"), // Op.Attrs
		"repo.id":   attribute.Int64Value(42),         // Args given to With
		"changed":   attribute.BoolValue(true),        // Args given to finish
	} {
		if got, ok := attr(span.Attributes(), key); !ok || got != want {
			t.Errorf("span attribute %s = %v (present %v), want %v", key, got.Emit(), ok, want.Emit())
		}
	}
	if got := span.Status().Code; got != codes.Unset {
		t.Errorf("span status = %v, want Unset", got)
	}
	if len(span.Events()) != 0 {
		t.Errorf("span events = %v, want none", span.Events())
	}

	line := s.line(t)
	if line.Level != log.LevelDebug || line.Message != "indexer.sync" {
		t.Errorf("log line = %s %q, want debug %q", line.Level, line.Message, "indexer.sync")
	}
	duration, ok := line.Fields["duration"].(time.Duration)
	if !ok || duration <= 0 {
		t.Errorf("log field duration = %#v, want a positive time.Duration", line.Fields["duration"])
	}
	for key, want := range map[string]any{
		"component":   "indexer",
		"description": "syncs one repository",
		"repo.id":     int64(42),
		"changed":     true,
		"TraceId":     span.SpanContext().TraceID().String(),
		"SpanId":      span.SpanContext().SpanID().String(),
	} {
		if got := line.Fields[key]; got != want {
			t.Errorf("log field %s = %#v, want %#v", key, got, want)
		}
	}
	for _, key := range []string{"error", "count"} {
		if got, ok := line.Fields[key]; ok {
			t.Errorf("log field %s = %#v, want no such field on a successful single operation", key, got)
		}
	}

	if got := s.count(); got != 1 {
		t.Errorf("indexer_sync_total{indexer,full,github} = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(s.red.Errors); n != 0 {
		t.Errorf("indexer_sync_errors_total has %d series, want 0", n)
	}
	samples, sum := s.histogram(t)
	if samples != 1 {
		t.Errorf("indexer_sync_duration_seconds sample count = %d, want 1", samples)
	}
	if sum != duration.Seconds() {
		t.Errorf("indexer_sync_duration_seconds sum = %v, want the logged duration %v", sum, duration.Seconds())
	}
}

func TestWithFailure(t *testing.T) {
	s := newSinks(t)
	observe(s.op(nil), errors.New("index corrupt"))

	span := s.span(t, "indexer.sync")
	if st := span.Status(); st.Code != codes.Error || st.Description != "index corrupt" {
		t.Errorf("span status = %v %q, want Error %q", st.Code, st.Description, "index corrupt")
	}
	if ev := span.Events(); len(ev) != 1 || ev[0].Name != "exception" {
		t.Fatalf("span events = %v, want one exception event", ev)
	}
	if got, _ := attr(span.Events()[0].Attributes, "exception.message"); got.AsString() != "index corrupt" {
		t.Errorf("exception.message = %q, want %q", got.AsString(), "index corrupt")
	}

	line := s.line(t)
	if line.Level != log.LevelError || line.Message != "indexer.sync failed" {
		t.Errorf("log line = %s %q, want error %q", line.Level, line.Message, "indexer.sync failed")
	}
	if got := line.Fields["error"]; got != "index corrupt" {
		t.Errorf("log field error = %#v, want %q", got, "index corrupt")
	}
	if got := line.Fields["TraceId"]; got != span.SpanContext().TraceID().String() {
		t.Errorf("log field TraceId = %#v, want the span's %s", got, span.SpanContext().TraceID())
	}

	if got := s.count(); got != 1 {
		t.Errorf("indexer_sync_total = %v, want 1", got)
	}
	if got := s.errors(); got != 1 {
		t.Errorf("indexer_sync_errors_total = %v, want 1", got)
	}
	if got, _ := s.histogram(t); got != 1 {
		t.Errorf("indexer_sync_duration_seconds sample count = %d, want 1", got)
	}
}

func TestWithErrorFilter(t *testing.T) {
	tests := []struct {
		name      string
		behaviour observation.ErrorFilterBehaviour
	}{
		{"EmitForNone", observation.EmitForNone},
		{"EmitForMetrics", observation.EmitForMetrics},
		{"EmitForLogs", observation.EmitForLogs},
		{"EmitForTraces", observation.EmitForTraces},
		{"EmitForAll", observation.EmitForAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSinks(t)
			failure := errors.New("not found")
			var filtered []error
			observe(s.op(func(err error) observation.ErrorFilterBehaviour {
				filtered = append(filtered, err)
				return tt.behaviour
			}), failure)

			if len(filtered) != 1 || filtered[0] != failure {
				t.Errorf("ErrorFilter called with %v, want once with the observation's error", filtered)
			}

			span := s.span(t, "indexer.sync")
			wantTrace := tt.behaviour.Has(observation.EmitForTraces)
			if gotTrace := span.Status().Code == codes.Error; gotTrace != wantTrace {
				t.Errorf("span status = %v, want Error: %v", span.Status().Code, wantTrace)
			}
			if gotEvent := len(span.Events()) == 1; gotEvent != wantTrace {
				t.Errorf("span events = %v, want the error recorded: %v", span.Events(), wantTrace)
			}

			wantErrors := 0.0
			if tt.behaviour.Has(observation.EmitForMetrics) {
				wantErrors = 1
			}
			if got := s.errors(); got != wantErrors {
				t.Errorf("indexer_sync_errors_total = %v, want %v", got, wantErrors)
			}
			if got := s.count(); got != 1 {
				t.Errorf("indexer_sync_total = %v, want 1 whatever the filter says", got)
			}

			line := s.line(t)
			wantLevel := log.LevelDebug
			if tt.behaviour.Has(observation.EmitForLogs) {
				wantLevel = log.LevelError
			}
			if line.Level != wantLevel {
				t.Errorf("log level = %s, want %s", line.Level, wantLevel)
			}
			if got := line.Fields["error"]; got != "not found" {
				t.Errorf("log field error = %#v, want the error even when it is expected", got)
			}
		})
	}
}

func TestErrorFilterNotCalledOnSuccess(t *testing.T) {
	s := newSinks(t)
	observe(s.op(func(err error) observation.ErrorFilterBehaviour {
		t.Errorf("ErrorFilter called with %v for a successful observation", err)
		return observation.EmitForAll
	}), nil)
}

func TestIgnoreCanceled(t *testing.T) {
	tests := []struct {
		err  error
		want observation.ErrorFilterBehaviour
	}{
		{context.Canceled, observation.EmitForNone},
		{fmt.Errorf("sync: %w", context.Canceled), observation.EmitForNone},
		{context.DeadlineExceeded, observation.EmitForAll},
		{errors.New("canceled"), observation.EmitForAll},
	}
	for _, tt := range tests {
		if got := observation.IgnoreCanceled(tt.err); got != tt.want {
			t.Errorf("IgnoreCanceled(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestWithIgnoreCanceled(t *testing.T) {
	s := newSinks(t)
	observe(s.op(observation.IgnoreCanceled), fmt.Errorf("sync: %w", context.Canceled))

	if got := s.span(t, "indexer.sync").Status().Code; got != codes.Unset {
		t.Errorf("span status = %v, want Unset for a canceled operation", got)
	}
	if got := s.errors(); got != 0 {
		t.Errorf("indexer_sync_errors_total = %v, want 0 for a canceled operation", got)
	}
	if got := s.line(t).Level; got != log.LevelDebug {
		t.Errorf("log level = %s, want debug for a canceled operation", got)
	}
}

func TestErrorFilterBehaviourHas(t *testing.T) {
	b := observation.EmitForMetrics | observation.EmitForLogs
	if !b.Has(observation.EmitForMetrics) || !b.Has(observation.EmitForLogs) {
		t.Errorf("%b.Has misses one of its own bits", b)
	}
	if b.Has(observation.EmitForTraces) || b.Has(observation.EmitForAll) {
		t.Errorf("%b.Has reports a bit it does not hold", b)
	}
	if !observation.EmitForAll.Has(b) {
		t.Errorf("EmitForAll.Has(%b) = false, want true", b)
	}
}

func TestWithNilErrPointer(t *testing.T) {
	s := newSinks(t)
	_, _, finish := s.op(nil).With(context.Background(), nil, observation.Args{MetricLabelValues: []string{"full"}})
	finish(1, observation.Args{MetricLabelValues: []string{"github"}})

	if got := s.span(t, "indexer.sync").Status().Code; got != codes.Unset {
		t.Errorf("span status = %v, want Unset", got)
	}
	if got := s.line(t).Level; got != log.LevelDebug {
		t.Errorf("log level = %s, want debug", got)
	}
	if got := s.count(); got != 1 {
		t.Errorf("indexer_sync_total = %v, want 1", got)
	}
}

func TestWithReadsErrWhenFinished(t *testing.T) {
	s := newSinks(t)
	var err error
	_, _, finish := s.op(nil).With(context.Background(), &err, observation.Args{MetricLabelValues: []string{"full"}})
	err = errors.New("late failure") // set after With, as a deferred finish sees it
	finish(1, observation.Args{MetricLabelValues: []string{"github"}})

	if got := s.errors(); got != 1 {
		t.Errorf("indexer_sync_errors_total = %v, want 1: finish must read *err when called", got)
	}
}

func TestWithCountOtherThanOne(t *testing.T) {
	s := newSinks(t)
	err := errors.New("partial batch")
	_, _, finish := s.op(nil).With(context.Background(), &err, observation.Args{MetricLabelValues: []string{"full"}})
	finish(5, observation.Args{MetricLabelValues: []string{"github"}})

	if got := s.count(); got != 5 {
		t.Errorf("indexer_sync_total = %v, want 5", got)
	}
	if got := s.errors(); got != 5 {
		t.Errorf("indexer_sync_errors_total = %v, want 5", got)
	}
	if got, _ := s.histogram(t); got != 1 {
		t.Errorf("indexer_sync_duration_seconds sample count = %d, want 1 per observation", got)
	}
	if got := s.line(t).Fields["count"]; got != 5.0 {
		t.Errorf("log field count = %#v, want 5.0", got)
	}
}

func TestTraceLogger(t *testing.T) {
	s := newSinks(t)
	op := s.obs.Operation(observation.Op{Name: "indexer.sync"})
	_, tl, finish := op.With(context.Background(), nil, observation.Args{})
	tl.AddEvent("checkpoint", attribute.Int("files", 3))
	tl.SetAttributes(attribute.String("repo", "github.com/a/b"))
	tl.Info("direct", log.String("k", "v"))
	tl.With(log.String("derived", "yes")).Warn("with")
	tl.Scoped("child").Info("scoped")
	finish(1, observation.Args{})

	span := s.span(t, "indexer.sync")
	if ev := span.Events(); len(ev) != 1 || ev[0].Name != "checkpoint" {
		t.Fatalf("span events = %v, want one checkpoint event", ev)
	}
	if got, _ := attr(span.Events()[0].Attributes, "files"); got.AsInt64() != 3 {
		t.Errorf("checkpoint event attribute files = %v, want 3", got.Emit())
	}
	if got, _ := attr(span.Attributes(), "repo"); got.AsString() != "github.com/a/b" {
		t.Errorf("span attribute repo = %q, want %q", got.AsString(), "github.com/a/b")
	}

	logs := s.logs()
	if got, want := fmt.Sprint(logs.Messages()), "[direct with scoped indexer.sync]"; got != want {
		t.Fatalf("log messages = %s, want %s", got, want)
	}
	for _, l := range logs {
		if l.Fields["TraceId"] != span.SpanContext().TraceID().String() || l.Fields["SpanId"] != span.SpanContext().SpanID().String() {
			t.Errorf("log line %q has TraceId %v SpanId %v, want the span's %s %s",
				l.Message, l.Fields["TraceId"], l.Fields["SpanId"], span.SpanContext().TraceID(), span.SpanContext().SpanID())
		}
	}
	if got := logs[0].Fields["k"]; got != "v" {
		t.Errorf("direct line field k = %#v, want v", got)
	}
	if got := logs[1].Fields["derived"]; got != "yes" {
		t.Errorf("derived line field derived = %#v, want yes", got)
	}
	if got, want := logs[2].Scope, t.Name()+".child"; got != want {
		t.Errorf("scoped line scope = %q, want %q", got, want)
	}
}

func TestWithoutRecordingTracerLogsWithoutTraceIDs(t *testing.T) {
	logger, logs := logtest.Captured(t)
	obs := observation.NewContext(logger, noop.NewTracerProvider(), prometheus.NewRegistry())
	_, tl, finish := obs.Operation(observation.Op{Name: "quiet"}).With(context.Background(), nil, observation.Args{})
	tl.Info("inside")
	finish(1, observation.Args{})

	got := logs()
	if len(got) != 2 {
		t.Fatalf("log messages = %q, want the inside line and the closing line", got.Messages())
	}
	for _, l := range got {
		if id, ok := l.Fields["TraceId"]; ok {
			t.Errorf("line %q has TraceId %v, want none without a valid span", l.Message, id)
		}
	}
}

func TestOperationName(t *testing.T) {
	op := observation.Default().Operation(observation.Op{Name: "indexer.sync"})
	if got := op.Name(); got != "indexer.sync" {
		t.Errorf("Name() = %q, want %q", got, "indexer.sync")
	}
}
