// Package tracing sets up and shuts down an OpenTelemetry tracer provider
// from a [Config] and the standard OTEL_* environment variables.
//
// It does not read the OTEL_* variables itself: the OpenTelemetry SDK
// reads the sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) and the
// resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), the OTLP
// exporters their OTEL_EXPORTER_OTLP_* variables, the batch span processor
// OTEL_BSP_*, and go.opentelemetry.io/contrib/exporters/autoexport chooses
// the exporter from OTEL_TRACES_EXPORTER. What this package adds: tracing
// stays off, and says so, when nothing is configured; fields set in code
// win over the environment; a stdout exporter writing to any io.Writer;
// OpenTelemetry's own errors logged through sourcegraph/log and counted;
// a global installation with the W3C propagators; and a Shutdown that
// flushes within its context.
//
// # Programs
//
// Most programs call [Setup] once at start-up and flush with the returned
// function before exit; see the example of [Setup]. Setup installs the
// provider and the W3C Trace Context + Baggage propagator globally, so
// otel.Tracer and instrumentation libraries pick them up. Without
// OTEL_TRACES_EXPORTER or an OTLP endpoint variable tracing is off, so
// Setup is safe to call unconditionally; it then logs a warning naming the
// variables that turn tracing on. Typical configurations:
//
//	OTEL_TRACES_EXPORTER=console                      # JSON spans on stdout
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 # OTLP/HTTP (implies otlp)
//	OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
//	  OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317
//	OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1
//	OTEL_TRACES_EXPORTER=none                         # off, without the warning
//	OTEL_SDK_DISABLED=true                            # off, whatever else is set
//
// An unknown exporter or OTLP protocol is an error from [Setup] and
// [NewProvider]. Invalid sampler or resource values are not: the SDK
// reports them as OpenTelemetry errors (below) and falls back to its
// defaults, as it does in any Go program.
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
// Each field set there wins over the corresponding variable; the fields
// left zero leave the choice to the environment.
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
