package goroutine

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routinely/routinely/metrics"
)

// durationBuckets cover handlers from a millisecond to ten minutes.
var durationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// routineMetrics are the series of one routine, resolved once at
// construction so an invocation never hashes label values.
type routineMetrics struct {
	success, failure, panicked prometheus.Observer
	errors, panics             prometheus.Counter
	inFlight                   prometheus.Gauge
	lastSuccess                prometheus.Gauge
	interval                   prometheus.Gauge
	up                         prometheus.Gauge
}

// newRoutineMetrics registers the routine metric contract's collectors with
// reg (reusing them when already registered) and returns routine's series.
func newRoutineMetrics(reg prometheus.Registerer, namespace, routine string) (*routineMetrics, error) {
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
	return &routineMetrics{
		success:     duration.WithLabelValues(routine, metrics.OutcomeSuccess),
		failure:     duration.WithLabelValues(routine, metrics.OutcomeError),
		panicked:    duration.WithLabelValues(routine, metrics.OutcomePanic),
		errors:      errs.WithLabelValues(routine),
		panics:      panics.WithLabelValues(routine),
		inFlight:    inFlight.WithLabelValues(routine),
		lastSuccess: lastSuccess.WithLabelValues(routine),
		interval:    interval.WithLabelValues(routine),
		up:          up.WithLabelValues(routine),
	}, nil
}
