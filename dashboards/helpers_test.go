package dashboards_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/routinely/routinely/dashboards"
)

// generatedDir is where go generate writes the checked-in artifacts.
const generatedDir = "generated"

func readGenerated(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(generatedDir, name))
	if err != nil {
		t.Fatalf("reading the generated %s (run go generate ./dashboards/...): %v", name, err)
	}
	return b
}

// generatedRules is the checked-in rule file, parsed.
func generatedRules(t testing.TB) dashboards.RuleFile {
	t.Helper()
	var f dashboards.RuleFile
	if err := yaml.Unmarshal(readGenerated(t, dashboards.RulesFile), &f); err != nil {
		t.Fatalf("parsing %s: %v", dashboards.RulesFile, err)
	}
	return f
}

// grafanaQuery is a PromQL query of the generated dashboard as Grafana
// holds it: with template variables still in it.
type grafanaQuery struct {
	where string // panel title and refId, or variable name
	expr  string
}

// dashboardJSON mirrors the parts of the generated dashboard JSON that hold
// queries, read as Grafana reads them rather than through the SDK.
type dashboardJSON struct {
	Panels []struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			RefID    string `json:"refId"`
			Expr     string `json:"expr"`
			Exemplar bool   `json:"exemplar"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func generatedDashboard(t testing.TB) dashboardJSON {
	t.Helper()
	var d dashboardJSON
	if err := json.Unmarshal(readGenerated(t, dashboards.DashboardFile), &d); err != nil {
		t.Fatalf("parsing %s: %v", dashboards.DashboardFile, err)
	}
	return d
}

// labelValues matches a Grafana Prometheus variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+), (\w+)\)$`)

// panelQueries returns the expr of every target of every panel.
func panelQueries(t testing.TB) []grafanaQuery {
	t.Helper()
	var qs []grafanaQuery
	for _, p := range generatedDashboard(t).Panels {
		for _, target := range p.Targets {
			qs = append(qs, grafanaQuery{where: p.Title + "/" + target.RefID, expr: target.Expr})
		}
	}
	if len(qs) == 0 {
		t.Fatal("the generated dashboard has no queries")
	}
	return qs
}

// exemplarQueries returns the expr of every target that shows exemplars:
// Grafana sends it to Prometheus' query_exemplars as it is.
func exemplarQueries(t testing.TB) []grafanaQuery {
	t.Helper()
	var qs []grafanaQuery
	for _, p := range generatedDashboard(t).Panels {
		for _, target := range p.Targets {
			if target.Exemplar {
				qs = append(qs, grafanaQuery{where: p.Title + "/" + target.RefID, expr: target.Expr})
			}
		}
	}
	if len(qs) == 0 {
		t.Fatal("the generated dashboard shows no exemplars")
	}
	return qs
}

// variableSelectors returns the series selector of every query variable:
// the first argument of its label_values(selector, label).
func variableSelectors(t testing.TB) []grafanaQuery {
	t.Helper()
	var qs []grafanaQuery
	for _, v := range generatedDashboard(t).Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
		}
		qs = append(qs, grafanaQuery{where: "variable " + v.Name, expr: m[1]})
	}
	return qs
}

// ruleQueries returns the expr of every recording and alerting rule.
func ruleQueries(t testing.TB) []grafanaQuery {
	t.Helper()
	var qs []grafanaQuery
	for _, g := range generatedRules(t).Groups {
		for _, r := range g.Rules {
			qs = append(qs, grafanaQuery{where: "rule " + r.Record + r.Alert, expr: r.Expr})
		}
	}
	return qs
}

// grafanaVariable matches $name and ${name} in a Grafana query.
var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// toPromQL replaces Grafana's template variables as Grafana would before
// sending a query to Prometheus: dashboard variables with a regular
// expression matching everything ("All"), range variables with durations.
// An unknown variable fails the test.
func toPromQL(t testing.TB, q grafanaQuery, rateInterval, rangeDuration string) string {
	t.Helper()
	return grafanaVariable.ReplaceAllStringFunc(q.expr, func(v string) string {
		switch name := strings.Trim(v, "${}"); name {
		case "job", "instance", "routine":
			return ".*"
		case "__rate_interval":
			return rateInterval
		case "__range":
			return rangeDuration
		default:
			t.Errorf("%s: unknown variable %s in %q", q.where, v, q.expr)
			return v
		}
	})
}

// vectorSelectors parses expr and returns its vector selectors.
func vectorSelectors(t testing.TB, where, expr string) []*parser.VectorSelector {
	t.Helper()
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %q does not parse: %v", where, expr, err)
	}
	var out []*parser.VectorSelector
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// recordingRules returns the names the rule file records.
func recordingRules(f dashboards.RuleFile) map[string]bool {
	out := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out[r.Record] = true
			}
		}
	}
	return out
}
