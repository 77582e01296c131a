// Command generate writes the Grafana dashboard, the Prometheus rule file
// and the runbook of package dashboards into a directory:
//
//	go run github.com/routinely/routinely/dashboards/cmd/generate -out generated
//
// The repository's dashboards/generated is its output with no flags but
// -out (go generate ./dashboards/... runs it). A service with its own
// metric namespace or error budget runs it with -namespace, -error-budget
// and -runbook-url to get artifacts that match.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/routinely/routinely/dashboards"
)

func main() {
	out := flag.String("out", "generated", "directory to write "+dashboards.DashboardFile+", "+dashboards.RulesFile+" and "+dashboards.RunbookFile+" to")
	namespace := flag.String("namespace", "", "metric namespace of the routines (goroutine.WithMetricNamespace); empty means the default")
	budget := flag.Float64("error-budget", dashboards.DefaultErrorBudget, "fraction of invocations a routine may fail")
	runbook := flag.String("runbook-url", dashboards.DefaultRunbookURL, "absolute URL where the runbook is published")
	flag.Parse()
	if err := run(*out, dashboards.WithNamespace(*namespace), dashboards.WithErrorBudget(*budget), dashboards.WithRunbookURL(*runbook)); err != nil {
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
