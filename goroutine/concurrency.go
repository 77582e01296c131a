package goroutine

import (
	"errors"
	"sync"
	"time"
)

// WithConcurrencyFunc makes the number of handler loops dynamic: f is
// called when the routine starts, and then once every interval (the
// interval in force, see WithIntervalFunc) on a goroutine of the routine's
// own, whatever the loops are doing. Its result, clamped to
// [1, MaxConcurrency] (a result below 1 means 1, above MaxConcurrency
// means MaxConcurrency), is the number of loops that run from then on:
//
//   - new loops start at once (not before WithInitialDelay has passed),
//     each on its own schedule, as with WithConcurrency;
//   - loops beyond the new number are retired: a waiting loop exits at
//     once, a running one after its current run, whose context is not
//     cancelled (even if that run returned ErrReinvokeImmediately). A
//     retired loop that has not exited yet when the number grows again
//     carries on instead of a new one starting, so no more than
//     MaxConcurrency loops ever exist.
//
// A function that panics or calls runtime.Goexit is recovered, logged and
// counted (routine_handler_panics_total) like any callback, and the
// number of loops is kept (1 when it fails the first time). It cannot be
// combined with WithConcurrency.
func WithConcurrencyFunc(f func() int) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return errors.New("WithConcurrencyFunc: nil function")
		}
		c.concurrencyFunc = f
		return nil
	})
}

// loopPool says which of a routine's handler loops are wanted: loop i is
// while i < n. Loops are numbered from 0; slot i has at most one goroutine
// at a time, so the index names the loop (in the perLoop gauges too).
type loopPool struct {
	mu      sync.Mutex
	n       int           // loops wanted
	alive   []bool        // slot i has a goroutine, wanted or finishing
	changed chan struct{} // closed, and replaced, when n shrinks
}

func newLoopPool() *loopPool {
	return &loopPool{changed: make(chan struct{})}
}

// watch reports whether loop i is retired and returns a channel closed
// when that may have changed.
func (p *loopPool) watch(i int) (retired bool, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return i >= p.n, p.changed
}

func (p *loopPool) wanted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// resize sets the number of loops to n: it starts the missing loops, first
// due at fire, and has those beyond n exit.
func (r *PeriodicGoroutine) resize(n int, fire time.Time) {
	p := r.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if n < p.n {
		close(p.changed)
		p.changed = make(chan struct{})
	}
	p.n = n
	if r.ctx.Err() != nil {
		return
	}
	for len(p.alive) < n {
		p.alive = append(p.alive, false)
	}
	for i := range n {
		if !p.alive[i] {
			p.alive[i] = true
			st := &loopState{index: i, grid: fire, fire: fire}
			// Each loop has a goroutine of its own, never Start's
			// caller's: a handler that calls runtime.Goexit ends only
			// that goroutine.
			r.loops.Go(func() { r.loop(st) })
		}
	}
}

// exit reports whether loop i, retired, may exit, and then frees its slot
// and its entries in the perLoop gauges. It returns false when the loop
// is wanted again.
func (r *PeriodicGoroutine) exit(i int) bool {
	p := r.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < p.n {
		return false
	}
	p.alive[i] = false
	r.due.set(i, time.Time{}) // no run due, before another goroutine may take the slot
	r.streaks.set(i, 0)
	return true
}

// scale runs on a goroutine of its own while a routine with
// WithConcurrencyFunc runs: once every interval it re-reads the number of
// loops and resizes the pool. first is when the first loops run.
func (r *PeriodicGoroutine) scale(first time.Time) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for sleepUntil(r.ctx, timer, time.Now().Add(r.intervalNow.Load().d), nil) {
		fire := time.Now()
		if fire.Before(first) {
			fire = first
		}
		r.resize(r.concurrencyNow(), fire)
	}
}

// concurrencyNow is the number of loops wanted: WithConcurrency's, or
// WithConcurrencyFunc's function called (user code: a panic is reported
// like any callback, and the number in force kept), clamped to
// [1, MaxConcurrency].
func (r *PeriodicGoroutine) concurrencyNow() int {
	f := r.cfg.concurrencyFunc
	if f == nil {
		return r.cfg.concurrency
	}
	n := max(r.pool.wanted(), 1)
	var got int
	if r.callback("concurrency function", func() { got = f() }) {
		n = min(max(got, 1), MaxConcurrency)
	}
	return n
}
