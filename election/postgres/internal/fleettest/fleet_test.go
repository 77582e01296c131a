//go:build linux

package fleettest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routinely/routinely/internal/testenv"
)

// fleet is the set-up of one test: its tables, its routine and the
// replicas it started.
type fleet struct {
	t        *testing.T
	admin    *pgxpool.Pool
	leases   string // lease table
	runs     string // runs table
	routine  string
	interval time.Duration
	work     time.Duration
	replicas map[string]*replica
}

// newFleet creates the test's runs table (dropping both tables left by an
// earlier run) and returns a fleet with no replica yet.
func newFleet(t *testing.T, interval, work time.Duration) *fleet {
	t.Helper()
	s := db(t)
	base := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	admin, err := pgxpool.New(context.Background(), s.ConnString("", "application_name=admin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	f := &fleet{
		t: t, admin: admin,
		leases: "leases_" + base, runs: "runs_" + base, routine: "singleton",
		interval: interval, work: work, replicas: map[string]*replica{},
	}
	f.exec("DROP TABLE IF EXISTS " + f.leases)
	f.exec("DROP TABLE IF EXISTS " + f.runs)
	f.exec("CREATE TABLE " + f.runs + " (id bigserial PRIMARY KEY, replica text NOT NULL, term bigint NOT NULL, started timestamptz NOT NULL, ended timestamptz NOT NULL)")
	return f
}

func (f *fleet) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.admin.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// line is one line a replica printed, with when the test read it.
type line struct {
	at   time.Time
	text string
}

// replica is one replica process.
type replica struct {
	id  string
	cmd *exec.Cmd

	mu      sync.Mutex
	lines   []line
	changed chan struct{} // closed, and replaced, on each new line and at exit
	stderr  bytes.Buffer
	exited  chan struct{}
}

// start starts replica id (the test binary in replica mode), killed when
// the test ends.
func (f *fleet) start(id string) *replica {
	t := f.t
	t.Helper()
	// Each replica connects as a role of its own, so that a test can cut
	// one replica off the database (ALTER ROLE ... NOLOGIN).
	role := pgx.Identifier{id}.Sanitize()
	f.exec(`DO $$BEGIN CREATE ROLE ` + role + ` SUPERUSER LOGIN; EXCEPTION WHEN duplicate_object THEN ALTER ROLE ` + role + ` LOGIN; END$$`)
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		replicaEnv+"="+id,
		dsnEnv+"="+db(t).ConnString(id),
		leasesEnv+"="+f.leases,
		runsEnv+"="+f.runs,
		routineEnv+"="+f.routine,
		intervalEnv+"="+f.interval.String(),
		workEnv+"="+f.work.String(),
	)
	// A replica outlives no test binary that dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := &replica{id: id, cmd: cmd, changed: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stderr = &testenv.LockedWriter{Mu: &r.mu, W: &r.stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go r.read(stdout)
	t.Cleanup(func() {
		r.signal(syscall.SIGCONT)
		r.signal(syscall.SIGKILL)
		<-r.exited
		if t.Failed() {
			r.mu.Lock()
			var out strings.Builder
			for _, l := range r.lines[max(0, len(r.lines)-60):] {
				fmt.Fprintf(&out, "%s %s\n", l.at.Format("15:04:05.000"), l.text)
			}
			t.Logf("replica %s, its last %d lines of output:\n%sand its stderr:\n%s", id, min(60, len(r.lines)), out.String(), r.stderr.String())
			r.mu.Unlock()
		}
	})
	f.replicas[id] = r
	r.waitLine(t, regexp.MustCompile(`^ready$`), time.Time{}, 30*time.Second)
	return r
}

func (r *replica) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		r.mu.Lock()
		r.lines = append(r.lines, line{at: time.Now(), text: sc.Text()})
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
	_ = r.cmd.Wait()
	r.mu.Lock()
	close(r.exited)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// signal sends sig to the replica, unless it has exited.
func (r *replica) signal(sig syscall.Signal) {
	select {
	case <-r.exited:
	default:
		_ = r.cmd.Process.Signal(sig)
	}
}

// kill kills the replica with SIGKILL and waits for it to exit.
func (r *replica) kill() {
	r.signal(syscall.SIGCONT)
	r.signal(syscall.SIGKILL)
	<-r.exited
}

// linesAfter returns the lines matching re read at or after since.
func (r *replica) linesAfter(re *regexp.Regexp, since time.Time) []line {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []line
	for _, l := range r.lines {
		if !l.at.Before(since) && re.MatchString(l.text) {
			out = append(out, l)
		}
	}
	return out
}

// waitLine waits up to d for a line matching re read at or after since,
// and returns it; it fails the test if none comes.
func (r *replica) waitLine(t testing.TB, re *regexp.Regexp, since time.Time, d time.Duration) line {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if ls := r.linesAfter(re, since); len(ls) > 0 {
			return ls[0]
		}
		select {
		case <-changed:
		case <-r.exited:
			if ls := r.linesAfter(re, since); len(ls) > 0 {
				return ls[0]
			}
			t.Fatalf("replica %s exited before printing a line matching %q", r.id, re)
		case <-deadline.C:
			t.Fatalf("replica %s printed no line matching %q within %v", r.id, re, d)
		}
	}
}

func termRE(verb string, term uint64) *regexp.Regexp {
	return regexp.MustCompile("^" + verb + " term=" + strconv.FormatUint(term, 10) + "$")
}

// run is one committed row of the runs table.
type run struct {
	replica        string
	term           uint64
	started, ended time.Time
}

func (r run) String() string {
	return fmt.Sprintf("%s term %d [%s, %s]", r.replica, r.term, r.started.Format("15:04:05.000"), r.ended.Format("15:04:05.000"))
}

// committed returns the runs table in order of start.
func (f *fleet) committed() []run {
	f.t.Helper()
	rows, err := f.admin.Query(context.Background(), "SELECT replica, term, started, ended FROM "+f.runs+" ORDER BY started, id")
	if err != nil {
		f.t.Fatal(err)
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (run, error) {
		var r run
		var term int64
		err := row.Scan(&r.replica, &term, &r.started, &r.ended)
		r.term = uint64(term)
		return r, err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return runs
}

// holder is the lease row of the routine: its holder and term, and
// whether it has not expired by the database's clock.
type holder struct {
	id   string
	term uint64
	live bool
}

func (f *fleet) holder() holder {
	f.t.Helper()
	var h holder
	var term int64
	err := f.admin.QueryRow(context.Background(),
		"SELECT holder, term, expires_at > clock_timestamp() FROM "+f.leases+" WHERE name = $1", f.routine).Scan(&h.id, &term, &h.live)
	if err != nil && err != pgx.ErrNoRows && !strings.Contains(err.Error(), "does not exist") {
		f.t.Fatal(err)
	}
	h.term = uint64(term)
	return h
}

// poll calls cond every 10ms until it returns true, and returns when it
// did; it fails the test after d.
func poll(t testing.TB, d time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s after %v", what, d)
		}
		<-tick.C
	}
}

// leader waits until a replica holds a live lease and has committed a
// run under it, and returns it with its term.
func (f *fleet) leader(d time.Duration) (*replica, uint64) {
	f.t.Helper()
	var h holder
	poll(f.t, d, "led by a replica that has run", func() bool {
		h = f.holder()
		if !h.live || f.replicas[h.id] == nil {
			return false
		}
		for _, r := range f.committed() {
			if r.replica == h.id && r.term == h.term {
				return true
			}
		}
		return false
	})
	return f.replicas[h.id], h.term
}

// firstAfterTerm returns the first committed run with a term above term,
// waiting up to d for it.
func (f *fleet) firstAfterTerm(term uint64, d time.Duration) run {
	f.t.Helper()
	var first run
	poll(f.t, d, fmt.Sprintf("run under a term after %d", term), func() bool {
		for _, r := range f.committed() {
			if r.term > term {
				first = r
				return true
			}
		}
		return false
	})
	return first
}

// checks are the invariants of the runs table.
type checks struct {
	// tolerance is how much closer than the interval two starts may be
	// (timer and round-trip delays), and how much longer than two
	// intervals a gap within a term may be.
	tolerance time.Duration
	// failoverGap is the longest gap allowed between the runs of two
	// terms.
	failoverGap time.Duration
	// disrupted is a time window around an injected fault (a terminated
	// connection) in which a gap of failoverGap is allowed within a
	// term too: the leader reconnects, and a run it delays skips a tick.
	disrupted [2]time.Time
	// reconnected is the start of the first run after a database
	// restart: its commit opens a new connection to a server with cold
	// caches, so the next run of its term may start up to coldRunGap
	// after it (a tick or two skipped) rather than two intervals.
	reconnected time.Time
}

// coldRunGap is how long after a cold run the next run of its term may
// start: a new leader's first run (its process takes the write path for
// the first time: 130-230 ms to commit on a loaded 2-core machine) or the
// first after a database restart may skip a tick or two.
const coldRunGap = 5*interval + tolerance

// check asserts, over the committed runs: no two overlap in time; terms
// never go back; starts are at least an interval apart (less the
// tolerance); no gap within a term exceeds two intervals (plus the
// tolerance; coldRunGap after a cold run), nor one across terms
// failoverGap.
func (f *fleet) check(runs []run, c checks) {
	t := f.t
	t.Helper()
	if len(runs) == 0 {
		t.Fatal("no committed runs")
	}
	latestEnd := runs[0].ended
	for i := 1; i < len(runs); i++ {
		prev, cur := runs[i-1], runs[i]
		if cur.started.Before(latestEnd) {
			t.Errorf("run %d (%v) overlaps an earlier one ending %s", i, cur, latestEnd.Format("15:04:05.000"))
		}
		if cur.ended.After(latestEnd) {
			latestEnd = cur.ended
		}
		if cur.term < prev.term {
			t.Errorf("run %d (%v) has an older term than run %d (%v)", i, cur, i-1, prev)
		}
		gap := cur.started.Sub(prev.started)
		if gap < f.interval-c.tolerance {
			t.Errorf("runs %d and %d started %v apart, less than the interval %v: %v, %v", i-1, i, gap, f.interval, prev, cur)
		}
		max := 2*f.interval + c.tolerance
		inWindow := !c.disrupted[0].IsZero() && cur.started.After(c.disrupted[0]) && prev.started.Before(c.disrupted[1])
		switch {
		case cur.term != prev.term || inWindow:
			max = c.failoverGap
		case i >= 2 && prev.term != runs[i-2].term, // a new leader's first run
			!c.reconnected.IsZero() && prev.started.Equal(c.reconnected):
			max = coldRunGap
		}
		// The first run's gap is not checked: the grid starts when the
		// routine starts, and a first run that overruns it (a new
		// process's first connections) skips a tick.
		if gap > max && i > 1 {
			t.Errorf("runs %d and %d started %v apart, over %v: %v, %v", i-1, i, gap, max, prev, cur)
		}
	}
}
