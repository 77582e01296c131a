package metrics

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// REDMetrics are the rate, errors and duration metrics of one kind of
// operation, all sharing the same label names:
//
//	<prefix>_total             counter    operations observed
//	<prefix>_duration_seconds  histogram  time each operation took
//	<prefix>_errors_total      counter    operations that failed
//
// Build them with NewREDMetrics. The methods are safe for concurrent use.
type REDMetrics struct {
	// Count counts operations (incremented by the count passed to Observe).
	Count *prometheus.CounterVec
	// Duration holds one sample per observed operation, in seconds.
	Duration *prometheus.HistogramVec
	// Errors counts operations that ended with an error.
	Errors *prometheus.CounterVec

	labels int
}

// REDOption configures NewREDMetrics. Like goroutine.Option, it is an
// interface with an unexported method, so that only this package's With*
// functions make one.
type REDOption interface {
	apply(*redConfig)
}

type redOptionFunc func(*redConfig)

func (f redOptionFunc) apply(c *redConfig) { f(c) }

type redConfig struct {
	labels                              []string
	buckets                             []float64
	countHelp, durationHelp, errorsHelp string
}

// WithLabels sets the label names shared by all three metrics; Observe then
// takes one value per name, in this order.
func WithLabels(names ...string) REDOption {
	return redOptionFunc(func(c *redConfig) { c.labels = append([]string(nil), names...) })
}

// WithDurationBuckets sets the histogram buckets (seconds, strictly
// increasing). The default is prometheus.DefBuckets.
func WithDurationBuckets(buckets ...float64) REDOption {
	return redOptionFunc(func(c *redConfig) { c.buckets = append([]float64(nil), buckets...) })
}

// WithHelp sets the help text of the count, duration and errors metrics.
// An empty string keeps that metric's default help.
func WithHelp(count, duration, errors string) REDOption {
	return redOptionFunc(func(c *redConfig) {
		if count != "" {
			c.countHelp = count
		}
		if duration != "" {
			c.durationHelp = duration
		}
		if errors != "" {
			c.errorsHelp = errors
		}
	})
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// NewREDMetrics builds the RED metrics named after prefix and registers
// them with r (nil means prometheus.DefaultRegisterer).
//
// Calling it twice with the same arguments returns metrics backed by the
// same collectors (see Register). An invalid prefix, label name or bucket
// list, or a metric already registered with other labels or help, is an
// error naming the offending value; on error nothing stays registered that
// this call added.
func NewREDMetrics(r prometheus.Registerer, prefix string, opts ...REDOption) (*REDMetrics, error) {
	cfg := redConfig{
		buckets:      prometheus.DefBuckets,
		countHelp:    fmt.Sprintf("Total number of %s operations.", prefix),
		durationHelp: fmt.Sprintf("Time in seconds spent performing %s operations.", prefix),
		errorsHelp:   fmt.Sprintf("Total number of %s operations that failed.", prefix),
	}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("metrics: RED metrics %q: option %d is nil", prefix, i)
		}
		opt.apply(&cfg)
	}
	if err := validateRED(prefix, cfg); err != nil {
		return nil, err
	}
	if r == nil {
		r = prometheus.DefaultRegisterer
	}

	// Roll back only what this call added: a collector Register returned
	// because it was already registered belongs to an earlier caller.
	var added []prometheus.Collector
	rollback := func() {
		for _, c := range added {
			r.Unregister(c)
		}
	}

	newCount := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prefix + "_total", Help: cfg.countHelp,
	}, cfg.labels)
	count, err := Register(r, newCount)
	if err != nil {
		return nil, err
	}
	if count == newCount {
		added = append(added, count)
	}
	newDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: prefix + "_duration_seconds", Help: cfg.durationHelp, Buckets: cfg.buckets,
	}, cfg.labels)
	duration, err := Register(r, newDuration)
	if err != nil {
		rollback()
		return nil, err
	}
	if duration == newDuration {
		added = append(added, duration)
	}
	errs, err := Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prefix + "_errors_total", Help: cfg.errorsHelp,
	}, cfg.labels))
	if err != nil {
		rollback()
		return nil, err
	}
	return &REDMetrics{Count: count, Duration: duration, Errors: errs, labels: len(cfg.labels)}, nil
}

// MustNewREDMetrics is like NewREDMetrics but panics on error. Use it only
// for package-level variables whose arguments are constants.
func MustNewREDMetrics(r prometheus.Registerer, prefix string, opts ...REDOption) *REDMetrics {
	m, err := NewREDMetrics(r, prefix, opts...)
	if err != nil {
		panic(err)
	}
	return m
}

func validateRED(prefix string, cfg redConfig) error {
	if !metricNameRE.MatchString(prefix) {
		return fmt.Errorf("metrics: invalid prefix %q: must match %s", prefix, metricNameRE)
	}
	for _, suffix := range []string{"_total", "_seconds", "_count", "_sum", "_bucket"} {
		if strings.HasSuffix(prefix, suffix) {
			return fmt.Errorf("metrics: invalid prefix %q: must not end in %q, a suffix is added to it", prefix, suffix)
		}
	}
	seen := map[string]bool{}
	for _, l := range cfg.labels {
		if !labelNameRE.MatchString(l) || strings.HasPrefix(l, "__") {
			return fmt.Errorf("metrics: invalid label name %q for %s: must match %s and not start with __", l, prefix, labelNameRE)
		}
		if l == "le" {
			return fmt.Errorf("metrics: invalid label name %q for %s: reserved for histogram buckets", l, prefix)
		}
		if seen[l] {
			return fmt.Errorf("metrics: duplicate label name %q for %s", l, prefix)
		}
		seen[l] = true
	}
	if len(cfg.buckets) == 0 {
		return fmt.Errorf("metrics: empty duration buckets for %s", prefix)
	}
	for i := 1; i < len(cfg.buckets); i++ {
		if cfg.buckets[i] <= cfg.buckets[i-1] {
			return fmt.Errorf("metrics: duration buckets for %s must be strictly increasing, got %v", prefix, cfg.buckets)
		}
	}
	return nil
}

// LabelCount returns how many label values Observe expects.
func (m *REDMetrics) LabelCount() int { return m.labels }

// Observe records count operations that took seconds in total and failed
// when failed is true. labelValues must hold one value per label name given
// to WithLabels, in order; a wrong number of values panics, as it does in
// client_golang, because it is a programming error.
func (m *REDMetrics) Observe(seconds, count float64, failed bool, labelValues ...string) {
	m.Count.WithLabelValues(labelValues...).Add(count)
	m.Duration.WithLabelValues(labelValues...).Observe(seconds)
	if failed {
		m.Errors.WithLabelValues(labelValues...).Add(count)
	}
}
