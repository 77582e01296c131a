package metrics_test

import (
	"slices"
	"testing"

	"github.com/routinely/routinely/metrics"
)

func TestRoutineNamesDefaultNamespace(t *testing.T) {
	got := metrics.RoutineNames("")
	want := metrics.RoutineMetricNames{
		HandlerDuration:     "routine_handler_duration_seconds",
		HandlerErrors:       "routine_handler_errors_total",
		HandlerPanics:       "routine_handler_panics_total",
		HandlerInFlight:     "routine_handler_in_flight",
		LastSuccess:         "routine_last_success_timestamp_seconds",
		ConsecutiveFailures: "routine_consecutive_failures",
		Interval:            "routine_interval_seconds",
		Up:                  "routine_up",
		NextRun:             "routine_next_run_timestamp_seconds",
		Leader:              "routine_leader",
		LeaderTransitions:   "routine_leader_transitions_total",
	}
	if got != want {
		t.Errorf("RoutineNames(\"\") = %+v, want %+v", got, want)
	}
	if explicit := metrics.RoutineNames(metrics.DefaultRoutineNamespace); explicit != got {
		t.Errorf("RoutineNames(%q) = %+v, want the same as the empty namespace %+v", metrics.DefaultRoutineNamespace, explicit, got)
	}
}

func TestRoutineNamesCustomNamespace(t *testing.T) {
	got := metrics.RoutineNames("billing")
	want := metrics.RoutineMetricNames{
		HandlerDuration:     "billing_handler_duration_seconds",
		HandlerErrors:       "billing_handler_errors_total",
		HandlerPanics:       "billing_handler_panics_total",
		HandlerInFlight:     "billing_handler_in_flight",
		LastSuccess:         "billing_last_success_timestamp_seconds",
		ConsecutiveFailures: "billing_consecutive_failures",
		Interval:            "billing_interval_seconds",
		Up:                  "billing_up",
		NextRun:             "billing_next_run_timestamp_seconds",
		Leader:              "billing_leader",
		LeaderTransitions:   "billing_leader_transitions_total",
	}
	if got != want {
		t.Errorf("RoutineNames(\"billing\") = %+v, want %+v", got, want)
	}
}

func TestRoutineMetricNamesAllOrder(t *testing.T) {
	n := metrics.RoutineNames("")
	want := []string{
		"routine_handler_duration_seconds",
		"routine_handler_errors_total",
		"routine_handler_panics_total",
		"routine_handler_in_flight",
		"routine_last_success_timestamp_seconds",
		"routine_consecutive_failures",
		"routine_interval_seconds",
		"routine_up",
		"routine_next_run_timestamp_seconds",
		"routine_leader",
		"routine_leader_transitions_total",
	}
	if got := n.All(); !slices.Equal(got, want) {
		t.Errorf("All() = %q, want %q", got, want)
	}
}
