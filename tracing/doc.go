// Package tracing sets up and shuts down an OpenTelemetry tracer provider
// from a [Config] and the standard OTEL_* environment variables.
//
// It depends on the OpenTelemetry API, SDK and exporters, and on package
// observation for the handler of OpenTelemetry's own errors. Four
// exporters are supported (see [Exporter]): none (tracing off, a no-op
// provider), stdout (JSON lines, for debugging), OTLP over HTTP/protobuf and
// OTLP over gRPC.
//
// # Programs
//
// Most programs call [Setup] once at start-up and defer the returned
// shutdown function, which flushes buffered spans before exit:
//
//	func main() {
//		ctx := context.Background()
//		shutdown, err := tracing.Setup(ctx, "my-service")
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer func() {
//			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//			defer cancel()
//			if err := shutdown(ctx); err != nil {
//				log.Print(err)
//			}
//		}()
//
//		tracer := otel.Tracer("my-service/worker")
//		ctx, span := tracer.Start(ctx, "work")
//		defer span.End()
//		// ...
//	}
//
// Setup installs the provider and the W3C Trace Context + Baggage propagator
// globally, so otel.Tracer and instrumentation libraries pick them up.
// Without any OTEL_* variables tracing is off (exporter none), so Setup is
// safe to call unconditionally. Typical configurations:
//
//	OTEL_TRACES_EXPORTER=console                      # JSON spans on stdout
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 # OTLP/HTTP (implies otlp)
//	OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
//	  OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317
//	OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1
//	OTEL_SDK_DISABLED=true                            # force tracing off
//
// See [ConfigFromEnv] for the variables read by this package. The OTLP
// exporters additionally honour their own OTEL_EXPORTER_OTLP_* variables
// (endpoint, headers, timeout, TLS certificates, compression), and the
// batch span processor the OTEL_BSP_* variables.
//
// # Libraries and tests
//
// Code that needs explicit control builds a [Config] and calls
// [NewProvider], then uses [Provider.TracerProvider] instead of the global:
//
//	p, err := tracing.NewProvider(ctx, tracing.Config{
//		Exporter:    tracing.ExporterOTLPGRPC,
//		ServiceName: "indexer",
//		Endpoint:    "collector.internal:4317",
//		Insecure:    true,
//		Sampler:     sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1)),
//	})
//	if err != nil {
//		return err
//	}
//	defer p.Shutdown(context.WithoutCancel(ctx))
//	tracer := p.TracerProvider().Tracer("indexer")
//
// Invalid configuration is reported by [ConfigFromEnv] and [NewProvider] as
// an error naming the offending environment variable or Config field.
//
// # OpenTelemetry's own errors
//
// The SDK reports its failures — above all "traces export: ... connection
// refused" for each batch of spans lost while the collector is down —
// through OpenTelemetry's process-wide error handler and internal logger,
// whose defaults print them to stderr as plain text, breaking JSON logs.
// [NewProvider] (and so [Setup]) replaces both with an
// observation.OTelErrorHandler: each error is counted in
// routinely_otel_errors_total{kind} on [Config.Registerer] and logged
// through sourcegraph/log to [Config.Logger], at most once per kind per
// minute. [Config.KeepErrorHandler] leaves OpenTelemetry's handler alone.
//
// [Provider.Shutdown] flushes pending spans and releases the exporter; it is
// idempotent and bounded by its context. [Provider.ForceFlush] exports
// pending spans without shutting down.
package tracing
