package bench

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/observation"
)

const (
	timingInterval = 10 * time.Millisecond
	timingTicks    = 1000
)

// BenchmarkTiming runs one job every 10 ms for 1,000 ticks; the handler
// records time.Now() when it starts. Tick k's start-time error is
// t[k] − (t[0] + k·interval): the schedule is anchored at the first run,
// so the error measures the schedule, not start-up latency. It reports:
//
//   - p50-µs, p99-µs, max-µs: percentiles of |error| over the ticks;
//   - drift-µs: median error of the last 50 ticks minus that of the first
//     50. A scheduler that waits "interval after the last run" accumulates
//     its per-tick lateness here (1,000 × lateness); one that keeps a grid
//     stays near 0. A tick the scheduler skipped shows as a full interval
//     of error from then on.
//
// routinely's is a PeriodicGoroutine with the no-op tracer provider and
// log.NoOp(); gocron's is a DurationJob(10ms) started immediately.
func BenchmarkTiming(b *testing.B) {
	for _, lib := range []struct {
		name string
		run  func(record func() bool) error
	}{
		{"routinely", timeRoutinely},
		{"gocron", timeGocron},
	} {
		b.Run("lib="+lib.name, func(b *testing.B) {
			var p50, p99, max, drift float64
			for range b.N {
				starts := make([]time.Time, 0, timingTicks)
				var mu sync.Mutex // gocron may overlap runs of a job
				err := lib.run(func() bool {
					mu.Lock()
					defer mu.Unlock()
					if len(starts) < timingTicks {
						starts = append(starts, time.Now())
					}
					return len(starts) == timingTicks
				})
				if err != nil {
					b.Fatal(err)
				}
				s := scheduleErrors(starts, timingInterval)
				p50 += s.p50
				p99 += s.p99
				max += s.max
				drift += s.drift
			}
			n := float64(b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(p50/n, "p50-µs")
			b.ReportMetric(p99/n, "p99-µs")
			b.ReportMetric(max/n, "max-µs")
			b.ReportMetric(drift/n, "drift-µs")
		})
	}
}

type scheduleStats struct{ p50, p99, max, drift float64 }

// scheduleErrors computes the statistics BenchmarkTiming reports, in µs.
func scheduleErrors(starts []time.Time, interval time.Duration) scheduleStats {
	errs := make([]float64, len(starts))
	abs := make([]float64, len(starts))
	for k, t := range starts {
		e := t.Sub(starts[0].Add(time.Duration(k) * interval))
		errs[k] = float64(e) / float64(time.Microsecond)
		abs[k] = max(errs[k], -errs[k])
	}
	slices.Sort(abs)
	const edge = 50
	return scheduleStats{
		p50:   percentile(abs, 0.50),
		p99:   percentile(abs, 0.99),
		max:   abs[len(abs)-1],
		drift: median(errs[len(errs)-edge:]) - median(errs[:edge]),
	}
}

// percentile returns the p-quantile of sorted (nearest rank).
func percentile(sorted []float64, p float64) float64 {
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// timeRoutinely runs record from a PeriodicGoroutine until it returns true.
func timeRoutinely(record func() bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := goroutine.NewPeriodic(ctx, timingInterval,
		goroutine.HandlerFunc(func(context.Context) error {
			if record() {
				cancel()
			}
			return nil
		}),
		goroutine.WithName("timing"),
		goroutine.WithObservationContext(observation.NewContext(log.NoOp(), noop.NewTracerProvider(), prometheus.NewRegistry())))
	if err != nil {
		return err
	}
	r.Start() // returns once cancel has been called
	return nil
}

// timeGocron runs record from a gocron DurationJob until it returns true.
func timeGocron(record func() bool) error {
	s, err := gocron.NewScheduler()
	if err != nil {
		return err
	}
	done := make(chan struct{})
	_, err = s.NewJob(gocron.DurationJob(timingInterval),
		gocron.NewTask(func() {
			if record() {
				select {
				case <-done:
				default:
					close(done)
				}
			}
		}),
		gocron.WithStartAt(gocron.WithStartImmediately()))
	if err != nil {
		_ = s.Shutdown()
		return err
	}
	s.Start()
	<-done
	return s.Shutdown()
}
