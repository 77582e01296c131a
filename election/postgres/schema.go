package postgres

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// Schema is the SQL that creates the lease table under its default name,
// DefaultTable: the content of schema.sql in this module. The Elector runs
// it, with the name set by WithTable, the first time it campaigns, unless
// the table exists.
//
//go:embed schema.sql
var Schema string

var defaultTableRE = regexp.MustCompile(`\b` + DefaultTable + `\b`)

// queries are the statements of an Elector, for its table.
type queries struct {
	table, schema                 string
	renew, release, record, fence string
}

func newQueries(table string) queries {
	return queries{
		table:  table,
		schema: defaultTableRE.ReplaceAllLiteralString(Schema, table),
		// renew renews every lease the Elector holds and tries to acquire
		// every name it campaigns for, in one statement. Each input row
		// is a name and the term this Elector holds for it (0 when it
		// holds none); the proposed row's term is that term plus one,
		// which is both the term of a fresh row and, in DO UPDATE, the
		// sign of a renewal. A row is updated when this Elector holds it
		// or it has expired; the term stays when this Elector renews the
		// unexpired term it holds, and grows by one otherwise (a
		// takeover, or a new term for this Elector after it let a term
		// go). Rows held by others are not returned. Sorting the input
		// makes concurrent Electors lock rows in the same order.
		//
		// $1 holder, $2 names, $3 held terms, $4 TTL in microseconds.
		renew: fmt.Sprintf(`INSERT INTO %[1]s AS l (name, holder, term, expires_at)
SELECT w.name, $1, w.term + 1, now() + $4 * interval '1 microsecond'
FROM unnest($2::text[], $3::bigint[]) AS w(name, term)
ORDER BY w.name
ON CONFLICT (name) DO UPDATE SET
	holder = excluded.holder,
	term = CASE
		WHEN l.holder = excluded.holder AND l.term + 1 = excluded.term AND l.expires_at > now()
		THEN l.term
		ELSE l.term + 1
	END,
	expires_at = excluded.expires_at
WHERE l.holder = excluded.holder OR l.expires_at <= now()
RETURNING l.name, l.term, l.last_start`, table),
		// release ends the given terms of this Elector at once, so that
		// any other Elector may take them over.
		//
		// $1 holder, $2 names, $3 terms.
		release: fmt.Sprintf(`UPDATE %[1]s AS l SET expires_at = '-infinity'
FROM unnest($2::text[], $3::bigint[]) AS r(name, term)
WHERE l.name = r.name AND l.term = r.term AND l.holder = $1`, table),
		// record sets last_start if the term is still current.
		//
		// $1 name, $2 term, $3 holder, $4 start.
		record: fmt.Sprintf(`UPDATE %[1]s SET last_start = $4
WHERE name = $1 AND term = $2 AND holder = $3 AND expires_at > clock_timestamp()`, table),
		// fence locks the lease row against any new term until the
		// transaction ends, if term is still current.
		//
		// $1 name, $2 term.
		fence: fmt.Sprintf(`SELECT 1 FROM %[1]s
WHERE name = $1 AND term = $2 AND expires_at > clock_timestamp()
FOR SHARE`, table),
	}
}

// ensureSchema creates the lease table unless it exists. An advisory lock
// held until the transaction ends makes concurrent first uses wait for one
// another instead of failing on the catalog's unique index; a transaction
// lock works behind PgBouncer's transaction pooling.
func ensureSchema(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, q queries) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "routinely/election/postgres schema "+q.table); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, q.table).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := tx.Exec(ctx, q.schema); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
