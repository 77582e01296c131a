package observation

import (
	"reflect"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// InstrumentationName is the OpenTelemetry instrumentation scope of every
// tracer this package creates.
const InstrumentationName = "github.com/routinely/routinely"

// Context holds where observations go: a logger, a tracer provider and a
// Prometheus registerer, given to NewContext. One given as nil resolves to
// the process-wide default at the moment it is used, not when the Context
// is built, so a Context made before log.Init or otel.SetTracerProvider
// logs and traces once those have run:
//
//   - Logger: the global github.com/sourcegraph/log logger, scoped
//     "routinely"; nothing is logged until log.Init has been called.
//   - TracerProvider: otel.GetTracerProvider().
//   - Registerer: prometheus.DefaultRegisterer.
//
// The zero value, Default() and a nil *Context use every default. Do not
// copy a Context after first use.
type Context struct {
	logger         log.Logger
	tracerProvider trace.TracerProvider
	registerer     prometheus.Registerer

	tracer      atomic.Pointer[cachedTracer]
	lazyDefault atomic.Pointer[lazyLogger]
}

// cachedTracer remembers the tracer made from one provider, so that
// resolving the tracer per observation costs an atomic load unless the
// global provider has changed.
type cachedTracer struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
}

// cacheable reports whether the tracer of tp is worth caching: tp is a
// pointer, which == compares without risk (== on interfaces holding a
// non-comparable type, a provider struct with a func or slice field,
// panics). The providers that matter (the SDK's, otel's global one) are
// pointers; the others, such as the no-op provider, are asked each time.
func cacheable(tp trace.TracerProvider) bool {
	return reflect.ValueOf(tp).Kind() == reflect.Pointer
}

// defaultContext is what Default returns and what a nil *Context means.
var defaultContext = &Context{}

// Default returns the Context whose logger, tracer provider and registerer
// all resolve to the process-wide defaults. It is one Context, shared, so
// its lazy logger and tracer cache are made once per process.
func Default() *Context { return defaultContext }

// NewContext returns a Context with the given logger, tracer provider and
// registerer; nil arguments resolve to the defaults described on Context.
func NewContext(logger log.Logger, tp trace.TracerProvider, reg prometheus.Registerer) *Context {
	return &Context{logger: logger, tracerProvider: tp, registerer: reg}
}

// Logger returns the Context's logger, or a logger scoped "routinely" that
// writes through the global sourcegraph/log logger as soon as log.Init has
// run: before that it discards what it is given and never panics, not even
// with SRC_DEVELOPMENT=true, where log.Scoped would.
func (c *Context) Logger() log.Logger {
	if c == nil {
		c = defaultContext
	}
	if c.logger != nil {
		return c.logger
	}
	if l := c.lazyDefault.Load(); l != nil {
		return l
	}
	c.lazyDefault.CompareAndSwap(nil, globalLazy())
	return c.lazyDefault.Load()
}

// TracerProvider returns the Context's tracer provider, or the global one
// as it is now.
func (c *Context) TracerProvider() trace.TracerProvider {
	if c == nil || c.tracerProvider == nil {
		return otel.GetTracerProvider()
	}
	return c.tracerProvider
}

// Tracer returns the tracer for this package's spans from TracerProvider.
func (c *Context) Tracer() trace.Tracer {
	if c == nil {
		c = defaultContext
	}
	tp := c.TracerProvider()
	if !cacheable(tp) {
		return tp.Tracer(InstrumentationName)
	}
	if ct := c.tracer.Load(); ct != nil && ct.provider == tp {
		return ct.tracer
	}
	ct := &cachedTracer{provider: tp, tracer: tp.Tracer(InstrumentationName)}
	c.tracer.Store(ct)
	return ct.tracer
}

// Registerer returns the Context's registerer, or
// prometheus.DefaultRegisterer.
func (c *Context) Registerer() prometheus.Registerer {
	if c == nil || c.registerer == nil {
		return prometheus.DefaultRegisterer
	}
	return c.registerer
}
