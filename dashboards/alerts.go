package dashboards

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// alertSpec is one alert: its rule and its runbook section, written side
// by side so they cannot drift apart.
type alertSpec struct {
	name, severity string
	expr           string
	pending        time.Duration // for:, before WithForScale
	summary        string        // Prometheus template
	description    string        // Prometheus template

	meaning     string   // runbook: what it means
	investigate []string // runbook: how to look
	act         []string // runbook: what to do
}

// where names the series an alert is about, as a Prometheus template.
const where = "{{ $labels.routine }} on {{ $labels.instance }} (job {{ $labels.job }})"

func alertSpecs(c config, n names) []alertSpec {
	budget := percent(c.errorBudget)
	var specs []alertSpec
	for _, w := range burnWindows {
		t := threshold(w.factor, c.errorBudget)
		specs = append(specs, alertSpec{
			name:     w.alert,
			severity: w.severity,
			expr: fmt.Sprintf("%s > %s\nand\n%s > %s",
				n.errorRatio(w.long), t, n.errorRatio(w.short), t),
			pending: w.pending,
			summary: fmt.Sprintf("Routine {{ $labels.routine }} failed {{ $value | humanizePercentage }} of its runs over the last %s.", w.long),
			description: fmt.Sprintf("{{ $value | humanizePercentage }} of the handler invocations of routine %s returned an error or panicked over the last %s, "+
				"and more than %s × the %s error budget did over the last %s too. At this rate a 30-day error budget lasts %s.",
				where, w.long, formatFloat(w.factor), budget, w.short, w.budget),
			meaning: fmt.Sprintf("More than %s of the routine's handler invocations fail, %s × its error budget of %s, "+
				"measured over %s and confirmed over the last %s so the alert resolves soon after the failures stop. "+
				"Errors counted are the handler's non-filtered errors and its panics (`%s`), divided by all invocations (`%s`). "+
				"At this burn rate a 30-day error budget lasts %s.",
				percent(w.factor*c.errorBudget), formatFloat(w.factor), budget, w.long, w.short, n.HandlerErrors, n.durationCount(), w.budget),
			investigate: []string{
				fmt.Sprintf("Open the **Routines** dashboard, pick the job, instance and routine from the alert's labels and look at the routine's row: **%s** shows every window the alerts use, **%s** whether every run fails or only some.", panelRoutineErrorRatio, panelRoutineOutcomes),
				"Read the service's logs for the routine: every failed invocation logs one line at Error level with the routine name, the error, the duration and the trace id.",
				"Open a failing invocation's trace (span `routine.<name>`): the error is recorded on the span, with the calls the handler made below it.",
				fmt.Sprintf("Compare with **%s**: failures that come with long durations often are timeouts of a dependency.", panelRoutineDuration),
			},
			act: []string{
				"If a dependency (database, API, queue) is down or refuses the routine's calls, fix or wait for that dependency; the routine retries on its own at its interval (with backoff when configured).",
				"If a deploy started the failures, roll it back.",
				"If the errors are expected and harmless (for example a context cancelled on shutdown or a not-found the handler can ignore), filter them with `goroutine.WithErrorFilter` so they stop counting, rather than silencing the alert.",
				"The alert resolves by itself once the short window is clean again.",
			},
		})
	}

	specs = append(specs,
		alertSpec{
			name:     AlertStalled,
			severity: "critical",
			expr:     fmt.Sprintf("%s > %d\nand\n%s == 1", n.stallRatio(), stallIntervals, n.Up),
			pending:  5 * time.Minute,
			summary:  "Routine {{ $labels.routine }} has not succeeded for {{ $value | printf \"%.1f\" }} intervals.",
			description: fmt.Sprintf("The last successful invocation of routine %s ended {{ $value | printf \"%%.1f\" }} intervals ago, "+
				"more than %d × its interval (%s), while the routine is running. "+
				"Its handler keeps failing, hangs, or is not scheduled. A routine that has not succeeded since its process started counts from 1970, which shows as a huge number of intervals.",
				where, stallIntervals, n.Interval),
			meaning: fmt.Sprintf("The routine is started (`%s` is 1) but its last successful invocation (`%s`) is older than %d times its own interval (`%s`), "+
				"so the threshold scales with each routine: 6 minutes for a routine every 2 minutes, 3 hours for an hourly one. "+
				"The age is taken at the scrape that reported it, so a routine that runs more often than Prometheus scrapes does not look late. "+
				"Either every run since then failed, or a run hangs (a routine runs one invocation at a time unless it has `WithConcurrency`), or the routine's schedule is blocked. "+
				"A routine that has never succeeded since its process started counts as stalled from its start: its last-success timestamp is 0.",
				n.Up, n.LastSuccess, stallIntervals, n.Interval),
			investigate: []string{
				fmt.Sprintf("On the **Routines** dashboard, **%s** shows how many intervals each routine is behind; the routine's row shows **%s** against its stall threshold.", panelStall, panelRoutineSinceSuccess),
				fmt.Sprintf("If **%s** of the routine is 1 and stays 1, a run is hanging: take a goroutine dump (`/debug/pprof/goroutine?debug=2` when the service serves pprof) and look for the handler's stack.", panelRoutineInFlight),
				fmt.Sprintf("If runs happen but fail, **%s** is high too: follow the error-ratio runbook sections.", panelRoutineErrorRatio),
				fmt.Sprintf("If no runs happen at all (**%s** is flat at 0), check the routine's configured interval and initial delay, and whether the process is overloaded.", panelRoutineOutcomes),
			},
			act: []string{
				"A hanging handler: give it a per-invocation timeout (`goroutine.WithTimeout`) and make it honour its context; restart the process to unblock it now.",
				"Failing runs: fix the cause as for the error-ratio alerts.",
				"A routine whose first success comes late by design (a long `goroutine.WithInitialDelay`, a first run much longer than its interval) fires this after each start, as it has no success to count from yet: shorten the delay, or silence the alert for that routine during deploys.",
			},
		},
		alertSpec{
			name:     AlertPanicked,
			severity: "warning",
			expr:     fmt.Sprintf("increase(%s[%s]) > 0", n.HandlerPanics, panicWindow),
			summary:  "Routine {{ $labels.routine }} panicked.",
			description: fmt.Sprintf("The handler of routine %s panicked in the last %s. "+
				"The panic was recovered and the routine keeps running, but a panic is a bug; its stack trace is in the service's error log.",
				where, panicWindow),
			meaning: fmt.Sprintf("The handler panicked at least once in the last %s (`%s` increased). "+
				"routinely recovers the panic, counts it as an error and a panic, logs it with its stack and marks the invocation's span as an error; the routine carries on at its next interval. "+
				"A panic is a programming error (nil pointer, index out of range, a failed type assertion): it needs a code fix, not an operator. "+
				"Repeated panics also raise the error ratio and so page through the error-ratio alerts; this alert reports even one.",
				panicWindow, n.HandlerPanics),
			investigate: []string{
				"Search the service's error log for the routine's name: the line of the panicked invocation carries the panic value and its stack.",
				"The invocation's trace (span `routine.<name>`) has the panic recorded as an exception with `exception.stacktrace`.",
				fmt.Sprintf("**%s** on the **Routines** dashboard shows whether it happened once or keeps happening.", panelPanics),
			},
			act: []string{
				"File a bug with the stack trace for the routine's owners, and fix the code.",
				"If it panics on every run, treat it like a fast error-ratio burn: roll back the deploy that introduced it.",
				fmt.Sprintf("The alert resolves %s after the last panic.", panicWindow),
			},
		},
		alertSpec{
			name:     AlertDown,
			severity: "warning",
			expr:     fmt.Sprintf("%s == 0", n.Up),
			pending:  5 * time.Minute,
			summary:  "Routine {{ $labels.routine }} is stopped while its process runs.",
			description: fmt.Sprintf("Routine %s has been stopped (%s is 0) while its process is still scraped: its work is not being done. "+
				"A process that is down does not fire this alert; alert on up == 0 for that.",
				where, n.Up),
			meaning: fmt.Sprintf("`%s` is 1 while a routine is started and 0 after it was stopped. "+
				"The series only exists while Prometheus scrapes the process (its samples go stale the moment a scrape fails), so a 0 means the process runs but this routine does not: "+
				"its Stop was called, or the monitor running it returned, and the process kept serving. "+
				"A routine stopped during a normal shutdown is gone before the alert's `for:` ends.",
				n.Up),
			investigate: []string{
				fmt.Sprintf("**%s** in the routine's row of the **Routines** dashboard shows when it went down.", panelRoutineUp),
				"Read the service's logs around that time for the routine's stop, or a monitor that returned (`Monitor.Run` returns after its context ends or a signal).",
			},
			act: []string{
				"Restart the process to start the routine again.",
				fmt.Sprintf("If the service stops routines on purpose (a feature flag, a leader that stepped down), do not ship `%s` as 0 forever: stop exporting the routine or silence the alert for that routine.", n.Up),
			},
		},
	)
	return specs
}

// panicWindow is how far back RoutineHandlerPanicked looks.
const panicWindow = model.Duration(15 * time.Minute)

// percent formats a fraction as a percentage without float noise: 0.01 → "1%".
func percent(f float64) string {
	return formatFloat(math.Round(f*100*1e6)/1e6) + "%"
}
