-- The lease table of github.com/routinely/routinely/election/postgres: one
-- row per singleton routine name. The Elector runs this file on first use,
-- with routinely_leases replaced by the name set by WithTable. Apply it
-- yourself when the Elector's role may not create tables; the Elector then
-- only needs SELECT, INSERT and UPDATE on the table.
--
--   name        the routine's name
--   holder      the Elector that holds or last held the lease (WithHolder)
--   term        the fencing token: 1 for the first holder, one more at
--               every change of holder or new term; it never decreases
--               (never delete rows: a deleted row starts again at 1)
--   expires_at  when the lease ends unless renewed, by the database's clock
--               (-infinity once released)
--   last_start  when any leader last started a run (Lease.RecordStart)
CREATE TABLE IF NOT EXISTS routinely_leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    term       bigint      NOT NULL CHECK (term > 0),
    expires_at timestamptz NOT NULL,
    last_start timestamptz
);
