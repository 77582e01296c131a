package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"

	"github.com/routinely/routinely/internal/otlptest"
)

func newTestProvider(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := NewProvider(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("cleanup Shutdown: %v", err)
		}
	})
	return p
}

func TestNewProviderInvalidConfig(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantField string
	}{
		{"unknown exporter", Config{Exporter: "jaeger"}, "Config.Exporter"},
		{"env name is not a Config value", Config{Exporter: "console"}, "Config.Exporter"},
		{"http endpoint bad scheme", Config{Exporter: ExporterOTLPHTTP, Endpoint: "ftp://collector:4318"}, "Config.Endpoint"},
		{"http endpoint no host", Config{Exporter: ExporterOTLPHTTP, Endpoint: "http://"}, "Config.Endpoint"},
		{"http endpoint no port", Config{Exporter: ExporterOTLPHTTP, Endpoint: "collector"}, "Config.Endpoint"},
		{"grpc endpoint empty host", Config{Exporter: ExporterOTLPGRPC, Endpoint: ":4317"}, "Config.Endpoint"},
		{"grpc endpoint bad url", Config{Exporter: ExporterOTLPGRPC, Endpoint: "http://[::1"}, "Config.Endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProvider(context.Background(), tt.cfg)
			if err == nil {
				_ = p.Shutdown(context.Background())
				t.Fatal("NewProvider succeeded, want error")
			}
			if p != nil {
				t.Errorf("NewProvider returned a provider with error %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantField) {
				t.Errorf("error %q does not name %s", err, tt.wantField)
			}
		})
	}
}

func TestNoneExporter(t *testing.T) {
	for _, exp := range []Exporter{"", ExporterNone} {
		p := newTestProvider(t, Config{Exporter: exp})
		if _, ok := p.TracerProvider().(noop.TracerProvider); !ok {
			t.Errorf("Exporter %q: TracerProvider() is %T, want noop.TracerProvider", exp, p.TracerProvider())
		}
		_, span := p.TracerProvider().Tracer("t").Start(context.Background(), "s")
		if span.IsRecording() {
			t.Error("noop span is recording")
		}
		span.End()
		if err := p.ForceFlush(context.Background()); err != nil {
			t.Errorf("ForceFlush: %v", err)
		}
	}
}

// stdoutSpan is the subset of the stdouttrace JSON checked by the tests.
type stdoutSpan struct {
	Name     string
	Resource []struct {
		Key   string
		Value struct{ Value any }
	}
}

func TestStdoutExporterWritesSpans(t *testing.T) {
	var buf bytes.Buffer
	p := newTestProvider(t, Config{
		Exporter:       ExporterStdout,
		Writer:         &buf,
		ServiceName:    "stdout-svc",
		ServiceVersion: "1.2.3",
		Sampler:        sdktrace.AlwaysSample(),
	})
	if _, ok := p.TracerProvider().(*sdktrace.TracerProvider); !ok {
		t.Fatalf("TracerProvider() is %T, want *sdktrace.TracerProvider", p.TracerProvider())
	}
	ctx := context.Background()
	_, span := p.TracerProvider().Tracer("test").Start(ctx, "stdout-span")
	span.End()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	// Spans ended after Shutdown are dropped.
	_, late := p.TracerProvider().Tracer("test").Start(ctx, "late-span")
	late.End()

	out := buf.String()
	if !strings.Contains(out, `"Name":"stdout-span"`) {
		t.Fatalf("output does not contain the span:\n%s", out)
	}
	if strings.Contains(out, "late-span") {
		t.Errorf("span ended after Shutdown was written:\n%s", out)
	}
	var got stdoutSpan
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	res := map[string]any{}
	for _, kv := range got.Resource {
		res[kv.Key] = kv.Value.Value
	}
	if res["service.name"] != "stdout-svc" || res["service.version"] != "1.2.3" {
		t.Errorf("resource service attributes = %v, %v", res["service.name"], res["service.version"])
	}
	if res["telemetry.sdk.language"] != "go" {
		t.Errorf("resource lacks resource.Default() attributes: %v", res)
	}
}

// otlpRequest is one request received by the fake collector.
type otlpRequest struct {
	method, path, contentType string
	body                      []byte
}

// newCollector starts a fake OTLP/HTTP collector on loopback. The handler
// records the request before responding, so once an export has returned
// its request is already in the channel.
func newCollector(t *testing.T) (*httptest.Server, chan otlpRequest) {
	t.Helper()
	reqs := make(chan otlpRequest, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := otlptest.Body(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case reqs <- otlpRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), b}:
		default:
			t.Error("fake collector: too many requests")
		}
		// Do not keep idle client connections (and their goroutines) around.
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

func receive(t *testing.T, reqs chan otlpRequest) otlpRequest {
	t.Helper()
	select {
	case r := <-reqs:
		return r
	default:
		t.Fatal("no export request reached the collector")
		return otlpRequest{}
	}
}

func TestOTLPHTTPDeliversSpans(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		endpoint func(srv *httptest.Server) string
		insecure bool
		wantPath string
	}{
		{"url", func(s *httptest.Server) string { return s.URL }, false, "/v1/traces"},
		{"url with slash", func(s *httptest.Server) string { return s.URL + "/" }, false, "/v1/traces"},
		{"url with path", func(s *httptest.Server) string { return s.URL + "/custom/traces" }, false, "/custom/traces"},
		{"host:port insecure", func(s *httptest.Server) string { return s.Listener.Addr().String() }, true, "/v1/traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := newCollector(t)
			p := newTestProvider(t, Config{
				Exporter:    ExporterOTLPHTTP,
				Endpoint:    tt.endpoint(srv),
				Insecure:    tt.insecure,
				ServiceName: "otlp-http-svc",
				Sampler:     sdktrace.AlwaysSample(),
			})
			tracer := p.TracerProvider().Tracer("test")

			_, span := tracer.Start(ctx, "flushed-span")
			span.End()
			if err := p.ForceFlush(ctx); err != nil {
				t.Fatalf("ForceFlush: %v", err)
			}
			r := receive(t, reqs)
			if r.method != http.MethodPost || r.path != tt.wantPath {
				t.Errorf("got %s %s, want POST %s", r.method, r.path, tt.wantPath)
			}
			if r.contentType != "application/x-protobuf" {
				t.Errorf("Content-Type = %q", r.contentType)
			}
			if !bytes.Contains(r.body, []byte("flushed-span")) || !bytes.Contains(r.body, []byte("otlp-http-svc")) {
				t.Errorf("request body lacks span or service name: %q", r.body)
			}

			_, span = tracer.Start(ctx, "shutdown-span")
			span.End()
			if err := p.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if r := receive(t, reqs); !bytes.Contains(r.body, []byte("shutdown-span")) {
				t.Errorf("Shutdown did not flush the pending span: %q", r.body)
			}
		})
	}
}

// TestOTLPHTTPShutdownCanceledContext checks that Shutdown with a done
// context returns its error promptly and still releases everything.
//
// Nothing listens on the endpoint: with a live server, a connection dialed
// for an export that gets canceled would legitimately stay in the
// exporter's shared idle pool.
func TestOTLPHTTPShutdownCanceledContext(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	p, err := NewProvider(context.Background(), Config{
		Exporter: ExporterOTLPHTTP,
		Endpoint: "http://" + unusedLoopbackAddr(t),
		Sampler:  sdktrace.AlwaysSample(),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("test").Start(context.Background(), "pending")
	span.End()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown(canceled) = %v, want context.Canceled", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown = %v, want nil", err)
	}
	goleak.VerifyNone(t, ignore)
}

// unusedLoopbackAddr returns a loopback address nothing listens on.
func unusedLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// shutdownWithin runs p.Shutdown with a deadline and fails the test if it
// does not return well after that deadline.
func shutdownWithin(t *testing.T, p *Provider, deadline time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(ctx) }()
	watchdog := time.NewTimer(deadline + 10*time.Second)
	defer watchdog.Stop()
	select {
	case err := <-done:
		return err
	case <-watchdog.C:
		t.Fatal("Shutdown did not return after its context deadline")
		return nil
	}
}

func TestOTLPGRPCNoServer(t *testing.T) {
	for _, endpoint := range []func(addr string) string{
		func(addr string) string { return addr },
		func(addr string) string { return "http://" + addr },
	} {
		ignore := goleak.IgnoreCurrent()
		p, err := NewProvider(context.Background(), Config{
			Exporter: ExporterOTLPGRPC,
			Endpoint: endpoint(unusedLoopbackAddr(t)),
			Insecure: true,
			Sampler:  sdktrace.AlwaysSample(),
		})
		if err != nil {
			t.Fatalf("NewProvider(otlpgrpc): %v", err)
		}
		if _, ok := p.TracerProvider().(*sdktrace.TracerProvider); !ok {
			t.Fatalf("TracerProvider() is %T", p.TracerProvider())
		}
		// A pending span forces a real export attempt against the closed
		// port, which can only end by the deadline.
		_, span := p.TracerProvider().Tracer("test").Start(context.Background(), "undeliverable")
		span.End()
		err = shutdownWithin(t, p, 200*time.Millisecond)
		t.Logf("Shutdown with no collector: %v", err)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want nil or context.DeadlineExceeded", err)
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("second Shutdown = %v", err)
		}
		goleak.VerifyNone(t, ignore)
	}
}

func TestOTLPGRPCConstructAndShutdownIdle(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	p, err := NewProvider(context.Background(), Config{
		Exporter: ExporterOTLPGRPC,
		Endpoint: unusedLoopbackAddr(t),
		Insecure: true,
	})
	if err != nil {
		t.Fatalf("NewProvider(otlpgrpc): %v", err)
	}
	if err := shutdownWithin(t, p, 200*time.Millisecond); err != nil {
		t.Errorf("Shutdown with nothing pending = %v", err)
	}
	goleak.VerifyNone(t, ignore)
}

func TestShutdownTwice(t *testing.T) {
	srv, _ := newCollector(t)
	for _, cfg := range []Config{
		{Exporter: ExporterNone},
		{Exporter: ExporterStdout, Writer: io.Discard},
		{Exporter: ExporterOTLPHTTP, Endpoint: srv.URL},
		{Exporter: ExporterOTLPGRPC, Endpoint: unusedLoopbackAddr(t), Insecure: true},
	} {
		t.Run(string(cfg.Exporter), func(t *testing.T) {
			p, err := NewProvider(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if err := p.Shutdown(context.Background()); err != nil {
					t.Errorf("Shutdown #%d: %v", i+1, err)
				}
			}
			if err := p.ForceFlush(context.Background()); err != nil {
				t.Errorf("ForceFlush after Shutdown: %v", err)
			}
		})
	}
}

// TestShutdownConcurrent ends a span that the batch processor holds
// (nothing is exported before a flush), then shuts the provider down from
// eight goroutines: every call succeeds and the span reaches the collector
// exactly once.
func TestShutdownConcurrent(t *testing.T) {
	srv, reqs := newCollector(t)
	p, err := NewProvider(context.Background(), Config{
		Exporter: ExporterOTLPHTTP, Endpoint: srv.URL, Sampler: sdktrace.AlwaysSample(),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("test").Start(context.Background(), "concurrent")
	span.End()
	select {
	case r := <-reqs:
		t.Fatalf("span exported before Shutdown (%q): the test would prove nothing", r.body)
	default:
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- p.Shutdown(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}
	if r := receive(t, reqs); !bytes.Contains(r.body, []byte("concurrent")) {
		t.Errorf("Shutdown did not flush the pending span: %q", r.body)
	}
	select {
	case r := <-reqs:
		t.Errorf("a second export after concurrent Shutdowns: %q", r.body)
	default:
	}
}

// saveGlobals restores the global tracer provider, propagator and error
// handler after the test.
func saveGlobals(t *testing.T) {
	tp, prop, eh := otel.GetTracerProvider(), otel.GetTextMapPropagator(), otel.GetErrorHandler()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(prop)
		// Setting OpenTelemetry's default handler while it is current
		// prints a complaint.
		if cur := otel.GetErrorHandler(); !reflect.TypeOf(cur).Comparable() || cur != eh {
			otel.SetErrorHandler(eh)
		}
	})
}

func TestSetGlobal(t *testing.T) {
	saveGlobals(t)
	ctx := context.Background()

	p := newTestProvider(t, Config{Exporter: ExporterStdout, Writer: io.Discard, Sampler: sdktrace.AlwaysSample(), SetGlobal: true})
	if got := otel.GetTracerProvider(); got != p.TracerProvider() {
		t.Fatalf("otel.GetTracerProvider() = %T %p, want the provider's", got, got)
	}
	fields := strings.Join(otel.GetTextMapPropagator().Fields(), ",")
	for _, f := range []string{"traceparent", "tracestate", "baggage"} {
		if !strings.Contains(fields, f) {
			t.Errorf("global propagator fields %q lack %q", fields, f)
		}
	}
	ctx, span := otel.Tracer("test").Start(ctx, "global")
	defer span.End()
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if want := span.SpanContext().TraceID().String(); !strings.Contains(carrier.Get("traceparent"), want) {
		t.Errorf("injected traceparent %q lacks trace ID %s", carrier.Get("traceparent"), want)
	}

	// The none exporter installs its no-op provider too.
	pn := newTestProvider(t, Config{Exporter: ExporterNone, SetGlobal: true})
	if got := otel.GetTracerProvider(); got != pn.TracerProvider() {
		t.Errorf("otel.GetTracerProvider() = %T, want the no-op provider", got)
	}
}

func TestWithoutSetGlobalLeavesGlobalsAlone(t *testing.T) {
	saveGlobals(t)
	before := otel.GetTracerProvider()
	p := newTestProvider(t, Config{Exporter: ExporterStdout, Writer: io.Discard})
	if otel.GetTracerProvider() != before || otel.GetTracerProvider() == p.TracerProvider() {
		t.Error("NewProvider without SetGlobal changed the global tracer provider")
	}
}

func TestSetup(t *testing.T) {
	saveGlobals(t)
	ctx := context.Background()

	t.Setenv("OTEL_TRACES_EXPORTER", "bogus")
	shutdown, err := Setup(ctx, "svc")
	if err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_EXPORTER") {
		t.Errorf("Setup error = %v, want one naming OTEL_TRACES_EXPORTER", err)
	}
	if shutdown == nil || shutdown(ctx) != nil {
		t.Error("Setup must return a usable no-op shutdown on error")
	}

	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	shutdown, err = Setup(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := otel.GetTracerProvider().(noop.TracerProvider); !ok {
		t.Errorf("global tracer provider is %T, want noop", otel.GetTracerProvider())
	}
	for range 2 {
		if err := shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}

// TestREADMEShowsExampleSetup checks that the README's quick start holds the
// set-up lines of ExampleSetup, which compiles and runs, word for word.
func TestREADMEShowsExampleSetup(t *testing.T) {
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, lines, ok := strings.Cut(string(example), "// README quick start: begin\n")
	lines, _, ok2 := strings.Cut(lines, "\t// README quick start: end")
	if !ok || !ok2 || lines == "" {
		t.Fatal("example_test.go lacks the README quick start markers")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), lines) {
		t.Errorf("README.md does not contain ExampleSetup's set-up lines:\n%s", lines)
	}
}
