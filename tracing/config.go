package tracing

import (
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exporter names the span exporter a [Provider] sends finished spans to.
//
// The zero value ("") lets the environment choose; see [Config.Exporter].
type Exporter string

const (
	// ExporterNone disables tracing: [Provider.TracerProvider] returns a
	// no-op provider and nothing is exported.
	ExporterNone Exporter = "none"

	// ExporterStdout writes each finished span as one line of JSON to
	// [Config.Writer] (os.Stdout by default). It is meant for local
	// debugging; spans are written synchronously when they end.
	ExporterStdout Exporter = "stdout"

	// ExporterOTLPHTTP exports spans with OTLP over HTTP using binary
	// protobuf (OTLP "http/protobuf").
	ExporterOTLPHTTP Exporter = "otlphttp"

	// ExporterOTLPGRPC exports spans with OTLP over gRPC.
	ExporterOTLPGRPC Exporter = "otlpgrpc"
)

// Config describes the tracer provider built by [NewProvider]. The zero value
// is valid: the standard OTEL_* environment variables decide everything,
// and without them tracing is off.
//
// The rule throughout: a field set in code wins over the environment; a
// field left at its zero value leaves the choice to the environment, as
// read by the OpenTelemetry SDK and its exporters.
type Config struct {
	// Exporter selects where finished spans are sent. Any value other than
	// "" and the Exporter* constants makes [NewProvider] fail with an error
	// naming Config.Exporter.
	//
	// "" hands the choice to the environment, through
	// go.opentelemetry.io/contrib/exporters/autoexport: OTEL_TRACES_EXPORTER
	// is "otlp", "console" (JSON lines on stdout) or "none", and the OTLP
	// protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
	// OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" (the default) or "grpc".
	// Unlike the specification's default of "otlp", tracing stays off when
	// none of OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT and
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set — and [NewProvider] then
	// logs a warning saying so and naming them — or when OTEL_SDK_DISABLED
	// is "true". An endpoint variable alone means "otlp".
	Exporter Exporter

	// ServiceName is recorded as the service.name resource attribute, over
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. When empty, the SDK
	// default applies: OTEL_SERVICE_NAME, then service.name from
	// OTEL_RESOURCE_ATTRIBUTES, then "unknown_service:<executable>".
	ServiceName string

	// ServiceVersion is recorded as the service.version resource attribute,
	// over OTEL_RESOURCE_ATTRIBUTES. When empty the attribute is omitted
	// unless OTEL_RESOURCE_ATTRIBUTES provides it.
	ServiceVersion string

	// Endpoint optionally overrides the collector address of
	// [ExporterOTLPHTTP] and [ExporterOTLPGRPC]; the other exporters, and
	// an exporter chosen by the environment, ignore it. When empty the
	// exporters use OTEL_EXPORTER_OTLP_TRACES_ENDPOINT /
	// OTEL_EXPORTER_OTLP_ENDPOINT, falling back to localhost:4318 (HTTP) or
	// localhost:4317 (gRPC).
	//
	// It is either "host:port" or a URL "http://host:port" /
	// "https://host:port". With a URL the scheme decides transport security
	// ("http" means plaintext). For [ExporterOTLPHTTP] a URL path is used
	// as-is, except that an empty path or "/" means the standard
	// "/v1/traces"; "host:port" always uses "/v1/traces". gRPC ignores any
	// path. A malformed value makes [NewProvider] fail with an error naming
	// Config.Endpoint.
	Endpoint string

	// Insecure forces a plaintext (non-TLS) connection for
	// [ExporterOTLPHTTP] and [ExporterOTLPGRPC]. When false, transport
	// security follows the Endpoint scheme and OTEL_EXPORTER_OTLP_INSECURE /
	// OTEL_EXPORTER_OTLP_TRACES_INSECURE, and defaults to TLS.
	Insecure bool

	// Sampler decides which spans are recorded and exported, over
	// OTEL_TRACES_SAMPLER. When nil, the SDK reads OTEL_TRACES_SAMPLER and
	// OTEL_TRACES_SAMPLER_ARG (always_on, always_off, traceidratio,
	// parentbased_always_on, parentbased_always_off,
	// parentbased_traceidratio), defaulting to parent-based always-on. An
	// invalid value does not fail [NewProvider]: the SDK reports it as an
	// OpenTelemetry error (see KeepErrorHandler) and uses parent-based
	// always-on, or a ratio of 1 for an invalid ratio.
	Sampler sdktrace.Sampler

	// Writer receives the JSON output of [ExporterStdout]; nil means
	// os.Stdout. It is ignored by the other exporters, including "console"
	// chosen by the environment, which writes to os.Stdout. Writes happen
	// from whatever goroutine ends a span, serialized by the exporter.
	Writer io.Writer

	// SetGlobal makes [NewProvider] install the provider with
	// otel.SetTracerProvider and set the global propagator to W3C Trace
	// Context plus W3C Baggage (otel.SetTextMapPropagator). Shutdown does not
	// undo this; after Shutdown the global tracers become no-ops.
	SetGlobal bool

	// Logger receives OpenTelemetry's own errors, such as "traces export:
	// ... connection refused" while the collector is down, rate-limited to
	// one line per kind per minute (see observation.OTelErrorHandler), and
	// the warning that tracing is off. nil means the global sourcegraph/log
	// logger, scoped "routinely.otel" and "routinely.tracing" and resolved
	// lazily (silent before log.Init).
	Logger log.Logger

	// Registerer is where [NewProvider] registers the counter of
	// OpenTelemetry's own errors, routinely_otel_errors_total{kind}, which
	// shows spans lost to a failing exporter. nil means
	// prometheus.DefaultRegisterer. Ignored when KeepErrorHandler is set.
	Registerer prometheus.Registerer

	// KeepErrorHandler leaves OpenTelemetry's global error handler and
	// internal logger as they are. By default [NewProvider] replaces them,
	// whatever SetGlobal says, with an observation.OTelErrorHandler built
	// from Logger and Registerer: the SDK reports export failures and
	// invalid OTEL_* values only through these process-wide globals, and
	// OpenTelemetry's defaults print them to stderr as plain text.
	KeepErrorHandler bool

	// defaultServiceName is Setup's service name: below the environment,
	// unlike ServiceName.
	defaultServiceName string
}
