//go:build linux

package fleettest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routinely/routinely/election/postgres"
	"github.com/routinely/routinely/goroutine"
)

// The environment of a replica process. replicaEnv marks the test binary
// as a replica (its value is the replica's id, which is also its holder
// identity and its elector connection's application_name; the handler's
// connections use id-work).
const (
	replicaEnv  = "ROUTINELY_FLEETTEST_REPLICA"
	dsnEnv      = "ROUTINELY_FLEETTEST_DSN"
	leasesEnv   = "ROUTINELY_FLEETTEST_LEASES"
	runsEnv     = "ROUTINELY_FLEETTEST_RUNS"
	routineEnv  = "ROUTINELY_FLEETTEST_ROUTINE"
	intervalEnv = "ROUTINELY_FLEETTEST_INTERVAL"
	workEnv     = "ROUTINELY_FLEETTEST_WORK"
)

// The elector timings of every replica: the local deadline is 800ms after
// each renewal was sent.
const (
	ttl    = time.Second
	renew  = 200 * time.Millisecond
	margin = 200 * time.Millisecond
	// step is the granularity at which a handler's work looks at its
	// context: a frozen process that resumes sees its cancellation within
	// a step instead of racing it.
	step = 2 * time.Millisecond
)

// say writes one line to standard output, where the test reads it.
var sayMu sync.Mutex

func say(format string, args ...any) {
	sayMu.Lock()
	defer sayMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// replicaMain runs one replica until SIGTERM or SIGINT, and returns its
// exit code. It prints:
//
//	start term=N            the handler started a run under term N
//	canceled term=N         the run's context was cancelled (leadership lost)
//	committed term=N        the run's row was committed
//	fenced term=N           the fence rejected the run's write (term over)
//	error term=N err=...    the write failed otherwise
func replicaMain() int {
	id := os.Getenv(replicaEnv)
	dsn := os.Getenv(dsnEnv)
	runs := os.Getenv(runsEnv)
	name := os.Getenv(routineEnv)
	interval, err1 := time.ParseDuration(os.Getenv(intervalEnv))
	work, err2 := time.ParseDuration(os.Getenv(workEnv))
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, "replica:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	e, err := postgres.New(dsn+"&application_name="+id,
		postgres.WithTTL(ttl), postgres.WithRenewInterval(renew), postgres.WithSafetyMargin(margin),
		postgres.WithTable(os.Getenv(leasesEnv)), postgres.WithHolder(id))
	if err != nil {
		fmt.Fprintln(os.Stderr, "replica:", err)
		return 2
	}
	defer e.Close()
	pool, err := pgxpool.New(ctx, dsn+"&application_name="+id+"-work")
	if err != nil {
		fmt.Fprintln(os.Stderr, "replica:", err)
		return 2
	}
	defer pool.Close()
	// A service's pool is warm; a follower's first run as leader must
	// not pay for opening the connection (100-200 ms on a loaded CI
	// machine, enough to skip a tick).
	if err := pool.Ping(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "replica:", err)
		return 2
	}

	insert := fmt.Sprintf("INSERT INTO %s (replica, term, started, ended) VALUES ($1, $2, $3, $4)", pgx.Identifier{runs}.Sanitize())
	handler := goroutine.HandlerFunc(func(ctx context.Context) error {
		l, ok := goroutine.LeaseFromContext(ctx)
		if !ok {
			return errors.New("no lease in the handler's context")
		}
		// The run's start as recorded with the lease, on the schedule:
		// the shared schedule is kept by these, and the interval
		// [start, end] covers the handler's work.
		term, start := l.Term(), l.LastStart()
		say("start term=%d", term)
		for range int(work / step) {
			select {
			case <-ctx.Done():
				say("canceled term=%d", term)
				return ctx.Err()
			case <-time.After(step):
			}
		}
		end := time.Now()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := e.Fence(ctx, tx, name, term); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, insert, id, int64(term), start, end)
			return err
		})
		switch {
		case err == nil:
			say("committed term=%d", term)
		case ctx.Err() != nil:
			say("canceled term=%d", term)
		case errors.Is(err, postgres.ErrLeaseLost):
			say("fenced term=%d", term)
		default:
			say("error term=%d err=%s", term, strconv.Quote(err.Error()))
		}
		return err
	})
	r, err := goroutine.NewPeriodic(ctx, interval, handler,
		goroutine.WithName(name), goroutine.WithLeaderElection(e))
	if err != nil {
		fmt.Fprintln(os.Stderr, "replica:", err)
		return 2
	}
	say("ready")
	r.Start() // returns when ctx is done: Stop releases the lease
	return 0
}
