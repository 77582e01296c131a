package metrics

// The routine metric contract. Dashboards, alert rules and tests import these
// names instead of repeating string literals, so the names are defined once.
//
// A full metric name is the namespace, an underscore and the suffix:
// with the default namespace, RoutineHandlerDurationSuffix becomes
// "routine_handler_duration_seconds".
const (
	// DefaultRoutineNamespace is the metric name prefix used for routine
	// metrics unless a routine is configured with another one.
	DefaultRoutineNamespace = "routine"

	// RoutineHandlerDurationSuffix names the histogram with one sample per
	// handler invocation, labelled by routine and outcome.
	RoutineHandlerDurationSuffix = "handler_duration_seconds"
	// RoutineHandlerErrorsSuffix names the counter of invocations that
	// returned a non-filtered error or panicked.
	RoutineHandlerErrorsSuffix = "handler_errors_total"
	// RoutineHandlerPanicsSuffix names the counter of recovered panics.
	RoutineHandlerPanicsSuffix = "handler_panics_total"
	// RoutineHandlerInFlightSuffix names the gauge of invocations running now.
	RoutineHandlerInFlightSuffix = "handler_in_flight"
	// RoutineLastSuccessSuffix names the gauge holding the unix time of the
	// last successful invocation.
	RoutineLastSuccessSuffix = "last_success_timestamp_seconds"
	// RoutineConsecutiveFailuresSuffix names the gauge counting the
	// invocations that failed (error or panic) in a row, the longest
	// streak among the routine's loops; a singleton routine's starts at 0
	// with each term this replica leads. It alerts on routines that run
	// too rarely for an error ratio (an hourly or daily job).
	RoutineConsecutiveFailuresSuffix = "consecutive_failures"
	// RoutineIntervalSuffix names the gauge holding the configured interval
	// in seconds, so alerts can scale with it.
	RoutineIntervalSuffix = "interval_seconds"
	// RoutineUpSuffix names the gauge that is 1 while a routine is started
	// and 0 after it stopped.
	RoutineUpSuffix = "up"
	// RoutineNextRunSuffix names the gauge holding the unix time at which
	// the routine's next invocation is due (the earliest of its loops).
	// While an invocation runs it keeps that invocation's due time, so
	// time() minus it grows while a handler hangs or a loop is dead, and
	// stays negative while a failing routine backs off: the "stalled"
	// alert reads it. 0 until the routine starts.
	RoutineNextRunSuffix = "next_run_timestamp_seconds"
	// RoutineLeaderSuffix names the gauge of a singleton routine
	// (goroutine.WithLeaderElection) that is 1 on the replica that leads
	// it and 0 on the others. Routines without an elector have no series.
	RoutineLeaderSuffix = "leader"
	// RoutineLeaderTransitionsSuffix names the counter of a singleton
	// routine's leadership changes on this replica: gained or lost.
	RoutineLeaderTransitionsSuffix = "leader_transitions_total"

	// RoutineLabel is the label holding the routine's name.
	RoutineLabel = "routine"
	// OutcomeLabel is the label of the duration histogram holding one of
	// OutcomeSuccess, OutcomeError, OutcomePanic or OutcomeCanceled.
	OutcomeLabel = "outcome"

	// ExemplarTraceIDLabel is the exemplar label of a duration sample of a
	// sampled run: its trace id in hex. Exemplars are exposed in the
	// OpenMetrics format only (promhttp.HandlerOpts.EnableOpenMetrics).
	ExemplarTraceIDLabel = "trace_id"

	// OutcomeSuccess marks an invocation that returned nil or a filtered error.
	OutcomeSuccess = "success"
	// OutcomeError marks an invocation that returned a non-filtered error.
	OutcomeError = "error"
	// OutcomePanic marks an invocation that panicked and was recovered.
	OutcomePanic = "panic"
	// OutcomeCanceled marks an invocation cut short because its routine
	// was stopped (Stop, shutdown): neither a success nor a failure. It is
	// not counted in the error counters and does not move the
	// last-success timestamp.
	OutcomeCanceled = "canceled"
)

// RoutineMetricNames holds the full names of the routine metrics for one
// namespace. Build it with RoutineNames.
type RoutineMetricNames struct {
	HandlerDuration     string // histogram: routine, outcome
	HandlerErrors       string // counter: routine
	HandlerPanics       string // counter: routine
	HandlerInFlight     string // gauge: routine
	LastSuccess         string // gauge: routine
	ConsecutiveFailures string // gauge: routine
	Interval            string // gauge: routine
	Up                  string // gauge: routine
	NextRun             string // gauge: routine
	// Leader and LeaderTransitions exist for singleton routines only.
	Leader            string // gauge: routine
	LeaderTransitions string // counter: routine
}

// RoutineNames returns the full metric names for namespace; an empty
// namespace means DefaultRoutineNamespace.
func RoutineNames(namespace string) RoutineMetricNames {
	return RoutineMetricNames{
		HandlerDuration:     RoutineHandlerDuration.Name(namespace),
		HandlerErrors:       RoutineHandlerErrors.Name(namespace),
		HandlerPanics:       RoutineHandlerPanics.Name(namespace),
		HandlerInFlight:     RoutineHandlerInFlight.Name(namespace),
		LastSuccess:         RoutineLastSuccess.Name(namespace),
		ConsecutiveFailures: RoutineConsecutiveFailures.Name(namespace),
		Interval:            RoutineInterval.Name(namespace),
		Up:                  RoutineUp.Name(namespace),
		NextRun:             RoutineNextRun.Name(namespace),
		Leader:              RoutineLeader.Name(namespace),
		LeaderTransitions:   RoutineLeaderTransitions.Name(namespace),
	}
}

// All returns every name in a fixed order: duration, errors, panics,
// in-flight, last success, consecutive failures, interval, up, next run,
// leader, leader transitions.
func (n RoutineMetricNames) All() []string {
	return []string{n.HandlerDuration, n.HandlerErrors, n.HandlerPanics, n.HandlerInFlight, n.LastSuccess, n.ConsecutiveFailures, n.Interval, n.Up, n.NextRun, n.Leader, n.LeaderTransitions}
}

// The telemetry pipeline's own errors: what OpenTelemetry reports about
// itself (an exporter that cannot reach its collector, a full queue), as
// counted by observation.OTelErrorHandler. They are not errors of the host
// service, but each one usually means spans were lost.
const (
	// OTelErrorsName names the counter of errors reported by OpenTelemetry
	// through its global error handler or internal logger, labelled by
	// OTelErrorKindLabel.
	OTelErrorsName = "routinely_otel_errors_total"
	// OTelErrorsHelp is the help text of OTelErrorsName.
	OTelErrorsHelp = "Errors of the telemetry pipeline reported by OpenTelemetry (for example spans lost because the trace exporter cannot reach its collector), by kind."
	// OTelErrorKindLabel is the label of OTelErrorsName holding one of the
	// OTelErrorKind* values; the set is fixed, never taken from error text.
	OTelErrorKindLabel = "kind"

	// OTelErrorKindTracesExport marks a failed span export ("traces
	// export: ..."): the spans of that batch are lost.
	OTelErrorKindTracesExport = "traces_export"
	// OTelErrorKindMetricsExport marks a failed metrics export.
	OTelErrorKindMetricsExport = "metrics_export"
	// OTelErrorKindLogsExport marks a failed logs export.
	OTelErrorKindLogsExport = "logs_export"
	// OTelErrorKindInternal marks an error OpenTelemetry wrote to its
	// internal logger (otel.SetLogger) rather than to its error handler.
	OTelErrorKindInternal = "internal"
	// OTelErrorKindOther marks any other error given to the handler.
	OTelErrorKindOther = "other"
)
