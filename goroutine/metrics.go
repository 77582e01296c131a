package goroutine

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/routinely/routinely/metrics"
)

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
	consecutiveFailures         prometheus.Gauge
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
	consecutiveFailures                          *prometheus.GaugeVec
	// leader and leaderTransitions have series for singleton routines
	// only.
	leader            *prometheus.GaugeVec
	leaderTransitions *prometheus.CounterVec
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
		c.consecutiveFailures.DeleteLabelValues(l)
		c.interval.DeleteLabelValues(l)
		c.up.DeleteLabelValues(l)
		c.nextRun.DeleteLabelValues(l)
		c.leader.DeleteLabelValues(l)
		c.leaderTransitions.DeleteLabelValues(l)
	}
	liveNames.Lock()
	defer liveNames.Unlock()
	delete(liveNames.m[m.c.duration], m.routine)
	if len(liveNames.m[m.c.duration]) == 0 {
		delete(liveNames.m, m.c.duration)
	}
}

// observe records one finished invocation that ended at end. A sampled
// invocation's duration sample carries its trace id as an exemplar.
func (m *routineMetrics) observe(o Outcome, elapsed time.Duration, end time.Time, sc trace.SpanContext) {
	var h prometheus.Observer
	switch o {
	case OutcomeSuccess:
		h = m.success
		m.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	case OutcomeError:
		h = m.failure()
		m.errors.Inc()
	case OutcomePanic:
		h = m.panicked()
		m.errors.Inc()
		m.panics.Inc()
	case OutcomeCanceled:
		h = m.canceled()
	}
	observeDuration(h, elapsed, sc)
	m.inFlight.Dec()
}

// observeDuration observes elapsed in h, with the trace id as an exemplar
// when the span is sampled. Unsampled runs cost nothing more.
func observeDuration(h prometheus.Observer, elapsed time.Duration, sc trace.SpanContext) {
	if !sc.IsSampled() {
		h.Observe(elapsed.Seconds())
		return
	}
	h.(prometheus.ExemplarObserver).ObserveWithExemplar(elapsed.Seconds(), prometheus.Labels{metrics.ExemplarTraceIDLabel: sc.TraceID().String()})
}

// perLoop holds one value per handler loop of a routine and publishes
// them, reduced by summary, as one gauge: the next-run gauge from each
// loop's due time (earliestDue), the consecutive-failures gauge from each
// loop's streak (longestStreak). It grows with the highest loop index
// seen (at most MaxConcurrency).
type perLoop[T any] struct {
	mu      sync.Mutex
	loops   []T
	gauge   prometheus.Gauge
	summary func([]T) float64
}

func newPerLoop[T any](gauge prometheus.Gauge, summary func([]T) float64) *perLoop[T] {
	return &perLoop[T]{gauge: gauge, summary: summary}
}

// set records loop i's value and publishes the summary.
func (p *perLoop[T]) set(i int, v T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.loops) <= i {
		var zero T
		p.loops = append(p.loops, zero)
	}
	p.loops[i] = v
	p.gauge.Set(p.summary(p.loops))
}

// value returns the summary the gauge shows.
func (p *perLoop[T]) value() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.summary(p.loops)
}

// earliestDue is the next-run gauge: the earliest time at which one of
// the loops is due to start an invocation, in unix seconds, or 0 when
// none is (a loop with no run due holds the zero time: a singleton
// routine's loop while another replica leads, or a loop that exited).
func earliestDue(loops []time.Time) float64 {
	var earliest time.Time
	for _, u := range loops {
		if !u.IsZero() && (earliest.IsZero() || u.Before(earliest)) {
			earliest = u
		}
	}
	if earliest.IsZero() {
		return 0
	}
	return float64(earliest.UnixNano()) / 1e9
}

// longestStreak is the consecutive-failures gauge: the longest streak of
// failed invocations among the loops, so that a loop failing on every run
// shows even while another one succeeds. Each loop counts its own
// (loopState.failures, which also drives its backoff).
func longestStreak(loops []uint64) float64 {
	var n uint64
	for _, l := range loops {
		n = max(n, l)
	}
	return float64(n)
}

// newRoutineMetrics registers the routine metric contract's collectors with
// reg (reusing them when already registered), claims routine's name among
// them and returns routine's series.
func newRoutineMetrics(reg prometheus.Registerer, namespace, routine string) (*routineMetrics, error) {
	c, err := routineCollectors(reg, namespace)
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
		errors:              c.errors.WithLabelValues(routine),
		panics:              c.panics.WithLabelValues(routine),
		inFlight:            c.inFlight.WithLabelValues(routine),
		lastSuccess:         c.lastSuccess.WithLabelValues(routine),
		consecutiveFailures: c.consecutiveFailures.WithLabelValues(routine),
		interval:            c.interval.WithLabelValues(routine),
		up:                  c.up.WithLabelValues(routine),
		nextRun:             c.nextRun.WithLabelValues(routine),
	}, nil
}

// collectorKey identifies a registry and namespace in collectorCache. The
// registry is held weakly, so a cached registry can still be collected.
type collectorKey struct {
	registry  weak.Pointer[prometheus.Registry]
	namespace string
}

// collectorCache remembers the collectors registered in each
// *prometheus.Registry (the type of prometheus.DefaultRegisterer and of
// NewRegistry). The plain thing, registerCollectors for every routine
// (metrics.Register hands back the identical collectors already there),
// is correct but builds and hashes ten collectors to throw them away:
// measured, it made NewPeriodic 5× slower (31 µs → 152 µs, 9 → 24 KiB,
// 108 → 355 allocations) and doubled the time for 10,000 routines to
// start. Weak keys keep the cache from holding registries alive (tests
// and per-tenant registries come and go).
var collectorCache sync.Map // collectorKey → *collectors

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

// registerCollectors registers the routine collectors in reg, or returns
// the identical ones already registered there (metrics.Register), so every
// routine of a registry and namespace shares one set.
func registerCollectors(reg prometheus.Registerer, namespace string) (*collectors, error) {
	var errs []error
	c := &collectors{
		duration:            register(reg, metrics.RoutineHandlerDuration.HistogramVec(namespace), &errs),
		errors:              register(reg, metrics.RoutineHandlerErrors.CounterVec(namespace), &errs),
		panics:              register(reg, metrics.RoutineHandlerPanics.CounterVec(namespace), &errs),
		inFlight:            register(reg, metrics.RoutineHandlerInFlight.GaugeVec(namespace), &errs),
		lastSuccess:         register(reg, metrics.RoutineLastSuccess.GaugeVec(namespace), &errs),
		consecutiveFailures: register(reg, metrics.RoutineConsecutiveFailures.GaugeVec(namespace), &errs),
		interval:            register(reg, metrics.RoutineInterval.GaugeVec(namespace), &errs),
		up:                  register(reg, metrics.RoutineUp.GaugeVec(namespace), &errs),
		nextRun:             register(reg, metrics.RoutineNextRun.GaugeVec(namespace), &errs),

		leader:            register(reg, metrics.RoutineLeader.GaugeVec(namespace), &errs),
		leaderTransitions: register(reg, metrics.RoutineLeaderTransitions.CounterVec(namespace), &errs),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// register registers c with reg (see metrics.Register) and adds any error
// to errs.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errs *[]error) C {
	got, err := metrics.Register(reg, c)
	*errs = append(*errs, err)
	return got
}
