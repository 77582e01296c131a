package status_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/goroutine/status"
	"github.com/routinely/routinely/observation"
)

// A handler that fails with a 1 MiB error on every run once made a 65 MiB
// page: the history keeps a bounded part of each error, so the page stays
// small whatever handlers return.
func TestPageStaysSmallWhateverHandlersReturn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		huge := errors.New(strings.Repeat("<x>", 1<<20/3))
		obs := observation.NewContext(log.NoOp(), nil, prometheus.NewRegistry())
		r := goroutine.NewPeriodicGoroutine(t.Context(), time.Second,
			goroutine.HandlerFunc(func(context.Context) error { return huge }),
			goroutine.WithName("huge"), goroutine.WithObservationContext(obs))
		go r.Start()
		time.Sleep(time.Duration(goroutine.DefaultHistorySize) * time.Second)
		synctest.Wait()
		r.Stop()

		page := status.NewPage(r)
		for _, target := range []string{"/", "/?format=json"} {
			resp := get(t, page, target)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Three renderings of 32 errors of at most 2 KiB, escaped.
			if len(body) > 512<<10 {
				t.Errorf("%s is %d KiB with 1 MiB errors, want under 512 KiB", target, len(body)>>10)
			}
			if !strings.Contains(string(body), "bytes cut]") {
				t.Errorf("%s does not say the error text was cut", target)
			}
		}
	})
}

func TestPageShowsCanceledRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := observation.NewContext(log.NoOp(), nil, prometheus.NewRegistry())
		r := goroutine.NewPeriodicGoroutine(t.Context(), time.Minute,
			goroutine.HandlerFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }),
			goroutine.WithName("cut-short"), goroutine.WithObservationContext(obs))
		go r.Start()
		synctest.Wait()
		r.Stop()

		rep := status.NewPage(r).Report()
		got := rep.Routines[0]
		if got.Canceled != 1 || got.Runs() != 1 || got.Successes != 0 || got.LastRun.Outcome != goroutine.OutcomeCanceled {
			t.Errorf("routine = %+v, want one canceled run", got)
		}
		resp := get(t, status.NewPage(r), "/")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `<span class="outcome-canceled">1 canceled</span>`) {
			t.Errorf("page does not show the canceled run")
		}
	})
}
