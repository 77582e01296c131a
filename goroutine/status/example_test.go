package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/goroutine/status"
	"github.com/routinely/routinely/observation"
)

// Mount the status page of a routine on a ServeMux, then read it as JSON.
func ExampleNewPage() {
	ctx := context.Background()
	janitor := goroutine.NewPeriodicGoroutine(ctx, time.Minute,
		goroutine.HandlerFunc(func(ctx context.Context) error { return nil }),
		goroutine.WithName("janitor"),
		goroutine.WithDescription("Deletes expired sessions"),
		goroutine.WithHistorySize(64),
		// A registry of its own keeps the example's metrics apart.
		goroutine.WithObservationContext(observation.NewContext(nil, nil, prometheus.NewRegistry())),
	)
	defer janitor.Stop()

	mux := http.NewServeMux()
	mux.Handle("/debug/routines", status.NewPage(janitor))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/routines?format=json", nil))
	var report status.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &report); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	for _, r := range report.Routines {
		fmt.Printf("%s (%s): %s every %gs, %d runs\n", r.Name, r.Description, r.State, r.Interval.Seconds(), r.Runs())
	}
	// Output:
	// 200 application/json; charset=utf-8
	// janitor (Deletes expired sessions): not started every 60s, 0 runs
}
