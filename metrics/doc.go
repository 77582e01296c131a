// Package metrics holds the Prometheus side of routinely: RED (rate, errors,
// duration) metrics for generic operations, registration that tolerates the
// same metric being registered twice, and the names of the routine metric
// contract that the goroutine package emits and the dashboards package
// queries.
//
// It depends on client_golang only and knows nothing of routines' behaviour.
//
// A worked example: an importer counts and times each batch it imports.
//
//	red, err := metrics.NewREDMetrics(prometheus.DefaultRegisterer, "importer_batch",
//		metrics.WithLabels("source"))
//	if err != nil {
//		return err
//	}
//	start := time.Now()
//	err = importBatch(ctx)
//	red.Observe(time.Since(start).Seconds(), 1, err != nil, "github")
//
// This exports importer_batch_total, importer_batch_duration_seconds and
// importer_batch_errors_total, each labelled by source.
package metrics
