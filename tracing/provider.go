package tracing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/sourcegraph/log"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/routinely/routinely/observation"
)

// otlpHTTPTracesPath is the standard OTLP/HTTP path for traces.
const otlpHTTPTracesPath = "/v1/traces"

// Provider owns a tracer provider together with its span processor and
// exporter. Create it with [NewProvider] and release it with
// [Provider.Shutdown]. All methods are safe for concurrent use.
type Provider struct {
	tp trace.TracerProvider

	// The fields below are nil when the exporter is none.
	sdk *sdktrace.TracerProvider
	sp  sdktrace.SpanProcessor
	exp sdktrace.SpanExporter

	shutdownStarted atomic.Bool
	shutdownDone    chan struct{}
}

// NewProvider builds a tracer provider from cfg and the environment.
//
// When the exporter is none — [ExporterNone], or "" with an environment
// that chooses none or nothing — the provider is a no-op from
// go.opentelemetry.io/otel/trace/noop and nothing runs in the background.
// Otherwise it is an *sdktrace.TracerProvider with:
//
//   - a resource with the SDK's attributes, OTEL_SERVICE_NAME and
//     OTEL_RESOURCE_ATTRIBUTES, and over them service.name and
//     service.version from cfg when non-empty;
//   - cfg.Sampler, or when it is nil the SDK's own reading of
//     OTEL_TRACES_SAMPLER(_ARG), parent-based always-on by default;
//   - for [ExporterStdout] and "console", a synchronous (simple) span
//     processor: each span is written when it ends, so output is complete
//     as soon as End returns;
//   - for OTLP, a batch span processor (tunable with the OTEL_BSP_*
//     variables) in front of the OTLP exporter, which reads its own
//     OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout, TLS,
//     compression).
//
// ctx is used only while constructing the exporter; the provider outlives
// it. Construction does not contact the collector: the OTLP exporters
// connect lazily on the first export.
//
// An unknown cfg.Exporter, a malformed cfg.Endpoint, an unknown
// OTEL_TRACES_EXPORTER or OTLP protocol, or a Registerer that already holds
// a different routinely_otel_errors_total returns an error; on any error
// nothing is left running and the globals are untouched. Invalid sampler
// and resource variables are not errors: the SDK reports them through the
// OpenTelemetry error handler and falls back (see [Config.Sampler]).
//
// Unless cfg.KeepErrorHandler is set, OpenTelemetry's global error handler
// and internal logger are replaced, whatever cfg.SetGlobal says, so that
// export failures are logged through sourcegraph/log (rate-limited) and
// counted in routinely_otel_errors_total instead of printed to stderr; see
// [Config.KeepErrorHandler]. If cfg.SetGlobal is true the provider is also
// installed globally; see [Config.SetGlobal]. The caller must call
// [Provider.Shutdown] to flush spans and release resources.
func NewProvider(ctx context.Context, cfg Config) (*Provider, error) {
	switch cfg.Exporter {
	case "", ExporterNone, ExporterStdout, ExporterOTLPHTTP, ExporterOTLPGRPC:
	default:
		return nil, fmt.Errorf("tracing: invalid Config.Exporter %q: want \"\" (from the environment), %q, %q, %q or %q",
			cfg.Exporter, ExporterNone, ExporterStdout, ExporterOTLPHTTP, ExporterOTLPGRPC)
	}
	errorHandler, err := newErrorHandler(cfg)
	if err != nil {
		return nil, err
	}
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// From here on nothing fails. The handler goes in first, so that it
	// receives the SDK's complaints about the OTEL_* variables it reads.
	if errorHandler != nil {
		errorHandler.Install()
	}
	p := &Provider{shutdownDone: make(chan struct{})}
	if exp == nil {
		p.tp = noop.NewTracerProvider()
	} else {
		p.exp = exp
		if _, ok := exp.(*stdouttrace.Exporter); ok {
			p.sp = sdktrace.NewSimpleSpanProcessor(exp)
		} else {
			p.sp = sdktrace.NewBatchSpanProcessor(exp)
		}
		opts := []sdktrace.TracerProviderOption{
			sdktrace.WithResource(newResource(ctx, cfg)),
			sdktrace.WithSpanProcessor(p.sp),
		}
		if cfg.Sampler != nil {
			opts = append(opts, sdktrace.WithSampler(cfg.Sampler))
		}
		p.sdk = sdktrace.NewTracerProvider(opts...)
		p.tp = p.sdk
	}
	if cfg.SetGlobal {
		otel.SetTracerProvider(p.tp)
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
			propagation.TraceContext{}, propagation.Baggage{}))
	}
	return p, nil
}

// Environment variables that decide whether tracing is on at all when
// Config.Exporter is "". The choice among exporters is autoexport's.
const (
	envSDKDisabled        = "OTEL_SDK_DISABLED"
	envTracesExporter     = "OTEL_TRACES_EXPORTER"
	envOTLPEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envOTLPTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

// newExporter returns the span exporter cfg and the environment ask for,
// or nil for none.
func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	switch cfg.Exporter {
	case ExporterNone:
		return nil, nil
	case ExporterStdout:
		return stdouttrace.New(stdouttrace.WithWriter(cmp.Or[io.Writer](cfg.Writer, os.Stdout)))
	case ExporterOTLPHTTP:
		opts, err := otlpHTTPOptions(cfg)
		if err != nil {
			return nil, err
		}
		return startOTLP(ctx, cfg.Exporter, otlptracehttp.NewUnstarted(opts...))
	case ExporterOTLPGRPC:
		opts, err := otlpGRPCOptions(cfg)
		if err != nil {
			return nil, err
		}
		return startOTLP(ctx, cfg.Exporter, otlptracegrpc.NewUnstarted(opts...))
	}

	if strings.EqualFold(strings.TrimSpace(os.Getenv(envSDKDisabled)), "true") {
		return nil, nil
	}
	if os.Getenv(envTracesExporter) == "" && os.Getenv(envOTLPEndpoint) == "" && os.Getenv(envOTLPTracesEndpoint) == "" {
		logger := cfg.Logger
		if logger == nil {
			logger = observation.Default().Logger()
		}
		logger.Scoped("tracing").Warn("tracing is off: no OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT is set",
			log.String("spansToStdout", envTracesExporter+"=console"),
			log.String("spansToCollector", envOTLPEndpoint+"=http://localhost:4318"),
			log.String("silence", envTracesExporter+"=none"))
		return nil, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter from the environment (%s=%q): %w",
			envTracesExporter, os.Getenv(envTracesExporter), err)
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return nil, nil
	}
	return exp, nil
}

// startOTLP starts exp, shutting it down again if the start fails part way
// (for example after a gRPC client connection was created).
func startOTLP(ctx context.Context, kind Exporter, exp *otlptrace.Exporter) (*otlptrace.Exporter, error) {
	if err := exp.Start(ctx); err != nil {
		_ = exp.Shutdown(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("tracing: start %s exporter: %w", kind, err)
	}
	return exp, nil
}

// newResource describes this process: the SDK's default service name and
// attributes, below Setup's service name, below OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME, below the service attributes set in cfg.
func newResource(ctx context.Context, cfg Config) *resource.Resource {
	opts := []resource.Option{resource.WithService(), resource.WithTelemetrySDK()}
	if cfg.defaultServiceName != "" {
		opts = append(opts, resource.WithAttributes(semconv.ServiceName(cfg.defaultServiceName)))
	}
	opts = append(opts, resource.WithFromEnv())
	if cfg.ServiceName != "" {
		opts = append(opts, resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)))
	}
	if cfg.ServiceVersion != "" {
		opts = append(opts, resource.WithAttributes(semconv.ServiceVersion(cfg.ServiceVersion)))
	}
	// The error, an invalid OTEL_RESOURCE_ATTRIBUTES, comes with the
	// resource of the valid part. sdktrace.WithResource reads the
	// environment again and hands the same error to otel.Handle: report it
	// there, once.
	res, _ := resource.New(ctx, opts...)
	return res
}

// endpoint is a parsed Config.Endpoint.
type endpoint struct {
	url      *url.URL // non-nil for the URL form
	hostPort string   // set for the host:port form
}

func parseEndpoint(s string) (endpoint, error) {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return endpoint{}, fmt.Errorf("tracing: invalid Config.Endpoint %q: %w", s, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return endpoint{}, fmt.Errorf("tracing: invalid Config.Endpoint %q: scheme must be http or https", s)
		}
		if u.Host == "" {
			return endpoint{}, fmt.Errorf("tracing: invalid Config.Endpoint %q: missing host", s)
		}
		return endpoint{url: u}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return endpoint{}, fmt.Errorf("tracing: invalid Config.Endpoint %q: want host:port or an http(s) URL", s)
	}
	return endpoint{hostPort: s}, nil
}

func otlpHTTPOptions(cfg Config) ([]otlptracehttp.Option, error) {
	var opts []otlptracehttp.Option
	if cfg.Endpoint != "" {
		ep, err := parseEndpoint(cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		if ep.url != nil {
			u := *ep.url
			if u.Path == "" || u.Path == "/" {
				u.Path = otlpHTTPTracesPath
			}
			opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
		} else {
			opts = append(opts,
				otlptracehttp.WithEndpoint(ep.hostPort),
				otlptracehttp.WithURLPath(otlpHTTPTracesPath))
		}
	}
	if cfg.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	return opts, nil
}

func otlpGRPCOptions(cfg Config) ([]otlptracegrpc.Option, error) {
	var opts []otlptracegrpc.Option
	if cfg.Endpoint != "" {
		ep, err := parseEndpoint(cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		if ep.url != nil {
			opts = append(opts, otlptracegrpc.WithEndpointURL(ep.url.String()))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(ep.hostPort))
		}
	}
	if cfg.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	return opts, nil
}

// newErrorHandler returns the handler for OpenTelemetry's own errors that
// cfg asks for, or nil if cfg.KeepErrorHandler is set.
func newErrorHandler(cfg Config) (*observation.OTelErrorHandler, error) {
	if cfg.KeepErrorHandler {
		return nil, nil
	}
	h, err := observation.NewOTelErrorHandler(cfg.Logger, cfg.Registerer, 0)
	if err != nil {
		return nil, fmt.Errorf("tracing: invalid Config.Registerer: %w", err)
	}
	return h, nil
}

// TracerProvider returns the provider to obtain tracers from: an
// *sdktrace.TracerProvider, or a no-op provider for [ExporterNone]. It stays
// usable after [Provider.Shutdown], but then produces no more spans.
func (p *Provider) TracerProvider() trace.TracerProvider {
	return p.tp
}

// ForceFlush exports all spans that have ended but not yet been exported and
// waits for the export to finish or ctx to be done, in which case it returns
// ctx's error. It does not shut anything down. It is a no-op returning nil for
// [ExporterNone], for [ExporterStdout] (which writes spans synchronously) and
// after Shutdown.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	if err := p.sdk.ForceFlush(ctx); err != nil {
		return fmt.Errorf("tracing: flush spans: %w", err)
	}
	return nil
}

// Shutdown flushes pending spans, then shuts down the span processor and the
// exporter (closing collector connections). It respects ctx: if ctx expires
// before the flush or shutdown completes, in-flight exports are aborted,
// resources are still released, unexported spans are dropped, and the
// returned error wraps ctx's error.
//
// Shutdown is idempotent. Only the first call does the work and reports its
// errors; a later or concurrent call waits for the first one to finish (or
// for its own ctx to be done, returning ctx's error) and then returns nil.
// For [ExporterNone] it is a no-op returning nil.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.shutdownStarted.CompareAndSwap(false, true) {
		select {
		case <-p.shutdownDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(p.shutdownDone)
	if p.sdk == nil {
		return nil
	}

	// Flush explicitly first: the batch processor's ForceFlush bounds the
	// export by ctx, whereas its Shutdown drains with its own export
	// timeout (30s by default) in the background.
	var errs []error
	if err := p.sdk.ForceFlush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("tracing: flush spans: %w", err))
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("tracing: shut down tracer provider: %w", err))
	}
	if ctx.Err() != nil {
		// TracerProvider.Shutdown skips processors it had not reached once
		// ctx is done, and a timed-out processor keeps draining in the
		// background. Shutting the exporter down with the expired ctx aborts
		// any in-flight export and closes its connections; the processor's
		// own Shutdown (a no-op if already done) then stops its goroutine.
		// Both are idempotent, and their errors only repeat ctx's.
		_ = p.exp.Shutdown(ctx)
		_ = p.sp.Shutdown(ctx)
	}
	return errors.Join(errs...)
}

// Setup is the one-call set-up for programs: [NewProvider] with the
// exporter, sampler and resource from the OTEL_* environment, serviceName
// as the service name unless OTEL_SERVICE_NAME (or service.name in
// OTEL_RESOURCE_ATTRIBUTES) gives one, and [Config.SetGlobal].
// OpenTelemetry's own errors therefore go to the global sourcegraph/log
// logger and are counted on prometheus.DefaultRegisterer; a program serving
// another registry installs its own handler afterwards with
// observation.InstallOTelErrorHandler.
//
// Without OTEL_TRACES_EXPORTER or an OTLP endpoint variable tracing is off
// and Setup logs a warning naming them; see [Config.Exporter].
//
// The returned shutdown function is [Provider.Shutdown]; call it before the
// program exits to flush spans. It is never nil: on error it is a no-op, so
// it can be deferred unconditionally.
func Setup(ctx context.Context, serviceName string) (shutdown func(context.Context) error, err error) {
	p, err := NewProvider(ctx, Config{defaultServiceName: serviceName, SetGlobal: true})
	if err != nil {
		return func(context.Context) error { return nil }, err
	}
	return p.Shutdown, nil
}
