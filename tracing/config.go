package tracing

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exporter names the span exporter a [Provider] sends finished spans to.
//
// The zero value ("") is treated as [ExporterNone].
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
	// protobuf (OTLP "http/protobuf"). In the environment it is selected by
	// OTEL_TRACES_EXPORTER=otlp with the default protocol, http/protobuf.
	ExporterOTLPHTTP Exporter = "otlphttp"

	// ExporterOTLPGRPC exports spans with OTLP over gRPC. In the environment
	// it is selected with OTEL_TRACES_EXPORTER=otlp and
	// OTEL_EXPORTER_OTLP_PROTOCOL (or OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)
	// set to "grpc".
	ExporterOTLPGRPC Exporter = "otlpgrpc"
)

// Environment variables read by this package. The OTLP exporters additionally
// read their own OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout,
// TLS, compression, ...) natively.
const (
	envSDKDisabled         = "OTEL_SDK_DISABLED"
	envTracesExporter      = "OTEL_TRACES_EXPORTER"
	envOTLPProtocol        = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envOTLPTracesProtocol  = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envOTLPEndpoint        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envOTLPTracesEndpoint  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envServiceName         = "OTEL_SERVICE_NAME"
	envResourceAttributes  = "OTEL_RESOURCE_ATTRIBUTES"
	envTracesSampler       = "OTEL_TRACES_SAMPLER"
	envTracesSamplerArg    = "OTEL_TRACES_SAMPLER_ARG"
	protocolGRPC           = "grpc"
	protocolHTTPProtobuf   = "http/protobuf"
	protocolHTTPJSON       = "http/json"
	samplerAlwaysOn        = "always_on"
	samplerAlwaysOff       = "always_off"
	samplerTraceIDRatio    = "traceidratio"
	samplerPBAlwaysOn      = "parentbased_always_on"
	samplerPBAlwaysOff     = "parentbased_always_off"
	samplerPBTraceIDRatio  = "parentbased_traceidratio"
	tracesExporterNone     = "none"
	tracesExporterConsole  = "console"
	tracesExporterOTLP     = "otlp"
	defaultTraceIDRatio    = 1.0
	defaultOTLPEnvProtocol = protocolHTTPProtobuf
)

// Config describes the tracer provider built by [NewProvider]. The zero value
// is valid and disables tracing (exporter "none").
type Config struct {
	// Exporter selects where finished spans are sent. "" means
	// [ExporterNone]. Any value other than the Exporter* constants makes
	// [NewProvider] fail with an error naming Config.Exporter.
	Exporter Exporter

	// ServiceName is recorded as the service.name resource attribute. When
	// empty, the SDK default applies: OTEL_SERVICE_NAME, then service.name
	// from OTEL_RESOURCE_ATTRIBUTES, then "unknown_service:<executable>".
	ServiceName string

	// ServiceVersion is recorded as the service.version resource attribute.
	// When empty the attribute is omitted (unless OTEL_RESOURCE_ATTRIBUTES
	// provides it).
	ServiceVersion string

	// Endpoint optionally overrides the collector address of the OTLP
	// exporters; it is ignored by the other exporters. When empty the
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

	// Insecure forces a plaintext (non-TLS) connection for the OTLP
	// exporters. When false, transport security follows the Endpoint scheme
	// and OTEL_EXPORTER_OTLP_INSECURE / OTEL_EXPORTER_OTLP_TRACES_INSECURE,
	// and defaults to TLS.
	Insecure bool

	// Sampler decides which spans are recorded and exported. When nil,
	// [NewProvider] derives it from OTEL_TRACES_SAMPLER and
	// OTEL_TRACES_SAMPLER_ARG (see [ConfigFromEnv]); if those are unset it
	// uses sdktrace.ParentBased(sdktrace.AlwaysSample()).
	Sampler sdktrace.Sampler

	// Writer receives the JSON output of [ExporterStdout]; nil means
	// os.Stdout. It is ignored by the other exporters. Writes happen from
	// whatever goroutine ends a span, serialized by the exporter.
	Writer io.Writer

	// SetGlobal makes [NewProvider] install the provider with
	// otel.SetTracerProvider and set the global propagator to W3C Trace
	// Context plus W3C Baggage (otel.SetTextMapPropagator). Shutdown does not
	// undo this; after Shutdown the global tracers become no-ops.
	SetGlobal bool

	// Logger receives OpenTelemetry's own errors, such as "traces export:
	// ... connection refused" while the collector is down, rate-limited to
	// one line per kind per minute (see observation.OTelErrorHandler). nil
	// means the global sourcegraph/log logger, scoped "routinely.otel" and
	// resolved lazily (silent before log.Init). Ignored when
	// KeepErrorHandler is set.
	Logger log.Logger

	// Registerer is where [NewProvider] registers the counter of
	// OpenTelemetry's own errors, routinely_otel_errors_total{kind}, which
	// shows spans lost to a failing exporter. nil means
	// prometheus.DefaultRegisterer. Ignored when KeepErrorHandler is set.
	Registerer prometheus.Registerer

	// KeepErrorHandler leaves OpenTelemetry's global error handler and
	// internal logger as they are. By default [NewProvider] replaces them,
	// whatever SetGlobal says, with an observation.OTelErrorHandler built
	// from Logger and Registerer: the SDK reports export failures only
	// through these process-wide globals, and OpenTelemetry's defaults
	// print them to stderr as plain text, once per failed batch.
	KeepErrorHandler bool
}

// ConfigFromEnv builds a Config from the standard OpenTelemetry environment
// variables. SetGlobal, Writer, ServiceVersion, Endpoint and Insecure are
// left at their zero values; the OTLP exporters read the endpoint, TLS,
// header, timeout and compression variables themselves.
//
// Variables read:
//
//   - OTEL_SDK_DISABLED: "true" or "false" (case-insensitive). When true
//     the exporter is [ExporterNone] and the remaining variables except
//     OTEL_SERVICE_NAME are not read.
//   - OTEL_TRACES_EXPORTER: "none", "console" ([ExporterStdout]) or "otlp".
//     When unset the exporter is OTLP if OTEL_EXPORTER_OTLP_ENDPOINT or
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and none otherwise.
//   - OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, falling back to
//     OTEL_EXPORTER_OTLP_PROTOCOL (consulted only when the exporter is
//     OTLP): "http/protobuf" (the default, [ExporterOTLPHTTP]) or "grpc"
//     ([ExporterOTLPGRPC]). "http/json" is not supported.
//   - OTEL_SERVICE_NAME: copied to [Config.ServiceName].
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG: "always_on",
//     "always_off", "traceidratio", "parentbased_always_on",
//     "parentbased_always_off" or "parentbased_traceidratio". For the ratio
//     samplers the argument must be a number in [0, 1] and defaults to 1; it
//     is ignored by the others. When OTEL_TRACES_SAMPLER is unset
//     [Config.Sampler] is nil.
//
// Values are trimmed of surrounding white space, and a variable set to the
// empty string counts as unset. Any invalid value yields an error that names
// the offending variable; the returned Config is then the zero value.
func ConfigFromEnv() (Config, error) {
	return configFromEnv(os.LookupEnv)
}

// configFromEnv implements ConfigFromEnv reading variables through lookup,
// so tests need not mutate the process environment.
func configFromEnv(lookup func(string) (string, bool)) (Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}

	var cfg Config
	cfg.ServiceName = get(envServiceName)

	if v := get(envSDKDisabled); v != "" {
		switch {
		case strings.EqualFold(v, "true"):
			cfg.Exporter = ExporterNone
			return cfg, nil
		case strings.EqualFold(v, "false"):
		default:
			return Config{}, fmt.Errorf("tracing: invalid %s %q: want \"true\" or \"false\"", envSDKDisabled, v)
		}
	}

	exp, err := exporterFromEnv(get)
	if err != nil {
		return Config{}, err
	}
	cfg.Exporter = exp

	sampler, err := samplerFromEnv(lookup)
	if err != nil {
		return Config{}, err
	}
	cfg.Sampler = sampler
	return cfg, nil
}

func exporterFromEnv(get func(string) string) (Exporter, error) {
	name := strings.ToLower(get(envTracesExporter))
	if name == "" {
		if get(envOTLPTracesEndpoint) == "" && get(envOTLPEndpoint) == "" {
			return ExporterNone, nil
		}
		name = tracesExporterOTLP
	}
	switch name {
	case tracesExporterNone:
		return ExporterNone, nil
	case tracesExporterConsole:
		return ExporterStdout, nil
	case tracesExporterOTLP:
		return otlpExporterFromEnv(get)
	}
	if strings.Contains(name, ",") {
		return "", fmt.Errorf("tracing: invalid %s %q: only one exporter is supported", envTracesExporter, name)
	}
	return "", fmt.Errorf("tracing: invalid %s %q: want one of %q, %q or %q",
		envTracesExporter, name, tracesExporterNone, tracesExporterConsole, tracesExporterOTLP)
}

func otlpExporterFromEnv(get func(string) string) (Exporter, error) {
	variable := envOTLPTracesProtocol
	proto := get(variable)
	if proto == "" {
		variable = envOTLPProtocol
		proto = get(variable)
	}
	if proto == "" {
		proto = defaultOTLPEnvProtocol
	}
	switch strings.ToLower(proto) {
	case protocolHTTPProtobuf:
		return ExporterOTLPHTTP, nil
	case protocolGRPC:
		return ExporterOTLPGRPC, nil
	case protocolHTTPJSON:
		return "", fmt.Errorf("tracing: unsupported %s %q: use %q or %q",
			variable, proto, protocolHTTPProtobuf, protocolGRPC)
	}
	return "", fmt.Errorf("tracing: invalid %s %q: want %q or %q",
		variable, proto, protocolHTTPProtobuf, protocolGRPC)
}

// samplerFromEnv returns the sampler described by OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG, or nil when OTEL_TRACES_SAMPLER is unset.
func samplerFromEnv(lookup func(string) (string, bool)) (sdktrace.Sampler, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	name := strings.ToLower(get(envTracesSampler))
	if name == "" {
		return nil, nil
	}
	ratio := func() (float64, error) {
		arg := get(envTracesSamplerArg)
		if arg == "" {
			return defaultTraceIDRatio, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || math.IsNaN(r) || r < 0 || r > 1 {
			return 0, fmt.Errorf("tracing: invalid %s %q for %s=%s: want a number in [0, 1]",
				envTracesSamplerArg, arg, envTracesSampler, name)
		}
		return r, nil
	}
	switch name {
	case samplerAlwaysOn:
		return sdktrace.AlwaysSample(), nil
	case samplerAlwaysOff:
		return sdktrace.NeverSample(), nil
	case samplerPBAlwaysOn:
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case samplerPBAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case samplerTraceIDRatio:
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.TraceIDRatioBased(r), nil
	case samplerPBTraceIDRatio:
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("tracing: invalid %s %q: want one of %s, %s, %s, %s, %s or %s",
		envTracesSampler, name, samplerAlwaysOn, samplerAlwaysOff, samplerTraceIDRatio,
		samplerPBAlwaysOn, samplerPBAlwaysOff, samplerPBTraceIDRatio)
}
