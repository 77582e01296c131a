package goroutine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricContract_ExactExposition pins every series of the metric
// contract, with its help, type, labels and value, after one success, one
// error, one panic and a final success.
func TestMetricContract_ExactExposition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		calls := 0
		h := HandlerFunc(func(context.Context) error {
			calls++
			switch calls {
			case 2:
				return errors.New("boom")
			case 3:
				panic("kaboom")
			}
			return nil
		})
		r := f.periodic(t.Context(), "exact", 10*time.Second, h)
		origin := time.Now()
		run(t, r, 35*time.Second) // invocations at 0, 10, 20, 30

		lastSuccess := float64(origin.Add(30*time.Second).UnixNano()) / 1e9
		want := fmt.Sprintf(`
# HELP routine_consecutive_failures Handler invocations of a routine that failed (error or panic) in a row, the longest streak among its loops: a success ends it, a canceled invocation leaves it as it is.
# TYPE routine_consecutive_failures gauge
routine_consecutive_failures{routine="exact"} 0
# HELP routine_handler_errors_total Handler invocations of a routine that returned an error or panicked.
# TYPE routine_handler_errors_total counter
routine_handler_errors_total{routine="exact"} 2
# HELP routine_handler_in_flight Handler invocations of a routine running now.
# TYPE routine_handler_in_flight gauge
routine_handler_in_flight{routine="exact"} 0
# HELP routine_handler_panics_total Panics recovered in a routine's handler or its callbacks (a handler's runtime.Goexit counts too).
# TYPE routine_handler_panics_total counter
routine_handler_panics_total{routine="exact"} 1
# HELP routine_interval_seconds Configured interval in seconds between handler invocations of a routine.
# TYPE routine_interval_seconds gauge
routine_interval_seconds{routine="exact"} 10
# HELP routine_last_success_timestamp_seconds Unix time in seconds at which the last successful handler invocation of a routine ended.
# TYPE routine_last_success_timestamp_seconds gauge
routine_last_success_timestamp_seconds{routine="exact"} %g
# HELP routine_next_run_timestamp_seconds Unix time in seconds at which a routine's next handler invocation is due; it stays put while that invocation runs.
# TYPE routine_next_run_timestamp_seconds gauge
routine_next_run_timestamp_seconds{routine="exact"} %g
# HELP routine_up 1 while a routine is started, 0 once it has stopped.
# TYPE routine_up gauge
routine_up{routine="exact"} 0
`, lastSuccess, float64(origin.Add(40*time.Second).UnixNano())/1e9)
		if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want),
			names.HandlerErrors, names.HandlerInFlight, names.HandlerPanics,
			names.Interval, names.LastSuccess, names.ConsecutiveFailures, names.Up, names.NextRun); err != nil {
			t.Error(err)
		}

		// The histogram: one series per outcome, one sample per invocation.
		if got := testutil.CollectAndCount(f.reg, names.HandlerDuration); got != 3 {
			t.Errorf("%s has %d series, want 3 (success, error, panic)", names.HandlerDuration, got)
		}
		for outcome, want := range map[string]float64{"success": 2, "error": 1, "panic": 1} {
			if got := f.durationCount("exact", outcome); got != want {
				t.Errorf("%s{outcome=%q} has %v samples, want %v", names.HandlerDuration, outcome, got, want)
			}
		}
	})
}
