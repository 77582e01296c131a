// Package dashboards defines, in Go, the Grafana dashboard, the Prometheus
// alerting and recording rules and the runbook for routines run by package
// goroutine, and generates the files operators import: generated/routines.json,
// generated/alerts.yml, generated/RUNBOOK.md and generated/datasources.yml,
// the Grafana data sources that link the duration panels' exemplars to
// traces.
//
// Every series name comes from package metrics, the same source the
// goroutine package registers its metrics from, so the dashboard and the
// rules cannot drift from what a routine exports. Where a hand-written
// mixin is JSON and YAML kept in step by review, here the dashboard is built
// with the Grafana Foundation SDK's typed builders, the rules are plain Go
// structs, and the runbook is written next to the alert it explains; tests
// parse every PromQL expression, check each selected series against a real
// registry, run promtool over the rules and a real Prometheus against a
// real service.
//
// It is a module of its own (github.com/routinely/routinely/dashboards), so
// that the Grafana SDK and the Prometheus server packages its tests use stay
// out of the dependencies of services importing routinely.
//
// A worked example: a service whose routines use their own metric
// namespace (goroutine.WithMetricNamespace("jobs")) and a 99.9% success
// objective generates matching artifacts with
//
//	files, err := dashboards.Files(
//		dashboards.WithNamespace("jobs"),
//		dashboards.WithErrorBudget(0.001),
//		dashboards.WithRunbookURL("https://wiki.example.com/runbooks/routines.md"),
//	)
//	if err != nil {
//		return err
//	}
//	for _, f := range files {
//		if err := os.WriteFile(filepath.Join("monitoring", f.Name), f.Content, 0o644); err != nil {
//			return err
//		}
//	}
//
// or, without writing Go, with
//
//	go run github.com/routinely/routinely/dashboards/cmd/generate -out monitoring \
//		-namespace jobs -error-budget 0.001 -runbook-url https://wiki.example.com/runbooks/routines.md
//
// The files in generated/ are Files() with no options; go generate
// ./dashboards/... rewrites them and a test fails when they are stale.
package dashboards
