// Command generate writes the Grafana dashboard, the Prometheus rule file,
// the runbook and the Grafana data source provisioning file of package
// dashboards into a directory:
//
//	go run github.com/routinely/routinely/dashboards/cmd/generate -out generated
//
// The repository's dashboards/generated is its output with no flags but
// -out (go generate ./dashboards/... runs it). A service with its own
// metric namespace or error budget runs it with -namespace, -error-budget
// and -runbook-url to get artifacts that match; one whose traces are in
// Jaeger or Zipkin rather than Tempo adds -trace-datasource-type.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/routinely/routinely/dashboards"
)

func main() {
	out := flag.String("out", "generated", "directory to write "+dashboards.DashboardFile+", "+dashboards.RulesFile+", "+dashboards.RunbookFile+" and "+dashboards.DatasourcesFile+" to")
	namespace := flag.String("namespace", "", "metric namespace of the routines (goroutine.WithMetricNamespace); empty means the default")
	budget := flag.Float64("error-budget", dashboards.DefaultErrorBudget, "fraction of invocations a routine may fail")
	runbook := flag.String("runbook-url", dashboards.DefaultRunbookURL, "absolute URL where the runbook is published")
	traces := flag.String("trace-datasource-type", dashboards.DefaultTraceDatasourceType, "Grafana plugin id of the trace data source exemplars link to: tempo, jaeger or zipkin")
	flag.Parse()
	if err := run(*out, dashboards.WithNamespace(*namespace), dashboards.WithErrorBudget(*budget), dashboards.WithRunbookURL(*runbook), dashboards.WithTraceDatasourceType(*traces)); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func run(dir string, opts ...dashboards.Option) error {
	files, err := dashboards.Files(opts...)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}
