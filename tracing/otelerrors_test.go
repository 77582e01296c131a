package tracing

import (
	"bytes"
	"context"
	"io"
	stdlog "log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log/logtest"
	"go.opentelemetry.io/otel"

	"github.com/routinely/routinely/internal/promtest"
	"github.com/routinely/routinely/internal/testenv"
	"github.com/routinely/routinely/metrics"
	"github.com/routinely/routinely/observation"
)

// captureStderr redirects os.Stderr and the standard library's logger
// (which OpenTelemetry's default error handler writes to) until the
// returned function is called; that function returns what was written.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	origStderr, origLog := os.Stderr, stdlog.Writer()
	os.Stderr = w
	var logBuf bytes.Buffer
	var mu sync.Mutex
	stdlog.SetOutput(&testenv.LockedWriter{Mu: &mu, W: &logBuf})

	var pipeBuf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&pipeBuf, r)
	}()
	var once sync.Once
	var out string
	stop := func() string {
		once.Do(func() {
			os.Stderr = origStderr
			stdlog.SetOutput(origLog)
			_ = w.Close()
			<-done
			_ = r.Close()
			mu.Lock()
			out = pipeBuf.String() + logBuf.String()
			mu.Unlock()
		})
		return out
	}
	t.Cleanup(func() { stop() })
	return stop
}

// otelErrors reads routinely_otel_errors_total{kind} from reg.
func otelErrors(t *testing.T, reg prometheus.Gatherer, kind string) float64 {
	t.Helper()
	return promtest.Value(t, reg, metrics.OTelErrorsName, metrics.OTelErrorKindLabel, kind)
}

// TestExportErrorsAreLoggedAndCountedNotPrinted points a real OTLP/HTTP
// exporter at a closed loopback port: the failed exports are counted and
// logged through sourcegraph/log, and nothing is printed to stderr.
func TestExportErrorsAreLoggedAndCountedNotPrinted(t *testing.T) {
	saveGlobals(t)
	// Export each span as soon as it ends, so the batch processor reports
	// the failure through the global error handler.
	t.Setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "1")
	stderr := captureStderr(t)

	logger, exportLogs := logtest.Captured(t)
	reg := prometheus.NewRegistry()
	p, err := NewProvider(context.Background(), Config{
		Exporter:   ExporterOTLPHTTP,
		Endpoint:   "http://" + unusedLoopbackAddr(t),
		Logger:     logger,
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := otel.GetErrorHandler().(*observation.OTelErrorHandler); !ok {
		t.Errorf("otel.GetErrorHandler() = %T, want *observation.OTelErrorHandler", otel.GetErrorHandler())
	}

	const spans = 5
	tracer := p.TracerProvider().Tracer("test")
	for range spans {
		_, span := tracer.Start(context.Background(), "lost")
		span.End()
	}
	deadline := time.Now().Add(20 * time.Second)
	for otelErrors(t, reg, metrics.OTelErrorKindTracesExport) < spans && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.Shutdown(ctx) // reports what was still pending; nothing is

	if got := otelErrors(t, reg, metrics.OTelErrorKindTracesExport); got != spans {
		t.Errorf("%s{kind=traces_export} = %v, want %d", metrics.OTelErrorsName, got, spans)
	}
	logs := exportLogs()
	if len(logs) != 1 {
		t.Errorf("got %d log lines, want 1 (rate-limited):\n%v", len(logs), logs.Messages())
	} else if e, _ := logs[0].Fields["error"].(string); !strings.Contains(e, "traces export") {
		t.Errorf("logged error = %q, want a traces export error", e)
	}
	if out := stderr(); out != "" {
		t.Errorf("plain text on stderr:\n%s", out)
	}
}

func TestNewProviderInstallsErrorHandlerUnlessKept(t *testing.T) {
	saveGlobals(t)
	for _, exp := range []Exporter{ExporterNone, ExporterStdout} {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
		newTestProvider(t, Config{Exporter: exp, Writer: io.Discard, Registerer: prometheus.NewRegistry()})
		if _, ok := otel.GetErrorHandler().(*observation.OTelErrorHandler); !ok {
			t.Errorf("%s: otel.GetErrorHandler() = %T, want *observation.OTelErrorHandler", exp, otel.GetErrorHandler())
		}
	}

	own := otel.ErrorHandlerFunc(func(error) {})
	otel.SetErrorHandler(own)
	reg := prometheus.NewRegistry()
	newTestProvider(t, Config{Exporter: ExporterStdout, Writer: io.Discard, Registerer: reg, KeepErrorHandler: true})
	if _, ok := otel.GetErrorHandler().(otel.ErrorHandlerFunc); !ok {
		t.Errorf("KeepErrorHandler: otel.GetErrorHandler() = %T, want the caller's", otel.GetErrorHandler())
	}
	if mfs, _ := reg.Gather(); len(mfs) != 0 {
		t.Errorf("KeepErrorHandler: registered %d metrics, want none", len(mfs))
	}
}

func TestNewProviderRegistererConflict(t *testing.T) {
	saveGlobals(t)
	before := otel.GetErrorHandler()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: metrics.OTelErrorsName, Help: "x"}))
	for _, exp := range []Exporter{ExporterNone, ExporterStdout} {
		_, err := NewProvider(context.Background(), Config{Exporter: exp, Writer: io.Discard, Registerer: reg})
		if err == nil || !strings.Contains(err.Error(), "Config.Registerer") {
			t.Errorf("%s: err = %v, want one naming Config.Registerer", exp, err)
		}
	}
	if _, ok := otel.GetErrorHandler().(*observation.OTelErrorHandler); ok && otel.GetErrorHandler() != before {
		t.Error("a failed NewProvider installed an error handler")
	}
}
