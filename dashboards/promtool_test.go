package dashboards_test

import (
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/routinely/routinely/dashboards"
	"github.com/routinely/routinely/internal/testenv"
	"github.com/routinely/routinely/metrics"
)

const promtoolHint = "Debian package prometheus: apt-get install prometheus"

func TestRules_ParseWithPrometheusRulefmt(t *testing.T) {
	groups, errs := rulefmt.Parse(readGenerated(t, dashboards.RulesFile), false, model.LegacyValidation,
		parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) == 0 && len(groups.Groups) != 1 {
		t.Errorf("%d rule groups, want 1", len(groups.Groups))
	}
}

func TestRules_PromtoolCheckRulesIsClean(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool", promtoolHint)
	out, err := exec.Command(promtool, "check", "rules", "--lint=all", "--lint-fatal",
		filepath.Join(generatedDir, dashboards.RulesFile)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") || strings.Contains(string(out), "WARNING") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestRules_AlertsHaveSeverityAnnotationsAndRunbookSection(t *testing.T) {
	runbook := string(readGenerated(t, dashboards.RunbookFile))
	for _, r := range generatedRules(t).Alerts() {
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		wantURL := dashboards.DefaultRunbookURL + "#" + strings.ToLower(r.Alert)
		if r.Annotations["runbook_url"] != wantURL {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], wantURL)
		}
		if !strings.Contains(runbook, "\n## "+r.Alert+"\n") {
			t.Errorf("RUNBOOK.md has no section for %s", r.Alert)
		}
		for _, part := range []string{"What it means", "How to look", "What to do"} {
			if !regexp.MustCompile(`(?s)## ` + r.Alert + `\n.*?### ` + part).MatchString(runbook) {
				t.Errorf("RUNBOOK.md: the section of %s has no %q", r.Alert, part)
			}
		}
	}
}

// The promtool unit test file format (promtool test rules).
type promtoolFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval string         `yaml:"evaluation_interval"`
	Tests              []promtoolTest `yaml:"tests"`
}

type promtoolTest struct {
	Interval       string        `yaml:"interval"`
	InputSeries    []inputSeries `yaml:"input_series"`
	AlertRuleTest  []alertTest   `yaml:"alert_rule_test,omitempty"`
	PromqlExprTest []exprTest    `yaml:"promql_expr_test,omitempty"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []expAlert `yaml:"exp_alerts"`
}

type exprTest struct {
	Expr       string      `yaml:"expr"`
	EvalTime   string      `yaml:"eval_time"`
	ExpSamples []expSample `yaml:"exp_samples"`
}

type expSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// The scenario's target labels and the length of every input series.
const (
	testJob      = "svc"
	testInstance = "host:9090"
	minutes      = 120
)

var names = metrics.RoutineNames("")

// series is the selector of one input series of routine.
func series(name, routine string, labels ...string) string {
	l := []string{`job="` + testJob + `"`, `instance="` + testInstance + `"`, metrics.RoutineLabel + `="` + routine + `"`}
	for i := 0; i+1 < len(labels); i += 2 {
		l = append(l, labels[i]+`="`+labels[i+1]+`"`)
	}
	return name + "{" + strings.Join(l, ", ") + "}"
}

// perMinute lists f(0), f(1), …, f(minutes): one sample a minute.
func perMinute(f func(minute int) float64) string {
	var b strings.Builder
	for m := 0; m <= minutes; m++ {
		if m > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(fmt.Sprint(f(m)))
	}
	return b.String()
}

// cumulative counts the minutes from 1 to m where pred holds: the value at
// minute m of a counter that pred says when to increment.
func cumulative(pred func(minute int) bool) func(minute int) float64 {
	return func(m int) float64 {
		n := 0
		for i := 1; i <= m; i++ {
			if pred(i) {
				n++
			}
		}
		return float64(n)
	}
}

// runs are the counter input series of a routine that runs once a minute,
// from minute 1, each run ending with the outcome outcome(minute) says
// (metrics.OutcomeSuccess, OutcomeError, OutcomePanic or OutcomeCanceled).
// Errors and panics count in the error counter, panics in the panic
// counter too; canceled runs in neither.
func runs(routine string, outcome func(minute int) string) []inputSeries {
	is := func(outcomes ...string) func(int) bool {
		return func(m int) bool { return slices.Contains(outcomes, outcome(m)) }
	}
	count := names.HandlerDuration + "_count"
	out := []inputSeries{
		{series(names.HandlerErrors, routine), perMinute(cumulative(is(metrics.OutcomeError, metrics.OutcomePanic)))},
		{series(names.HandlerPanics, routine), perMinute(cumulative(is(metrics.OutcomePanic)))},
	}
	for _, o := range []string{metrics.OutcomeSuccess, metrics.OutcomeError, metrics.OutcomePanic, metrics.OutcomeCanceled} {
		out = append(out, inputSeries{series(count, routine, metrics.OutcomeLabel, o), perMinute(cumulative(is(o)))})
	}
	return out
}

// counting are the input series of a routine that runs once a minute and
// fails in the minutes fails says, panicking in the minutes panics says
// (panics count as errors), and succeeds otherwise.
func counting(routine string, fails, panics func(minute int) bool) []inputSeries {
	return runs(routine, func(m int) string {
		switch {
		case panics(m):
			return metrics.OutcomePanic
		case fails(m):
			return metrics.OutcomeError
		}
		return metrics.OutcomeSuccess
	})
}

// gauges are the input series of a routine's gauges: up, its interval of a
// minute, the time of its last success and the time its next run is due.
func gauges(routine string, up func(int) bool, lastSuccess, nextRun func(int) float64) []inputSeries {
	return []inputSeries{
		{series(names.Up, routine), perMinute(oneWhen(up))},
		{series(names.Interval, routine), perMinute(func(int) float64 { return 60 })},
		{series(names.LastSuccess, routine), perMinute(lastSuccess)},
		{series(names.NextRun, routine), perMinute(nextRun)},
	}
}

// oneWhen is a 0/1 gauge that is 1 in the minutes pred says: routine_up
// from whether the routine is up.
func oneWhen(pred func(minute int) bool) func(minute int) float64 {
	return func(m int) float64 {
		if pred(m) {
			return 1
		}
		return 0
	}
}

func never(int) bool  { return false }
func always(int) bool { return true }

// succeedsEveryMinute is the last-success time of a routine that succeeds
// at every run.
func succeedsEveryMinute(m int) float64 { return float64(m * 60) }

// onSchedule is the next-run time of a routine that runs every minute on
// time: at each sample, the next minute.
func onSchedule(m int) float64 { return float64((m + 1) * 60) }

// healthy is a routine that runs every minute and always succeeds: no
// scenario may alert on it.
func healthy() []inputSeries {
	return append(counting("healthy", never, never), gauges("healthy", always, succeedsEveryMinute, onSchedule)...)
}

// shutdownHeavy is a routine restarted so often that every other run is
// canceled by a stop, the others succeeding; and onlyCanceled one whose
// every run is canceled. Canceled runs are no failures: no error-ratio
// alert may fire for either.
func shutdownHeavy() []inputSeries {
	return concat(
		runs("shutdown-heavy", func(m int) string {
			if m%2 == 0 {
				return metrics.OutcomeCanceled
			}
			return metrics.OutcomeSuccess
		}),
		runs("only-canceled", func(int) string { return metrics.OutcomeCanceled }),
	)
}

// backingOff is the next-run time of a routine that succeeds until minute
// 5, then fails at every run and waits 1, 2, 4, … up to 32 minutes before
// the next: at every sample its next run is in the future.
func backingOff(m int) float64 {
	next, wait := 1, 1
	for next <= m {
		if next > 5 {
			next, wait = next+wait, min(2*wait, 32)
		} else {
			next++
		}
	}
	return float64(next * 60)
}

// backingOffRuns are the minutes at which the routine of backingOff runs.
func backingOffRuns(m int) bool {
	return m > 0 && backingOff(m-1) == float64(m*60)
}

// firing is the alert the rule named alert raises for routine with the
// given value: its labels, and its annotations with $labels and $value
// filled in as Prometheus does.
func firing(t *testing.T, alert, routine, value string) expAlert {
	t.Helper()
	return firingWith(t, alert, map[string]string{"job": testJob, "instance": testInstance, metrics.RoutineLabel: routine}, value)
}

// firingForJob is firing for an alert per job and routine, without an
// instance label: RoutineWithoutLeader.
func firingForJob(t *testing.T, alert, routine, value string) expAlert {
	t.Helper()
	return firingWith(t, alert, map[string]string{"job": testJob, metrics.RoutineLabel: routine}, value)
}

func firingWith(t *testing.T, alert string, labels map[string]string, value string) expAlert {
	t.Helper()
	routine := labels[metrics.RoutineLabel]
	var rule *dashboards.Rule
	for _, r := range generatedRules(t).Alerts() {
		if r.Alert == alert {
			rule = &r
		}
	}
	if rule == nil {
		t.Fatalf("no alert %s in the generated rules", alert)
	}
	for k, v := range rule.Labels {
		labels[k] = v
	}
	expand := strings.NewReplacer(
		"{{ $labels.job }}", testJob,
		"{{ $labels.instance }}", testInstance,
		"{{ $labels.routine }}", routine,
	)
	valueTemplate := regexp.MustCompile(`\{\{ \$value[^}]*\}\}`)
	annotations := map[string]string{}
	for k, v := range rule.Annotations {
		annotations[k] = valueTemplate.ReplaceAllLiteralString(expand.Replace(v), value)
	}
	return expAlert{ExpLabels: labels, ExpAnnotations: annotations}
}

// alertScenarios hold, for every alert, promtool unit tests that show it
// fire, not fire (for the healthy routine, and for a routine just short of
// the alert's condition) and resolve.
func alertScenarios(t *testing.T) map[string]promtoolTest {
	fast, slow := dashboards.AlertErrorRatioFastBurn, dashboards.AlertErrorRatioSlowBurn
	return map[string]promtoolTest{
		// Every run fails for 20 minutes, then every run succeeds.
		// Routines whose runs are canceled stay silent throughout.
		fast: {
			InputSeries: concat(healthy(), shutdownHeavy(), counting("failing", func(m int) bool { return m <= 20 }, never)),
			AlertRuleTest: []alertTest{
				{EvalTime: "1m", Alertname: fast}, // pending: for 2m
				{EvalTime: "5m", Alertname: fast, ExpAlerts: []expAlert{firing(t, fast, "failing", "100%")}},
				{EvalTime: "20m", Alertname: fast, ExpAlerts: []expAlert{firing(t, fast, "failing", "100%")}},
				{EvalTime: "30m", Alertname: fast}, // resolved: the 5m window is clean
			},
		},
		// One run in eight (12.5%) fails for an hour: too few to burn fast
		// (14.4%), enough to burn slowly (6%); then none fails. The 6h
		// window holds only 30m of samples at 30m, and fires all the same.
		slow: {
			InputSeries: concat(healthy(), shutdownHeavy(), counting("flaky", func(m int) bool { return m <= 60 && m%8 == 0 }, never)),
			AlertRuleTest: []alertTest{
				{EvalTime: "10m", Alertname: slow}, // pending since 8m: for 15m
				{EvalTime: "30m", Alertname: slow, ExpAlerts: []expAlert{firing(t, slow, "flaky", "10%")}},
				{EvalTime: "30m", Alertname: fast},  // 12.5% is under the fast burn's 14.4%
				{EvalTime: "100m", Alertname: slow}, // resolved: the 30m window is clean
			},
		},
		// "hung" runs on time until its run due at minute 11 hangs until
		// minute 30: its next-run time stays at 11m. "backing-off" fails
		// at every run from minute 6 and backs off, so it does not
		// succeed for almost two hours, but its next run is always in the
		// future: it is not stalled. "new" is not started yet (next run
		// 0); "stopped" is late but down, which RoutineDown reports.
		dashboards.AlertStalled: {
			InputSeries: concat(healthy(),
				gauges("hung", always, func(m int) float64 {
					return float64(min(m, 10) * 60)
				}, func(m int) float64 {
					if m >= 10 && m < 30 {
						return 11 * 60
					}
					return onSchedule(m)
				}),
				runs("backing-off", func(m int) string {
					switch {
					case !backingOffRuns(m):
						return ""
					case m <= 5:
						return metrics.OutcomeSuccess
					}
					return metrics.OutcomeError
				}),
				gauges("backing-off", always, func(m int) float64 { return float64(min(m, 5) * 60) }, backingOff),
				gauges("new", always, func(int) float64 { return 0 }, func(int) float64 { return 0 }),
				gauges("stopped", never, func(int) float64 { return 600 }, func(int) float64 { return 660 }),
			),
			AlertRuleTest: []alertTest{
				{EvalTime: "3m", Alertname: dashboards.AlertStalled},
				// hung is 3 intervals late at 14m, pending from 15m: firing from 20m.
				{EvalTime: "16m", Alertname: dashboards.AlertStalled},
				{EvalTime: "19m", Alertname: dashboards.AlertStalled},
				{EvalTime: "20m", Alertname: dashboards.AlertStalled, ExpAlerts: []expAlert{firing(t, dashboards.AlertStalled, "hung", "9.0")}},
				{EvalTime: "29m", Alertname: dashboards.AlertStalled, ExpAlerts: []expAlert{firing(t, dashboards.AlertStalled, "hung", "18.0")}},
				{EvalTime: "30m", Alertname: dashboards.AlertStalled}, // the run ended
				// backing-off has not succeeded for 35, 75, 105 intervals,
				// its errors keep growing: not stalled all the same.
				{EvalTime: "40m", Alertname: dashboards.AlertStalled},
				{EvalTime: "80m", Alertname: dashboards.AlertStalled},
				{EvalTime: "110m", Alertname: dashboards.AlertStalled},
			},
		},
		// One panic at minute 10.
		dashboards.AlertPanicked: {
			InputSeries: append(healthy(), counting("panicky", never, func(m int) bool { return m == 10 })...),
			AlertRuleTest: []alertTest{
				{EvalTime: "9m", Alertname: dashboards.AlertPanicked},
				{EvalTime: "10m", Alertname: dashboards.AlertPanicked, ExpAlerts: []expAlert{firing(t, dashboards.AlertPanicked, "panicky", "")}},
				{EvalTime: "24m", Alertname: dashboards.AlertPanicked, ExpAlerts: []expAlert{firing(t, dashboards.AlertPanicked, "panicky", "")}},
				{EvalTime: "30m", Alertname: dashboards.AlertPanicked}, // resolved: 15m without a panic
			},
		},
		// Singleton routines on two instances, a and b, running every
		// minute unless said otherwise; "healthy" has no leader election
		// (no leader series) and never fires.
		dashboards.AlertWithoutLeader: leaderScenario(t),
		// "hourly" runs every hour: its run at minute 10 fails, its run at
		// minute 70 fails too, its run at minute 100 succeeds. "minutely"
		// fails every run for 50 minutes: the burn-rate alerts' job.
		// "half-hourly" sits at the interval the alert starts watching
		// and fails twice. "leading" is a singleton's leader whose runs
		// fail from minute 40. "backing-off-far" runs every minute but
		// has backed off to a next run 40 minutes away after 6 failures;
		// "backing-off-near" waits 5 minutes after 4. "follower" failed
		// its last 3 runs while it led and follows now; "stopped" failed
		// twice and was stopped. Only hourly, half-hourly, leading and
		// backing-off-far fire.
		dashboards.AlertConsecutiveFailures: {
			InputSeries: concat(healthy(),
				streak("hourly", 3600, always, nil, func(m int) float64 {
					switch {
					case m >= 100:
						return 0
					case m >= 70:
						return 2
					case m >= 10:
						return 1
					}
					return 0
				}),
				streak("minutely", 60, always, nil, func(m int) float64 { return float64(min(m, 50)) }),
				streak("half-hourly", 1800, always, nil, func(m int) float64 { return float64(min(m/30, 2)) }),
				streak("leading", 3600, always, func(int) float64 { return 1 }, func(m int) float64 {
					if m >= 40 {
						return 2
					}
					return 0
				}),
				streak("backing-off-far", 60, always, nil, func(int) float64 { return 6 }),
				[]inputSeries{{series(names.NextRun, "backing-off-far"), perMinute(func(m int) float64 { return float64((m + 40) * 60) })}},
				streak("backing-off-near", 60, always, nil, func(int) float64 { return 4 }),
				[]inputSeries{{series(names.NextRun, "backing-off-near"), perMinute(func(m int) float64 { return float64((m + 5) * 60) })}},
				streak("follower", 3600, always, func(m int) float64 { return 0 }, func(int) float64 { return 3 }),
				streak("stopped", 3600, func(m int) bool { return m < 5 }, nil, func(int) float64 { return 2 }),
			),
			AlertRuleTest: []alertTest{
				{EvalTime: "30m", Alertname: dashboards.AlertConsecutiveFailures, ExpAlerts: []expAlert{
					firing(t, dashboards.AlertConsecutiveFailures, "backing-off-far", "6"),
				}}, // hourly failed once
				{EvalTime: "60m", Alertname: dashboards.AlertConsecutiveFailures, ExpAlerts: []expAlert{
					firing(t, dashboards.AlertConsecutiveFailures, "backing-off-far", "6"),
					firing(t, dashboards.AlertConsecutiveFailures, "half-hourly", "2"),
					firing(t, dashboards.AlertConsecutiveFailures, "leading", "2"),
				}},
				{EvalTime: "75m", Alertname: dashboards.AlertConsecutiveFailures, ExpAlerts: []expAlert{
					firing(t, dashboards.AlertConsecutiveFailures, "backing-off-far", "6"),
					firing(t, dashboards.AlertConsecutiveFailures, "half-hourly", "2"),
					firing(t, dashboards.AlertConsecutiveFailures, "hourly", "2"),
					firing(t, dashboards.AlertConsecutiveFailures, "leading", "2"),
				}},
				{EvalTime: "105m", Alertname: dashboards.AlertConsecutiveFailures, ExpAlerts: []expAlert{
					firing(t, dashboards.AlertConsecutiveFailures, "backing-off-far", "6"),
					firing(t, dashboards.AlertConsecutiveFailures, "half-hourly", "2"),
					firing(t, dashboards.AlertConsecutiveFailures, "leading", "2"),
				}}, // hourly succeeded at 100
			},
		},
		// Stopped from minute 10 to minute 30, then started again.
		dashboards.AlertDown: {
			InputSeries: append(healthy(), gauges("stopped", func(m int) bool { return m < 10 || m >= 30 }, succeedsEveryMinute, onSchedule)...),
			AlertRuleTest: []alertTest{
				{EvalTime: "12m", Alertname: dashboards.AlertDown}, // pending: for 5m
				{EvalTime: "16m", Alertname: dashboards.AlertDown, ExpAlerts: []expAlert{firing(t, dashboards.AlertDown, "stopped", "")}},
				{EvalTime: "35m", Alertname: dashboards.AlertDown},
			},
		},
	}
}

// streak are the gauges of a routine with an interval of interval
// seconds that has failed failures(minute) invocations in a row; leader,
// when not nil, is its routine_leader.
func streak(routine string, interval float64, up func(int) bool, leader, failures func(int) float64) []inputSeries {
	out := []inputSeries{
		{series(names.Up, routine), perMinute(oneWhen(up))},
		{series(names.Interval, routine), perMinute(func(int) float64 { return interval })},
		{series(names.ConsecutiveFailures, routine), perMinute(failures)},
	}
	if leader != nil {
		out = append(out, inputSeries{series(names.Leader, routine), perMinute(leader)})
	}
	return out
}

// The instances of the leader election scenario.
const (
	instanceA = "a:9090"
	instanceB = "b:9090"
)

// missing is a minute without a sample: the series does not exist yet.
var missing = math.NaN()

// perMinuteOrMissing is perMinute with "_" (no sample) where f is NaN.
func perMinuteOrMissing(f func(minute int) float64) string {
	var b strings.Builder
	for m := 0; m <= minutes; m++ {
		if m > 0 {
			b.WriteByte(' ')
		}
		if v := f(m); math.IsNaN(v) {
			b.WriteByte('_')
		} else {
			b.WriteString(fmt.Sprint(v))
		}
	}
	return b.String()
}

// singleton is a routine on instances a and b, with an interval of
// interval seconds, started from minute from (no series before it) and up
// when up says; leader says which instance leads at each minute: "a", "b",
// "ab" (both report 1) or "" (none).
func singleton(routine string, from int, interval float64, up func(int) bool, leader func(minute int) string) []inputSeries {
	var out []inputSeries
	for _, inst := range []string{instanceA, instanceB} {
		s := func(name string) string {
			return name + `{job="` + testJob + `", instance="` + inst + `", ` + metrics.RoutineLabel + `="` + routine + `"}`
		}
		gauge := func(f func(int) float64) string {
			return perMinuteOrMissing(func(m int) float64 {
				if m < from {
					return missing
				}
				return f(m)
			})
		}
		out = append(out,
			inputSeries{s(names.Up), gauge(oneWhen(up))},
			inputSeries{s(names.Interval), gauge(func(int) float64 { return interval })},
			inputSeries{s(names.Leader), gauge(func(m int) float64 {
				if strings.Contains(leader(m), inst[:1]) {
					return 1
				}
				return 0
			})},
		)
	}
	return out
}

// leaderScenario is the promtool test of RoutineWithoutLeader.
func leaderScenario(t *testing.T) promtoolTest {
	alert := dashboards.AlertWithoutLeader
	fires := func(routine, value string) []expAlert {
		return []expAlert{firingForJob(t, alert, routine, value)}
	}
	return promtoolTest{
		InputSeries: concat(healthy(),
			// a leads, then none for 2 minutes (under 3 intervals), b
			// leads, none for 2 minutes, a again: handovers, no alert.
			singleton("failover", 0, 60, always, func(m int) string {
				switch {
				case m < 30:
					return "a"
				case m < 32:
					return ""
				case m < 60:
					return "b"
				case m < 62:
					return ""
				}
				return "a"
			}),
			// a leads until minute 19, then no one until minute 61: last
			// led at 19m, more than 3 intervals from 23m, firing from 25m.
			singleton("leaderless", 0, 60, always, func(m int) string {
				switch {
				case m < 20:
					return "a"
				case m <= 60:
					return ""
				}
				return "b"
			}),
			// a leads throughout; b reports 1 too from minute 40 to 45.
			singleton("split-brain", 0, 60, always, func(m int) string {
				if m >= 40 && m <= 45 {
					return "ab"
				}
				return "a"
			}),
			// Deployed at minute 70 and never led (a misconfigured
			// elector): no leader in the whole window, counted from when
			// its leader gauge was first seen: firing from 76m.
			singleton("misconfigured", 70, 60, always, func(int) string { return "" }),
			// Deployed at minute 90, led from minute 92: no alert.
			singleton("late-start", 90, 60, always, func(m int) string {
				if m < 92 {
					return ""
				}
				return "a"
			}),
			// Stopped on both instances, so led by none: RoutineDown's
			// concern, not this alert's.
			singleton("stopped-singleton", 0, 60, never, func(int) string { return "" }),
			// Every 10 minutes, without a leader from minute 20 to 45:
			// 26 minutes, under its 3 intervals of 30 minutes.
			singleton("every-10m", 0, 600, always, func(m int) string {
				if m >= 20 && m <= 45 {
					return ""
				}
				return "b"
			}),
		),
		AlertRuleTest: []alertTest{
			{EvalTime: "3m", Alertname: alert},
			{EvalTime: "24m", Alertname: alert}, // leaderless pending since 23m: for 2m
			{EvalTime: "25m", Alertname: alert, ExpAlerts: fires("leaderless", "6m 0s")},
			{EvalTime: "31m", Alertname: alert, ExpAlerts: fires("leaderless", "12m 0s")},
			{EvalTime: "42m", Alertname: alert, ExpAlerts: fires("leaderless", "23m 0s")},
			{EvalTime: "60m", Alertname: alert, ExpAlerts: fires("leaderless", "41m 0s")},
			{EvalTime: "61m", Alertname: alert}, // b leads
			{EvalTime: "75m", Alertname: alert}, // misconfigured pending since 74m
			{EvalTime: "76m", Alertname: alert, ExpAlerts: fires("misconfigured", "6m 0s")},
			{EvalTime: "95m", Alertname: alert, ExpAlerts: fires("misconfigured", "25m 0s")},
			{EvalTime: "120m", Alertname: alert, ExpAlerts: fires("misconfigured", "50m 0s")},
		},
		PromqlExprTest: []exprTest{
			// Two instances reporting 1 are one leader: one sample, the
			// evaluation time.
			{Expr: `routine:routine_leader:led_timestamp_seconds{routine="split-brain"}`, EvalTime: "42m",
				ExpSamples: []expSample{{Labels: `routine:routine_leader:led_timestamp_seconds{job="svc", routine="split-brain"}`, Value: 42 * 60}}},
			// No leader, no sample; seen all the same.
			{Expr: `routine:routine_leader:led_timestamp_seconds{routine="misconfigured"}`, EvalTime: "80m"},
			{Expr: `routine:routine_leader:seen_timestamp_seconds{routine="misconfigured"}`, EvalTime: "80m",
				ExpSamples: []expSample{{Labels: `routine:routine_leader:seen_timestamp_seconds{job="svc", routine="misconfigured"}`, Value: 80 * 60}}},
			// A routine without leader election records neither.
			{Expr: `routine:routine_leader:led_timestamp_seconds{routine="healthy"} or routine:routine_leader:seen_timestamp_seconds{routine="healthy"}`, EvalTime: "60m"},
		},
	}
}

func concat(parts ...[]inputSeries) []inputSeries {
	var out []inputSeries
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestRules_PromtoolUnitTests runs promtool test rules over the generated
// rule file, one scenario per alert.
func TestRules_PromtoolUnitTests(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool", promtoolHint)
	scenarios := alertScenarios(t)
	for _, r := range generatedRules(t).Alerts() {
		t.Run(r.Alert, func(t *testing.T) {
			scenario, ok := scenarios[r.Alert]
			if !ok {
				t.Fatalf("no promtool scenario for alert %s", r.Alert)
			}
			promtoolTestRules(t, promtool, scenario)
		})
	}
}

// TestRules_ErrorRatioLeavesCanceledRunsOut pins the error ratio to
// errors / (success + error + panic) runs: a routine that, every minute,
// succeeds once, fails once and has two runs canceled by a stop failed
// half of its runs, not a quarter.
func TestRules_ErrorRatioLeavesCanceledRunsOut(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool", promtoolHint)
	const routine = "restarting"
	perMinuteCount := []struct {
		outcome string
		n       float64
	}{{metrics.OutcomeSuccess, 1}, {metrics.OutcomeError, 1}, {metrics.OutcomePanic, 0}, {metrics.OutcomeCanceled, 2}}
	count := names.HandlerDuration + "_count"
	var input []inputSeries
	for _, c := range perMinuteCount {
		input = append(input, inputSeries{series(count, routine, metrics.OutcomeLabel, c.outcome), perMinute(func(m int) float64 { return c.n * float64(m) })})
	}
	input = append(input,
		inputSeries{series(names.HandlerErrors, routine), perMinute(func(m int) float64 { return float64(m) })},
		inputSeries{series(names.HandlerPanics, routine), perMinute(func(int) float64 { return 0 })},
	)
	var exprs []exprTest
	for _, name := range slices.Sorted(maps.Keys(recordingRules(generatedRules(t)))) {
		if !strings.Contains(name, ":ratio_rate") {
			continue
		}
		exprs = append(exprs, exprTest{Expr: name, EvalTime: "119m", ExpSamples: []expSample{{Labels: series(name, routine), Value: 0.5}}})
	}
	if len(exprs) != 4 {
		t.Fatalf("%d error-ratio recording rules, want 4 (one per alert window)", len(exprs))
	}
	promtoolTestRules(t, promtool, promtoolTest{InputSeries: input, PromqlExprTest: exprs})
}

// promtoolTestRules runs one promtool unit test, one sample a minute, over
// the generated rule file.
func promtoolTestRules(t *testing.T, promtool string, test promtoolTest) {
	t.Helper()
	rules, err := filepath.Abs(filepath.Join(generatedDir, dashboards.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	test.Interval = "1m"
	b, err := yaml.Marshal(promtoolFile{RuleFiles: []string{rules}, EvaluationInterval: "1m", Tests: []promtoolTest{test}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "alerts_test.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
