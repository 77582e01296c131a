package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/routinely/routinely/metrics"
)

func TestRegisterSameCollectorTwiceSharesSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "jobs_total", Help: "Jobs run."}

	first, err := metrics.Register(reg, prometheus.NewCounterVec(opts, []string{"queue"}))
	if err != nil {
		t.Fatalf("first Register: %v", err)
	}
	second, err := metrics.Register(reg, prometheus.NewCounterVec(opts, []string{"queue"}))
	if err != nil {
		t.Fatalf("second Register of an identical collector: %v", err)
	}
	if first != second {
		t.Errorf("second Register returned a new collector, want the one registered first")
	}

	first.WithLabelValues("default").Inc()
	second.WithLabelValues("default").Add(2)

	if got := testutil.ToFloat64(first.WithLabelValues("default")); got != 3 {
		t.Errorf("jobs_total{queue=default} = %v, want 3 (both handles update one series)", got)
	}
	if n, err := testutil.GatherAndCount(reg, "jobs_total"); err != nil || n != 1 {
		t.Errorf("gathered %d jobs_total series (err %v), want 1", n, err)
	}
}

func TestRegisterSameInstanceTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queue_depth", Help: "Depth."})
	if _, err := metrics.Register(reg, c); err != nil {
		t.Fatal(err)
	}
	got, err := metrics.Register(reg, c)
	if err != nil || got != c {
		t.Errorf("Register(same instance) = %v, %v; want the instance and no error", got, err)
	}
}

func TestRegisterConflictNamesMetric(t *testing.T) {
	tests := []struct {
		name   string
		second *prometheus.CounterVec
	}{
		{"other help", prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobs_total", Help: "Something else."}, []string{"queue"})},
		{"other labels", prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobs_total", Help: "Jobs run."}, []string{"queue", "priority"})},
		{"no labels", prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobs_total", Help: "Jobs run."}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			first, err := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobs_total", Help: "Jobs run."}, []string{"queue"}))
			if err != nil {
				t.Fatal(err)
			}

			got, err := metrics.Register(reg, tt.second)
			if err == nil {
				t.Fatalf("Register of a conflicting jobs_total succeeded, want an error")
			}
			if !strings.Contains(err.Error(), "jobs_total") {
				t.Errorf("error %q does not name the metric jobs_total", err)
			}
			if got != nil {
				t.Errorf("Register returned collector %v with the error, want nil", got)
			}

			// The first registration is untouched.
			first.WithLabelValues("default").Inc()
			if n, err := testutil.GatherAndCount(reg, "jobs_total"); err != nil || n != 1 {
				t.Errorf("gathered %d jobs_total series (err %v), want 1", n, err)
			}
		})
	}
}

func TestRegisterExistingOfAnotherType(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "restarts_total", Help: "Restarts."}
	if err := reg.Register(prometheus.NewCounter(opts)); err != nil {
		t.Fatal(err)
	}

	// A CounterVec without labels has the same description as the Counter.
	got, err := metrics.Register(reg, prometheus.NewCounterVec(opts, nil))
	if err == nil {
		t.Fatalf("Register returned %v and no error, want an error: restarts_total is a Counter, not a CounterVec", got)
	}
	for _, want := range []string{"restarts_total", "prometheus.counter", "prometheus.CounterVec"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if got != nil {
		t.Errorf("Register returned collector %v with the error, want nil", got)
	}
}

func TestRegisterNilRegistererUsesDefault(t *testing.T) {
	reg := prometheus.NewRegistry()
	prevRegisterer, prevGatherer := prometheus.DefaultRegisterer, prometheus.DefaultGatherer
	prometheus.DefaultRegisterer, prometheus.DefaultGatherer = reg, reg
	t.Cleanup(func() {
		prometheus.DefaultRegisterer, prometheus.DefaultGatherer = prevRegisterer, prevGatherer
	})

	c, err := metrics.Register(nil, prometheus.NewCounter(prometheus.CounterOpts{Name: "default_total", Help: "Counted."}))
	if err != nil {
		t.Fatal(err)
	}
	c.Inc()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP default_total Counted.
# TYPE default_total counter
default_total 1
`), "default_total"); err != nil {
		t.Errorf("nil registerer did not register with prometheus.DefaultRegisterer: %v", err)
	}
}

// TestRoutineMetricsAreTheNamedContract checks that the definitions and
// the names describe the same metrics, in the same order.
func TestRoutineMetricsAreTheNamedContract(t *testing.T) {
	defs := metrics.RoutineMetrics()
	names := metrics.RoutineNames("svc").All()
	if len(defs) != len(names) {
		t.Fatalf("%d definitions, %d names", len(defs), len(names))
	}
	for i, d := range defs {
		if got := d.Name("svc"); got != names[i] {
			t.Errorf("definition %d is %s, want %s", i, got, names[i])
		}
		if d.Help == "" || d.Labels[0] != metrics.RoutineLabel {
			t.Errorf("%s: help %q, labels %v: want a help text and the routine label first", d.Suffix, d.Help, d.Labels)
		}
		if (d.Type == metrics.Histogram) != (len(d.Buckets) > 0) {
			t.Errorf("%s: a %s with buckets %v", d.Suffix, d.Type, d.Buckets)
		}
	}
}
