package status_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/goroutine/status"
	"github.com/routinely/routinely/observation"
)

// Thousands of runs from many handler loops, read all along by page
// requests: the history keeps exactly the last N runs, the counters add
// up, and -race finds nothing.
func TestHistoryStaysBoundedUnderConcurrency(t *testing.T) {
	const (
		historySize = 16
		loops       = 8
		interval    = time.Millisecond
		runFor      = 500 * time.Millisecond // of the bubble's fake time
	)
	synctest.Test(t, func(t *testing.T) {
		tp := sdktrace.NewTracerProvider()
		defer func() { _ = tp.Shutdown(context.Background()) }()
		obs := observation.NewContext(log.NoOp(), tp, prometheus.NewRegistry())

		var calls atomic.Uint64
		r, err := goroutine.NewPeriodic(context.Background(), interval,
			goroutine.HandlerFunc(func(ctx context.Context) error {
				if calls.Add(1)%3 == 0 {
					return errors.New("upstream returned <503>")
				}
				return nil
			}),
			goroutine.WithName("busy"),
			goroutine.WithConcurrency(loops),
			goroutine.WithHistorySize(historySize),
			goroutine.WithObservationContext(obs),
		)
		if err != nil {
			t.Fatal(err)
		}
		page := status.NewPage(r)

		done := make(chan struct{})
		var readers sync.WaitGroup
		for range 4 {
			readers.Go(func() {
				for {
					for _, target := range []string{"/", "/?format=json"} {
						rec := httptest.NewRecorder()
						page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
						if rec.Code != http.StatusOK {
							t.Errorf("GET %s: status %d", target, rec.Code)
						}
					}
					select {
					case <-done:
						return
					case <-time.After(3 * time.Millisecond):
					}
				}
			})
		}
		started := make(chan struct{})
		go func() {
			defer close(started)
			r.Start()
		}()

		time.Sleep(runFor)
		r.Stop()
		<-started
		close(done)
		readers.Wait()

		s := r.Status()
		// A run that Stop cut short and that returned nil counts as
		// canceled: up to one per loop. Its errors still count as errors.
		runs := s.Runs()
		if runs < 3000 || runs != calls.Load() || s.Canceled > loops {
			t.Fatalf("%d runs counted (%d canceled), %d handler calls: want the same, thousands, and at most %d canceled", runs, s.Canceled, calls.Load(), loops)
		}
		if s.Errors != runs/3 {
			t.Errorf("%d errors in %d runs, want a third", s.Errors, runs)
		}
		if len(s.Recent) != historySize {
			t.Fatalf("history holds %d runs after %d, want exactly %d", len(s.Recent), runs, historySize)
		}
		seen := map[uint64]bool{}
		for _, run := range s.Recent {
			if seen[run.Invocation] || run.Invocation == 0 || run.Invocation > runs {
				t.Errorf("history has invocation %d twice or out of range 1..%d", run.Invocation, runs)
			}
			seen[run.Invocation] = true
			if !run.TraceID.IsValid() {
				t.Errorf("run %d has no trace id", run.Invocation)
			}
			if run.Invocation <= runs-historySize*loops {
				t.Errorf("history keeps old invocation %d of %d", run.Invocation, runs)
			}
		}

		report := page.Report().Routines[0]
		if report.State != goroutine.StateStopped || report.Runs() != runs || len(report.Recent) != historySize {
			t.Errorf("page shows %s, %d runs, %d recent; want stopped, %d, %d", report.State, report.Runs(), len(report.Recent), runs, historySize)
		}
		rec := httptest.NewRecorder()
		page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		html := rec.Body.String()
		if n := strings.Count(html, "<rect "); n != historySize {
			t.Errorf("chart has %d bars, want %d", n, historySize)
		}
		if !strings.Contains(html, s.Recent[historySize-1].TraceID.String()) {
			t.Error("page does not show the last run's trace id")
		}
		if !strings.Contains(html, "upstream returned &lt;503&gt;") {
			t.Error("page does not show the last error escaped")
		}
	})
}
