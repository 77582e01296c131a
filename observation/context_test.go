package observation_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log/logtest"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/routinely/routinely/observation"
)

// recordingProvider returns a tracer provider that records ended spans.
func recordingProvider(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// setGlobalTracerProvider sets otel's global tracer provider for the rest of
// the test and restores the previous one after it.
func setGlobalTracerProvider(t *testing.T, tp trace.TracerProvider) {
	t.Helper()
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	otel.SetTracerProvider(tp)
}

func TestContextResolvesGlobalTracerProviderAtUse(t *testing.T) {
	first, firstRec := recordingProvider(t)
	second, secondRec := recordingProvider(t)
	// otel's default global provider forwards to the first provider ever
	// set; setting one before building the Context rules that out as the
	// reason the spans arrive.
	setGlobalTracerProvider(t, first)

	logger, _ := logtest.Captured(t)
	obs := observation.NewContext(logger, nil, prometheus.NewRegistry())
	op := obs.Operation(observation.Op{Name: "sync"})

	_, _, finish := op.With(context.Background(), nil, observation.Args{})
	finish(1, observation.Args{})

	// The global provider changes after the Context and Operation exist.
	otel.SetTracerProvider(second)
	_, _, finish = op.With(context.Background(), nil, observation.Args{})
	finish(1, observation.Args{})

	if n := len(firstRec.Ended()); n != 1 {
		t.Errorf("first global provider recorded %d spans, want 1 (the one observed while it was global)", n)
	}
	if n := len(secondRec.Ended()); n != 1 {
		t.Errorf("second global provider recorded %d spans, want 1: a nil TracerProvider must resolve the global one at use", n)
	}
}

// funcTracerProvider is a TracerProvider value that cannot be compared with
// ==, as a user's own provider may be.
type funcTracerProvider struct {
	embedded.TracerProvider
	tracer func(name string, opts ...trace.TracerOption) trace.Tracer
}

func (p funcTracerProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return p.tracer(name, opts...)
}

func TestContextWithIncomparableTracerProvider(t *testing.T) {
	tp, rec := recordingProvider(t)
	logger, _ := logtest.Captured(t)
	obs := observation.NewContext(logger, funcTracerProvider{tracer: tp.Tracer}, prometheus.NewRegistry())
	op := obs.Operation(observation.Op{Name: "sync"})

	for range 2 {
		_, _, finish := op.With(context.Background(), nil, observation.Args{})
		finish(1, observation.Args{})
	}
	if n := len(rec.Ended()); n != 2 {
		t.Errorf("recorded %d spans, want 2", n)
	}
}

func TestContextTracerInstrumentationScope(t *testing.T) {
	tp, rec := recordingProvider(t)
	obs := observation.NewContext(nil, tp, nil)
	_, span := obs.Tracer().Start(context.Background(), "s")
	span.End()
	if got := rec.Ended()[0].InstrumentationScope().Name; got != observation.InstrumentationName {
		t.Errorf("instrumentation scope = %q, want %q", got, observation.InstrumentationName)
	}
}

func TestContextExplicitFields(t *testing.T) {
	tp, rec := recordingProvider(t)
	logger, logs := logtest.Captured(t)
	reg := prometheus.NewRegistry()
	obs := observation.NewContext(logger, tp, reg)

	if obs.Registerer() != reg {
		t.Errorf("Registerer() = %v, want the registerer given to NewContext", obs.Registerer())
	}
	obs.Logger().Info("hello")
	if got := logs().Messages(); len(got) != 1 || got[0] != "hello" {
		t.Errorf("Logger() wrote %q, want the given logger to get [hello]", got)
	}
	_, span := obs.Tracer().Start(context.Background(), "s")
	span.End()
	if n := len(rec.Ended()); n != 1 {
		t.Errorf("Tracer() span went to a provider other than the given one (%d recorded)", n)
	}
}

func TestContextRegistryDefault(t *testing.T) {
	for name, obs := range map[string]*observation.Context{
		"zero value": {},
		"Default":    observation.Default(),
		"NewContext": observation.NewContext(nil, nil, nil),
		"nil":        nil,
	} {
		if got := obs.Registerer(); got != prometheus.DefaultRegisterer {
			t.Errorf("%s: Registerer() = %v, want prometheus.DefaultRegisterer", name, got)
		}
	}
}

func TestNilContextUsesDefaults(t *testing.T) {
	tp, rec := recordingProvider(t)
	setGlobalTracerProvider(t, tp)

	var obs *observation.Context
	if obs.Logger() == nil {
		t.Fatal("nil Context: Logger() = nil, want the global logger")
	}
	obs.Logger().Debug("must not panic")
	if obs.Tracer() == nil {
		t.Fatal("nil Context: Tracer() = nil")
	}

	op := obs.Operation(observation.Op{Name: "nil.context"})
	_, tl, finish := op.With(context.Background(), nil, observation.Args{})
	tl.Debug("must not panic")
	finish(1, observation.Args{})

	ended := rec.Ended()
	if len(ended) != 1 || ended[0].Name() != "nil.context" {
		t.Errorf("global provider recorded %d spans, want the nil Context's nil.context span", len(ended))
	}
}

func TestContextLogIsStable(t *testing.T) {
	obs := &observation.Context{}
	if obs.Logger() != obs.Logger() {
		t.Error("Logger() of a Context without a Logger returns a new logger per call, want one lazy logger")
	}
}
