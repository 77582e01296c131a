package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
	"github.com/prometheus/common/model"

	"github.com/routinely/routinely/metrics"
)

// DashboardUID is the uid of the generated dashboard: importing it again
// replaces the earlier import instead of adding a copy.
const DashboardUID = "routinely-routines"

// Template variables of the dashboard.
const (
	varDatasource = "datasource"
	// varTraces is the trace data source (Tempo by default) the duration
	// panels' exemplars link to.
	varTraces   = "traces"
	varJob      = "job"
	varInstance = "instance"
	varRoutine  = "routine"
)

// Panel titles; the runbook refers to panels by these.
const (
	panelInvocations = "Invocations per second"
	panelErrorRatio  = "Error ratio (5m)"
	panelDuration    = "Duration p50 / p90 / p99"
	panelInFlight    = "In-flight invocations"
	panelStall       = "Time past due, in intervals"
	panelPanics      = "Panics in time range"

	panelRoutineOutcomes   = "Invocations by outcome"
	panelRoutineErrorRatio = "Error ratio by alert window"
	panelRoutineDuration   = "Duration quantiles"
	panelRoutinePastDue    = "Time past due"
	panelRoutineUp         = "Up"
	panelRoutineInFlight   = "In flight"
	panelRoutineFailures   = "Failures"

	rowLeaderElection      = "Leader election"
	panelLeaderTimeline    = "Leader by routine and instance"
	panelLeaders           = "Leaders per routine"
	panelLeaderTransitions = "Leadership transitions per hour"
)

// exemplarHelp ends the description of the duration panels.
var exemplarHelp = fmt.Sprintf("Points are exemplars: one sampled run each, with its duration and trace id (label %s); "+
	"a click opens its trace in the trace data source once the Prometheus data source links %s to it (exemplarTraceIdDestinations, see datasources.yml). "+
	"Services must serve /metrics in the OpenMetrics format and Prometheus run with --enable-feature=exemplar-storage.",
	metrics.ExemplarTraceIDLabel, metrics.ExemplarTraceIDLabel)

// quantiles of the duration panels.
var quantiles = []float64{0.5, 0.9, 0.99}

// stallDisplayCap bounds the stall panel so a routine hung for hours does
// not flatten every other line.
const stallDisplayCap = 10

// Dashboard returns the Grafana dashboard for routines, importable into
// Grafana 10 or later (uid DashboardUID, the SDK's schemaVersion).
//
// Its variables are datasource (any Prometheus data source), traces (the
// trace data source exemplars link to, Tempo unless WithTraceDatasourceType
// says otherwise), then job,
// instance and routine, each multi-select with "All", each limited by the
// ones before it. An Overview row shows every selected routine together:
// invocations per second, error ratio, p50/p90/p99 duration, in-flight
// invocations, how late the next run is in intervals, and panics. A Leader
// election row shows, for singleton routines (goroutine.WithLeaderElection)
// only, which instance leads each routine, how many instances do (0: no
// leader, more than 1: a split brain) and how often leadership changes. A
// row per routine, repeated over the routine variable, shows that routine
// alone, its invocations by outcome (canceled ones included). The duration
// panels show exemplars: a sampled run's trace id, which Grafana links to
// the trace when the Prometheus data source's exemplarTraceIdDestinations
// names the trace data source (see DatasourcesYAML). Every panel
// has a unit, thresholds and a description; the panels on error ratio and
// lateness read the recording rules of AlertRules, so load those rules too.
func Dashboard(opts ...Option) (dashboard.Dashboard, error) {
	c, err := newConfig(opts)
	if err != nil {
		return dashboard.Dashboard{}, err
	}
	b := &panels{n: newNames(c.namespace), budget: c.errorBudget}
	n := b.n

	d := dashboard.NewDashboardBuilder("Routines").
		Uid(DashboardUID).
		Description("Background routines run by github.com/routinely/routinely: invocations, errors, durations and staleness of every periodic routine, from the routine metric contract.").
		Tags([]string{"routinely", "routines"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Time("now-3h", "now").
		Refresh("1m").
		Link(dashboard.NewDashboardLinkBuilder("Runbook").
			Type(dashboard.DashboardLinkTypeLink).
			Url(c.runbookURL).
			Icon("doc").
			Tooltip("What each alert means and what to do").
			TargetBlank(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder(varDatasource).
			Label("Data source").
			Description("The Prometheus that scrapes the services running routines.").
			Type("prometheus")).
		WithVariable(dashboard.NewDatasourceVariableBuilder(varTraces).
			Label("Trace data source").
			Description(fmt.Sprintf("The %s data source holding the routines' traces. The duration panels show exemplars, each the trace id (label %s) of a sampled run; "+
				"Grafana opens that trace in the data source the Prometheus data source's exemplarTraceIdDestinations names (see datasources.yml), so pick the same one here.",
				traceBackends[c.traceDatasourceType].name, metrics.ExemplarTraceIDLabel)).
			Type(c.traceDatasourceType)).
		WithVariable(b.labelVariable(varJob, "Job", "Scrape jobs with routines.", n.Up)).
		WithVariable(b.labelVariable(varInstance, "Instance", "Instances of the selected jobs.", n.Up, varJob)).
		WithVariable(b.labelVariable(varRoutine, "Routine", "Routines of the selected instances; the per-routine row repeats for each.", n.Up, varJob, varInstance))

	d.WithRow(dashboard.NewRowBuilder("Overview").Id(b.id()))
	for _, p := range b.overview() {
		d.WithPanel(p)
	}
	d.WithRow(dashboard.NewRowBuilder(rowLeaderElection).Id(b.id()))
	for _, p := range b.leaderElection() {
		d.WithPanel(p)
	}
	d.WithRow(dashboard.NewRowBuilder("Routine $" + varRoutine).Id(b.id()).Repeat(varRoutine))
	for _, p := range b.perRoutine() {
		d.WithPanel(p)
	}
	return d.Build()
}

// DashboardJSON returns Dashboard(opts...) as indented JSON, the format of
// Grafana's dashboard import, ending in a newline.
func DashboardJSON(opts ...Option) ([]byte, error) {
	d, err := Dashboard(opts...)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("dashboards: encoding dashboard: %w", err)
	}
	return buf.Bytes(), nil
}

// panels builds the panels of one dashboard, numbering them.
type panels struct {
	n      names
	budget float64
	lastID uint32
}

func (b *panels) id() uint32 {
	b.lastID++
	return b.lastID
}

func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + varDatasource + "}")}
}

// labelVariable is a multi-select query variable over the values of label
// on metric, limited by the variables in limitBy.
func (b *panels) labelVariable(label, title, description, metric string, limitBy ...string) *dashboard.QueryVariableBuilder {
	var matchers []string
	for _, v := range limitBy {
		matchers = append(matchers, fmt.Sprintf("%s=~\"$%s\"", v, v))
	}
	selector := metric
	if len(matchers) > 0 {
		selector += "{" + strings.Join(matchers, ", ") + "}"
	}
	query := fmt.Sprintf("label_values(%s, %s)", selector, label)
	return dashboard.NewQueryVariableBuilder(label).
		Label(title).
		Description(description).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		})
}

// selJobRoutine is metric limited to the selected jobs and routines, on
// every instance: what counts the leaders of a routine, which must see the
// followers and the leader whatever instances are selected.
func selJobRoutine(metric string) string {
	return fmt.Sprintf("%s{%s=~\"$%s\", %s=~\"$%s\"}",
		metric, jobLabel, varJob, metrics.RoutineLabel, varRoutine)
}

// sel is metric limited to the selected jobs, instances and routines.
func sel(metric string) string {
	return fmt.Sprintf("%s{%s=~\"$%s\", %s=~\"$%s\", %s=~\"$%s\"}",
		metric, jobLabel, varJob, instLabel, varInstance, metrics.RoutineLabel, varRoutine)
}

// query is one target of a panel.
type query struct {
	expr, legend string
}

// targets are range queries; with exemplars, Grafana also fetches the
// exemplars of the series they select and draws them as points.
func (b *panels) targets(qs []query, exemplars bool) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(qs))
	for i, q := range qs {
		t := prometheus.NewDataqueryBuilder().
			Datasource(datasource()).
			Expr(q.expr).
			LegendFormat(q.legend).
			RefId(string(rune('A' + i))).
			Range()
		if exemplars {
			t.Exemplar(true)
		}
		out = append(out, t)
	}
	return out
}

// step is one threshold: at value and above, color.
type step struct {
	value float64
	color string
}

// thresholds starts at base for every value and changes color at each step.
func thresholds(base string, steps ...step) *dashboard.ThresholdsConfigBuilder {
	ts := []dashboard.Threshold{{Color: base}}
	for _, s := range steps {
		ts = append(ts, dashboard.Threshold{Value: cog.ToPtr(s.value), Color: s.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

// burnThresholds mark the error ratios at which the slow and the fast burn
// alerts fire.
func (b *panels) burnThresholds() *dashboard.ThresholdsConfigBuilder {
	var steps []step
	colors := map[string]string{"warning": "orange", "critical": "red"}
	for i := len(burnWindows) - 1; i >= 0; i-- { // ascending thresholds
		w := burnWindows[i]
		steps = append(steps, step{value: round(w.factor * b.budget), color: colors[w.severity]})
	}
	return thresholds("green", steps...)
}

func round(f float64) float64 { return math.Round(f*1e9) / 1e9 }

type panelSpec struct {
	title, description, unit string
	width, height            uint32
	thresholds               *dashboard.ThresholdsConfigBuilder
	showThresholds           bool
	stacked                  bool
	exemplars                bool // the duration histogram's exemplars: trace ids of sampled runs
	min, max                 *float64
	queries                  []query
}

func (b *panels) timeseries(p panelSpec) cog.Builder[dashboard.Panel] {
	ts := timeseries.NewPanelBuilder().
		Id(b.id()).
		Title(p.title).
		Description(p.description).
		Datasource(datasource()).
		Unit(p.unit).
		Thresholds(p.thresholds).
		Span(p.width).
		Height(p.height).
		Targets(b.targets(p.queries, p.exemplars)).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			Calcs([]string{"lastNotNull", "max"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
	mode := common.GraphThresholdsStyleModeOff
	if p.showThresholds {
		mode = common.GraphThresholdsStyleModeDashed
	}
	ts.ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(mode))
	if p.stacked {
		ts.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
	}
	if p.min != nil {
		ts.Min(*p.min)
	}
	if p.max != nil {
		ts.Max(*p.max)
	}
	return ts
}

func (b *panels) stat(p panelSpec, mappings ...dashboard.ValueMapping) cog.Builder[dashboard.Panel] {
	s := stat.NewPanelBuilder().
		Id(b.id()).
		Title(p.title).
		Description(p.description).
		Datasource(datasource()).
		Unit(p.unit).
		Thresholds(p.thresholds).
		Span(p.width).
		Height(p.height).
		Targets(b.targets(p.queries, false)).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
	if len(mappings) > 0 {
		s.Mappings(mappings)
	}
	return s
}

func (b *panels) overview() []cog.Builder[dashboard.Panel] {
	n := b.n
	var durations []query
	for _, q := range quantiles {
		durations = append(durations, query{
			expr: fmt.Sprintf("histogram_quantile(%s, sum by (%s, %s) (rate(%s[$__rate_interval])))",
				formatFloat(q), metrics.RoutineLabel, bucketLabel, sel(n.durationBucket())),
			legend: fmt.Sprintf("{{%s}} p%s", metrics.RoutineLabel, formatFloat(q*100)),
		})
	}
	legend := "{{" + metrics.RoutineLabel + "}}"
	return []cog.Builder[dashboard.Panel]{
		b.timeseries(panelSpec{
			title: panelInvocations,
			description: "Handler invocations per second of each selected routine, whatever their outcome (canceled runs included), summed over instances. " +
				"A periodic routine runs about once per interval, so this is roughly 1/interval per instance; a flat zero means the routine is not running.",
			unit: units.OpsPerSecond, width: 8, height: 8, thresholds: thresholds("green"), min: cog.ToPtr(0.0),
			queries: []query{{expr: fmt.Sprintf("sum by (%s) (rate(%s[$__rate_interval]))", metrics.RoutineLabel, sel(n.durationCount())), legend: legend}},
		}),
		b.timeseries(panelSpec{
			title: panelErrorRatio,
			description: fmt.Sprintf("Share of invocations over the last 5m that returned an error or panicked, among those that succeeded, failed or panicked (runs canceled by a stop are left out), for the worst instance of each routine (alerts fire per instance). "+
				"Dashed lines: the slow-burn (orange, %s) and fast-burn (red, %s) thresholds of the error-ratio alerts, multiples of the %s error budget. "+
				"Reads the recording rules from alerts.yml.", percent(burnWindows[1].factor*b.budget), percent(burnWindows[0].factor*b.budget), percent(b.budget)),
			unit: units.PercentUnit, width: 8, height: 8, thresholds: b.burnThresholds(), showThresholds: true, min: cog.ToPtr(0.0), max: cog.ToPtr(1.0),
			queries: []query{{expr: fmt.Sprintf("max by (%s) (%s)", metrics.RoutineLabel, sel(n.errorRatio(model.Duration(burnWindows[0].short)))), legend: legend}},
		}),
		b.timeseries(panelSpec{
			title: panelDuration,
			description: "Median, 90th and 99th percentile of handler invocation durations of each routine, over all outcomes and instances, estimated from the histogram buckets. " +
				"A p99 close to the routine's interval or timeout means runs start to overlap their schedule or get cut off. " +
				exemplarHelp,
			unit: units.Seconds, width: 8, height: 8, thresholds: thresholds("green"), min: cog.ToPtr(0.0), exemplars: true,
			queries: durations,
		}),
		b.timeseries(panelSpec{
			title: panelInFlight,
			description: "Handler invocations running at this moment, per routine, summed over instances. " +
				"A routine runs one invocation at a time unless it has WithConcurrency; a value stuck at the maximum while no run finishes means a handler hangs.",
			unit: units.Short, width: 6, height: 8, thresholds: thresholds("green"), min: cog.ToPtr(0.0),
			queries: []query{{expr: fmt.Sprintf("sum by (%s) (%s)", metrics.RoutineLabel, sel(n.HandlerInFlight)), legend: legend}},
		}),
		b.timeseries(panelSpec{
			title: panelStall,
			description: fmt.Sprintf("How long ago each routine's next invocation was due, as of its last scrape, divided by its interval, for its worst instance: 0 for a routine on schedule (a little above while a run is in progress). "+
				"It grows while a handler hangs or a loop is dead; RoutineStalled fires above %d (red line). A routine that fails and backs off is not late, its next run is in the future: it shows as 0 here and on the error-ratio panel instead. "+
				"Shown from 0 up to %d. Reads the recording rule from alerts.yml.", stallIntervals, stallDisplayCap),
			unit: "suffix:× interval", width: 12, height: 8,
			thresholds:     thresholds("green", step{value: 2, color: "orange"}, step{value: stallIntervals, color: "red"}),
			showThresholds: true, min: cog.ToPtr(0.0),
			queries: []query{{expr: fmt.Sprintf("clamp(max by (%s) (%s), 0, %d)", metrics.RoutineLabel, sel(n.overdueRatio()), stallDisplayCap), legend: legend}},
		}),
		b.stat(panelSpec{
			title: panelPanics,
			description: "Recovered handler panics per routine in the dashboard's time range. Any panic is a bug to fix: " +
				"the routine keeps running, and the stack trace is in the service's error log.",
			unit: units.Short, width: 6, height: 8, thresholds: thresholds("green", step{value: 1, color: "red"}),
			queries: []query{{expr: fmt.Sprintf("sum by (%s) (increase(%s[$__range]))", metrics.RoutineLabel, sel(n.HandlerPanics)), legend: legend}},
		}),
	}
}

func (b *panels) perRoutine() []cog.Builder[dashboard.Panel] {
	n := b.n
	var durations []query
	for _, q := range quantiles {
		durations = append(durations, query{
			expr: fmt.Sprintf("histogram_quantile(%s, sum by (%s) (rate(%s[$__rate_interval])))",
				formatFloat(q), bucketLabel, sel(n.durationBucket())),
			legend: "p" + formatFloat(q*100),
		})
	}
	var ratios []query
	for _, w := range ratioWindows() {
		ratios = append(ratios, query{expr: fmt.Sprintf("max(%s)", sel(n.errorRatio(w))), legend: w.String()})
	}
	instance := "{{" + instLabel + "}}"
	return []cog.Builder[dashboard.Panel]{
		b.timeseries(panelSpec{
			title: panelRoutineOutcomes,
			description: fmt.Sprintf("Invocations per second of this routine by outcome (%s, %s, %s, %s), stacked, summed over instances. "+
				"Runs with outcome %s were cut short because the routine was stopped (Stop, shutdown): neither a success nor a failure, they do not count in the error ratio.",
				metrics.OutcomeSuccess, metrics.OutcomeError, metrics.OutcomePanic, metrics.OutcomeCanceled, metrics.OutcomeCanceled),
			unit: units.OpsPerSecond, width: 8, height: 8, thresholds: thresholds("green"), stacked: true, min: cog.ToPtr(0.0),
			queries: []query{{expr: fmt.Sprintf("sum by (%s) (rate(%s[$__rate_interval]))", metrics.OutcomeLabel, sel(n.durationCount())), legend: "{{" + metrics.OutcomeLabel + "}}"}},
		}),
		b.timeseries(panelSpec{
			title: panelRoutineErrorRatio,
			description: fmt.Sprintf("This routine's error ratio over each window the alerts use, for its worst instance. "+
				"The fast burn fires when both %s and %s are above the red line, the slow burn when both %s and %s are above the orange one. "+
				"Reads the recording rules from alerts.yml.", burnWindows[0].long, burnWindows[0].short, burnWindows[1].long, burnWindows[1].short),
			unit: units.PercentUnit, width: 8, height: 8, thresholds: b.burnThresholds(), showThresholds: true, min: cog.ToPtr(0.0), max: cog.ToPtr(1.0),
			queries: ratios,
		}),
		b.timeseries(panelSpec{
			title:       panelRoutineDuration,
			description: "Median, 90th and 99th percentile duration of this routine's invocations over all instances and outcomes. " + exemplarHelp,
			unit:        units.Seconds, width: 8, height: 8, thresholds: thresholds("green"), min: cog.ToPtr(0.0), exemplars: true,
			queries: durations,
		}),
		b.timeseries(panelSpec{
			title: panelRoutinePastDue,
			description: fmt.Sprintf("Per instance, as of its last scrape: seconds since the routine's next invocation was due, against the stall threshold of %d × the routine's interval; "+
				"RoutineStalled fires when the first line stays above the second. It is negative while the next run is not due yet (a failing routine backing off sits well below 0) "+
				"and grows while a handler hangs or a loop is dead. "+
				"For context, seconds since the last successful invocation: it grows while the routine fails, which is the error-ratio alerts' concern, not RoutineStalled's; "+
				"instances where the routine never succeeded have no such line.", stallIntervals),
			unit: units.Seconds, width: 12, height: 8, thresholds: thresholds("green"),
			queries: []query{
				{expr: fmt.Sprintf("timestamp(%s) - (%s > 0)", sel(n.NextRun), sel(n.NextRun)), legend: instance + " past due"},
				{expr: fmt.Sprintf("%d * %s", stallIntervals, sel(n.Interval)), legend: instance + " stall threshold"},
				{expr: fmt.Sprintf("timestamp(%s) - (%s > 0)", sel(n.LastSuccess), sel(n.LastSuccess)), legend: instance + " since last success"},
			},
		}),
		b.stat(panelSpec{
			title:       panelRoutineUp,
			description: "Per instance: Up while the routine is started, Down once it was stopped while its process still runs (RoutineDown fires after a while).",
			unit:        units.NoUnit, width: 4, height: 8, thresholds: thresholds("red", step{value: 1, color: "green"}),
			queries: []query{{expr: sel(n.Up), legend: instance}},
		}, dashboard.ValueMapping{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: map[string]dashboard.ValueMappingResult{
			"0": {Text: cog.ToPtr("Down"), Color: cog.ToPtr("red"), Index: cog.ToPtr[int32](0)},
			"1": {Text: cog.ToPtr("Up"), Color: cog.ToPtr("green"), Index: cog.ToPtr[int32](1)},
		}}}),
		b.stat(panelSpec{
			title:       panelRoutineInFlight,
			description: "Invocations of this routine running now, summed over instances. Staying at its concurrency (1 by default) for longer than the routine's usual duration means a run hangs.",
			unit:        units.Short, width: 4, height: 8, thresholds: thresholds("green"),
			queries: []query{{expr: fmt.Sprintf("sum(%s)", sel(n.HandlerInFlight)), legend: "in flight"}},
		}),
		b.stat(panelSpec{
			title: panelRoutineFailures,
			description: fmt.Sprintf("Invocations of this routine that failed (errors, panics included) and that panicked in the dashboard's time range, summed over instances; "+
				"and the longest streak of failed invocations in a row now, over the instances where the routine is up and, for a singleton, leads (0 once a run succeeds; %s fires at %d for routines whose runs are %s or more apart).",
				AlertConsecutiveFailures, failureStreak, model.Duration(rareInterval)),
			unit: units.Short, width: 4, height: 8, thresholds: thresholds("green", step{value: 1, color: "red"}),
			queries: []query{
				{expr: fmt.Sprintf("sum(increase(%s[$__range]))", sel(n.HandlerErrors)), legend: "errors"},
				{expr: fmt.Sprintf("sum(increase(%s[$__range]))", sel(n.HandlerPanics)), legend: "panics"},
				{expr: fmt.Sprintf("max(\n%s\n)", runningHere(sel(n.ConsecutiveFailures), sel(n.Up), sel(n.Leader))), legend: "failed in a row"},
			},
		}),
	}
}

// leaderElection is the row of singleton routines: only routines with
// leader election have the leader series, so the others do not show.
func (b *panels) leaderElection() []cog.Builder[dashboard.Panel] {
	n := b.n
	return []cog.Builder[dashboard.Panel]{
		statetimeline.NewPanelBuilder().
			Id(b.id()).
			Title(panelLeaderTimeline).
			Description(fmt.Sprintf("Singleton routines only (goroutine.WithLeaderElection; other routines have no %s series and do not show): "+
				"one line per routine and instance, Leader (green) while that instance holds the routine's lease and runs its handler, Follower (grey) while it campaigns and another instance may lead. "+
				"A handover shows as the green moving from one line to another. Followers never run the routine, so their next-run time is stale: read the leader's.", n.Leader)).
			Datasource(datasource()).
			Unit(units.NoUnit).
			Thresholds(thresholds("text", step{value: 1, color: "green"})).
			Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: map[string]dashboard.ValueMappingResult{
				"0": {Text: cog.ToPtr("Follower"), Color: cog.ToPtr("text"), Index: cog.ToPtr[int32](0)},
				"1": {Text: cog.ToPtr("Leader"), Color: cog.ToPtr("green"), Index: cog.ToPtr[int32](1)},
			}}}}).
			Span(12).
			Height(8).
			Targets(b.targets([]query{{
				expr:   fmt.Sprintf("max by (%s, %s) (%s)", metrics.RoutineLabel, instLabel, sel(n.Leader)),
				legend: "{{" + metrics.RoutineLabel + "}} on {{" + instLabel + "}}",
			}}, false)).
			ShowValue(common.VisibilityModeNever).
			MergeValues(true).
			FillOpacity(80).
			Legend(common.NewVizLegendOptionsBuilder().
				ShowLegend(true).
				DisplayMode(common.LegendDisplayModeList).
				Placement(common.LegendPlacementBottom)).
			Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeSingle)),
		b.timeseries(panelSpec{
			title: panelLeaders,
			description: fmt.Sprintf("Singleton routines only: how many instances of the job report leading each routine, over every instance whatever the Instance variable selects. "+
				"1 is normal. 0 means no instance leads and the routine runs nowhere: %s fires once that lasts %d × its interval. "+
				"More than 1 would be a split brain, which fencing makes impossible; a 2 for one scrape around a handover only means the old leader was scraped before it let go and the new one after.",
				AlertWithoutLeader, leaderIntervals),
			unit: units.Short, width: 6, height: 8,
			thresholds:     thresholds("red", step{value: 1, color: "green"}, step{value: 2, color: "red"}),
			showThresholds: true, min: cog.ToPtr(0.0),
			queries: []query{{expr: fmt.Sprintf("sum by (%s) (%s)", metrics.RoutineLabel, selJobRoutine(n.Leader)), legend: "{{" + metrics.RoutineLabel + "}}"}},
		}),
		b.timeseries(panelSpec{
			title: panelLeaderTransitions,
			description: "Singleton routines only: leadership gained or lost per hour, summed over instances (a handover counts twice, lost on one instance and gained on another). " +
				"A few around deploys are normal; a steady rate means leases expire before they are renewed: a slow or overloaded election database, or a TTL too short for its latency.",
			unit: "suffix:/h", width: 6, height: 8, thresholds: thresholds("green"), min: cog.ToPtr(0.0),
			queries: []query{{expr: fmt.Sprintf("3600 * sum by (%s) (rate(%s[$__rate_interval]))", metrics.RoutineLabel, sel(n.LeaderTransitions)), legend: "{{" + metrics.RoutineLabel + "}}"}},
		}),
	}
}
