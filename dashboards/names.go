package dashboards

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/routinely/routinely/metrics"
)

// Prometheus' own names: the series a histogram exposes and the labels a
// scrape attaches to every series of a target.
const (
	bucketSuffix = "_bucket"
	countSuffix  = "_count"
	bucketLabel  = "le"
	jobLabel     = "job"
	instLabel    = "instance"
)

// targetLabels are the labels that tell one routine of one scraped process
// from another: what rules join a routine's series on.
const targetLabels = jobLabel + ", " + instLabel + ", " + metrics.RoutineLabel

// leaderLabels are the labels a singleton routine's leadership is
// aggregated by: the leader is one instance of the job and the followers
// are the others, so leadership rules join on these, never on instance.
const leaderLabels = jobLabel + ", " + metrics.RoutineLabel

// leaderIntervals is how many of its intervals a singleton routine may go
// without any instance leading it before RoutineWithoutLeader fires.
const leaderIntervals = 3

// leaderWindow is how far back RoutineWithoutLeader looks for the last
// time some instance led a routine, and leaderThresholdCap the longest it
// waits: 3 intervals, but at most half the window, so a routine whose
// interval is 4h or longer still fires (after 12h) instead of never.
const (
	leaderWindow       = model.Duration(24 * time.Hour)
	leaderThresholdCap = 12 * time.Hour
)

// failureStreak is how many invocations in a row must fail for
// RoutineConsecutiveFailures to fire, for routines whose runs are at
// least rareInterval apart: those that run too rarely for the error-ratio
// alerts, which need invocations in their short windows (the slow burn's
// is 30m). Routines that run more often are the burn-rate alerts' job.
const failureStreak = 2

// rareInterval is the shortest spacing of runs (interval, or wait until
// the next run) RoutineConsecutiveFailures watches: the slow burn's short
// window.
var rareInterval = time.Duration(burnWindows[1].short)

// stallIntervals is how many intervals past its due time a routine's next
// invocation may be before RoutineStalled fires.
const stallIntervals = 3

// burnWindow is one of the two multi-window burn-rate alerts: it fires when
// the error ratio over both the long and the short window exceeds
// factor × the error budget.
type burnWindow struct {
	alert    string
	severity string
	long     model.Duration
	short    model.Duration
	factor   float64
	pending  time.Duration // the alert's for:, before WithForScale
	budget   string        // how long a 30-day budget lasts at this burn rate
}

// burnWindows follow the Google SRE workbook's multiwindow, multi-burn-rate
// alerts: a fast burn (14.4× over 1h, confirmed over 5m) pages, a slow burn
// (6× over 6h, confirmed over 30m) opens a ticket.
var burnWindows = []burnWindow{
	{alert: "RoutineHandlerErrorRatioFastBurn", severity: "critical", long: model.Duration(time.Hour), short: model.Duration(5 * time.Minute), factor: 14.4, pending: 2 * time.Minute, budget: "about 2 days"},
	{alert: "RoutineHandlerErrorRatioSlowBurn", severity: "warning", long: model.Duration(6 * time.Hour), short: model.Duration(30 * time.Minute), factor: 6, pending: 15 * time.Minute, budget: "about 5 days"},
}

// ratioWindows are the windows of the recorded error ratios, shortest first.
func ratioWindows() []model.Duration {
	var ws []model.Duration
	for _, w := range burnWindows {
		ws = append(ws, w.short, w.long)
	}
	slices.Sort(ws) // 5m, 30m, 1h, 6h
	return ws
}

// names derives every series name the dashboard and the rules use from the
// metric contract in package metrics, so no name is written twice.
type names struct {
	metrics.RoutineMetricNames
}

func newNames(namespace string) names {
	return names{metrics.RoutineNames(namespace)}
}

// durationCount and durationBucket are the series of the duration histogram.
func (n names) durationCount() string  { return n.HandlerDuration + countSuffix }
func (n names) durationBucket() string { return n.HandlerDuration + bucketSuffix }

// errorRatio names the recording rule holding the fraction of invocations
// that failed over window, per routine series (job, instance, routine):
// routine:routine_handler_errors:ratio_rate5m for the default namespace.
func (n names) errorRatio(window model.Duration) string {
	return metrics.RoutineLabel + ":" + strings.TrimSuffix(n.HandlerErrors, "_total") + ":ratio_rate" + window.String()
}

// overdueRatio names the recording rule holding how far past its due time
// the routine's next invocation is, as a multiple of the routine's
// interval (negative while it is not due yet):
// routine:routine_next_run_overdue:ratio_interval by default.
func (n names) overdueRatio() string {
	return metrics.RoutineLabel + ":" + strings.TrimSuffix(n.NextRun, "_timestamp_seconds") + "_overdue:ratio_interval"
}

// leaderLed names the recording rule holding, per job and singleton
// routine, the evaluation time at which some instance led it, recorded only
// then: routine:routine_leader:led_timestamp_seconds by default. Its
// max_over_time is when the routine last had a leader.
func (n names) leaderLed() string {
	return metrics.RoutineLabel + ":" + n.Leader + ":led_timestamp_seconds"
}

// leaderSeen names the recording rule holding, per job and singleton
// routine, the time of the latest scrape of its leader gauge, whatever its
// value: routine:routine_leader:seen_timestamp_seconds by default. Its
// min_over_time is when the routine was first seen in the window, for a
// routine that no instance led in the whole window.
func (n names) leaderSeen() string {
	return metrics.RoutineLabel + ":" + n.Leader + ":seen_timestamp_seconds"
}

// recorded lists the recording rule names in the order they are defined.
func (n names) recorded() []string {
	var out []string
	for _, w := range ratioWindows() {
		out = append(out, n.errorRatio(w))
	}
	return append(out, n.overdueRatio(), n.leaderLed(), n.leaderSeen())
}

// formatFloat writes f the shortest way PromQL and YAML read back exactly.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// threshold is factor × budget as PromQL: "(14.4 * 0.01)", so a reader sees
// the burn rate and the budget instead of a rounded product.
func threshold(factor, budget float64) string {
	return fmt.Sprintf("(%s * %s)", formatFloat(factor), formatFloat(budget))
}
