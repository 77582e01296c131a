package goroutine

import (
	"errors"
	"runtime"
	"sync"
	"weak"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routinely/routinely/metrics"
)

// durationBuckets cover handlers from a millisecond to ten minutes.
var durationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// routineMetrics are the series of one routine, resolved once at
// construction so an invocation never hashes label values.
type routineMetrics struct {
	success prometheus.Observer
	// failure and panicked are created with the first failure: most
	// routines never panic, and a histogram series costs about 1 KiB.
	failure, panicked func() prometheus.Observer
	errors, panics    prometheus.Counter
	inFlight          prometheus.Gauge
	lastSuccess       prometheus.Gauge
	interval          prometheus.Gauge
	up                prometheus.Gauge
}

// collectors are the routine metric contract's collectors in one registry.
type collectors struct {
	duration                            *prometheus.HistogramVec
	errors, panics                      *prometheus.CounterVec
	inFlight, lastSuccess, interval, up *prometheus.GaugeVec
}

// collectorKey identifies a registry and namespace in collectorCache. The
// registry is held weakly: a cached registry can still be collected.
type collectorKey struct {
	registry  weak.Pointer[prometheus.Registry]
	namespace string
}

// collectorCache remembers the collectors registered in each
// *prometheus.Registry (the type of prometheus.DefaultRegisterer and of
// NewRegistry), so that building the ten-thousandth routine does not
// build and discard seven collectors again.
var collectorCache sync.Map // collectorKey → *collectors

// newRoutineMetrics registers the routine metric contract's collectors with
// reg (reusing them when already registered) and returns routine's series.
func newRoutineMetrics(reg prometheus.Registerer, namespace, routine string) (*routineMetrics, error) {
	c, err := routineCollectors(reg, namespace)
	if err != nil {
		return nil, err
	}
	return &routineMetrics{
		success: c.duration.WithLabelValues(routine, metrics.OutcomeSuccess),
		failure: sync.OnceValue(func() prometheus.Observer {
			return c.duration.WithLabelValues(routine, metrics.OutcomeError)
		}),
		panicked: sync.OnceValue(func() prometheus.Observer {
			return c.duration.WithLabelValues(routine, metrics.OutcomePanic)
		}),
		errors:      c.errors.WithLabelValues(routine),
		panics:      c.panics.WithLabelValues(routine),
		inFlight:    c.inFlight.WithLabelValues(routine),
		lastSuccess: c.lastSuccess.WithLabelValues(routine),
		interval:    c.interval.WithLabelValues(routine),
		up:          c.up.WithLabelValues(routine),
	}, nil
}

// routineCollectors returns the collectors registered in reg, from the
// cache when reg is a *prometheus.Registry seen before.
func routineCollectors(reg prometheus.Registerer, namespace string) (*collectors, error) {
	registry, cacheable := reg.(*prometheus.Registry)
	if !cacheable {
		return registerCollectors(reg, namespace)
	}
	key := collectorKey{registry: weak.Make(registry), namespace: namespace}
	if c, ok := collectorCache.Load(key); ok {
		return c.(*collectors), nil
	}
	c, err := registerCollectors(reg, namespace)
	if err != nil {
		return nil, err
	}
	if _, loaded := collectorCache.LoadOrStore(key, c); !loaded {
		runtime.AddCleanup(registry, func(k collectorKey) { collectorCache.Delete(k) }, key)
	}
	return c, nil
}

// registerCollectors registers (or finds) the routine collectors in reg.
func registerCollectors(reg prometheus.Registerer, namespace string) (*collectors, error) {
	n := metrics.RoutineNames(namespace)
	labels := []string{metrics.RoutineLabel}

	duration, err1 := metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    n.HandlerDuration,
		Help:    "Time in seconds each handler invocation of a routine took, by outcome (success, error, panic).",
		Buckets: durationBuckets,
	}, []string{metrics.RoutineLabel, metrics.OutcomeLabel}))
	errs, err2 := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: n.HandlerErrors,
		Help: "Handler invocations of a routine that returned an error or panicked.",
	}, labels))
	panics, err3 := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: n.HandlerPanics,
		Help: "Handler invocations of a routine that panicked; the panic was recovered.",
	}, labels))
	inFlight, err4 := metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: n.HandlerInFlight,
		Help: "Handler invocations of a routine running now.",
	}, labels))
	lastSuccess, err5 := metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: n.LastSuccess,
		Help: "Unix time in seconds at which the last successful handler invocation of a routine ended.",
	}, labels))
	interval, err6 := metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: n.Interval,
		Help: "Configured interval in seconds between handler invocations of a routine.",
	}, labels))
	up, err7 := metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: n.Up,
		Help: "1 while a routine is started, 0 once it has stopped.",
	}, labels))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil {
		return nil, err
	}
	return &collectors{
		duration: duration, errors: errs, panics: panics,
		inFlight: inFlight, lastSuccess: lastSuccess, interval: interval, up: up,
	}, nil
}
