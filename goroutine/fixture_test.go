package goroutine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sourcegraph/log"
	"github.com/sourcegraph/log/logtest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/routinely/routinely/internal/promtest"
	"github.com/routinely/routinely/metrics"
	"github.com/routinely/routinely/observation"
)

// fixture captures everything a routine emits: metrics in a fresh
// registry, spans in a recorder and log lines in memory.
type fixture struct {
	t     testing.TB
	reg   *prometheus.Registry
	spans *tracetest.SpanRecorder
	logs  func() logtest.CapturedLogs
	obs   *observation.Context

	captured logtest.CapturedLogs
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	logger, logs := logtest.CapturedWith(t, logtest.LoggerOptions{Level: log.LevelNone})
	return &fixture{
		t: t, reg: reg, spans: spans, logs: logs,
		obs: observation.NewContext(logger, tp, reg),
	}
}

// periodic builds a routine observed by the fixture, failing the test on
// construction errors.
func (f *fixture) periodic(ctx context.Context, name string, interval time.Duration, h Handler, opts ...Option) *PeriodicGoroutine {
	f.t.Helper()
	opts = append([]Option{WithName(name), WithObservationContext(f.obs)}, opts...)
	r, err := NewPeriodic(ctx, interval, h, opts...)
	if err != nil {
		f.t.Fatalf("NewPeriodic: %v", err)
	}
	return r
}

var names = metrics.RoutineNames("")

// value reads one routine series from the fixture's registry.
func (f *fixture) value(metric, routine string, extra ...string) float64 {
	f.t.Helper()
	return promtest.Value(f.t, f.reg, metric, append([]string{metrics.RoutineLabel, routine}, extra...)...)
}

// durationCount returns the histogram sample count for one outcome.
func (f *fixture) durationCount(routine, outcome string) float64 {
	return f.value(names.HandlerDuration, routine, metrics.OutcomeLabel, outcome)
}

// lint fails the test when the registry's metrics have lint problems.
func (f *fixture) lint() {
	f.t.Helper()
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range problems {
		f.t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// spanNamed returns the ended spans with the given name.
func (f *fixture) spanNamed(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range f.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// logsMatching returns captured lines whose message starts with prefix.
func (f *fixture) logsMatching(prefix string) logtest.CapturedLogs {
	f.captured = append(f.captured, f.logs()...)
	return f.captured.Filter(func(l logtest.CapturedLog) bool { return strings.HasPrefix(l.Message, prefix) })
}
