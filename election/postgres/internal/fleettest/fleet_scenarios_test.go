//go:build linux

package fleettest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routinely/routinely/election/postgres"
)

const (
	interval = 100 * time.Millisecond
	work     = 40 * time.Millisecond
	// tolerance absorbs timer, scheduling and round-trip delays (-race,
	// three processes on one machine, which had two CPUs when written).
	tolerance = 50 * time.Millisecond
	// failoverBound is how long after a leader vanishes another one runs:
	// its lease expires in the database at most TTL after its last
	// renewal, and a follower tries to acquire it every renew interval;
	// the rest absorbs delays.
	failoverBound = ttl + renew + 300*time.Millisecond
)

func startFleet(t *testing.T, f *fleet, n int) {
	t.Helper()
	for i := range n {
		f.start(fmt.Sprintf("replica-%d", i+1))
	}
}

// steadyFor is how long the three-replica test runs: 300 ticks.
const steadyFor = 30 * time.Second

// TestFleetRunsEachTickOnce: three replicas, one routine every 100ms:
// every tick is handled once across the fleet.
func TestFleetRunsEachTickOnce(t *testing.T) {
	f := newFleet(t, interval, work)
	startFleet(t, f, 3)
	f.leader(5 * time.Second)
	begin := time.Now()
	time.Sleep(steadyFor) // the fleet runs on its own; nothing to wait for
	runs := f.committed()
	f.check(runs, checks{tolerance: tolerance, failoverGap: 2*interval + tolerance})
	span := runs[len(runs)-1].started.Sub(runs[0].started)
	if want := int(span/interval) + 1; len(runs) < want*9/10 {
		t.Errorf("%d runs in %v, want about %d", len(runs), span, want)
	}
	terms := map[uint64]bool{}
	for _, r := range runs {
		terms[r.term] = true
	}
	var canceled int
	for _, r := range f.replicas {
		canceled += len(r.linesAfter(regexp.MustCompile(`^(canceled|fenced|error) `), begin))
	}
	t.Logf("%d runs in %v under %d term(s); %d runs canceled, fenced or failed", len(runs), span, len(terms), canceled)
	if len(terms) != 1 || canceled != 0 {
		t.Errorf("leadership changed (%d terms) or runs failed (%d) with no failure injected", len(terms), canceled)
	}
}

// TestFailoverTerminateBackend: pg_terminate_backend of the leader's
// elector connection. As documented, the elector retries on a new
// connection and keeps its term: no failover, no cancelled run, no
// missed tick beyond one.
func TestFailoverTerminateBackend(t *testing.T) {
	f := newFleet(t, interval, work)
	startFleet(t, f, 3)
	lead, term := f.leader(5 * time.Second)
	time.Sleep(500 * time.Millisecond)
	var n int
	if err := f.admin.QueryRow(context.Background(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", lead.id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d backends of %s, want 1", n, lead.id)
	}
	killed := time.Now()
	// Later runs of the same term show that the leader carried on.
	var last run
	poll(t, 3*time.Second, "running again after the terminated connection", func() bool {
		runs := f.committed()
		last = runs[len(runs)-1]
		if last.started.After(killed.Add(ttl)) && last.term == term {
			return true
		}
		if time.Since(killed) > 2900*time.Millisecond {
			t.Logf("terminated at %s; last run %v; lease %+v", killed.Format("15:04:05.000"), last, f.holder())
		}
		return false
	})
	runs := f.committed()
	// Around the terminated connection, one or two ticks may be skipped
	// while the leader reconnects; the term stays.
	f.check(runs, checks{tolerance: tolerance, failoverGap: 4*interval + tolerance, disrupted: [2]time.Time{killed, killed.Add(ttl)}})
	if h := f.holder(); h.id != lead.id || h.term != term || !h.live {
		t.Errorf("lease %+v after the connection was terminated, want %s term %d", h, lead.id, term)
	}
	for _, r := range f.replicas {
		if ls := r.linesAfter(regexp.MustCompile(`^(canceled|fenced|error) `), time.Time{}); len(ls) > 0 {
			t.Errorf("%s: %q", r.id, ls[0].text)
		}
	}
}

// takenOver waits for another replica than lead to lead under a later
// term than lead's, after lead was lost at gone (how: what), and checks
// that the new leader's first run came within failoverBound. It returns
// that run.
func (f *fleet) takenOver(what string, lead *replica, term uint64, gone time.Time) run {
	t := f.t
	t.Helper()
	var h holder
	took := poll(t, 3*time.Second, "taken over", func() bool {
		h = f.holder()
		return h.live && h.term > term
	})
	first := f.firstAfterTerm(term, 3*time.Second)
	t.Logf("%s: %s (term %d) lost; %s leads (term %d) %v later, first run %v later (bound %v)",
		what, lead.id, term, h.id, h.term, took.Sub(gone).Round(time.Millisecond), first.started.Sub(gone).Round(time.Millisecond), failoverBound)
	if d := first.started.Sub(gone); d > failoverBound {
		t.Errorf("%s: first run of the new leader %v after the leader was lost, over %v", what, d, failoverBound)
	}
	if h.id == lead.id {
		t.Errorf("%s: the lost leader %s leads again", what, h.id)
	}
	return first
}

// TestFailoverConnectionLost: the leader's connections are terminated
// and it cannot connect again (its role may no longer log in), as when a
// network partition cuts it off the database. It gives its lease up by its
// own deadline and starts no run under its term after that; another
// replica leads within the bound.
func TestFailoverConnectionLost(t *testing.T) {
	f := newFleet(t, interval, work)
	startFleet(t, f, 3)
	lead, term := f.leader(5 * time.Second)
	time.Sleep(500 * time.Millisecond)
	role := pgx.Identifier{lead.id}.Sanitize()
	f.exec("ALTER ROLE " + role + " NOLOGIN")
	cut := time.Now()
	f.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", lead.id)
	first := f.takenOver("connection lost", lead, term, cut)
	// The cut-off leader gives up by its local deadline: no run of its
	// own starts after the new term's first one.
	if ls := lead.linesAfter(termRE("start", term), first.started); len(ls) > 0 {
		t.Errorf("%s started a run under its old term %d after the new leader's first run: %q at %s", lead.id, term, ls[0].text, ls[0].at.Format("15:04:05.000"))
	}
	time.Sleep(500 * time.Millisecond)
	f.check(f.committed(), checks{tolerance: tolerance, failoverGap: failoverBound})
}

// TestFailoverKill: SIGKILL of the leader process; another replica leads
// within the TTL plus a renew interval.
func TestFailoverKill(t *testing.T) {
	f := newFleet(t, interval, work)
	startFleet(t, f, 3)
	lead, term := f.leader(5 * time.Second)
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	lead.kill()
	f.takenOver("SIGKILL", lead, term, killed)
	time.Sleep(500 * time.Millisecond)
	f.check(f.committed(), checks{tolerance: tolerance, failoverGap: failoverBound})
}

// TestFailoverStop: SIGSTOP of the leader, with a run in flight, for
// longer than the TTL; then SIGCONT. Another replica leads within the
// bound; the resumed process cancels its run and starts none under its
// stale term; writes with the stale term are rejected.
func TestFailoverStop(t *testing.T) {
	f := newFleet(t, interval, work)
	startFleet(t, f, 3)
	lead, term := f.leader(5 * time.Second)
	time.Sleep(300 * time.Millisecond)
	// Freeze it in the middle of a run: after its start line, while it
	// works (40ms, fenced writes come after).
	started := lead.waitLine(t, termRE("start", term), time.Now(), 2*time.Second)
	lead.signal(syscall.SIGSTOP)
	stopped := time.Now()
	if stopped.Sub(started.at) > work/2 {
		t.Logf("note: stopped %v after the run started", stopped.Sub(started.at))
	}
	first := f.takenOver("SIGSTOP", lead, term, stopped)
	// Stay frozen well past the TTL, then resume.
	time.Sleep(time.Until(stopped.Add(2 * ttl)))
	resumed := time.Now()
	lead.signal(syscall.SIGCONT)
	end := lead.waitLine(t, regexp.MustCompile(`^(canceled|fenced|committed|error) term=`+fmt.Sprint(term)+`$`), stopped, 3*time.Second)
	t.Logf("resumed %s: %q %v after SIGCONT", lead.id, end.text, end.at.Sub(resumed).Round(time.Millisecond))
	if end.text != fmt.Sprintf("canceled term=%d", term) {
		t.Errorf("the frozen run ended with %q, want it canceled", end.text)
	}
	time.Sleep(time.Second)
	// No run under the stale term after resuming.
	if ls := lead.linesAfter(termRE("start", term), resumed); len(ls) > 0 {
		t.Errorf("the resumed replica started a run under its stale term %d", term)
	}
	runs := f.committed()
	for _, r := range runs {
		if r.term == term && !r.started.Before(first.started) {
			t.Errorf("committed run with the stale term after the new term's first: %v", r)
		}
		if r.term == term && r.ended.After(stopped) {
			t.Errorf("committed run of the frozen term ending after SIGSTOP: %v", r)
		}
	}
	f.check(runs, checks{tolerance: tolerance, failoverGap: failoverBound})
	staleWritesRejected(t, f, term)
}

// staleWritesRejected checks that writes fenced with term, which is over,
// are rejected both ways the package documents.
func staleWritesRejected(t *testing.T, f *fleet, term uint64) {
	t.Helper()
	ctx := context.Background()
	e, err := postgres.New(db(t).ConnString(""), postgres.WithTTL(ttl), postgres.WithRenewInterval(renew),
		postgres.WithSafetyMargin(margin), postgres.WithTable(f.leases))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = pgx.BeginFunc(ctx, f.admin, func(tx pgx.Tx) error {
		if err := e.Fence(ctx, tx, f.routine, term); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO "+f.runs+" (replica, term, started, ended) VALUES ('stale', $1, now(), now())", int64(term))
		return err
	})
	if !errors.Is(err, postgres.ErrLeaseLost) {
		t.Errorf("Fence with the stale term %d: %v, want ErrLeaseLost", term, err)
	}
	tag, err := f.admin.Exec(ctx, "INSERT INTO "+f.runs+` (replica, term, started, ended)
SELECT 'stale', $2, now(), now()
WHERE EXISTS (
    SELECT 1 FROM `+f.leases+`
    WHERE name = $1 AND term = $2 AND expires_at > clock_timestamp()
    FOR SHARE)`, f.routine, int64(term))
	if err != nil || tag.RowsAffected() != 0 {
		t.Errorf("single-statement fenced insert with the stale term %d: %v, %d rows, want none", term, err, tag.RowsAffected())
	}
}

// TestDatabaseRestart: pg_ctl restart -m fast while the fleet runs. No two
// runs overlap, and leadership resumes after the restart.
func TestDatabaseRestart(t *testing.T) {
	f := newFleet(t, interval, work)
	startFleet(t, f, 3)
	f.leader(5 * time.Second)
	time.Sleep(time.Second)
	stopping := time.Now()
	if err := db(t).StopFast(); err != nil {
		t.Fatal(err)
	}
	down := time.Now() // the server is down from here on, not before
	if err := db(t).Restart(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	// pg_ctl -w polls the new server ten times a second, so it accepts
	// connections up to 100 ms before pg_ctl returns: the server's own
	// start time is when "down" ends.
	// (The admin pool may hand out a connection the restart closed
	// before it notices; the next one is fresh.)
	var up time.Time
	poll(t, 5*time.Second, "reading the server's start time", func() bool {
		return f.admin.QueryRow(context.Background(), "SELECT pg_postmaster_start_time()").Scan(&up) == nil
	})
	var resumedRun run
	poll(t, 10*time.Second, "running again after the restart", func() bool {
		for _, r := range f.committed() {
			if r.started.After(up) {
				resumedRun = r
				return true
			}
		}
		return false
	})
	h := f.holder()
	t.Logf("restart took %v (down for %v, pg_ctl returned %v after the server started); first run %v after it (%s, term %d); lease now %s term %d",
		up.Sub(stopping).Round(time.Millisecond), up.Sub(down).Round(time.Millisecond), restarted.Sub(up).Round(time.Millisecond), resumedRun.started.Sub(up).Round(time.Millisecond), resumedRun.replica, resumedRun.term, h.id, h.term)
	time.Sleep(time.Second)
	runs := f.committed()
	for _, r := range runs {
		if r.started.After(down) && r.started.Before(up) {
			t.Errorf("run started and committed while the server was down: %v", r)
		}
	}
	// A run starts only after its start was recorded with a live lease:
	// no replica starts one while the server is down. (Lines are stamped
	// when the test reads them, a little after they are printed.)
	for _, rep := range f.replicas {
		for _, l := range rep.linesAfter(regexp.MustCompile(`^start `), down.Add(tolerance)) {
			if l.at.Before(up) {
				t.Errorf("%s started a run while the server was down: %q at %s", rep.id, l.text, l.at.Format("15:04:05.000"))
			}
		}
	}
	// A gap around the restart is expected: the leader's Done closes at
	// its local deadline and the campaign retries back off. Then the
	// first run once the server is back opens a new connection to a
	// server with cold caches to commit (130 ms measured under load),
	// and so may push the next run past a tick or two.
	f.check(runs, checks{tolerance: tolerance, failoverGap: up.Sub(stopping) + 5*time.Second,
		disrupted:   [2]time.Time{stopping, up},
		reconnected: resumedRun.started})
}

// TestFleetRestartKeepsSchedule: a routine with a one-hour interval that
// has run does not run again when the whole fleet restarts.
func TestFleetRestartKeepsSchedule(t *testing.T) {
	f := newFleet(t, time.Hour, work)
	startFleet(t, f, 3)
	_, term := f.leader(5 * time.Second)
	for _, r := range f.replicas {
		r.kill()
	}
	restarted := time.Now()
	startFleet(t, f, 3)
	var h holder
	led := poll(t, 3*time.Second, "led again", func() bool {
		h = f.holder()
		return h.live && h.term > term
	})
	time.Sleep(3 * time.Second)
	if runs := f.committed(); len(runs) != 1 {
		t.Errorf("%d runs, want 1: %v", len(runs), runs)
	}
	for _, r := range f.replicas {
		if ls := r.linesAfter(regexp.MustCompile(`^start `), restarted); len(ls) > 0 {
			t.Errorf("%s started a run after the fleet restarted", r.id)
		}
	}
	t.Logf("the fleet restarted; %s leads under term %d %v later; no run", h.id, h.term, led.Sub(restarted).Round(time.Millisecond))
}
