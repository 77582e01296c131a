package tracing_test

import (
	"bytes"
	"context"
	"fmt"
	stdlog "log"
	"strings"
	"time"

	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/routinely/routinely/tracing"
)

// With the none exporter tracing is off: tracers hand out non-recording
// spans and nothing runs in the background.
func ExampleNewProvider() {
	ctx := context.Background()
	p, err := tracing.NewProvider(ctx, tracing.Config{
		Exporter:    tracing.ExporterNone,
		ServiceName: "example",
	})
	if err != nil {
		stdlog.Fatal(err)
	}
	defer func() {
		if err := p.Shutdown(ctx); err != nil {
			stdlog.Print(err)
		}
	}()

	_, span := p.TracerProvider().Tracer("example").Start(ctx, "work")
	fmt.Println("recording:", span.IsRecording())
	span.End()
	// Output: recording: false
}

// The stdout exporter writes one JSON object per finished span. Span and
// trace IDs and timestamps vary, so this example only checks that the span
// was written.
func ExampleNewProvider_stdout() {
	ctx := context.Background()
	var out bytes.Buffer
	p, err := tracing.NewProvider(ctx, tracing.Config{
		Exporter:    tracing.ExporterStdout,
		Writer:      &out, // nil means os.Stdout
		ServiceName: "example",
		Sampler:     sdktrace.AlwaysSample(),
	})
	if err != nil {
		stdlog.Fatal(err)
	}

	_, span := p.TracerProvider().Tracer("example").Start(ctx, "hello")
	span.End()

	if err := p.Shutdown(ctx); err != nil {
		stdlog.Fatal(err)
	}
	fmt.Println("span written:", strings.Contains(out.String(), `"Name":"hello"`))
	// Output: span written: true
}

// Setup configures tracing from the OTEL_* variables and installs it
// globally. The lines between the README markers are the README's quick
// start, word for word (TestREADMEShowsExampleSetup checks it).
//
// Without OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT, as here,
// tracing is off and Setup logs a warning saying so. Run the program with
// OTEL_TRACES_EXPORTER=console to see each span as JSON on stdout, or with
// OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 to send the spans to a
// collector over OTLP/HTTP.
func ExampleSetup() {
	ctx := context.Background()
	// README quick start: begin
	shutdownTracing, err := tracing.Setup(ctx, "my-service")
	if err != nil {
		log.Scoped("main").Fatal("tracing set-up failed", log.Error(err))
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(ctx) // flushes the spans still buffered
	}()
	// README quick start: end

	_, span := otel.Tracer("my-service").Start(ctx, "work")
	defer span.End()
	fmt.Println("recording:", span.IsRecording())
	// Output: recording: false
}
