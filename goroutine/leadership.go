package goroutine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
)

// WithLeaderElection makes the routine a singleton across the replicas of
// a service: its handler runs only on the replica that leads the routine's
// name through e (see Elector), at most one run per interval across the
// fleet.
//
// While this replica does not lead, no run starts and the next-run gauge
// is 0. When it gains leadership it waits for the rest of the interval
// since the last start any leader recorded, so a restart or a failover
// does not run the routine early. Each run first records its start with
// the lease; a run that cannot is not started. When leadership is lost,
// the running handler's context is cancelled at once and the run is
// recorded as canceled. The handler reads its lease, and the fencing
// token to guard its writes with, through LeaseFromContext. When the
// routine stops it releases its lease, so that another replica can take
// over at once.
//
// The routine_leader gauge and routine_leader_transitions_total counter,
// and the Leadership of Status, show this replica's part.
func WithLeaderElection(e Elector) Option {
	return optionFunc(func(c *config) error {
		if e == nil {
			return fmt.Errorf("WithLeaderElection: nil Elector")
		}
		c.elector = e
		return nil
	})
}

// Leadership is a singleton routine's leadership as this replica sees it.
type Leadership struct {
	// Leader reports whether this replica leads the routine now.
	Leader bool `json:"leader"`
	// Term is the fencing token of the current term while Leader, and of
	// the last term this replica led otherwise (0 if it never led).
	Term uint64 `json:"term"`
	// Since is when this replica last became leader or follower.
	Since time.Time `json:"since"`
}

// Durations of the campaign loop.
const (
	// campaignRetry is the first pause after a failed Campaign; it
	// doubles up to campaignRetryMax.
	campaignRetry    = 100 * time.Millisecond
	campaignRetryMax = 5 * time.Second
	// releaseTimeout bounds how long a stopping routine waits to release
	// its lease.
	releaseTimeout = 5 * time.Second
)

// leadership is a singleton routine's lease on this replica: the campaign
// goroutine writes it, the loops wait for it.
type leadership struct {
	elector     Elector
	gauge       prometheus.Gauge
	transitions prometheus.Counter

	mu      sync.Mutex
	lease   Lease         // nil while this replica does not lead
	changed chan struct{} // closed, and replaced, when lease changes
	term    uint64
	since   time.Time
}

func newLeadership(e Elector, gauge prometheus.Gauge, transitions prometheus.Counter) *leadership {
	gauge.Set(0)
	return &leadership{elector: e, gauge: gauge, transitions: transitions, changed: make(chan struct{}), since: time.Now()}
}

// set records that this replica now holds l, or holds nothing (l nil).
func (l *leadership) set(lease Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lease = lease
	l.since = time.Now()
	if lease != nil {
		l.term = lease.Term()
		l.gauge.Set(1)
	} else {
		l.gauge.Set(0)
	}
	l.transitions.Inc()
	close(l.changed)
	l.changed = make(chan struct{})
}

// wait blocks until this replica holds a lease, and returns it, or until
// ctx is done or wake is closed, and returns nil.
func (l *leadership) wait(ctx context.Context, wake <-chan struct{}) Lease {
	for {
		l.mu.Lock()
		lease, changed := l.lease, l.changed
		l.mu.Unlock()
		if lease != nil {
			select {
			case <-lease.Done():
				// Lost; the campaign goroutine is about to say so.
			default:
				return lease
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
			return nil
		case <-changed:
		}
	}
}

func (l *leadership) snapshot() *Leadership {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &Leadership{Leader: l.lease != nil, Term: l.term, Since: l.since}
}

// campaign runs on a goroutine of its own while the routine runs: it
// campaigns for the routine's name, holds the lease until it ends, and
// campaigns again, until the routine stops; then it releases the lease it
// holds.
func (r *PeriodicGoroutine) campaign() {
	l := r.leader
	retry := campaignRetry
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for r.ctx.Err() == nil {
		var lease Lease
		err := callRecovering(func() (err error) {
			lease, err = l.elector.Campaign(r.ctx, r.name)
			return err
		})
		if err == nil && lease == nil {
			err = fmt.Errorf("Elector %T returned neither a lease nor an error", l.elector)
		}
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrElectorClosed) {
				r.cfg.observation.Logger().Error("routine "+r.name+": its elector is closed; it will not run on this replica until restarted",
					log.String("routine", r.name), log.Error(err))
				return
			}
			r.cfg.observation.Logger().Warn("routine "+r.name+": campaign for leadership failed; retrying",
				log.String("routine", r.name), log.Error(err), log.Duration("retryIn", retry))
			if !sleepUntil(r.ctx, timer, time.Now().Add(retry), nil) {
				return
			}
			retry = min(2*retry, campaignRetryMax)
			continue
		}
		retry = campaignRetry
		l.set(lease)
		select {
		case <-lease.Done():
			l.set(nil)
		case <-r.ctx.Done():
			l.set(nil)
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			err := callRecovering(func() error { return lease.Release(ctx) })
			cancel()
			if err != nil {
				r.cfg.observation.Logger().Warn("routine "+r.name+": releasing leadership failed; another replica takes over when the lease expires",
					log.String("routine", r.name), log.Error(err))
			}
			return
		}
	}
}

// leadAndRun runs one handler loop of a singleton routine: it waits for
// this replica to lead, runs the schedule while the lease holds, and
// waits again after it is lost, until the routine stops or the loop is
// retired.
func (r *PeriodicGoroutine) leadAndRun(st *loopState) {
	for {
		r.due.set(st.index, time.Time{}) // no run due while following
		retired, changed := r.pool.watch(st.index)
		if retired {
			return
		}
		lease := r.leader.wait(r.ctx, changed)
		if lease == nil {
			if r.ctx.Err() != nil {
				return
			}
			continue
		}
		// A new term: the streak of failures (and the backoff) of the
		// runs this replica made while it led before is not this
		// term's.
		st.failures = 0
		r.streaks.set(st.index, 0)
		// The shared schedule: no run before the last start any leader
		// recorded plus the interval.
		if last := lease.LastStart(); !last.IsZero() {
			if next := last.Add(r.currentInterval()); next.After(st.fire) {
				st.grid, st.fire = next, next
			}
		}
		// The run's context ends with the lease, or when runSchedule
		// returns (which also ends this goroutine).
		ctx, cancel := context.WithCancel(contextWithLease(r.ctx, lease))
		go func() {
			select {
			case <-lease.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
		r.runSchedule(ctx, st, lease)
		cancel()
		// runSchedule returns when the lease ended, when the loop was
		// retired, or when it could not record a start: a lease that
		// cannot is as good as lost, so wait for it to end rather than
		// try it again.
		if !r.untilEnded(lease, st) {
			return
		}
	}
}

// untilEnded waits for lease to end, reporting false at once when the
// routine stops or loop st is retired.
func (r *PeriodicGoroutine) untilEnded(lease Lease, st *loopState) bool {
	for {
		retired, changed := r.pool.watch(st.index)
		if retired {
			return false
		}
		select {
		case <-lease.Done():
			return true
		case <-r.ctx.Done():
			return false
		case <-changed:
		}
	}
}
