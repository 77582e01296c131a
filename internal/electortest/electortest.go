// Package electortest has a goroutine.Elector for tests that need
// singleton routines without a database.
package electortest

import (
	"context"
	"slices"
	"time"

	"github.com/routinely/routinely/goroutine"
)

// Leading returns an Elector under which this process leads the routines
// named, at once and for good (term 1, a lease never lost), and never any
// other: one replica's view of a fleet where the other routines have no
// leader.
func Leading(names ...string) goroutine.Elector { return leading(names) }

type leading []string

func (l leading) Campaign(ctx context.Context, name string) (goroutine.Lease, error) {
	if slices.Contains(l, name) {
		return forever{}, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// forever is a lease that is never lost.
type forever struct{}

func (forever) Term() uint64                                 { return 1 }
func (forever) Done() <-chan struct{}                        { return nil }
func (forever) LastStart() time.Time                         { return time.Time{} }
func (forever) RecordStart(context.Context, time.Time) error { return nil }
func (forever) Release(context.Context) error                { return nil }
