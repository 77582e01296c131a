package tracing_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"
	"time"

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
		log.Fatal(err)
	}
	defer func() {
		if err := p.Shutdown(ctx); err != nil {
			log.Print(err)
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
		log.Fatal(err)
	}

	_, span := p.TracerProvider().Tracer("example").Start(ctx, "hello")
	span.End()

	if err := p.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("span written:", strings.Contains(out.String(), `"Name":"hello"`))
	// Output: span written: true
}

// Setup configures tracing from OTEL_* variables and installs it globally.
func ExampleSetup() {
	ctx := context.Background()
	shutdown, err := tracing.Setup(ctx, "my-service")
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			log.Print(err)
		}
	}()

	_, span := otel.Tracer("my-service").Start(ctx, "work")
	defer span.End()
}
