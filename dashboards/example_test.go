package dashboards_test

import (
	"fmt"

	"github.com/routinely/routinely/dashboards"
)

// AlertRules lists what pages (critical) and what opens a ticket (warning),
// and how long each condition must hold first.
func ExampleAlertRules() {
	rules, err := dashboards.AlertRules()
	if err != nil {
		panic(err)
	}
	for _, r := range rules.Alerts() {
		fmt.Printf("%-32s %-8s for %s\n", r.Alert, r.Labels["severity"], r.For)
	}
	// Output:
	// RoutineHandlerErrorRatioFastBurn critical for 2m
	// RoutineHandlerErrorRatioSlowBurn warning  for 15m
	// RoutineStalled                   critical for 5m
	// RoutineHandlerPanicked           warning  for 0s
	// RoutineDown                      warning  for 5m
	// RoutineConsecutiveFailures       warning  for 0s
	// RoutineWithoutLeader             critical for 2m
}

// The recording rules hold the ratios the alerts and the dashboard share,
// and when a singleton routine last had a leader.
func ExampleRuleFile_YAML() {
	rules, err := dashboards.AlertRules(dashboards.WithNamespace("jobs"))
	if err != nil {
		panic(err)
	}
	for _, r := range rules.Groups[0].Rules {
		if r.Record != "" {
			fmt.Println(r.Record)
		}
	}
	// Output:
	// routine:jobs_handler_errors:ratio_rate5m
	// routine:jobs_handler_errors:ratio_rate30m
	// routine:jobs_handler_errors:ratio_rate1h
	// routine:jobs_handler_errors:ratio_rate6h
	// routine:jobs_next_run_overdue:ratio_interval
	// routine:jobs_leader:led_timestamp_seconds
	// routine:jobs_leader:seen_timestamp_seconds
}

func ExampleDashboard() {
	d, err := dashboards.Dashboard()
	if err != nil {
		panic(err)
	}
	fmt.Println(*d.Title, *d.Uid)
	for _, v := range d.Templating.List {
		fmt.Println("variable", v.Name)
	}
	// Output:
	// Routines routinely-routines
	// variable datasource
	// variable traces
	// variable job
	// variable instance
	// variable routine
}
