package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricType is the Prometheus type of a metric of the contract.
type MetricType string

// The metric types the contract uses, as Prometheus' # TYPE line names them.
const (
	Counter   MetricType = "counter"
	Gauge     MetricType = "gauge"
	Histogram MetricType = "histogram"
)

// RoutineMetric defines one metric of the routine contract: what package
// goroutine registers, what the dashboards query and what the tests check
// the exposition against. Each is defined once, below, next to its name.
type RoutineMetric struct {
	// Suffix is the name after the namespace (RoutineHandlerDurationSuffix…).
	Suffix string
	Type   MetricType
	Help   string
	// Labels are the label names, routine first.
	Labels []string
	// Buckets are a histogram's upper bounds in seconds, nil otherwise.
	Buckets []float64
}

// Name returns the metric's full name in namespace; "" means
// DefaultRoutineNamespace.
func (m RoutineMetric) Name(namespace string) string {
	if namespace == "" {
		namespace = DefaultRoutineNamespace
	}
	return namespace + "_" + m.Suffix
}

// HistogramVec returns a new, unregistered histogram vector of m in
// namespace.
func (m RoutineMetric) HistogramVec(namespace string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: m.Name(namespace), Help: m.Help, Buckets: m.Buckets}, m.Labels)
}

// CounterVec returns a new, unregistered counter vector of m in namespace.
func (m RoutineMetric) CounterVec(namespace string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.Name(namespace), Help: m.Help}, m.Labels)
}

// GaugeVec returns a new, unregistered gauge vector of m in namespace.
func (m RoutineMetric) GaugeVec(namespace string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: m.Name(namespace), Help: m.Help}, m.Labels)
}

// handlerDurationBuckets cover handlers from a millisecond to ten minutes.
var handlerDurationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

var routineLabels = []string{RoutineLabel}

// The routine metric contract, one definition per metric.
var (
	RoutineHandlerDuration = RoutineMetric{
		Suffix: RoutineHandlerDurationSuffix, Type: Histogram,
		Help:    "Time in seconds each handler invocation of a routine took, by outcome (success, error, panic, canceled).",
		Labels:  []string{RoutineLabel, OutcomeLabel},
		Buckets: handlerDurationBuckets,
	}
	RoutineHandlerErrors = RoutineMetric{
		Suffix: RoutineHandlerErrorsSuffix, Type: Counter, Labels: routineLabels,
		Help: "Handler invocations of a routine that returned an error or panicked.",
	}
	RoutineHandlerPanics = RoutineMetric{
		Suffix: RoutineHandlerPanicsSuffix, Type: Counter, Labels: routineLabels,
		Help: "Panics recovered in a routine's handler or its callbacks (a handler's runtime.Goexit counts too).",
	}
	RoutineHandlerInFlight = RoutineMetric{
		Suffix: RoutineHandlerInFlightSuffix, Type: Gauge, Labels: routineLabels,
		Help: "Handler invocations of a routine running now.",
	}
	RoutineLastSuccess = RoutineMetric{
		Suffix: RoutineLastSuccessSuffix, Type: Gauge, Labels: routineLabels,
		Help: "Unix time in seconds at which the last successful handler invocation of a routine ended.",
	}
	RoutineConsecutiveFailures = RoutineMetric{
		Suffix: RoutineConsecutiveFailuresSuffix, Type: Gauge, Labels: routineLabels,
		Help: "Handler invocations of a routine that failed (error or panic) in a row, the longest streak among its loops: a success ends it, a canceled invocation leaves it as it is.",
	}
	RoutineInterval = RoutineMetric{
		Suffix: RoutineIntervalSuffix, Type: Gauge, Labels: routineLabels,
		Help: "Configured interval in seconds between handler invocations of a routine.",
	}
	RoutineUp = RoutineMetric{
		Suffix: RoutineUpSuffix, Type: Gauge, Labels: routineLabels,
		Help: "1 while a routine is started, 0 once it has stopped.",
	}
	RoutineNextRun = RoutineMetric{
		Suffix: RoutineNextRunSuffix, Type: Gauge, Labels: routineLabels,
		Help: "Unix time in seconds at which a routine's next handler invocation is due; it stays put while that invocation runs.",
	}
	RoutineLeader = RoutineMetric{
		Suffix: RoutineLeaderSuffix, Type: Gauge, Labels: routineLabels,
		Help: "1 while this replica leads a singleton routine, 0 while another may.",
	}
	RoutineLeaderTransitions = RoutineMetric{
		Suffix: RoutineLeaderTransitionsSuffix, Type: Counter, Labels: routineLabels,
		Help: "Times this replica gained or lost the leadership of a singleton routine.",
	}
)

// RoutineMetrics returns the contract's metrics in a fixed order:
// duration, errors, panics, in-flight, last success, consecutive
// failures, interval, up, next run, leader, leader transitions (the order
// of RoutineMetricNames.All).
func RoutineMetrics() []RoutineMetric {
	return slices.Clone([]RoutineMetric{
		RoutineHandlerDuration, RoutineHandlerErrors, RoutineHandlerPanics, RoutineHandlerInFlight,
		RoutineLastSuccess, RoutineConsecutiveFailures, RoutineInterval, RoutineUp, RoutineNextRun,
		RoutineLeader, RoutineLeaderTransitions,
	})
}
