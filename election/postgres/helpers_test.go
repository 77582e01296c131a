package postgres_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routinely/routinely/election/postgres"
	"github.com/routinely/routinely/goroutine"
)

// Short timings keep the tests fast: the local deadline is 800ms after
// each renewal was sent.
const (
	ttl    = time.Second
	renew  = 200 * time.Millisecond
	margin = 200 * time.Millisecond
	// slack absorbs scheduling delays on a loaded machine (-race).
	slack = 150 * time.Millisecond
)

var (
	tablesMu sync.Mutex
	tables   = map[testing.TB]string{}
)

// tableFor returns a lease table name of the test's own, dropped when the
// test first asks for it (tests may run more than once: -count).
func tableFor(t testing.TB) string {
	t.Helper()
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if name, ok := tables[t]; ok {
		return name
	}
	name := "leases_" + strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	dropTable(t, name)
	tables[t] = name
	t.Cleanup(func() {
		tablesMu.Lock()
		delete(tables, t)
		tablesMu.Unlock()
	})
	return name
}

// dropTable drops a table left over by an earlier run of the test.
func dropTable(t testing.TB, name string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), db(t).ConnString(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+name); err != nil {
		t.Fatal(err)
	}
}

// newElector returns an Elector with the test's timings and table that
// connects as role (postgres when empty) with application_name app, and
// closes it when the test ends.
func newElector(t testing.TB, role, app string, opts ...postgres.Option) *postgres.Elector {
	t.Helper()
	s := db(t)
	opts = append([]postgres.Option{
		postgres.WithTTL(ttl), postgres.WithRenewInterval(renew), postgres.WithSafetyMargin(margin),
		postgres.WithTable(tableFor(t)), postgres.WithHolder(app),
	}, opts...)
	e, err := postgres.New(s.ConnString(role, "application_name="+app), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// adminPool returns a pool for the test's own queries, closed when the
// test ends.
func adminPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), db(t).ConnString("", "application_name=admin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// campaign returns the lease of name, failing the test when it is not
// acquired within d. Transient errors (the database is down) are retried.
func campaign(t testing.TB, e *postgres.Elector, name string, d time.Duration) goroutine.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		l, err := e.Campaign(ctx, name)
		if err == nil {
			return l
		}
		if ctx.Err() != nil {
			t.Fatalf("Campaign(%q) on %s: not leading after %v: %v", name, e.Holder(), d, err)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// campaignAsync campaigns for name in the background, until the test
// ends; the lease arrives on the returned channel.
func campaignAsync(t testing.TB, e *postgres.Elector, name string) <-chan goroutine.Lease {
	ch := make(chan goroutine.Lease, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			l, err := e.Campaign(ctx, name)
			if err == nil {
				ch <- l
				return
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}()
	return ch
}

func isDone(l goroutine.Lease) bool {
	select {
	case <-l.Done():
		return true
	default:
		return false
	}
}

// doneAt returns when l's Done closes, by a goroutine that watches it
// until the test ends.
func doneAt(t testing.TB, l goroutine.Lease) <-chan time.Time {
	ch := make(chan time.Time, 1)
	stop := make(chan struct{})
	exited := make(chan struct{})
	t.Cleanup(func() { close(stop); <-exited })
	go func() {
		defer close(exited)
		select {
		case <-l.Done():
			ch <- time.Now()
		case <-stop:
		}
	}()
	return ch
}

// queryCounter counts the statements sent on the connections it traces.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func mustExec(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
