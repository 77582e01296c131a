package dashboards_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/routinely/routinely/dashboards"
)

// grafana10SchemaVersion is the dashboard schema version of Grafana 10.0;
// Grafana imports dashboards of this version or later without migrating
// them down.
const grafana10SchemaVersion = 38

func TestDashboard_IsImportable(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	// UnmarshalJSONStrict returns an empty cog.BuildErrors (a non-nil
	// error) on success: only its entries are errors.
	var errs cog.BuildErrors
	if err := d.UnmarshalJSONStrict(readGenerated(t, dashboards.DashboardFile)); err != nil && (!errors.As(err, &errs) || len(errs) > 0) {
		t.Fatalf("strict decoding: %v", err)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if d.Uid == nil || *d.Uid != dashboards.DashboardUID {
		t.Errorf("uid = %v, want %q", d.Uid, dashboards.DashboardUID)
	}
	if d.SchemaVersion < grafana10SchemaVersion {
		t.Errorf("schemaVersion = %d, want at least %d (Grafana 10)", d.SchemaVersion, grafana10SchemaVersion)
	}
}

// rawPanel is a panel of the generated JSON as Grafana reads it.
type rawPanel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Repeat      string `json:"repeat"`
	Datasource  *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Exemplar   bool   `json:"exemplar"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit       string `json:"unit"`
			Thresholds *struct {
				Steps []struct {
					Value *float64 `json:"value"`
					Color string   `json:"color"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Options struct {
		Legend *struct {
			ShowLegend bool `json:"showLegend"`
		} `json:"legend"`
	} `json:"options"`
}

func rawPanels(t *testing.T) []rawPanel {
	t.Helper()
	var d struct {
		Panels []rawPanel `json:"panels"`
	}
	if err := json.Unmarshal(readGenerated(t, dashboards.DashboardFile), &d); err != nil {
		t.Fatal(err)
	}
	return d.Panels
}

func TestDashboard_EveryPanelHasUnitThresholdsDescriptionAndDatasourceVariable(t *testing.T) {
	ids := map[int]string{}
	for _, p := range rawPanels(t) {
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d is missing or also used by %q", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Description == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q has no unit", p.Title)
		}
		if th := p.FieldConfig.Defaults.Thresholds; th == nil || len(th.Steps) == 0 || th.Steps[0].Value != nil {
			t.Errorf("panel %q has no thresholds starting with a base color", p.Title)
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if p.Type == "timeseries" && (p.Options.Legend == nil || !p.Options.Legend.ShowLegend) {
			t.Errorf("panel %q hides its legend", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, target := range p.Targets {
			if target.RefID == "" || refs[target.RefID] {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, target.RefID)
			}
			refs[target.RefID] = true
			if target.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q/%s: datasource uid %q", p.Title, target.RefID, target.Datasource.UID)
			}
		}
	}
}

// TestDashboard_HasOverviewAndRepeatedRoutineRow pins the layout the
// README describes: an Overview row, then a row repeated per routine.
func TestDashboard_HasOverviewAndRepeatedRoutineRow(t *testing.T) {
	var rows []rawPanel
	panelsIn := map[string][]string{}
	for _, p := range rawPanels(t) {
		if p.Type == "row" {
			rows = append(rows, p)
			continue
		}
		if len(rows) == 0 {
			t.Fatalf("panel %q comes before the first row", p.Title)
		}
		row := rows[len(rows)-1].Title
		panelsIn[row] = append(panelsIn[row], p.Title)
	}
	if len(rows) != 3 || rows[0].Title != "Overview" || rows[1].Title != "Leader election" || rows[2].Repeat != "routine" {
		t.Fatalf("rows = %+v, want Overview, Leader election, then a row repeated over routine", rows)
	}
	overview := strings.Join(panelsIn["Overview"], "|")
	for _, want := range []string{"Invocations per second", "Error ratio", "p50 / p90 / p99", "In-flight", "Time past due", "Panics"} {
		if !strings.Contains(overview, want) {
			t.Errorf("the Overview row has no %q panel: %s", want, overview)
		}
	}
	leaders := strings.Join(panelsIn["Leader election"], "|")
	for _, want := range []string{"Leader by routine and instance", "Leaders per routine", "Leadership transitions"} {
		if !strings.Contains(leaders, want) {
			t.Errorf("the Leader election row has no %q panel: %s", want, leaders)
		}
	}
	if len(panelsIn[rows[2].Title]) == 0 {
		t.Errorf("the per-routine row %q has no panels", rows[2].Title)
	}
}

// TestDashboard_LeaderPanelsReadOnlyLeaderSeries pins that the Leader
// election row shows singleton routines only: every query selects the
// leader series, and the leader count is taken over every instance.
func TestDashboard_LeaderPanelsReadOnlyLeaderSeries(t *testing.T) {
	inRow := false
	seen := 0
	for _, p := range rawPanels(t) {
		if p.Type == "row" {
			inRow = p.Title == "Leader election"
			continue
		}
		if !inRow {
			continue
		}
		seen++
		for _, target := range p.Targets {
			if !strings.Contains(target.Expr, "routine_leader") {
				t.Errorf("panel %q/%s: %q does not read the leader series", p.Title, target.RefID, target.Expr)
			}
		}
		if p.Title == "Leaders per routine" {
			if len(p.Targets) != 1 || strings.Contains(p.Targets[0].Expr, "instance") || !strings.Contains(p.Targets[0].Expr, "sum by (routine)") {
				t.Errorf("panel %q: targets %+v, want the sum over every instance by routine", p.Title, p.Targets)
			}
		}
	}
	if seen != 3 {
		t.Errorf("%d panels in the Leader election row, want 3", seen)
	}
}

func TestDashboard_VariablesAreMultiSelectWithAll(t *testing.T) {
	d, err := dashboards.Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]dashboard.VariableModel{}
	var order []string
	for _, v := range d.Templating.List {
		vars[v.Name] = v
		order = append(order, v.Name)
	}
	if got := strings.Join(order, ","); got != "datasource,traces,job,instance,routine" {
		t.Errorf("variables = %s, want datasource,traces,job,instance,routine", got)
	}
	if ds := vars["datasource"]; ds.Type != dashboard.VariableTypeDatasource || ds.Query == nil || ds.Query.String == nil || *ds.Query.String != "prometheus" {
		t.Errorf("datasource variable = %+v, want a Prometheus data source variable", ds)
	}
	for _, name := range []string{"job", "instance", "routine"} {
		v := vars[name]
		if v.Multi == nil || !*v.Multi || v.IncludeAll == nil || !*v.IncludeAll || v.AllValue == nil || *v.AllValue != ".*" {
			t.Errorf("variable %s: multi %v, includeAll %v, allValue %v; want multi-select with All = .*", name, v.Multi, v.IncludeAll, v.AllValue)
		}
	}
}

// TestDashboard_OutcomesPanelShowsCanceledRuns pins that canceled runs are
// drawn as their own series: the per-routine outcomes panel groups by
// outcome without filtering any out, and says what canceled means.
func TestDashboard_OutcomesPanelShowsCanceledRuns(t *testing.T) {
	for _, p := range rawPanels(t) {
		if p.Title != "Invocations by outcome" {
			continue
		}
		if len(p.Targets) != 1 || !strings.Contains(p.Targets[0].Expr, "sum by (outcome)") || strings.Contains(p.Targets[0].Expr, "outcome=") || strings.Contains(p.Targets[0].Expr, "outcome!") {
			t.Errorf("targets %+v, want one query by outcome selecting every outcome", p.Targets)
		}
		if !strings.Contains(p.Description, "canceled") {
			t.Errorf("description %q does not explain canceled runs", p.Description)
		}
		return
	}
	t.Fatal("no Invocations by outcome panel")
}

// TestDashboard_DurationPanelsShowExemplars pins that both duration panels,
// and only they, ask Prometheus for the exemplars of the duration
// histogram, each a sampled run's trace id.
func TestDashboard_DurationPanelsShowExemplars(t *testing.T) {
	seen := 0
	for _, p := range rawPanels(t) {
		duration := p.Title == "Duration p50 / p90 / p99" || p.Title == "Duration quantiles"
		if duration {
			seen++
			if !strings.Contains(p.Description, "exemplar") {
				t.Errorf("panel %q: description %q does not explain its exemplars", p.Title, p.Description)
			}
		}
		for _, target := range p.Targets {
			if duration && (!target.Exemplar || !strings.Contains(target.Expr, "routine_handler_duration_seconds_bucket")) {
				t.Errorf("panel %q/%s: exemplar %v on %q, want exemplars of the duration buckets", p.Title, target.RefID, target.Exemplar, target.Expr)
			}
			if !duration && target.Exemplar {
				t.Errorf("panel %q/%s asks for exemplars, which only the duration histogram has", p.Title, target.RefID)
			}
		}
	}
	if seen != 2 {
		t.Errorf("%d duration panels, want 2", seen)
	}
}

// TestDashboard_TraceDatasourceVariable pins the variable picking the trace
// data source exemplars link to: Tempo by default, Jaeger or Zipkin with
// WithTraceDatasourceType.
func TestDashboard_TraceDatasourceVariable(t *testing.T) {
	for _, tc := range []struct {
		opts []dashboards.Option
		want string
	}{
		{nil, "tempo"},
		{[]dashboards.Option{dashboards.WithTraceDatasourceType("jaeger")}, "jaeger"},
		{[]dashboards.Option{dashboards.WithTraceDatasourceType("zipkin")}, "zipkin"},
	} {
		d, err := dashboards.Dashboard(tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, v := range d.Templating.List {
			if v.Name != "traces" {
				continue
			}
			found = true
			if v.Type != dashboard.VariableTypeDatasource || v.Query == nil || v.Query.String == nil || *v.Query.String != tc.want {
				t.Errorf("traces variable = %+v, want a %s data source variable", v, tc.want)
			}
			if v.Description == nil || !strings.Contains(*v.Description, "exemplarTraceIdDestinations") {
				t.Errorf("traces variable: description %v does not say how exemplars link to it", v.Description)
			}
		}
		if !found {
			t.Errorf("%s: no traces variable", tc.want)
		}
	}
}
