package metrics_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/routinely/routinely/metrics"
)

func ExampleNewREDMetrics() {
	reg := prometheus.NewRegistry()
	red, err := metrics.NewREDMetrics(reg, "importer_batch", metrics.WithLabels("source"))
	if err != nil {
		fmt.Println(err)
		return
	}

	// One batch of 1 item succeeded in 0.2s; one of 3 items failed in 1.5s.
	red.Observe(0.2, 1, false, "github")
	red.Observe(1.5, 3, true, "github")

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		fmt.Println(mf.GetName(), mf.GetType())
	}
	fmt.Println("operations:", testutil.ToFloat64(red.Count.WithLabelValues("github")))
	fmt.Println("errors:", testutil.ToFloat64(red.Errors.WithLabelValues("github")))
	// Output:
	// importer_batch_duration_seconds HISTOGRAM
	// importer_batch_errors_total COUNTER
	// importer_batch_total COUNTER
	// operations: 4
	// errors: 3
}
