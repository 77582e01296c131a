package observation_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	"github.com/sourcegraph/log/logtest"
	"go.opentelemetry.io/otel"

	"github.com/routinely/routinely/internal/promtest"
	"github.com/routinely/routinely/metrics"
	"github.com/routinely/routinely/observation"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ now atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.now.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.now.Add(int64(d)) }

// otelErrorCount reads routinely_otel_errors_total{kind} from reg.
func otelErrorCount(t *testing.T, reg prometheus.Gatherer, kind string) float64 {
	t.Helper()
	return promtest.Value(t, reg, metrics.OTelErrorsName, metrics.OTelErrorKindLabel, kind)
}

// newCapturedHandler returns a handler with the given interval between
// lines of a kind, logging to a captured logger, with its registry and
// the function that returns (and clears) the captured lines.
func newCapturedHandler(t *testing.T, interval time.Duration) (*observation.OTelErrorHandler, *prometheus.Registry, func() logtest.CapturedLogs) {
	t.Helper()
	logger, exportLogs := logtest.Captured(t)
	reg := prometheus.NewRegistry()
	h, err := observation.NewOTelErrorHandler(logger, reg, interval)
	if err != nil {
		t.Fatal(err)
	}
	return h, reg, exportLogs
}

const exportErr = `traces export: Post "http://127.0.0.1:1/v1/traces": dial tcp 127.0.0.1:1: connect: connection refused`

func TestOTelErrorHandlerBurstLogsOneLinePerKindAndCountsAll(t *testing.T) {
	h, reg, exportLogs := newCapturedHandler(t, 10*time.Second)
	clock := newFakeClock()
	observation.SetOTelErrorClock(h, clock.Now)

	// 1000 export errors and 1000 others, from 10 goroutines at once.
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for i := range 100 {
				h.Handle(errors.New(exportErr))
				h.Handle(fmt.Errorf("something else %d/%d", g, i))
			}
		})
	}
	wg.Wait()

	if got := otelErrorCount(t, reg, metrics.OTelErrorKindTracesExport); got != 1000 {
		t.Errorf("traces_export count = %v, want 1000", got)
	}
	if got := otelErrorCount(t, reg, metrics.OTelErrorKindOther); got != 1000 {
		t.Errorf("other count = %v, want 1000", got)
	}
	logs := exportLogs()
	if len(logs) != 2 {
		t.Fatalf("got %d log lines, want 2 (one per kind):\n%v", len(logs), logs.Messages())
	}
	kinds := map[string]bool{}
	for _, l := range logs {
		kinds[fmt.Sprint(l.Fields["kind"])] = true
		if s := fmt.Sprint(l.Fields["suppressed"]); s != "0" {
			t.Errorf("first line of kind %v: suppressed = %s, want 0", l.Fields["kind"], s)
		}
		if l.Level != log.LevelWarn {
			t.Errorf("level = %q, want %q", l.Level, log.LevelWarn)
		}
	}
	if !kinds[metrics.OTelErrorKindTracesExport] || !kinds[metrics.OTelErrorKindOther] {
		t.Errorf("logged kinds %v, want traces_export and other", kinds)
	}
	if e := fmt.Sprint(logs[0].Fields["error"]) + fmt.Sprint(logs[1].Fields["error"]); !strings.Contains(e, "connection refused") {
		t.Errorf("the error text is not logged: %q", e)
	}
}

func TestOTelErrorHandlerLogsAgainAfterIntervalWithSuppressedCount(t *testing.T) {
	h, reg, exportLogs := newCapturedHandler(t, 10*time.Second)
	clock := newFakeClock()
	observation.SetOTelErrorClock(h, clock.Now)

	for range 1000 {
		h.Handle(errors.New(exportErr)) // 1 logged, 999 suppressed
	}
	clock.Advance(9 * time.Second)
	h.Handle(errors.New(exportErr))     // still within the interval: suppressed
	if n := len(exportLogs()); n != 1 { // exportLogs also clears them
		t.Fatalf("%d lines within the interval, want 1", n)
	}
	clock.Advance(time.Second)
	h.Handle(errors.New(exportErr)) // 10s after the first line: logged

	logs := exportLogs()
	if len(logs) != 1 {
		t.Fatalf("got %d more log lines, want 1:\n%v", len(logs), logs.Messages())
	}
	if s := fmt.Sprint(logs[0].Fields["suppressed"]); s != "1000" {
		t.Errorf("second line: suppressed = %s, want 1000", s)
	}
	if got := otelErrorCount(t, reg, metrics.OTelErrorKindTracesExport); got != 1002 {
		t.Errorf("count = %v, want 1002", got)
	}
}

func TestOTelErrorHandlerSeriesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := observation.NewOTelErrorHandler(logtest.NoOp(t), reg, 0); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{
		metrics.OTelErrorKindTracesExport, metrics.OTelErrorKindMetricsExport,
		metrics.OTelErrorKindLogsExport, metrics.OTelErrorKindInternal, metrics.OTelErrorKindOther,
	} {
		if got := otelErrorCount(t, reg, kind); got != 0 {
			t.Errorf("%s = %v, want 0", kind, got)
		}
	}
}

func TestOTelErrorHandlerSharesCounterOnSameRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	h1, err := observation.NewOTelErrorHandler(logtest.NoOp(t), reg, 0)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := observation.NewOTelErrorHandler(logtest.NoOp(t), reg, 0)
	if err != nil {
		t.Fatalf("second handler on the same registry: %v", err)
	}
	h1.Handle(errors.New("a"))
	h2.Handle(errors.New("b"))
	if got := otelErrorCount(t, reg, metrics.OTelErrorKindOther); got != 2 {
		t.Errorf("count = %v, want 2", got)
	}

	conflict := prometheus.NewRegistry()
	conflict.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: metrics.OTelErrorsName, Help: "x"}))
	if _, err := observation.NewOTelErrorHandler(nil, conflict, 0); err == nil {
		t.Error("NewOTelErrorHandler with a conflicting collector: got nil error")
	}
}

// typedNilErr panics in Error when nil.
type typedNilErr struct{ msg string }

func (e *typedNilErr) Error() string { return e.msg }

func TestOTelErrorHandlerSurvivesHostileErrors(t *testing.T) {
	h, reg, exportLogs := newCapturedHandler(t, 0)
	h.Handle(nil) // ignored
	var nilErr *typedNilErr
	h.Handle(nilErr)
	if got := otelErrorCount(t, reg, metrics.OTelErrorKindOther); got != 1 {
		t.Errorf("count = %v, want 1 (nil ignored, typed nil counted)", got)
	}
	if n := len(exportLogs()); n != 1 {
		t.Errorf("%d lines, want 1", n)
	}
}

func TestOTelErrorHandlerInternalLogger(t *testing.T) {
	h, reg, exportLogs := newCapturedHandler(t, 0)
	l := observation.OTelLogr(h).WithName("sdk").WithValues("component", "bsp")
	l.Error(errors.New("boom"), "failed to do it", "count", 3)
	l.Error(errors.New(exportErr), "exporting")
	l.V(1).Info("a warning")    // dropped, as OTel's default logger drops it
	l.V(8).Info("a debug line") // dropped

	if got := otelErrorCount(t, reg, metrics.OTelErrorKindInternal); got != 1 {
		t.Errorf("internal count = %v, want 1", got)
	}
	if got := otelErrorCount(t, reg, metrics.OTelErrorKindTracesExport); got != 1 {
		t.Errorf("traces_export count = %v, want 1", got)
	}
	logs := exportLogs()
	if len(logs) != 2 {
		t.Fatalf("got %d lines, want 2:\n%v", len(logs), logs.Messages())
	}
	first := logs[0].Fields
	if first["error"] != "failed to do it: boom" || first["component"] != "bsp" || first["count"] != "3" || first["logger"] != "sdk" {
		t.Errorf("fields = %v", first)
	}
}

func TestInstallOTelErrorHandler(t *testing.T) {
	prev := otel.GetErrorHandler()
	t.Cleanup(func() { otel.SetErrorHandler(prev) })

	logger, exportLogs := logtest.Captured(t)
	reg := prometheus.NewRegistry()
	h, err := observation.InstallOTelErrorHandler(logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	if otel.GetErrorHandler() != otel.ErrorHandler(h) {
		t.Fatalf("otel.GetErrorHandler() = %T, want the installed handler", otel.GetErrorHandler())
	}
	otel.Handle(errors.New(exportErr))
	if got := otelErrorCount(t, reg, metrics.OTelErrorKindTracesExport); got != 1 {
		t.Errorf("count = %v, want 1", got)
	}
	if n := len(exportLogs()); n != 1 {
		t.Errorf("%d lines, want 1", n)
	}
}

func ExampleNewOTelErrorHandler() {
	reg := prometheus.NewRegistry()
	// In a program: observation.InstallOTelErrorHandler(logger, reg), which
	// also makes it OpenTelemetry's global error handler and logger.
	h, err := observation.NewOTelErrorHandler(log.NoOp(), reg, time.Minute)
	if err != nil {
		panic(err)
	}
	for range 3 {
		h.Handle(errors.New(`traces export: Post "http://collector:4318/v1/traces": connection refused`))
	}
	mfs, _ := reg.Gather()
	for _, m := range mfs[0].GetMetric() {
		if v := m.GetCounter().GetValue(); v > 0 {
			fmt.Println(mfs[0].GetName(), m.GetLabel()[0].GetValue(), v)
		}
	}
	// Output: routinely_otel_errors_total traces_export 3
}
