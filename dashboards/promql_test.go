package dashboards_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/internal/electortest"
	"github.com/routinely/routinely/metrics"
	"github.com/routinely/routinely/observation"
)

// allQueries is every PromQL expression the artifacts hold, in Prometheus'
// syntax: dashboard panels, dashboard variables and rules.
func allQueries(t *testing.T) []grafanaQuery {
	t.Helper()
	var qs []grafanaQuery
	for _, q := range append(panelQueries(t), variableSelectors(t)...) {
		qs = append(qs, grafanaQuery{where: q.where, expr: toPromQL(t, q, "5m", "1h")})
	}
	return append(qs, ruleQueries(t)...)
}

func TestPromQL_EveryExpressionParses(t *testing.T) {
	for _, q := range allQueries(t) {
		if len(vectorSelectors(t, q.where, q.expr)) == 0 {
			t.Errorf("%s: %q selects no series", q.where, q.expr)
		}
	}
}

// contractSeries is every series name the metric contract exposes: the
// metrics of package metrics, with a histogram's _bucket, _count and _sum.
func contractSeries() map[string]bool {
	n := metrics.RoutineNames("")
	out := map[string]bool{}
	for _, name := range n.All() {
		out[name] = true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		out[n.HandlerDuration+suffix] = true
	}
	return out
}

// The labels a selector may match on: the contract's, a histogram's le,
// and the target labels Prometheus adds.
var allowedLabels = []string{metrics.RoutineLabel, metrics.OutcomeLabel, "le", "job", "instance", "__name__"}

func TestPromQL_ReferencesOnlyExportedMetricsAndRecordingRules(t *testing.T) {
	known := contractSeries()
	recorded := recordingRules(generatedRules(t))
	used := map[string]bool{}
	for _, q := range allQueries(t) {
		for _, vs := range vectorSelectors(t, q.where, q.expr) {
			used[vs.Name] = true
			if !known[vs.Name] && !recorded[vs.Name] {
				t.Errorf("%s: selects %q, which is neither in the metric contract nor a recording rule", q.where, vs.Name)
			}
			for _, m := range vs.LabelMatchers {
				if !slices.Contains(allowedLabels, m.Name) {
					t.Errorf("%s: matches on label %q, which no routine series has", q.where, m.Name)
				}
			}
		}
	}
	for name := range recorded {
		if !used[name] {
			t.Errorf("recording rule %s is used by no panel or alert", name)
		}
	}
}

// TestPromQL_SelectsSeriesARealRegistryExposes runs a succeeding, a failing
// and a panicking routine against a registry, and checks that every series
// the dashboard and the rules select is in what that registry gathers (or
// is recorded by a rule), and that the exposition passes client_golang's
// linter.

func TestPromQL_SelectsSeriesARealRegistryExposes(t *testing.T) {
	reg := prometheus.NewRegistry()
	obs := observation.NewContext(nil, nil, reg)
	run := func(name string, outcome func(calls int) error, opts ...goroutine.Option) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		calls := 0
		r, err := goroutine.NewPeriodic(ctx, time.Millisecond, goroutine.HandlerFunc(func(context.Context) error {
			calls++
			if calls == 3 {
				cancel()
			}
			return outcome(calls)
		}), append(opts, goroutine.WithName(name), goroutine.WithObservationContext(obs))...)
		if err != nil {
			t.Fatal(err)
		}
		r.Start() // returns once the handler cancelled ctx
	}
	run("good", func(int) error { return nil })
	run("bad", func(int) error { return errors.New("boom") })
	run("panicky", func(calls int) error {
		if calls == 1 {
			panic("kaboom")
		}
		return nil
	})

	// A singleton routine adds routine_leader and
	// routine_leader_transitions_total.
	run("singleton", func(int) error { return nil }, goroutine.WithLeaderElection(electortest.Leading("singleton")))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gathered := map[string]bool{}
	for _, mf := range mfs {
		gathered[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				gathered[mf.GetName()+suffix] = true
			}
		}
	}
	recorded := recordingRules(generatedRules(t))
	for _, q := range allQueries(t) {
		for _, vs := range vectorSelectors(t, q.where, q.expr) {
			if !gathered[vs.Name] && !recorded[vs.Name] {
				t.Errorf("%s: selects %q, which the registry of real routines does not expose", q.where, vs.Name)
			}
		}
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
