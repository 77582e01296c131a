package goroutine

import (
	"context"
	"errors"
	"time"
)

// ErrElectorClosed is returned, or wrapped, by Campaign of an Elector that
// was closed: the routine stops campaigning and stays a follower until it
// is stopped, instead of retrying.
var ErrElectorClosed = errors.New("goroutine: elector closed")

// Elector chooses, among the replicas of a service, the one that runs a
// singleton routine (WithLeaderElection). One Elector serves every
// singleton routine of a process; it decides per routine name, so
// different routines may be led by different replicas.
//
// The PostgreSQL implementation lives in the nested module
// github.com/routinely/routinely/election/postgres. Other stores fit the
// same shape:
//
//   - A Kubernetes Lease (coordination.k8s.io/v1) per routine name:
//     Campaign creates or takes over the Lease when its renewTime plus
//     leaseDurationSeconds has passed; Term is leaseTransitions; the last
//     start is kept in an annotation, written with the Lease's
//     resourceVersion so that a stale leader's write fails.
//   - An etcd election (go.etcd.io/etcd/client/v3/concurrency) per name:
//     Campaign is Election.Campaign on a session's lease; Term is the
//     leader key's CreateRevision; Done is the session's Done channel; the
//     last start is a key written in a Txn guarded by the leader key.
type Elector interface {
	// Campaign blocks until this process leads the routine called name,
	// or ctx is done, when it returns ctx.Err(). An error wrapping
	// ErrElectorClosed is final; any other error is transient: the
	// routine logs it and campaigns again after a pause.
	Campaign(ctx context.Context, name string) (Lease, error)
}

// Lease is one term of one replica's leadership of one routine. The
// routine runs its handler only while it holds a Lease whose Done channel
// is open, and passes the Lease to the handler through its context
// (LeaseFromContext).
type Lease interface {
	// Term is the fencing token of this term: it is greater than the
	// term of every earlier leadership of the same routine, on any
	// replica. A handler guards its writes with it.
	Term() uint64
	// Done is closed as soon as this replica can no longer be sure that
	// it leads: the lease was lost or released, or was not renewed before
	// a deadline kept by this process's monotonic clock, which ends
	// before the lease can expire for the other replicas.
	Done() <-chan struct{}
	// LastStart is when any leader last started a run of this routine,
	// as recorded by RecordStart, or the zero time if it never ran. A new
	// leader waits until LastStart plus the interval before its first
	// run, so the schedule survives restarts and failovers.
	LastStart() time.Time
	// RecordStart records that a run starts at t. It fails when this
	// term is no longer the current one; the run is then not started.
	// The routine runs no more under a lease whose RecordStart failed and
	// waits for its Done: an implementation that fails for another reason
	// (the store is unreachable) retries first, and closes Done if it
	// still fails, or the routine holds the lease without running.
	RecordStart(ctx context.Context, t time.Time) error
	// Release gives up the leadership, so that another replica can lead
	// at once instead of after the lease expires. Done is closed when it
	// returns. It is called when the routine stops.
	Release(ctx context.Context) error
}

type leaseKey struct{}

// LeaseFromContext returns the Lease under which a singleton routine's
// handler runs, and false for a routine without WithLeaderElection. A
// handler fences its writes with Lease.Term.
func LeaseFromContext(ctx context.Context) (Lease, bool) {
	l, ok := ctx.Value(leaseKey{}).(Lease)
	return l, ok
}

// contextWithLease returns ctx carrying l, for LeaseFromContext.
func contextWithLease(ctx context.Context, l Lease) context.Context {
	return context.WithValue(ctx, leaseKey{}, l)
}
