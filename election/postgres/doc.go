// Package postgres is a goroutine.Elector backed by PostgreSQL: it chooses,
// among the replicas of a service, the one that runs each singleton
// routine (goroutine.WithLeaderElection).
//
// Each routine name has one row in a lease table (schema.sql, created on
// first use): the holder, a term that is the fencing token and only grows,
// an expiry kept by the database's clock, and the routine's last start.
// Unlike session advisory locks, a lease row works behind PgBouncer's
// transaction pooling, survives a dropped connection for the length of the
// lease, and yields a token that writes can be fenced with.
//
// The cost does not grow with the number of routines: an Elector uses one
// connection, and a single loop renews every lease it holds and tries to
// acquire every name it campaigns for in one statement, one round trip per
// renew interval.
//
// # Timing
//
// With TTL (WithTTL, 10s), renew interval R (WithRenewInterval, TTL/3) and
// safety margin M (WithSafetyMargin, TTL/5):
//
//   - A lease renewed by a request sent at local time t0 is held until
//     t0 + TTL - M by this process's monotonic clock; Done closes then
//     unless a later renewal succeeded, even when the database is
//     unreachable. The database keeps it until at least t0 + TTL, so no
//     other replica may lead before Done has closed.
//   - Done closes at once when a renewal finds that another replica holds
//     the lease, or when Release or Close gives it up.
//   - After a leader releases its lease, a waiting replica leads within R;
//     after it vanishes, within TTL + R of its last renewal.
//
// # Fencing
//
// A leader paused past its local deadline (a long GC pause, a frozen VM)
// may wake up and write as if it still led. To reject such writes, a
// handler checks its term in the transaction that holds its writes, with
// Fence:
//
//	l, _ := goroutine.LeaseFromContext(ctx)
//	tx, err := pool.Begin(ctx)
//	...
//	if err := elector.Fence(ctx, tx, "my-routine", l.Term()); err != nil {
//		return err // ErrLeaseLost: the term is over; nothing is written
//	}
//	... writes ...
//	return tx.Commit(ctx)
//
// or in the write itself (the lease table is Elector.Table()):
//
//	INSERT INTO runs (name, term, started, ended)
//	SELECT $1, $2, $3, $4
//	WHERE EXISTS (
//		SELECT 1 FROM routinely_leases
//		WHERE name = $1 AND term = $2 AND expires_at > clock_timestamp()
//		FOR SHARE)
//
// FOR SHARE holds the lease row until the transaction ends, so no new term
// can begin before a fenced write commits, and a write of an older term
// finds it over. The lock also delays renewals: keep fenced transactions
// short.
package postgres
