package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/routinely/routinely/metrics"
)

func TestNewREDMetricsNamesAndLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	red, err := metrics.NewREDMetrics(reg, "importer_batch",
		metrics.WithLabels("source", "kind"),
		metrics.WithDurationBuckets(0.5, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := red.LabelCount(); got != 2 {
		t.Errorf("LabelCount() = %d, want 2", got)
	}

	red.Observe(0.25, 1, false, "github", "full")
	red.Observe(1, 3, true, "github", "full")

	want := `
# HELP importer_batch_duration_seconds Time in seconds spent performing importer_batch operations.
# TYPE importer_batch_duration_seconds histogram
importer_batch_duration_seconds_bucket{kind="full",source="github",le="0.5"} 1
importer_batch_duration_seconds_bucket{kind="full",source="github",le="2"} 2
importer_batch_duration_seconds_bucket{kind="full",source="github",le="+Inf"} 2
importer_batch_duration_seconds_sum{kind="full",source="github"} 1.25
importer_batch_duration_seconds_count{kind="full",source="github"} 2
# HELP importer_batch_errors_total Total number of importer_batch operations that failed.
# TYPE importer_batch_errors_total counter
importer_batch_errors_total{kind="full",source="github"} 3
# HELP importer_batch_total Total number of importer_batch operations.
# TYPE importer_batch_total counter
importer_batch_total{kind="full",source="github"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestNewREDMetricsWithHelp(t *testing.T) {
	reg := prometheus.NewRegistry()
	red, err := metrics.NewREDMetrics(reg, "sync", metrics.WithHelp("Syncs run.", "", "Syncs failed."))
	if err != nil {
		t.Fatal(err)
	}
	red.Observe(0.1, 1, true)

	for name, want := range map[string]string{
		"sync_total":            "Syncs run.",
		"sync_duration_seconds": "Time in seconds spent performing sync operations.",
		"sync_errors_total":     "Syncs failed.",
	} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() == name {
				found = true
				if mf.GetHelp() != want {
					t.Errorf("%s help = %q, want %q", name, mf.GetHelp(), want)
				}
			}
		}
		if !found {
			t.Errorf("%s not gathered", name)
		}
	}
}

func TestNewREDMetricsInvalidInput(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		opts    []metrics.REDOption
		wantErr string // the offending value the error must name
	}{
		{"empty prefix", "", nil, `""`},
		{"prefix starting with a digit", "1abc", nil, `"1abc"`},
		{"prefix with a dash", "import-batch", nil, `"import-batch"`},
		{"prefix ending in _total", "jobs_total", nil, `"jobs_total"`},
		{"label starting with __", "op", []metrics.REDOption{metrics.WithLabels("__x")}, `"__x"`},
		{"label le", "op", []metrics.REDOption{metrics.WithLabels("source", "le")}, `"le"`},
		{"duplicate label", "op", []metrics.REDOption{metrics.WithLabels("source", "kind", "source")}, `"source"`},
		{"label starting with a digit", "op", []metrics.REDOption{metrics.WithLabels("1abc")}, `"1abc"`},
		{"empty label", "op", []metrics.REDOption{metrics.WithLabels("")}, `""`},
		{"equal buckets", "op", []metrics.REDOption{metrics.WithDurationBuckets(0.1, 1, 1)}, "[0.1 1 1]"},
		{"decreasing buckets", "op", []metrics.REDOption{metrics.WithDurationBuckets(2, 1)}, "[2 1]"},
		{"no buckets", "op", []metrics.REDOption{metrics.WithDurationBuckets()}, "empty duration buckets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			red, err := metrics.NewREDMetrics(reg, tt.prefix, tt.opts...)
			if err == nil {
				t.Fatalf("NewREDMetrics(%q) = %v, want an error", tt.prefix, red)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %s", err, tt.wantErr)
			}
			if red != nil {
				t.Errorf("NewREDMetrics returned %v with the error, want nil", red)
			}
			assertNothingRegistered(t, reg)
		})
	}
}

func TestMustNewREDMetricsPanicsOnInvalidInput(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("MustNewREDMetrics with prefix \"1abc\" did not panic")
		}
		if err, ok := r.(error); !ok || !strings.Contains(err.Error(), `"1abc"`) {
			t.Errorf("panic value %v, want an error naming \"1abc\"", r)
		}
	}()
	metrics.MustNewREDMetrics(prometheus.NewRegistry(), "1abc")
}

func TestNewREDMetricsTwiceSharesCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := metrics.NewREDMetrics(reg, "op", metrics.WithLabels("kind"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := metrics.NewREDMetrics(reg, "op", metrics.WithLabels("kind"))
	if err != nil {
		t.Fatalf("second NewREDMetrics with the same arguments: %v", err)
	}
	if first.Count != second.Count || first.Duration != second.Duration || first.Errors != second.Errors {
		t.Errorf("second NewREDMetrics built new collectors, want the first call's")
	}

	first.Observe(0.1, 1, true, "a")
	second.Observe(0.2, 1, true, "a")
	if got := testutil.ToFloat64(first.Count.WithLabelValues("a")); got != 2 {
		t.Errorf("op_total{kind=a} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(second.Errors.WithLabelValues("a")); got != 2 {
		t.Errorf("op_errors_total{kind=a} = %v, want 2", got)
	}
}

func TestNewREDMetricsConflictLeavesNothingRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	// op_errors_total already exists with other help: the third registration
	// of NewREDMetrics fails after the first two succeeded.
	if err := reg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "op_errors_total", Help: "Something else.",
	}, nil)); err != nil {
		t.Fatal(err)
	}

	red, err := metrics.NewREDMetrics(reg, "op")
	if err == nil {
		t.Fatalf("NewREDMetrics = %v, want an error: op_errors_total has other help", red)
	}
	if !strings.Contains(err.Error(), "op_errors_total") {
		t.Errorf("error %q does not name op_errors_total", err)
	}

	// op_total and op_duration_seconds, which the call registered before
	// it failed, were rolled back.
	for _, name := range []string{"op_total", "op_duration_seconds"} {
		if isRegistered(reg, name) {
			t.Errorf("the failed NewREDMetrics left %s registered", name)
		}
	}
}

func TestNewREDMetricsConflictKeepsEarlierCallsMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := metrics.NewREDMetrics(reg, "op")
	if err != nil {
		t.Fatal(err)
	}

	// Same count and duration metrics, but other errors help: the call
	// fails at the errors metric after sharing the first call's others.
	if _, err := metrics.NewREDMetrics(reg, "op", metrics.WithHelp("", "", "Other.")); err == nil {
		t.Fatal("NewREDMetrics with conflicting errors help succeeded, want an error")
	}

	// The failed call did not add op_total or op_duration_seconds, so it
	// must not have removed them: the first call's metrics still export.
	first.Observe(0.5, 1, true)
	want := `
# HELP op_errors_total Total number of op operations that failed.
# TYPE op_errors_total counter
op_errors_total 1
# HELP op_total Total number of op operations.
# TYPE op_total counter
op_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "op_total", "op_errors_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "op_duration_seconds"); err != nil || n != 1 {
		t.Errorf("gathered %d op_duration_seconds series (err %v), want 1", n, err)
	}
}

func TestNewREDMetricsPassLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	red, err := metrics.NewREDMetrics(reg, "importer_batch", metrics.WithLabels("source"))
	if err != nil {
		t.Fatal(err)
	}
	red.Observe(0.3, 1, true, "github")

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := testutil.GatherAndCount(reg); n != 3 {
		t.Fatalf("linted %d series, want the 3 RED series", n)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestObserveFailedIncrementsErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	red, err := metrics.NewREDMetrics(reg, "op", metrics.WithLabels("kind"))
	if err != nil {
		t.Fatal(err)
	}

	red.Observe(0.1, 1, false, "ok")
	if n := testutil.CollectAndCount(red.Errors); n != 0 {
		t.Errorf("after a successful Observe, op_errors_total has %d series, want 0", n)
	}

	red.Observe(0.1, 2, true, "bad")
	if got := testutil.ToFloat64(red.Errors.WithLabelValues("bad")); got != 2 {
		t.Errorf("op_errors_total{kind=bad} = %v, want 2 (the count of failed operations)", got)
	}
	if got := testutil.ToFloat64(red.Count.WithLabelValues("bad")); got != 2 {
		t.Errorf("op_total{kind=bad} = %v, want 2", got)
	}
	if n := testutil.CollectAndCount(red.Duration); n != 2 {
		t.Errorf("op_duration_seconds has %d series, want 2 (ok and bad)", n)
	}
}

func TestObserveWrongLabelCountPanics(t *testing.T) {
	red, err := metrics.NewREDMetrics(prometheus.NewRegistry(), "op", metrics.WithLabels("kind"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Observe with two label values for one label did not panic")
		}
	}()
	red.Observe(0.1, 1, false, "a", "b")
}

func TestNewREDMetricsNilRegistererUsesDefault(t *testing.T) {
	reg := prometheus.NewRegistry()
	prevRegisterer, prevGatherer := prometheus.DefaultRegisterer, prometheus.DefaultGatherer
	prometheus.DefaultRegisterer, prometheus.DefaultGatherer = reg, reg
	t.Cleanup(func() {
		prometheus.DefaultRegisterer, prometheus.DefaultGatherer = prevRegisterer, prevGatherer
	})

	red, err := metrics.NewREDMetrics(nil, "op")
	if err != nil {
		t.Fatal(err)
	}
	red.Observe(0.1, 1, false)
	if n, err := testutil.GatherAndCount(reg, "op_total", "op_duration_seconds"); err != nil || n != 2 {
		t.Errorf("prometheus.DefaultRegisterer holds %d of op_total and op_duration_seconds (err %v), want 2", n, err)
	}
}

// assertNothingRegistered fails t if reg holds any of the RED metrics
// named op.
func assertNothingRegistered(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	for _, name := range []string{"op_total", "op_duration_seconds", "op_errors_total"} {
		if isRegistered(reg, name) {
			t.Errorf("%s is registered after a failed NewREDMetrics", name)
		}
	}
}

// isRegistered reports whether reg holds a collector of the single metric
// name, and unregisters it. A registry identifies a collector by its metric
// names (and constant labels), so an unregistered probe of that name finds
// it whatever its type, help or label names.
func isRegistered(reg *prometheus.Registry, name string) bool {
	return reg.Unregister(prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"}))
}

func TestNewREDMetrics_NilOptionIsAnError(t *testing.T) {
	_, err := metrics.NewREDMetrics(prometheus.NewRegistry(), "jobs", metrics.WithLabels("kind"), nil)
	if err == nil || !strings.Contains(err.Error(), "option 1 is nil") {
		t.Fatalf("err = %v, want one naming the nil option", err)
	}
}
