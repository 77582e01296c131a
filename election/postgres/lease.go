package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/routinely/routinely/goroutine"
)

var _ goroutine.Lease = (*lease)(nil)

// lease is one term of this Elector's leadership of one routine.
type lease struct {
	e    *Elector
	name string
	term uint64
	done chan struct{}

	mu        sync.Mutex
	deadline  time.Time // by the monotonic clock
	timer     *time.Timer
	ended     bool
	released  bool
	lastStart time.Time
}

func newLease(e *Elector, name string, term uint64, lastStart, deadline time.Time) *lease {
	l := &lease{e: e, name: name, term: term, done: make(chan struct{}), deadline: deadline, lastStart: lastStart}
	l.mu.Lock()
	l.timer = time.AfterFunc(time.Until(deadline), l.expire)
	l.mu.Unlock()
	return l
}

func (l *lease) Term() uint64 { return l.term }

func (l *lease) Done() <-chan struct{} { return l.done }

func (l *lease) LastStart() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastStart
}

// RecordStart records t as the routine's last start, if this term is
// still current in the database and Done is open; otherwise it returns an
// error wrapping ErrLeaseLost and closes Done. A failed statement is tried
// once more, on a new connection; if that fails too (and ctx is not done),
// RecordStart returns the error and closes Done as well, since the routine
// will not run under this lease again. The database keeps t to the
// microsecond.
func (l *lease) RecordStart(ctx context.Context, t time.Time) error {
	if l.isDone() {
		return leaseLost(l.name, l.term)
	}
	tag, err := l.e.pool.Exec(ctx, l.e.q.record, l.name, int64(l.term), l.e.cfg.holder, t)
	if err != nil && ctx.Err() == nil {
		// The connection may have been closed under us (a restarted
		// server, pg_terminate_backend): try once more, on a new one.
		tag, err = l.e.pool.Exec(ctx, l.e.q.record, l.name, int64(l.term), l.e.cfg.holder, t)
	}
	if err != nil {
		if ctx.Err() == nil {
			// A routine does not run under a lease whose starts cannot
			// be recorded, and waits for Done: end the lease, so that it
			// campaigns again rather than hold the lease without running.
			l.end()
		}
		return fmt.Errorf("postgres: record start of %q (term %d): %w", l.name, l.term, err)
	}
	if tag.RowsAffected() == 0 {
		l.end()
		return leaseLost(l.name, l.term)
	}
	l.mu.Lock()
	l.lastStart = t
	l.mu.Unlock()
	return nil
}

// leaseLost is the error of a write or a start under term of routine
// name, which is over.
func leaseLost(name string, term uint64) error {
	return fmt.Errorf("%w: routine %q, term %d", ErrLeaseLost, name, term)
}

// Release closes Done and ends this term in the database, so that another
// replica may lead at once. It returns the database's error, if any; the
// lease then expires after the TTL. Calling it again does nothing.
func (l *lease) Release(ctx context.Context) error {
	if !l.markReleased() {
		return nil
	}
	l.end()
	if err := l.e.release(ctx, []leaseTerm{{l.name, l.term}}); err != nil {
		return fmt.Errorf("postgres: release %q (term %d): %w", l.name, l.term, err)
	}
	return nil
}

// markReleased reports whether the lease was not released before.
func (l *lease) markReleased() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := !l.released
	l.released = true
	return first
}

func (l *lease) isDone() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// extend moves the local deadline to d, unless the lease has ended. It
// reports whether the lease is still held.
func (l *lease) extend(d time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended || !time.Now().Before(d) {
		return false
	}
	if d.After(l.deadline) {
		l.deadline = d
		l.timer.Reset(time.Until(d))
	}
	return true
}

// expire runs at the local deadline, unless the lease was renewed in time.
func (l *lease) expire() {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	if wait := time.Until(l.deadline); wait > 0 {
		l.timer.Reset(wait) // renewed while this call was on its way
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.end()
}

// end closes Done, once, and tells the Elector.
func (l *lease) end() {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended = true
	close(l.done)
	l.timer.Stop()
	l.mu.Unlock()
	l.e.leaseEnded(l)
}
