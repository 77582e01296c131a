package goroutine

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routinely/routinely/metrics"
)

// durationBuckets cover handlers from a millisecond to ten minutes.
var durationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// routineMetrics are the series of one routine, resolved once at
// construction so an invocation never hashes label values.
type routineMetrics struct {
	success prometheus.Observer
	// failure, panicked and canceled are created with the first such
	// invocation: most routines never panic, and a histogram series costs
	// about 1 KiB.
	failure, panicked, canceled func() prometheus.Observer
	errors, panics              prometheus.Counter
	inFlight                    prometheus.Gauge
	lastSuccess                 prometheus.Gauge
	interval                    prometheus.Gauge
	up                          prometheus.Gauge
	nextRun                     prometheus.Gauge

	c       *collectors
	routine string
}

// collectors are the routine metric contract's collectors in one registry.
type collectors struct {
	duration                                     *prometheus.HistogramVec
	errors, panics                               *prometheus.CounterVec
	inFlight, lastSuccess, interval, up, nextRun *prometheus.GaugeVec
}

// liveNames are the names of the routines that own series now, per
// registered duration histogram (one per registry and namespace, whatever
// the Registerer's type): from construction until Stop has returned, a
// name belongs to one routine.
var liveNames = struct {
	sync.Mutex
	m map[*prometheus.HistogramVec]map[string]bool
}{m: map[*prometheus.HistogramVec]map[string]bool{}}

func claimName(c *collectors, routine string) error {
	liveNames.Lock()
	defer liveNames.Unlock()
	names := liveNames.m[c.duration]
	if names[routine] {
		return fmt.Errorf("a routine named %q is already live in this registry and namespace: stop it before building another, or choose another name", routine)
	}
	if names == nil {
		names = map[string]bool{}
		liveNames.m[c.duration] = names
	}
	names[routine] = true
	return nil
}

// release gives up the routine's name once it has stopped, and deletes
// its series when deleteSeries is set.
func (m *routineMetrics) release(deleteSeries bool) {
	if deleteSeries {
		c, l := m.c, m.routine
		for _, o := range outcomes {
			c.duration.DeleteLabelValues(l, o.String())
		}
		c.errors.DeleteLabelValues(l)
		c.panics.DeleteLabelValues(l)
		c.inFlight.DeleteLabelValues(l)
		c.lastSuccess.DeleteLabelValues(l)
		c.interval.DeleteLabelValues(l)
		c.up.DeleteLabelValues(l)
		c.nextRun.DeleteLabelValues(l)
	}
	liveNames.Lock()
	defer liveNames.Unlock()
	delete(liveNames.m[m.c.duration], m.routine)
	if len(liveNames.m[m.c.duration]) == 0 {
		delete(liveNames.m, m.c.duration)
	}
}

// observe records one finished invocation that ended at end.
func (m *routineMetrics) observe(o Outcome, elapsed time.Duration, end time.Time) {
	switch o {
	case OutcomeSuccess:
		m.success.Observe(elapsed.Seconds())
		m.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	case OutcomeError:
		m.failure().Observe(elapsed.Seconds())
		m.errors.Inc()
	case OutcomePanic:
		m.panicked().Observe(elapsed.Seconds())
		m.errors.Inc()
		m.panics.Inc()
	case OutcomeCanceled:
		m.canceled().Observe(elapsed.Seconds())
	}
	m.inFlight.Dec()
}

// dueTimes publishes the next-run gauge: the earliest time at which one of
// a routine's loops is due to start an invocation.
type dueTimes struct {
	mu    sync.Mutex
	loops []time.Time
	gauge prometheus.Gauge
}

func newDueTimes(loops int, gauge prometheus.Gauge) *dueTimes {
	return &dueTimes{loops: make([]time.Time, loops), gauge: gauge}
}

// set records when loop i starts its next invocation.
func (d *dueTimes) set(i int, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loops[i] = t
	earliest := t
	for _, u := range d.loops {
		if !u.IsZero() && u.Before(earliest) {
			earliest = u
		}
	}
	d.gauge.Set(float64(earliest.UnixNano()) / 1e9)
}

// newRoutineMetrics registers the routine metric contract's collectors with
// reg (reusing them when already registered), claims routine's name among
// them and returns routine's series.
func newRoutineMetrics(reg prometheus.Registerer, namespace, routine string) (*routineMetrics, error) {
	c, err := registerCollectors(reg, namespace)
	if err != nil {
		return nil, err
	}
	if err := claimName(c, routine); err != nil {
		return nil, err
	}
	return &routineMetrics{
		c: c, routine: routine,
		success: c.duration.WithLabelValues(routine, metrics.OutcomeSuccess),
		failure: sync.OnceValue(func() prometheus.Observer {
			return c.duration.WithLabelValues(routine, metrics.OutcomeError)
		}),
		panicked: sync.OnceValue(func() prometheus.Observer {
			return c.duration.WithLabelValues(routine, metrics.OutcomePanic)
		}),
		canceled: sync.OnceValue(func() prometheus.Observer {
			return c.duration.WithLabelValues(routine, metrics.OutcomeCanceled)
		}),
		errors:      c.errors.WithLabelValues(routine),
		panics:      c.panics.WithLabelValues(routine),
		inFlight:    c.inFlight.WithLabelValues(routine),
		lastSuccess: c.lastSuccess.WithLabelValues(routine),
		interval:    c.interval.WithLabelValues(routine),
		up:          c.up.WithLabelValues(routine),
		nextRun:     c.nextRun.WithLabelValues(routine),
	}, nil
}

// registerCollectors registers the routine collectors in reg, or returns
// the identical ones already registered there (metrics.Register), so every
// routine of a registry and namespace shares one set.
func registerCollectors(reg prometheus.Registerer, namespace string) (*collectors, error) {
	n := metrics.RoutineNames(namespace)
	labels := []string{metrics.RoutineLabel}

	duration, err1 := metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    n.HandlerDuration,
		Help:    "Time in seconds each handler invocation of a routine took, by outcome (success, error, panic, canceled).",
		Buckets: durationBuckets,
	}, []string{metrics.RoutineLabel, metrics.OutcomeLabel}))
	errs, err2 := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: n.HandlerErrors,
		Help: "Handler invocations of a routine that returned an error or panicked.",
	}, labels))
	panics, err3 := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: n.HandlerPanics,
		Help: "Panics recovered in a routine's handler or its callbacks (a handler's runtime.Goexit counts too).",
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
	nextRun, err8 := metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: n.NextRun,
		Help: "Unix time in seconds at which a routine's next handler invocation is due; it stays put while that invocation runs.",
	}, labels))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8); err != nil {
		return nil, err
	}
	return &collectors{
		duration: duration, errors: errs, panics: panics,
		inFlight: inFlight, lastSuccess: lastSuccess, interval: interval, up: up, nextRun: nextRun,
	}, nil
}
