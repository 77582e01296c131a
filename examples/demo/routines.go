package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/observation"
)

// errUpstream is the syncer's failure. Its text has characters that HTML
// must escape, so the status page shows that it does.
var errUpstream = errors.New(`upstream returned <503> "Service Unavailable" & retry`)

// newRoutines returns the demo's three routines, their intervals, timeouts
// and work times multiplied by scale.
// newRoutines builds the demo's routines; extra options (leader election)
// apply to each.
func newRoutines(ctx context.Context, obs *observation.Context, scale float64, extra ...goroutine.Option) ([]*goroutine.PeriodicGoroutine, error) {
	d := func(base time.Duration) time.Duration { return time.Duration(float64(base) * scale) }
	with := func(opts ...goroutine.Option) []goroutine.Option { return append(opts, extra...) }

	janitor, err := goroutine.NewPeriodic(ctx, d(2*time.Second),
		goroutine.HandlerFunc(func(ctx context.Context) error {
			// Always succeeds, in 5–40ms.
			return work(ctx, d(5*time.Millisecond), d(40*time.Millisecond))
		}),
		with(goroutine.WithName("janitor"),
			goroutine.WithDescription("Deletes expired sessions; always healthy"),
			goroutine.WithJitter(0.1),
			goroutine.WithObservationContext(obs),
		)...)
	if err != nil {
		return nil, err
	}

	syncer, err := goroutine.NewPeriodic(ctx, d(time.Second),
		goroutine.HandlerFunc(func(ctx context.Context) error {
			if err := work(ctx, d(20*time.Millisecond), d(120*time.Millisecond)); err != nil {
				return err
			}
			if rand.Float64() < 0.3 {
				return fmt.Errorf("sync accounts: %w", errUpstream)
			}
			return nil
		}),
		with(goroutine.WithName("syncer"),
			goroutine.WithDescription("Pulls changed accounts from a flaky upstream API; fails ~30% of runs, then backs off"),
			goroutine.WithBackoff(d(2*time.Second), d(8*time.Second)),
			goroutine.WithObservationContext(obs),
		)...)
	if err != nil {
		return nil, err
	}

	reports, err := goroutine.NewPeriodic(ctx, d(3*time.Second),
		goroutine.HandlerFunc(func(ctx context.Context) error {
			// Takes 0.3–2.6s against a 2s timeout: about one run in
			// four is cut short.
			if err := work(ctx, d(300*time.Millisecond), d(2600*time.Millisecond)); err != nil {
				return fmt.Errorf("build usage report: %w", err)
			}
			return nil
		}),
		with(goroutine.WithName("report-builder"),
			goroutine.WithDescription("Builds the usage report; slow, and about one run in four hits its timeout"),
			goroutine.WithTimeout(d(2*time.Second)),
			goroutine.WithObservationContext(obs),
		)...)
	if err != nil {
		return nil, err
	}
	return []*goroutine.PeriodicGoroutine{janitor, syncer, reports}, nil
}

// work stands in for real work: it takes a random time between lo and hi,
// or returns ctx's error if ctx is done first.
func work(ctx context.Context, lo, hi time.Duration) error {
	t := time.NewTimer(lo + rand.N(hi-lo+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
