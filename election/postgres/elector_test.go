package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routinely/routinely/election/postgres"
	"github.com/routinely/routinely/goroutine"
)

func TestTwoElectorsOneNameHaveOneLeader(t *testing.T) {
	a := newElector(t, "", "a")
	b := newElector(t, "", "b")

	la := campaign(t, a, "job", 5*time.Second)
	if la.Term() == 0 {
		t.Fatal("first term is 0; terms start at 1")
	}
	if !la.LastStart().IsZero() {
		t.Errorf("LastStart of a routine that never ran = %v, want zero", la.LastStart())
	}
	started := time.Now().Truncate(time.Microsecond)
	if err := la.RecordStart(context.Background(), started); err != nil {
		t.Fatalf("RecordStart by the leader: %v", err)
	}

	// b waits for longer than the TTL: a's renewals keep it out.
	bLeads := campaignAsync(t, b, "job")
	select {
	case lb := <-bLeads:
		t.Fatalf("b leads (term %d) while a holds term %d", lb.Term(), la.Term())
	case <-la.Done():
		t.Fatal("a lost its lease while renewing it")
	case <-time.After(2 * ttl):
	}

	released := time.Now()
	if err := la.Release(context.Background()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !isDone(la) {
		t.Error("Done is open after Release returned")
	}
	var lb goroutine.Lease
	select {
	case lb = <-bLeads:
	case <-time.After(renew + slack):
		t.Fatalf("b does not lead %v after a released", renew+slack)
	}
	t.Logf("b leads %v after a released", time.Since(released))
	if lb.Term() <= la.Term() {
		t.Errorf("b's term %d is not greater than a's %d", lb.Term(), la.Term())
	}
	if !lb.LastStart().Equal(started) {
		t.Errorf("b's LastStart = %v, want a's recorded start %v", lb.LastStart(), started)
	}
	if err := la.RecordStart(context.Background(), time.Now()); !errors.Is(err, postgres.ErrLeaseLost) {
		t.Errorf("RecordStart with a's stale term = %v, want ErrLeaseLost", err)
	}

	// Leadership returns to a, with a greater term again.
	aLeads := campaignAsync(t, a, "job")
	if err := lb.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case la2 := <-aLeads:
		if la2.Term() <= lb.Term() {
			t.Errorf("a's new term %d is not greater than b's %d", la2.Term(), lb.Term())
		}
	case <-time.After(renew + slack):
		t.Fatal("a does not lead again after b released")
	}
}

func TestRecordStartFailsOnceTheTermIsTakenOver(t *testing.T) {
	a := newElector(t, "", "a")
	la := campaign(t, a, "job", 5*time.Second)
	// Another holder takes the row over behind a's back, as a replica
	// would after a's lease expired in the database.
	mustExec(t, adminPool(t), fmt.Sprintf(`UPDATE %s SET holder = 'other', term = term + 1, expires_at = now() + interval '1 hour'`, a.Table()))
	err := la.RecordStart(context.Background(), time.Now())
	if !errors.Is(err, postgres.ErrLeaseLost) {
		t.Fatalf("RecordStart after a takeover = %v, want ErrLeaseLost", err)
	}
	if !isDone(la) {
		t.Error("Done is open after RecordStart found the lease lost")
	}
}

func TestManyNamesCostOneRoundTripPerRenewInterval(t *testing.T) {
	const names = 200
	s := db(t)
	cfg, err := pgxpool.ParseConfig(s.ConnString("", "application_name=many"))
	if err != nil {
		t.Fatal(err)
	}
	counter := &queryCounter{}
	cfg.ConnConfig.Tracer = counter
	cfg.MaxConns = 1
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e, err := postgres.NewWithPool(pool, postgres.WithTTL(ttl), postgres.WithRenewInterval(renew),
		postgres.WithSafetyMargin(margin), postgres.WithTable(tableFor(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })

	start := time.Now()
	leases := make([]goroutine.Lease, names)
	var wg sync.WaitGroup
	for i := range leases {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := e.Campaign(ctx, fmt.Sprintf("routine-%03d", i))
			if err != nil {
				t.Errorf("Campaign(routine-%03d): %v", i, err)
				return
			}
			leases[i] = l
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d names acquired in %v with %d statements", names, time.Since(start), counter.n.Load())

	const periods = 10
	before := counter.n.Load()
	time.Sleep(periods * renew)
	got := counter.n.Load() - before
	t.Logf("%d statements in %d renew intervals", got, periods)
	if got > periods+1 || got < periods/2 {
		t.Errorf("%d statements in %d renew intervals, want one per interval", got, periods)
	}
	for i, l := range leases {
		if isDone(l) {
			t.Errorf("lease of routine-%03d lost", i)
		}
	}

	var conns int
	if err := adminPool(t).QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'many'`).Scan(&conns); err != nil {
		t.Fatal(err)
	}
	if conns != 1 {
		t.Errorf("the Elector has %d connections, want 1", conns)
	}
}

func TestNewKeepsToOneConnection(t *testing.T) {
	e := newElector(t, "", "single")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			l := campaign(t, e, fmt.Sprintf("r%d", i), 5*time.Second)
			_ = l.RecordStart(context.Background(), time.Now())
		})
	}
	wg.Wait()
	var conns int
	if err := adminPool(t).QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'single'`).Scan(&conns); err != nil {
		t.Fatal(err)
	}
	if conns != 1 {
		t.Errorf("the Elector made by New has %d connections, want 1", conns)
	}
}

// backendPID returns the server process serving application app.
func backendPID(t testing.TB, admin *pgxpool.Pool, app string) int {
	t.Helper()
	var pid int
	if err := admin.QueryRow(context.Background(),
		`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&pid); err != nil {
		t.Fatalf("backend of %s: %v", app, err)
	}
	return pid
}

// A leader whose connection is terminated renews on a new connection
// before its local deadline: it keeps leading, with the same term.
func TestTerminatedConnectionRenewsOnANewOne(t *testing.T) {
	admin := adminPool(t)
	a := newElector(t, "", "a")
	b := newElector(t, "", "b")
	la := campaign(t, a, "job", 5*time.Second)
	bLeads := campaignAsync(t, b, "job")

	old := backendPID(t, admin, "a")
	mustExec(t, admin, `SELECT pg_terminate_backend($1)`, old)
	select {
	case lb := <-bLeads:
		t.Fatalf("b leads (term %d) after a's connection was terminated", lb.Term())
	case <-la.Done():
		t.Fatal("a's lease ended after its connection was terminated")
	case <-time.After(2 * ttl):
	}
	if now := backendPID(t, admin, "a"); now == old {
		t.Errorf("a still uses backend %d after it was terminated", old)
	}
	if err := la.RecordStart(context.Background(), time.Now()); err != nil {
		t.Errorf("RecordStart by a after reconnecting: %v", err)
	}
}

// A run's start recorded right after the leader's connection was
// terminated, before any renewal noticed, is recorded on a new
// connection: the lease holds. (It used to fail, and a routine then
// waited for a Done that never came, holding the lease without running.)
func TestRecordStartRetriesOnANewConnection(t *testing.T) {
	admin := adminPool(t)
	a := newElector(t, "", "a")
	la := campaign(t, a, "job", 5*time.Second)

	mustExec(t, admin, `SELECT pg_terminate_backend($1)`, backendPID(t, admin, "a"))
	if err := la.RecordStart(context.Background(), time.Now()); err != nil {
		t.Fatalf("RecordStart after the connection was terminated: %v", err)
	}
	if isDone(la) {
		t.Fatal("the lease ended")
	}
}

// A start that cannot be recorded, for a reason other than a lost term,
// ends the lease: a routine campaigns again instead of holding a lease
// under which it does not run.
func TestRecordStartFailureEndsTheLease(t *testing.T) {
	admin := adminPool(t)
	a := newElector(t, "", "a")
	la := campaign(t, a, "job", 5*time.Second)
	mustExec(t, admin, `ALTER TABLE `+tableFor(t)+` ADD CONSTRAINT no_start CHECK (last_start IS NULL) NOT VALID`)

	err := la.RecordStart(context.Background(), time.Now())
	if err == nil || errors.Is(err, postgres.ErrLeaseLost) {
		t.Fatalf("RecordStart = %v, want the check violation", err)
	}
	if !isDone(la) {
		t.Fatal("the lease holds after RecordStart failed")
	}
	mustExec(t, admin, `ALTER TABLE `+tableFor(t)+` DROP CONSTRAINT no_start`)
	lb := campaign(t, a, "job", 5*time.Second)
	if lb.Term() <= la.Term() {
		t.Errorf("term %d after the failed start, want more than %d", lb.Term(), la.Term())
	}
	if err := lb.RecordStart(context.Background(), time.Now()); err != nil {
		t.Errorf("RecordStart under the new term: %v", err)
	}
}

// A leader cut off from the database (its connection terminated, and it
// may not log in again) ends its lease by its local deadline; another
// replica leads within TTL plus a renew interval.
func TestLeaderCutOffEndsByItsDeadline(t *testing.T) {
	admin := adminPool(t)
	mustExec(t, admin, `DROP ROLE IF EXISTS cutoff`)
	mustExec(t, admin, `CREATE ROLE cutoff LOGIN SUPERUSER`)
	t.Cleanup(func() {
		// a created the lease table.
		mustExec(t, admin, `REASSIGN OWNED BY cutoff TO postgres`)
		mustExec(t, admin, `DROP ROLE cutoff`)
	})

	a := newElector(t, "cutoff", "a")
	b := newElector(t, "", "b")
	la := campaign(t, a, "job", 5*time.Second)
	aDone := doneAt(t, la)
	bLeads := campaignAsync(t, b, "job")

	mustExec(t, admin, `ALTER ROLE cutoff NOLOGIN`)
	cut := time.Now()
	mustExec(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cutoff'`)

	var ended time.Time
	select {
	case ended = <-aDone:
	case <-time.After(ttl - margin + slack):
		t.Fatalf("a's Done is open %v after it was cut off", ttl-margin+slack)
	}
	t.Logf("a's Done closed %v after it was cut off", ended.Sub(cut))
	select {
	case lb := <-bLeads:
		t.Logf("b leads %v after a was cut off, term %d", time.Since(cut), lb.Term())
		if lb.Term() <= la.Term() {
			t.Errorf("b's term %d is not greater than a's %d", lb.Term(), la.Term())
		}
	case <-time.After(ttl + renew + slack - time.Since(cut)):
		t.Fatalf("b does not lead within TTL + renew interval (%v) of a's cut-off", ttl+renew)
	}
}

// A leader whose database goes down ends its lease by its local deadline,
// before the lease expires in the database; after the database is back,
// it leads again.
func TestDatabaseDownEndsLeaseBeforeItExpires(t *testing.T) {
	s := db(t)
	a := newElector(t, "", "a")
	la := campaign(t, a, "job", 5*time.Second)
	aDone := doneAt(t, la)
	time.Sleep(2 * renew) // a few renewals

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = s.Restart()
		}
	})

	var ended time.Time
	select {
	case ended = <-aDone:
	case <-time.After(ttl - margin + slack):
		t.Fatalf("a's Done is open %v after the database stopped", ttl-margin+slack)
	}
	t.Logf("a's Done closed %v after the database stopped", ended.Sub(stopped))
	if ended.Sub(stopped) < ttl-margin-renew-slack {
		t.Errorf("a's Done closed %v after the database stopped, earlier than its deadline allows", ended.Sub(stopped))
	}

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	var expires time.Time
	if err := adminPool(t).QueryRow(context.Background(),
		fmt.Sprintf(`SELECT expires_at FROM %s WHERE name = 'job'`, a.Table())).Scan(&expires); err != nil {
		t.Fatal(err)
	}
	t.Logf("the lease expired in the database %v after Done closed", expires.Sub(ended))
	if !ended.Before(expires) {
		t.Errorf("Done closed at %v, not before the lease expired in the database at %v", ended, expires)
	}

	la2 := campaign(t, a, "job", 10*time.Second)
	t.Logf("a leads again %v after the database stopped, term %d", time.Since(stopped), la2.Term())
	if la2.Term() <= la.Term() {
		t.Errorf("new term %d is not greater than the old %d", la2.Term(), la.Term())
	}
}

// fencedRunSQL is the single-statement pattern of the package
// documentation: the run is written only while its term is current.
const fencedRunSQL = `INSERT INTO runs (name, term, started, ended)
SELECT $1, $2, $3, $4
WHERE EXISTS (
	SELECT 1 FROM %s
	WHERE name = $1 AND term = $2 AND expires_at > clock_timestamp()
	FOR SHARE)`

func TestFencingRejectsStaleTerms(t *testing.T) {
	admin := adminPool(t)
	mustExec(t, admin, `DROP TABLE IF EXISTS runs`)
	mustExec(t, admin, `CREATE TABLE runs (name text, term bigint, started timestamptz, ended timestamptz)`)
	ctx := context.Background()
	a := newElector(t, "", "a")
	b := newElector(t, "", "b")
	la := campaign(t, a, "job", 5*time.Second)

	// Fence in a transaction: a's write while it leads holds the row
	// against any new term until it commits.
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := a.Fence(ctx, tx, "job", la.Term()); err != nil {
		t.Fatalf("Fence with the current term: %v", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO runs VALUES ('job', $1, now(), now())`, int64(la.Term())); err != nil {
		t.Fatal(err)
	}
	bLeads := campaignAsync(t, b, "job")
	releaseErr := make(chan error, 1)
	go func() { releaseErr <- la.Release(ctx) }()
	select {
	case lb := <-bLeads:
		t.Fatalf("b leads (term %d) while a's fenced transaction is open", lb.Term())
	case <-time.After(3 * renew):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-releaseErr; err != nil {
		t.Fatal(err)
	}
	var lb goroutine.Lease
	select {
	case lb = <-bLeads:
	case <-time.After(renew + slack):
		t.Fatal("b does not lead after a released")
	}

	// a's stale term is rejected, by Fence and by the single statement.
	tx2, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Fence(ctx, tx2, "job", la.Term()); !errors.Is(err, postgres.ErrLeaseLost) {
		t.Errorf("Fence with a stale term = %v, want ErrLeaseLost", err)
	}
	_ = tx2.Rollback(ctx)
	stmt := fmt.Sprintf(fencedRunSQL, a.Table())
	tag, err := admin.Exec(ctx, stmt, "job", int64(la.Term()), time.Now(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 0 {
		t.Error("the fenced statement wrote a run with a stale term")
	}
	tag, err = admin.Exec(ctx, stmt, "job", int64(lb.Term()), time.Now(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 1 {
		t.Error("the fenced statement did not write a run with the current term")
	}

	var terms []int64
	rows, err := admin.Query(ctx, `SELECT term FROM runs ORDER BY ended`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var term int64
		if err := rows.Scan(&term); err != nil {
			t.Fatal(err)
		}
		terms = append(terms, term)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []int64{int64(la.Term()), int64(lb.Term())}; fmt.Sprint(terms) != fmt.Sprint(want) {
		t.Errorf("runs have terms %v, want %v", terms, want)
	}
}

func TestCampaignReturnsWhenContextEnds(t *testing.T) {
	a := newElector(t, "", "a")
	b := newElector(t, "", "b")
	campaign(t, a, "job", 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*renew)
	defer cancel()
	if _, err := b.Campaign(ctx, "job"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Campaign for a held name = %v, want context.DeadlineExceeded", err)
	}
}

func TestCloseReleasesLeasesAndStopsCampaigns(t *testing.T) {
	a := newElector(t, "", "a")
	b := newElector(t, "", "b")
	la := campaign(t, a, "job", 5*time.Second)
	bLeads := campaignAsync(t, b, "job")
	waiting := make(chan error, 1)
	go func() {
		_, err := a.Campaign(context.Background(), "other-held-elsewhere")
		waiting <- err
	}()
	closed := time.Now()
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !isDone(la) {
		t.Error("a lease is open after Close")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case <-bLeads:
		t.Logf("b leads %v after a closed", time.Since(closed))
	case <-time.After(renew + slack):
		t.Error("b does not lead promptly after a closed")
	}
	if _, err := a.Campaign(context.Background(), "job"); !errors.Is(err, postgres.ErrClosed) {
		t.Errorf("Campaign after Close = %v, want ErrClosed", err)
	}
	// The Campaign may have been answered before Close (it got the
	// lease, released by Close) or by Close.
	select {
	case err := <-waiting:
		if err != nil && !errors.Is(err, postgres.ErrClosed) {
			t.Errorf("a waiting Campaign got %v from Close, want ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Error("a waiting Campaign does not return after Close")
	}
}

func TestSchemaIsCreatedOnceUnderConcurrentFirstUse(t *testing.T) {
	var electors []*postgres.Elector
	for i := range 8 {
		electors = append(electors, newElector(t, "", fmt.Sprintf("e%d", i)))
	}
	var wg sync.WaitGroup
	leads := make(chan uint64, len(electors))
	for _, e := range electors {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*renew)
			defer cancel()
			if l, err := e.Campaign(ctx, "job"); err == nil {
				leads <- l.Term()
			} else if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: Campaign: %v", e.Holder(), err)
			}
		})
	}
	wg.Wait()
	close(leads)
	if n := len(leads); n != 1 {
		t.Errorf("%d electors lead, want 1", n)
	}
}

func TestSchemaFileIsTheCreatedTable(t *testing.T) {
	if !strings.Contains(postgres.Schema, "CREATE TABLE IF NOT EXISTS "+postgres.DefaultTable+" (") {
		t.Errorf("Schema does not create %s:\n%s", postgres.DefaultTable, postgres.Schema)
	}
	dropTable(t, postgres.DefaultTable)
	a := newElector(t, "", "a", postgres.WithTable(postgres.DefaultTable))
	campaign(t, a, "job", 5*time.Second)
	var cols string
	if err := adminPool(t).QueryRow(context.Background(), `SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_name = $1`, postgres.DefaultTable).Scan(&cols); err != nil {
		t.Fatal(err)
	}
	if want := "name,holder,term,expires_at,last_start"; cols != want {
		t.Errorf("columns of %s = %s, want %s", postgres.DefaultTable, cols, want)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		opts []postgres.Option
		want string
	}{
		{[]postgres.Option{postgres.WithTTL(0)}, "WithTTL"},
		{[]postgres.Option{postgres.WithRenewInterval(-time.Second)}, "WithRenewInterval"},
		{[]postgres.Option{postgres.WithTTL(time.Second), postgres.WithRenewInterval(500 * time.Millisecond)}, "at most (TTL - margin)/2"},
		{[]postgres.Option{postgres.WithSafetyMargin(-1)}, "WithSafetyMargin"},
		{[]postgres.Option{postgres.WithTTL(time.Second), postgres.WithSafetyMargin(time.Second)}, "not shorter than the TTL"},
		{[]postgres.Option{postgres.WithTable("Leases")}, "WithTable"},
		{[]postgres.Option{postgres.WithTable("a;drop table x")}, "WithTable"},
		{[]postgres.Option{postgres.WithHolder("")}, "WithHolder"},
		{[]postgres.Option{postgres.WithHolder(strings.Repeat("x", postgres.MaxHolderLength+1))}, "WithHolder"},
	} {
		_, err := postgres.New("postgres://localhost/x", tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New with %s options: error %v, want one mentioning %q", tc.want, err, tc.want)
		}
	}
	e, err := postgres.New("postgres://localhost/x")
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	defer e.Close()
	if !strings.Contains(e.Holder(), "/") {
		t.Errorf("default holder %q is not host/pid/suffix", e.Holder())
	}
	if _, err := e.Campaign(context.Background(), ""); err == nil {
		t.Error("Campaign with an empty name succeeded")
	}
}
