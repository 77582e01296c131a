package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routinely/routinely/goroutine"
)

// ErrLeaseLost is returned (wrapped) by Lease.RecordStart and Fence when
// the term is no longer the current one: another replica took over, the
// lease expired, or it was released.
var ErrLeaseLost = errors.New("postgres: lease lost")

// ErrClosed is returned by Campaign after Close. It wraps
// goroutine.ErrElectorClosed, so a routine stops campaigning.
var ErrClosed = fmt.Errorf("postgres: %w", goroutine.ErrElectorClosed)

// releaseTimeout bounds how long Close waits for the database to release
// the leases it holds.
const maxReleaseTimeout = 5 * time.Second

var _ goroutine.Elector = (*Elector)(nil)

// Elector is a goroutine.Elector that keeps one lease row per routine name
// in a PostgreSQL table. One Elector serves every singleton routine of a
// process: a single background loop renews all the leases it holds and
// tries to acquire all the names it campaigns for, in one round trip per
// renew interval, over one connection.
//
// Its methods are safe for concurrent use. Close it when done.
type Elector struct {
	cfg     config
	q       queries
	pool    *pgxpool.Pool
	ownPool bool

	trigger  chan struct{} // a Campaign or an ended lease wants a round now
	roundSem chan struct{} // held while a renew or release statement runs
	cancel   context.CancelFunc
	loopDone chan struct{}

	closeOnce sync.Once
	closeErr  error

	mu          sync.Mutex
	closed      bool
	schemaReady bool // only the loop reads and writes it
	held        map[string]*lease
	waiters     map[string][]*waiter
}

// waiter is a Campaign waiting for its name.
type waiter struct {
	ch chan campaignResult // buffered; receives exactly one result
}

type campaignResult struct {
	l   *lease
	err error
}

// New returns an Elector that connects to the database at connString (a
// URL or key=value string, see pgxpool.ParseConfig) through a pool of its
// own, limited to one connection, and closes it on Close. It does not
// connect until the first Campaign: a database that is down at start-up
// delays leadership, not the process.
//
// The pool does not ping a connection before using it (pgxpool pings one
// idle for over a second by default), so that a renewal is one round trip:
// a connection the server has closed fails one renewal, which is retried
// at once on a new connection.
func New(connString string, opts ...Option) (*Elector, error) {
	pcfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse connection string: %w", err)
	}
	pcfg.MaxConns = 1
	pcfg.MinConns = 0
	pcfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	return newElector(cfg, pool, true), nil
}

// NewWithPool returns an Elector that uses pool, which it does not close.
// The Elector runs one statement at a time, so it takes at most one of the
// pool's connections at a time; Lease.RecordStart and Lease.Release, called
// by the routines, take one too. To keep the cost to one connection per
// process, give it a pool of its own with MaxConns 1 (and ShouldPing
// returning false, as New does, to keep a renewal to one round trip).
//
// Close the Elector before the pool: pgxpool's Close waits for every
// connection to be returned.
func NewWithPool(pool *pgxpool.Pool, opts ...Option) (*Elector, error) {
	if pool == nil {
		return nil, errors.New("postgres: NewWithPool: the pool is nil")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return newElector(cfg, pool, false), nil
}

func newElector(cfg config, pool *pgxpool.Pool, own bool) *Elector {
	ctx, cancel := context.WithCancel(context.Background())
	e := &Elector{
		cfg:      cfg,
		q:        newQueries(cfg.table),
		pool:     pool,
		ownPool:  own,
		trigger:  make(chan struct{}, 1),
		roundSem: make(chan struct{}, 1),
		cancel:   cancel,
		loopDone: make(chan struct{}),
		held:     map[string]*lease{},
		waiters:  map[string][]*waiter{},
	}
	go e.loop(ctx)
	return e
}

// Holder returns the identity this Elector writes in the holder column
// (see WithHolder).
func (e *Elector) Holder() string { return e.cfg.holder }

// Campaign blocks until this Elector holds the lease of the routine called
// name, and returns it; or until ctx is done, when it returns ctx.Err().
// The lease is acquired by the Elector's loop, which runs a round at once
// when Campaign is called and then every renew interval: after a leader
// releases its lease, another replica leads within a renew interval;
// after a leader vanishes, within TTL plus a renew interval.
//
// A round that fails (the database is unreachable, say) makes Campaign
// return the error, as goroutine.Elector says; campaign again after a
// pause. After Close, Campaign returns ErrClosed.
//
// Within one Elector, one lease per name exists at a time: a second
// Campaign for a name that is held waits until that lease ends.
func (e *Elector) Campaign(ctx context.Context, name string) (goroutine.Lease, error) {
	if err := goroutine.ValidateName(name); err != nil {
		return nil, fmt.Errorf("postgres: Campaign: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &waiter{ch: make(chan campaignResult, 1)}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	e.waiters[name] = append(e.waiters[name], w)
	e.mu.Unlock()
	e.poke()

	select {
	case r := <-w.ch:
		if r.err != nil {
			return nil, r.err
		}
		return r.l, nil
	case <-ctx.Done():
	}
	e.mu.Lock()
	removed := e.removeWaiter(name, w)
	e.mu.Unlock()
	if !removed {
		// The loop answered while ctx ended: give the lease back.
		if r := <-w.ch; r.l != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.releaseTimeout())
			_ = r.l.Release(rctx)
			cancel()
		}
	}
	return nil, ctx.Err()
}

// removeWaiter removes w from the waiters of name, and reports whether it
// was there. e.mu is held.
func (e *Elector) removeWaiter(name string, w *waiter) bool {
	ws := e.waiters[name]
	i := slices.Index(ws, w)
	if i < 0 {
		return false
	}
	ws = slices.Delete(ws, i, i+1)
	if len(ws) == 0 {
		delete(e.waiters, name)
	} else {
		e.waiters[name] = ws
	}
	return true
}

// Close stops the Elector: Campaigns return ErrClosed, and the leases it
// holds are released (their Done channels closed) so that other replicas
// take over at once. It waits for the database at most min(TTL, 5s) and
// returns the error of the release, if any; the leases then expire by
// themselves. It closes the pool made by New. Close is idempotent; every
// call returns the first call's result.
func (e *Elector) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		waiters := e.waiters
		e.waiters = map[string][]*waiter{}
		e.mu.Unlock()
		for _, ws := range waiters {
			for _, w := range ws {
				w.ch <- campaignResult{err: ErrClosed}
			}
		}

		e.cancel()
		<-e.loopDone

		e.mu.Lock()
		var held []*lease
		for _, l := range e.held {
			held = append(held, l)
		}
		e.held = map[string]*lease{}
		e.mu.Unlock()
		var live []leaseTerm
		for _, l := range held {
			if l.markReleased() {
				live = append(live, leaseTerm{l.name, l.term})
			}
			l.end()
		}
		if len(live) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), e.releaseTimeout())
			if err := e.release(ctx, live); err != nil {
				e.closeErr = fmt.Errorf("postgres: Close: release %d leases: %w", len(live), err)
			}
			cancel()
		}
		if e.ownPool {
			e.pool.Close()
		}
	})
	return e.closeErr
}

func (e *Elector) releaseTimeout() time.Duration {
	return min(e.cfg.ttl, maxReleaseTimeout)
}

// poke asks the loop for a round now.
func (e *Elector) poke() {
	select {
	case e.trigger <- struct{}{}:
	default:
	}
}

// loop runs a round at once when poked, and a renew interval after the
// start of the previous round: renewals are sent at a fixed rate, however
// long each round trip takes.
func (e *Elector) loop(ctx context.Context) {
	defer close(e.loopDone)
	t := time.NewTimer(e.cfg.renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.trigger:
		}
		start := time.Now()
		e.round(ctx)
		t.Reset(time.Until(start.Add(e.cfg.renew)))
	}
}

// round renews the held leases and tries to acquire the wanted names, in
// one statement.
func (e *Elector) round(ctx context.Context) {
	e.mu.Lock()
	var names []string
	var terms []int64
	sent := map[string]*lease{} // the held leases in this round
	for name, l := range e.held {
		if l.isDone() {
			delete(e.held, name)
			continue
		}
		names = append(names, name)
		terms = append(terms, int64(l.term))
		sent[name] = l
	}
	for name := range e.waiters {
		if _, ok := e.held[name]; !ok {
			names = append(names, name)
			terms = append(terms, 0)
		}
	}
	e.mu.Unlock()
	if len(names) == 0 {
		return
	}

	rows, sentAt, err := e.renew(ctx, names, terms)
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		// The connection may have been closed under us (a restarted
		// server, pg_terminate_backend): try once more, on a new one.
		rows, sentAt, err = e.renew(ctx, names, terms)
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		err = fmt.Errorf("postgres: renew and acquire leases: %w", err)
		e.mu.Lock()
		for _, name := range names {
			if _, ok := sent[name]; ok {
				continue // the lease ends at its local deadline
			}
			for _, w := range e.waiters[name] {
				w.ch <- campaignResult{err: err}
			}
			delete(e.waiters, name)
		}
		e.mu.Unlock()
		return
	}

	deadline := sentAt.Add(e.cfg.ttl - e.cfg.margin)
	got := map[string]leaseRow{}
	for _, r := range rows {
		got[r.name] = r
	}
	var lost []*lease
	var unwanted []leaseTerm
	e.mu.Lock()
	for name, l := range sent {
		if r, ok := got[name]; ok && r.term == l.term {
			if l.extend(deadline) {
				delete(got, name)
				continue
			}
			// The lease ended while its renewal was under way: this
			// term is not handed out again.
			unwanted = append(unwanted, leaseTerm{name, r.term})
			delete(got, name)
			continue
		}
		lost = append(lost, l)
	}
	for name, r := range got {
		ws := e.waiters[name]
		if len(ws) == 0 || !time.Now().Before(deadline) {
			unwanted = append(unwanted, leaseTerm{name, r.term})
			continue
		}
		w := ws[0]
		e.removeWaiter(name, w)
		l := newLease(e, name, r.term, r.lastStart, deadline)
		e.held[name] = l
		w.ch <- campaignResult{l: l}
	}
	e.mu.Unlock()
	for _, l := range lost {
		l.end()
	}
	if len(unwanted) > 0 {
		rctx, cancel := context.WithTimeout(ctx, e.cfg.renew)
		_ = e.release(rctx, unwanted) // else they expire after the TTL
		cancel()
		e.mu.Lock()
		again := false
		for _, t := range unwanted {
			again = again || len(e.waiters[t.name]) > 0
		}
		e.mu.Unlock()
		if again {
			e.poke()
		}
	}
}

type leaseRow struct {
	name      string
	term      uint64
	lastStart time.Time
}

// renew runs the renew statement and returns the rows, and the local time
// at which the statement was sent.
func (e *Elector) renew(ctx context.Context, names []string, terms []int64) ([]leaseRow, time.Time, error) {
	if !e.schemaReady {
		sctx, cancel := context.WithTimeout(ctx, e.cfg.renew)
		err := ensureSchema(sctx, e.pool, e.q)
		cancel()
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("create table %s: %w", e.q.table, err)
		}
		e.schemaReady = true
	}
	select {
	case e.roundSem <- struct{}{}:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	defer func() { <-e.roundSem }()

	qctx, cancel := context.WithTimeout(ctx, e.cfg.renew)
	defer cancel()
	sentAt := time.Now()
	rows, err := e.pool.Query(qctx, e.q.renew, e.cfg.holder, names, terms, e.cfg.ttl.Microseconds())
	if err != nil {
		e.checkSchema(err)
		return nil, sentAt, err
	}
	got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leaseRow, error) {
		var r leaseRow
		var term int64
		var last *time.Time
		if err := row.Scan(&r.name, &term, &last); err != nil {
			return r, err
		}
		r.term = uint64(term)
		if last != nil {
			r.lastStart = *last
		}
		return r, nil
	})
	if err != nil {
		e.checkSchema(err)
		return nil, sentAt, err
	}
	return got, sentAt, nil
}

// checkSchema makes the next round create the table again if err says it
// is missing.
func (e *Elector) checkSchema(err error) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		e.schemaReady = false
	}
}

// leaseTerm names one term of one routine's lease.
type leaseTerm struct {
	name string
	term uint64
}

// release ends the given terms in the database at once.
func (e *Elector) release(ctx context.Context, ts []leaseTerm) error {
	names := make([]string, len(ts))
	terms := make([]int64, len(ts))
	for i, t := range ts {
		names[i], terms[i] = t.name, int64(t.term)
	}
	// Wait for a renewal under way, which might otherwise extend a
	// lease after it was released.
	select {
	case e.roundSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.roundSem }()
	_, err := e.pool.Exec(ctx, e.q.release, e.cfg.holder, names, terms)
	return err
}

// leaseEnded forgets l, and asks for a round if another Campaign waits for
// its name.
func (e *Elector) leaseEnded(l *lease) {
	e.mu.Lock()
	if e.held[l.name] == l {
		delete(e.held, l.name)
	}
	again := len(e.waiters[l.name]) > 0
	e.mu.Unlock()
	if again {
		e.poke()
	}
}
