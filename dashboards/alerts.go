package dashboards

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"

	"github.com/routinely/routinely/metrics"
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

// whereJob names the routine of a per-job alert, as a Prometheus template.
const whereJob = "{{ $labels.routine }} (job {{ $labels.job }})"

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
				"Errors counted are the handler's non-filtered errors and its panics (`%s`), divided by the invocations that succeeded, failed or panicked (`%s{%s!=%q}`). "+
				"Invocations cut short because the routine was stopped (outcome `%s`: Stop, shutdown) are neither a success nor a failure and count on neither side, "+
				"so stopping a routine, however often, never fires this alert, and a routine whose only runs were canceled has no ratio. "+
				"At this burn rate a 30-day error budget lasts %s.",
				percent(w.factor*c.errorBudget), formatFloat(w.factor), budget, w.long, w.short, n.HandlerErrors, n.durationCount(), metrics.OutcomeLabel, metrics.OutcomeCanceled, metrics.OutcomeCanceled, w.budget),
			investigate: []string{
				fmt.Sprintf("Open the **Routines** dashboard, pick the job, instance and routine from the alert's labels and look at the routine's row: **%s** shows every window the alerts use, **%s** whether every run fails or only some.", panelRoutineErrorRatio, panelRoutineOutcomes),
				"Read the service's logs for the routine: every failed invocation logs one line at Error level with the routine name, the error, the duration and the trace id.",
				"Open a failing invocation's trace (span `routine.<name>`): the error is recorded on the span, with the calls the handler made below it.",
				fmt.Sprintf("Compare with **%s**: failures that come with long durations often are timeouts of a dependency.", panelRoutineDuration),
			},
			act: []string{
				"If a dependency (database, API, queue) is down or refuses the routine's calls, fix or wait for that dependency; the routine retries on its own at its interval (with backoff when configured).",
				"If a deploy started the failures, roll it back.",
				"If the errors are expected and harmless (for example a not-found the handler can ignore), filter them with `goroutine.WithErrorFilter` so they stop counting, rather than silencing the alert.",
				"The alert resolves by itself once the short window is clean again.",
			},
		})
	}

	specs = append(specs,
		alertSpec{
			name:     AlertStalled,
			severity: "critical",
			expr:     fmt.Sprintf("%s > %d\nand on (%s)\n%s == 1", n.overdueRatio(), stallIntervals, targetLabels, n.Up),
			pending:  5 * time.Minute,
			summary:  "Routine {{ $labels.routine }} has a run {{ $value | printf \"%.1f\" }} intervals overdue.",
			description: fmt.Sprintf("An invocation of routine %s was due {{ $value | printf \"%%.1f\" }} intervals ago, "+
				"more than %d × its interval (%s), and has not finished, or not even started, while the routine is running: "+
				"its handler hangs, or one of its loops is dead. A routine that fails and backs off does not fire this alert: the error-ratio alerts report it.",
				where, stallIntervals, n.Interval),
			meaning: fmt.Sprintf("The routine is started (`%s` is 1) but did not run when due: the time its next invocation is due (`%s`) is more than %d times its own interval (`%s`) in the past, "+
				"so the threshold scales with each routine: 6 minutes for a routine every 2 minutes, 3 hours for an hourly one. "+
				"While an invocation runs, the gauge keeps that invocation's due time, so it falls behind when a run hangs (a routine runs one invocation at a time unless it has `WithConcurrency`, and with it the earliest of its loops counts), "+
				"and when a loop is dead or its schedule blocked. "+
				"A run that takes longer than %d intervals by design counts as hung too. "+
				"The lateness is taken at the scrape that reported the due time, so a routine that runs more often than Prometheus scrapes does not look late. "+
				"This alert is about runs that do not happen, not about runs that fail: a failing routine that backs off has its next run in the future and never fires it, "+
				"and one that keeps failing on schedule does not either. Failures are the error-ratio alerts' job (`%s`, `%s`). "+
				"A routine not started yet (`%s` is 0) or stopped (`%s` is 0) does not fire it.",
				n.Up, n.NextRun, stallIntervals, n.Interval, stallIntervals, AlertErrorRatioFastBurn, AlertErrorRatioSlowBurn, n.NextRun, n.Up),
			investigate: []string{
				fmt.Sprintf("On the **Routines** dashboard, **%s** shows how many intervals late each routine is; the routine's row shows **%s** against its stall threshold.", panelStall, panelRoutinePastDue),
				fmt.Sprintf("If **%s** of the routine is 1 (or its concurrency) and stays there, a run is hanging: take a goroutine dump (`/debug/pprof/goroutine?debug=2` when the service serves pprof) and look for the handler's stack.", panelRoutineInFlight),
				fmt.Sprintf("If **%s** is 0 while the routine is late, no run is in progress and none starts: the loop is dead or blocked. Read the service's logs for the routine's last invocation and any recovered panic in its callbacks (interval function, error handler).", panelRoutineInFlight),
				fmt.Sprintf("**%s** shows when the last run finished: a flat line since the alert began confirms no run completes.", panelRoutineOutcomes),
			},
			act: []string{
				"A hanging handler: give it a per-invocation timeout (`goroutine.WithTimeout`) and make it honour its context; restart the process to unblock it now.",
				"A run that is long by design: give the routine an interval longer than a third of its longest run, or a timeout, so that a normal run is not taken for a hang.",
				"A dead or blocked loop: restart the process, and file a bug with the goroutine dump.",
				"If the routine fails rather than hangs, this is not the alert for it: follow the error-ratio sections.",
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
		alertSpec{
			name:     AlertConsecutiveFailures,
			severity: "warning",
			expr:     consecutiveFailuresExpr(n),
			summary:  "Routine {{ $labels.routine }} failed its last {{ $value }} runs.",
			description: fmt.Sprintf("The last {{ $value }} invocations of routine %s failed (error or panic) without a success between them. "+
				"Its runs are %s or more apart (its interval, or its backoff after failures), too rarely for the error-ratio alerts, so each failed run counts.",
				where, model.Duration(rareInterval)),
			meaning: fmt.Sprintf("The routine failed %d or more invocations in a row: `%s`, the errors and panics since the last success (the longest such streak among the routine's loops), is at least %d. "+
				"Only routines whose runs are %s or more apart are watched: their interval (`%s`) is that long, or their next run (`%s`) is that far away, as while a failing routine backs off. "+
				"Those run too rarely for the error-ratio alerts, which need invocations inside their %s and %s windows, so without this alert an hourly or daily job could fail for days unseen. "+
				"Routines that run more often page through `%s` and `%s` instead. "+
				"The streak lives in the process: it starts at 0 when the process starts, a run canceled by a stop leaves it as it is, and a singleton routine's starts at 0 with each term the replica leads. "+
				"So a job whose service is redeployed more often than it runs twice never reaches %d: alert on the job's own output for those. "+
				"Followers of a singleton routine (`%s` is 0) do not fire, nor does a stopped routine (`%s` is 0, which `%s` reports).",
				failureStreak, n.ConsecutiveFailures, failureStreak, model.Duration(rareInterval), n.Interval, n.NextRun, burnWindows[0].short, burnWindows[1].short,
				AlertErrorRatioFastBurn, AlertErrorRatioSlowBurn, failureStreak, n.Leader, n.Up, AlertDown),
			investigate: []string{
				"Read the service's logs for the routine: every failed invocation logs one line at Error level with the routine name, the error, the duration and the trace id.",
				"Open a failing invocation's trace (span `routine.<name>`): the error is recorded on the span, with the calls the handler made below it.",
				fmt.Sprintf("On the **Routines** dashboard, the routine's row: **%s** shows the streak now, **%s** how long since the last success and when the next run is due.", panelRoutineFailures, panelRoutinePastDue),
			},
			act: []string{
				"Fix the cause (a dependency down, bad data, a deploy that broke the job). If the work cannot wait for the next run, run it once by hand: restarting the service does not always run it sooner (a singleton routine keeps its shared schedule, and `WithInitialDelay` delays the first run).",
				"If the failures are expected and harmless, filter them with `goroutine.WithErrorFilter` so they count as successes, rather than silencing the alert.",
				"The alert resolves with the routine's next successful run; it also clears, without one, when the process restarts, the routine stops or, for a singleton, the replica stops leading: check the next run's outcome before closing the ticket.",
			},
		},
		alertSpec{
			name:     AlertWithoutLeader,
			severity: "critical",
			expr:     withoutLeaderExpr(n),
			pending:  2 * time.Minute,
			summary:  "Singleton routine {{ $labels.routine }} has had no leader for {{ $value | humanizeDuration }}.",
			description: fmt.Sprintf("No instance has led the singleton routine %s for {{ $value | humanizeDuration }}, "+
				"more than %d × its interval (%s, at most %s), while the routine is started on at least one instance: "+
				"every replica campaigns and none wins, so the routine does not run anywhere.",
				whereJob, leaderIntervals, n.Interval, model.Duration(leaderThresholdCap)),
			meaning: fmt.Sprintf("The routine is a singleton (`goroutine.WithLeaderElection`): only the replica that holds its lease runs its handler, and `%s` is 1 there and 0 on the other replicas. "+
				"No instance of the job has reported 1 for more than %d times the routine's interval (`%s`), capped at %s so that routines with long intervals fire too, "+
				"while `%s` is 1 on at least one instance: the routine is started but runs nowhere. "+
				"The threshold scales with each routine (3 minutes for a routine every minute, 3 hours for an hourly one), so a failover, "+
				"which leaves the routine without a leader for about the lease's TTL plus one renew interval, does not fire it. "+
				"The expression reads two recording rules, per job and routine: `%s`, the evaluation time whenever some instance leads, and `%s`, the time of the latest scrape of the leader gauge; "+
				"the time without a leader runs from the latest value of the first over the last %s or, when no instance led in all that time, from the earliest value of the second in it. "+
				"It joins on job and routine, never on instance, as the leader is one instance and the followers are the others; two instances briefly reporting 1 at once still count as a leader. "+
				"Routines without leader election have no `%s` series and never fire it; nor does a routine stopped everywhere (`%s` is 0). "+
				"The usual causes: the election's database (PostgreSQL for `election/postgres`) is down or unreachable, so no replica can take or renew a lease; "+
				"every replica lost its lease and cannot get it back (renewals slower than the TTL, a database overloaded or failing over); "+
				"a network partition between the replicas and the database; or the elector is misconfigured (wrong DSN, a lease table that does not exist, missing `SELECT`, `INSERT` or `UPDATE` rights, replicas pointed at different databases). "+
				"While it fires, the routine's runs do not happen: its `%s` goes stale on the followers, which never run it, and RoutineStalled does not report it.",
				n.Leader, leaderIntervals, n.Interval, model.Duration(leaderThresholdCap), n.Up,
				n.leaderLed(), n.leaderSeen(), leaderWindow, n.Leader, n.Up, n.NextRun),
			investigate: []string{
				fmt.Sprintf("On the **Routines** dashboard, row **%s**: **%s** shows which instance led the routine until when, and **%s** whether it has none (0) since.", rowLeaderElection, panelLeaderTimeline, panelLeaders),
				fmt.Sprintf("**%s**: leadership gained and lost over and over before the gap means leases expire before they are renewed (a slow or overloaded database, a TTL too short for its latency).", panelLeaderTransitions),
				"Read the replicas' logs for the routine: every failed campaign is logged with its error (connection refused, authentication failed, relation does not exist, permission denied).",
				"Check the election database: is it up and reachable from the replicas, and does the lease table (`routinely_leases` unless `WithTable` says otherwise) have a row for the routine (`SELECT holder, term, expires_at FROM routinely_leases WHERE name = '<routine>'`) whose `expires_at` keeps moving and whose `holder` is a live replica?",
			},
			act: []string{
				"The database is down or unreachable: restore it or the network path to it; the replicas campaign again on their own and one leads within a renew interval.",
				"The elector is misconfigured: fix its DSN, schema or grants and redeploy; check that every replica uses the same database and lease table.",
				"Leases keep expiring under load: give the elector a longer TTL (`WithTTL` of `election/postgres`) or fix the database's latency.",
				"If the routine must run now and the election cannot be fixed quickly, run its work by hand once; do not remove `WithLeaderElection` from several replicas at once, or each would run it.",
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
