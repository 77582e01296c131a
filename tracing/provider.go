package tracing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
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

	// The fields below are nil for ExporterNone.
	sdk *sdktrace.TracerProvider
	sp  sdktrace.SpanProcessor
	exp sdktrace.SpanExporter

	shutdownStarted atomic.Bool
	shutdownDone    chan struct{}
}

// NewProvider builds a tracer provider from cfg.
//
// For [ExporterNone] (or "") the provider is a no-op from
// go.opentelemetry.io/otel/trace/noop and nothing runs in the background.
// Otherwise it is an *sdktrace.TracerProvider with:
//
//   - a resource made of resource.Default() (SDK attributes,
//     OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME) merged with service.name
//     and service.version from cfg, which take precedence when non-empty;
//   - cfg.Sampler, or the sampler from OTEL_TRACES_SAMPLER(_ARG) when it is
//     nil, or parent-based always-on when neither is set;
//   - for [ExporterStdout], a synchronous (simple) span processor: each span
//     is written to cfg.Writer when it ends, so output is complete as soon
//     as End returns;
//   - for [ExporterOTLPHTTP] and [ExporterOTLPGRPC], a batch span processor
//     (tunable with the OTEL_BSP_* variables) in front of the OTLP exporter.
//
// ctx is used only while constructing the exporter; the provider outlives
// it. Construction does not contact the collector: the OTLP exporters
// connect lazily on the first export.
//
// Invalid configuration (an unknown cfg.Exporter, a malformed cfg.Endpoint,
// an invalid OTEL_TRACES_SAMPLER or an OTEL_TRACES_SAMPLER_ARG ratio outside
// [0, 1]) returns an error naming the field or variable. On any error nothing
// is left running and the globals are untouched.
//
// If cfg.SetGlobal is true the provider is also installed globally; see
// [Config.SetGlobal]. Unless cfg.KeepErrorHandler is set, OpenTelemetry's
// global error handler and internal logger are replaced, whatever
// cfg.SetGlobal says, so that export failures are logged through
// sourcegraph/log (rate-limited) and counted in
// routinely_otel_errors_total instead of printed to stderr; see
// [Config.KeepErrorHandler]. The caller must call [Provider.Shutdown] to
// flush spans and release resources.
func NewProvider(ctx context.Context, cfg Config) (*Provider, error) {
	return newProvider(ctx, cfg, os.LookupEnv)
}

func newProvider(ctx context.Context, cfg Config, lookup func(string) (string, bool)) (*Provider, error) {
	kind := cfg.Exporter
	if kind == "" {
		kind = ExporterNone
	}
	switch kind {
	case ExporterNone, ExporterStdout, ExporterOTLPHTTP, ExporterOTLPGRPC:
	default:
		return nil, fmt.Errorf("tracing: invalid Config.Exporter %q: want one of %q, %q, %q or %q",
			kind, ExporterNone, ExporterStdout, ExporterOTLPHTTP, ExporterOTLPGRPC)
	}

	p := &Provider{shutdownDone: make(chan struct{})}
	if kind == ExporterNone {
		errorHandler, err := newErrorHandler(cfg)
		if err != nil {
			return nil, err
		}
		p.tp = noop.NewTracerProvider()
		installGlobals(cfg, p.tp, errorHandler)
		return p, nil
	}

	// Validate everything before creating the exporter, so that an
	// exporter only has to be cleaned up if its own start fails.
	sampler := cfg.Sampler
	if sampler == nil {
		s, err := samplerFromEnv(lookup)
		if err != nil {
			return nil, err
		}
		if s == nil {
			s = sdktrace.ParentBased(sdktrace.AlwaysSample())
		}
		sampler = s
	}
	res, err := newResource(cfg)
	if err != nil {
		return nil, err
	}
	// Last of the checks: it registers the error counter.
	errorHandler, err := newErrorHandler(cfg)
	if err != nil {
		return nil, err
	}

	var (
		exp sdktrace.SpanExporter
		sp  sdktrace.SpanProcessor
	)
	switch kind {
	case ExporterStdout:
		w := cfg.Writer
		if w == nil {
			w = os.Stdout
		}
		e, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, fmt.Errorf("tracing: create stdout exporter: %w", err)
		}
		exp, sp = e, sdktrace.NewSimpleSpanProcessor(e)
	case ExporterOTLPHTTP:
		opts, err := otlpHTTPOptions(cfg)
		if err != nil {
			return nil, err
		}
		e, err := startOTLP(ctx, kind, otlptracehttp.NewUnstarted(opts...))
		if err != nil {
			return nil, err
		}
		exp, sp = e, sdktrace.NewBatchSpanProcessor(e)
	case ExporterOTLPGRPC:
		opts, err := otlpGRPCOptions(cfg)
		if err != nil {
			return nil, err
		}
		e, err := startOTLP(ctx, kind, otlptracegrpc.NewUnstarted(opts...))
		if err != nil {
			return nil, err
		}
		exp, sp = e, sdktrace.NewBatchSpanProcessor(e)
	}

	p.sdk = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
		sdktrace.WithSpanProcessor(sp),
	)
	p.tp, p.sp, p.exp = p.sdk, sp, exp
	installGlobals(cfg, p.tp, errorHandler)
	return p, nil
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

func newResource(cfg Config) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	if cfg.ServiceName != "" {
		attrs = append(attrs, semconv.ServiceName(cfg.ServiceName))
	}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	// A schemaless resource adopts the schema URL of the default resource,
	// so the merge cannot conflict.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("tracing: build resource: %w", err)
	}
	return res, nil
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

// installGlobals installs the OpenTelemetry globals a successful
// NewProvider sets: the error handler unless the caller keeps its own (h is
// nil then), and the tracer provider and propagator if cfg.SetGlobal.
func installGlobals(cfg Config, tp trace.TracerProvider, h *observation.OTelErrorHandler) {
	if h != nil {
		h.Install()
	}
	if cfg.SetGlobal {
		setGlobal(tp)
	}
}

func setGlobal(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))
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

// Setup is the one-call setup for programs: it reads the environment with
// [ConfigFromEnv], uses serviceName as [Config.ServiceName] unless
// OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) provides
// one, sets [Config.SetGlobal], and calls [NewProvider]. OpenTelemetry's
// own errors therefore go to the global sourcegraph/log logger and are
// counted on prometheus.DefaultRegisterer; a program serving another
// registry installs its own handler afterwards with
// observation.InstallOTelErrorHandler.
//
// The returned shutdown function is [Provider.Shutdown]; call it before the
// program exits to flush spans. It is never nil: on error it is a no-op, so
// it can be deferred unconditionally.
func Setup(ctx context.Context, serviceName string) (shutdown func(context.Context) error, err error) {
	noopShutdown := func(context.Context) error { return nil }
	cfg, err := setupConfig(serviceName, os.LookupEnv)
	if err != nil {
		return noopShutdown, err
	}
	p, err := NewProvider(ctx, cfg)
	if err != nil {
		return noopShutdown, err
	}
	return p.Shutdown, nil
}

// setupConfig returns the Config used by Setup.
func setupConfig(serviceName string, lookup func(string) (string, bool)) (Config, error) {
	cfg, err := configFromEnv(lookup)
	if err != nil {
		return Config{}, err
	}
	if cfg.ServiceName == "" && !envHasServiceName(lookup) {
		cfg.ServiceName = serviceName
	}
	cfg.SetGlobal = true
	return cfg, nil
}

// envHasServiceName reports whether OTEL_RESOURCE_ATTRIBUTES (a
// comma-separated list of key=value pairs) sets a non-empty service.name.
func envHasServiceName(lookup func(string) (string, bool)) bool {
	attrs, _ := lookup(envResourceAttributes)
	for _, kv := range strings.Split(attrs, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == string(semconv.ServiceNameKey) && strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}
