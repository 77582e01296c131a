package dashboards

import (
	"fmt"
	"math"
	"net/url"

	"github.com/routinely/routinely/metrics"
)

// DefaultErrorBudget is the fraction of handler invocations a routine may
// fail before the error-ratio alerts start burning it: 1%, that is a 99%
// success objective.
const DefaultErrorBudget = 0.01

// DefaultRunbookURL is where the generated RUNBOOK.md is published; each
// alert's runbook_url is this URL with the alert's section as fragment.
const DefaultRunbookURL = "https://github.com/routinely/routinely/blob/main/dashboards/generated/RUNBOOK.md"

// Option configures Dashboard, AlertRules, Runbook and Files; pass the same
// options to each so the dashboard, the rules and the runbook agree.
// Options are applied in order; an invalid value makes the function return
// an error naming the option. Without options every function succeeds.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	namespace   string
	errorBudget float64
	runbookURL  string
	forScale    float64

	traceDatasourceType string
}

func newConfig(opts []Option) (config, error) {
	c := config{
		namespace:   metrics.DefaultRoutineNamespace,
		errorBudget: DefaultErrorBudget,
		runbookURL:  DefaultRunbookURL,
		forScale:    1,

		traceDatasourceType: DefaultTraceDatasourceType,
	}
	for i, opt := range opts {
		if opt == nil {
			return c, fmt.Errorf("dashboards: option %d is nil", i)
		}
		if err := opt.apply(&c); err != nil {
			return c, fmt.Errorf("dashboards: %w", err)
		}
	}
	return c, nil
}

// WithNamespace selects the metric name prefix of the routines to watch,
// the one given to goroutine.WithMetricNamespace. The empty string means
// metrics.DefaultRoutineNamespace.
func WithNamespace(namespace string) Option {
	return optionFunc(func(c *config) error {
		if namespace == "" {
			namespace = metrics.DefaultRoutineNamespace
		}
		c.namespace = namespace
		return nil
	})
}

// WithErrorBudget sets the fraction of invocations a routine may fail, in
// (0, 1): 0.01 for a 99% success objective. The error-ratio alerts fire at
// a multiple of it (see AlertRules) and the dashboard's error-ratio
// thresholds sit at the same multiples.
func WithErrorBudget(budget float64) Option {
	return optionFunc(func(c *config) error {
		if !(budget > 0 && budget < 1) || math.IsNaN(budget) {
			return fmt.Errorf("WithErrorBudget: budget %v must be in (0, 1)", budget)
		}
		c.errorBudget = budget
		return nil
	})
}

// WithRunbookURL sets the absolute URL where the runbook (the output of
// Runbook) is published. Each alert's runbook_url annotation is this URL
// with the alert's section, its lower-cased name, as fragment.
func WithRunbookURL(runbookURL string) Option {
	return optionFunc(func(c *config) error {
		u, err := url.Parse(runbookURL)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return fmt.Errorf("WithRunbookURL: %q is not an absolute URL without fragment", runbookURL)
		}
		c.runbookURL = runbookURL
		return nil
	})
}

// WithForScale multiplies the for: duration of every alert by factor, which
// must be in [0, 1]. It exists for tests and demos that cannot wait minutes
// for an alert to go from pending to firing: the expressions, windows and
// thresholds stay those of the shipped rules. 0 makes every alert fire on
// the first evaluation that matches.
func WithForScale(factor float64) Option {
	return optionFunc(func(c *config) error {
		if !(factor >= 0 && factor <= 1) {
			return fmt.Errorf("WithForScale: factor %v must be in [0, 1]", factor)
		}
		c.forScale = factor
		return nil
	})
}

// DefaultTraceDatasourceType is the Grafana plugin id of the trace data
// source the dashboard's exemplars link to: Tempo.
const DefaultTraceDatasourceType = "tempo"

// traceBackend is a trace data source Grafana can open an exemplar's
// trace id in.
type traceBackend struct {
	name string // as Grafana spells it
	url  string // what datasources.yml gives it: the backend's default query port
}

// traceBackends by Grafana plugin id.
var traceBackends = map[string]traceBackend{
	"tempo":  {"Tempo", "http://tempo:3200"},
	"jaeger": {"Jaeger", "http://jaeger:16686"},
	"zipkin": {"Zipkin", "http://zipkin:9411"},
}

// WithTraceDatasourceType sets the Grafana plugin id of the trace data
// source: "tempo" (the default), "jaeger" or "zipkin". The dashboard's
// traces variable lists data sources of that type, and DatasourcesYAML
// provisions one of it as the destination of the exemplars' trace ids.
func WithTraceDatasourceType(pluginID string) Option {
	return optionFunc(func(c *config) error {
		if _, ok := traceBackends[pluginID]; !ok {
			return fmt.Errorf("WithTraceDatasourceType: %q is not one of \"tempo\", \"jaeger\" or \"zipkin\"", pluginID)
		}
		c.traceDatasourceType = pluginID
		return nil
	})
}
