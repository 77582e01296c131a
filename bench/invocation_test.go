package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/observation"
)

var errHandler = errors.New("bench: handler failed")

// BenchmarkInvocation measures one observed invocation of a no-op handler,
// in ns/op and allocs/op, for:
//
//   - bare: the handler called directly, the floor;
//   - handrolled: what a careful user writes by hand around the call: an
//     OpenTelemetry span (routine.name attribute, error recorded with status
//     Error), HistogramVec.WithLabelValues(routine, outcome).Observe, an
//     error counter on failure, and one sourcegraph/log line with the
//     trace and span ids (Debug on success, Error on failure), with the
//     unsampled tracer provider of ours-unsampled;
//   - handrolled-sampled: the same with the sampled provider of ours-sampled;
//   - ours-unsampled: a real PeriodicGoroutine whose SDK tracer provider
//     samples nothing (spans have ids but are not recorded);
//   - ours-sampled: every span sampled, recorded and handed to a batch span
//     processor (with a no-op exporter);
//   - ours-noop: the OpenTelemetry no-op tracer provider.
//
// The ours-* variants run the library's real per-invocation path end to
// end: a PeriodicGoroutine with a 1 ns interval is started and its handler
// cancels the routine after b.N invocations. Every tick is overdue, so no
// timer is armed, but each op still includes the routine's scheduling loop
// (clock reads, grid arithmetic), the routine metrics, the status history
// and the observation (span, log line). Allocations are counted process
// wide, so the routine goroutine's are included.
//
// All variants log through the global logger set up in TestMain (Info,
// JSON, to /dev/null) and register metrics in a fresh registry.
func BenchmarkInvocation(b *testing.B) {
	for _, result := range []string{"ok", "error"} {
		var herr error
		if result == "error" {
			herr = errHandler
		}
		for _, v := range []struct {
			name string
			run  func(b *testing.B, handlerErr error)
		}{
			{"bare", runBare},
			{"handrolled", func(b *testing.B, e error) { runHandRolled(b, unsampledProvider(b), e) }},
			{"handrolled-sampled", func(b *testing.B, e error) { runHandRolled(b, sampledProvider(b), e) }},
			{"ours-unsampled", func(b *testing.B, e error) { runOurs(b, unsampledProvider(b), e) }},
			{"ours-sampled", func(b *testing.B, e error) { runOurs(b, sampledProvider(b), e) }},
			{"ours-noop", func(b *testing.B, e error) { runOurs(b, noop.NewTracerProvider(), e) }},
		} {
			b.Run("variant="+v.name+"/result="+result, func(b *testing.B) { v.run(b, herr) })
		}
	}
}

// countingHandler is the no-op handler every variant calls: it counts its
// calls and cancels cancel after n of them (which ends a routine).
func countingHandler(n int, cancel context.CancelFunc, err error) goroutine.Handler {
	calls := 0
	return goroutine.HandlerFunc(func(context.Context) error {
		calls++
		if calls == n {
			cancel()
		}
		return err
	})
}

// unsampledProvider is an SDK tracer provider that samples nothing: spans
// get trace and span ids but are not recorded. Its batch span processor
// never sees a span.
func unsampledProvider(b *testing.B) trace.TracerProvider {
	return sdkProvider(b, sdktrace.NeverSample())
}

// sampledProvider samples, records and exports (to a no-op exporter,
// through the batch span processor a production set-up uses) every span.
func sampledProvider(b *testing.B) trace.TracerProvider {
	return sdkProvider(b, sdktrace.AlwaysSample())
}

func sdkProvider(b *testing.B, s sdktrace.Sampler) trace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(s), sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

func runBare(b *testing.B, handlerErr error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := countingHandler(b.N, cancel, handlerErr)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = h.Handle(ctx)
	}
}

func runOurs(b *testing.B, tp trace.TracerProvider, handlerErr error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := goroutine.NewPeriodic(ctx, time.Nanosecond, countingHandler(b.N, cancel, handlerErr),
		goroutine.WithName("bench"),
		goroutine.WithObservationContext(observation.NewContext(nil, tp, prometheus.NewRegistry())))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	r.Start() // returns once the handler has cancelled ctx after b.N calls (the last run is canceled)
	b.StopTimer()
	if got := r.Status(); got.Successes+got.Errors+got.Canceled != uint64(b.N) {
		b.Fatalf("routine ran %d invocations, want %d", got.Successes+got.Errors+got.Canceled, b.N)
	}
}

func runHandRolled(b *testing.B, tp trace.TracerProvider, handlerErr error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := countingHandler(b.N, cancel, handlerErr)
	inst := newHandRolled(tp, prometheus.NewRegistry(), "bench")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = inst.invoke(ctx, h)
	}
}

// handRolled is the instrumentation a careful user writes around a
// handler call, with the same signals routinely emits per invocation.
type handRolled struct {
	name     string
	spanName string
	tracer   trace.Tracer
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	logger   log.Logger
}

func newHandRolled(tp trace.TracerProvider, reg prometheus.Registerer, name string) *handRolled {
	h := &handRolled{
		name:     name,
		spanName: "routine." + name,
		tracer:   tp.Tracer("example.com/myservice"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "myservice_job_duration_seconds",
			Help:    "Time each job run took.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"routine", "outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "myservice_job_errors_total",
			Help: "Job runs that failed.",
		}, []string{"routine"}),
		logger: log.Scoped("myservice"),
	}
	reg.MustRegister(h.duration, h.errors)
	return h
}

func (h *handRolled) invoke(ctx context.Context, handler goroutine.Handler) error {
	start := time.Now()
	ctx, span := h.tracer.Start(ctx, h.spanName, trace.WithAttributes(attribute.String("routine.name", h.name)))
	err := handler.Handle(ctx)
	elapsed := time.Since(start)

	outcome := "success"
	if err != nil {
		outcome = "error"
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		h.errors.WithLabelValues(h.name).Inc()
	}
	span.End()
	h.duration.WithLabelValues(h.name, outcome).Observe(elapsed.Seconds())

	sc := span.SpanContext()
	if err != nil {
		h.logger.Error("job failed", log.String("routine", h.name), log.Duration("duration", elapsed), log.Error(err),
			log.String("trace_id", sc.TraceID().String()), log.String("span_id", sc.SpanID().String()))
	} else {
		h.logger.Debug("job ran", log.String("routine", h.name), log.Duration("duration", elapsed),
			log.String("trace_id", sc.TraceID().String()), log.String("span_id", sc.SpanID().String()))
	}
	return err
}
