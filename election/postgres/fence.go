package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Fence checks, inside the caller's transaction, that term is still the
// current term of the routine called name, and locks its lease row FOR
// SHARE until the transaction ends: no other replica can begin a new term
// before the transaction commits or rolls back. A handler calls it first
// in the transaction that holds its writes, with the term of the Lease
// under which it runs (goroutine.LeaseFromContext); when it returns an
// error wrapping ErrLeaseLost, the handler rolls back. Writes of a
// leader that was paused (a long GC pause, a frozen VM) past the end of
// its term are thus rejected, however late they arrive.
//
// The lock also delays this Elector's renewals until the transaction
// ends, so keep fenced transactions short compared to the renew interval,
// and do not call the Elector or the Lease inside them. The transaction
// may use any connection to the lease table's database.
//
// The same check fits in a single statement; see the package
// documentation.
func (e *Elector) Fence(ctx context.Context, tx pgx.Tx, name string, term uint64) error {
	var one int
	switch err := tx.QueryRow(ctx, e.q.fence, name, int64(term)).Scan(&one); {
	case errors.Is(err, pgx.ErrNoRows):
		return leaseLost(name, term)
	case err != nil:
		return fmt.Errorf("postgres: fence %q (term %d): %w", name, term, err)
	}
	return nil
}

// Table returns the name of the lease table (see WithTable), for fencing
// a statement as the package documentation shows.
func (e *Elector) Table() string { return e.q.table }
