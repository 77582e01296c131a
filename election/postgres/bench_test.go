package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routinely/routinely/election/postgres"
)

// BenchmarkFleet measures the cost of leader election for 1, 100 and
// 1,000 singleton routines in a fleet of 3 replicas (three Electors, each
// with a pool of its own as New makes it, in one process): database round
// trips per second and connections, per replica. Every replica campaigns
// for every routine, and campaigns again when a lease ends, as
// goroutine.WithLeaderElection does. Each iteration is one renew interval
// of the steady state.
func BenchmarkFleet(b *testing.B) {
	for _, routines := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("routines=%d", routines), func(b *testing.B) {
			benchmarkFleet(b, 3, routines)
		})
	}
}

func benchmarkFleet(b *testing.B, replicas, routines int) {
	s := db(b)
	table := tableFor(b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	counters := make([]*queryCounter, replicas)
	for i := range replicas {
		app := fmt.Sprintf("bench-%d", i)
		pcfg, err := pgxpool.ParseConfig(s.ConnString("", "application_name="+app))
		if err != nil {
			b.Fatal(err)
		}
		pcfg.MaxConns = 1
		pcfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
		counters[i] = &queryCounter{}
		pcfg.ConnConfig.Tracer = counters[i]
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			b.Fatal(err)
		}
		e, err := postgres.NewWithPool(pool, postgres.WithTTL(ttl), postgres.WithRenewInterval(renew),
			postgres.WithSafetyMargin(margin), postgres.WithTable(table), postgres.WithHolder(app))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = e.Close(); pool.Close() })
		for r := range routines {
			wg.Go(func() {
				name := fmt.Sprintf("routine-%d", r)
				for ctx.Err() == nil {
					l, err := e.Campaign(ctx, name)
					if err != nil {
						continue // ctx done, or a failed round: campaign again
					}
					select {
					case <-l.Done():
					case <-ctx.Done():
					}
				}
			})
		}
	}
	b.Cleanup(func() { cancel(); wg.Wait() })

	// Wait until every routine has a leader, then measure.
	admin := adminPool(b)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var led int
		err := admin.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE expires_at > now()").Scan(&led)
		if err == nil && led == routines {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d routines led after 30s (%v)", led, routines, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := make([]int64, replicas)
	for i, c := range counters {
		before[i] = c.n.Load()
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		time.Sleep(renew) // the fleet works on its own; we measure it
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var queries int64
	for i, c := range counters {
		queries += c.n.Load() - before[i]
	}
	var conns int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'bench-%'").Scan(&conns); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(queries)/elapsed.Seconds()/float64(replicas), "roundtrips/s/replica")
	b.ReportMetric(float64(conns)/float64(replicas), "conns/replica")
	b.ReportMetric(0, "ns/op")
}
