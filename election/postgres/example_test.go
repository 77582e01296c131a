package postgres_test

import (
	"context"
	"log"
	"time"

	"github.com/routinely/routinely/election/postgres"
)

// An Elector serves every singleton routine of a process. This one
// campaigns for one routine directly, as goroutine.WithLeaderElection does.
func Example() {
	elector, err := postgres.New("postgres://app@db.internal/app",
		postgres.WithTTL(15*time.Second)) // renew every 5s, Done after 12s without renewal
	if err != nil {
		log.Fatal(err)
	}
	defer elector.Close() // releases the leases, so another replica leads at once

	ctx := context.Background()
	lease, err := elector.Campaign(ctx, "nightly-report")
	if err != nil {
		log.Fatal(err)
	}
	if err := lease.RecordStart(ctx, time.Now()); err != nil {
		return // no longer the leader
	}
	select {
	case <-lease.Done(): // lost: stop working
	case <-time.After(time.Minute):
	}
	_ = lease.Release(ctx)
}
