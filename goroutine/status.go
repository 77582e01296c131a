package goroutine

import (
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// State is what a routine is doing at one moment.
type State string

const (
	// StateNotStarted: constructed, Start not yet called.
	StateNotStarted State = "not started"
	// StateRunning: at least one handler invocation is running.
	StateRunning State = "running"
	// StateIdle: waiting for the next tick.
	StateIdle State = "idle"
	// StateBackingOff: waiting longer than the interval after failures.
	StateBackingOff State = "backing off"
	// StateStopped: stopped; Start returned or will return at once.
	StateStopped State = "stopped"
)

// Run is one handler invocation as the routine's history keeps it.
type Run struct {
	// Invocation numbers the routine's invocations from 1.
	Invocation uint64
	// Started is when the invocation began.
	Started time.Time
	// Duration is how long it took.
	Duration time.Duration
	// Outcome is metrics.OutcomeSuccess, OutcomeError, OutcomePanic or
	// OutcomeCanceled (the routine was stopped during the run).
	Outcome string
	// Error is the error's text for a failed invocation, else "". At most
	// MaxRunErrorBytes of it are kept, with a note when it was cut.
	Error string
	// TraceID is the invocation's trace id, or "" when it was not traced.
	TraceID string
}

// Status is a snapshot of a routine for status pages and tests.
type Status struct {
	Name        string
	Description string
	State       State
	// Interval is the interval in force now.
	Interval time.Duration
	// Successes, Errors, Panics and Canceled count finished invocations
	// by outcome. Errors does not include Panics (the errors counter
	// metric does).
	Successes, Errors, Panics, Canceled uint64
	// RunningSince is when the invocation running now started (the most
	// recent one when several loops run), or the zero time when none runs.
	RunningSince time.Time
	// LastRun is the most recent finished run, or nil before the first one
	// ends. It is kept even when the history holds no runs.
	LastRun *Run
	// LastError is the text of the most recent failure, or "", cut like
	// Run.Error.
	LastError string
	// LastErrorAt is when the most recent failure started, or the zero
	// time when there was none.
	LastErrorAt time.Time
	// HistorySize is how many runs Recent can hold (WithHistorySize).
	HistorySize int
	// Recent holds the most recent runs, oldest first, at most the
	// routine's history size.
	Recent []Run
}

// history is a routine's bounded ring of recent runs and its counters.
type history struct {
	mu        sync.Mutex
	runs      []record // ring buffer, capacity fixed at construction
	next      int
	full      bool
	running   int
	since     time.Time
	backoff   bool
	started   bool
	stopped   bool
	successes uint64
	errors    uint64
	panics    uint64
	canceled  uint64
	lastError string
	errorAt   time.Time
	last      record // the most recent run; invocation 0 before the first
}

// record is a Run as the history stores it: about half a Run's size, so
// that an idle routine's ring stays small. Status expands it.
type record struct {
	invocation uint64
	started    int64 // unix nanoseconds
	duration   time.Duration
	err        string
	traceID    trace.TraceID
	outcome    outcome
}

// run expands a record into a Run, formatting its trace id.
func (rec record) run() Run {
	r := Run{
		Invocation: rec.invocation,
		Started:    time.Unix(0, rec.started),
		Duration:   rec.duration,
		Outcome:    rec.outcome.String(),
		Error:      rec.err,
	}
	if rec.traceID.IsValid() {
		r.TraceID = rec.traceID.String()
	}
	return r
}

func newHistory(size int) *history {
	return &history{runs: make([]record, size)}
}

func (h *history) begin(start time.Time) {
	h.mu.Lock()
	h.running++
	h.since = start
	h.mu.Unlock()
}

func (h *history) end(rec record, backingOff bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running--
	h.backoff = backingOff
	switch rec.outcome {
	case outcomeSuccess:
		h.successes++
	case outcomeError:
		h.errors++
		h.lastError, h.errorAt = rec.err, time.Unix(0, rec.started)
	case outcomePanic:
		h.panics++
		h.lastError, h.errorAt = rec.err, time.Unix(0, rec.started)
	case outcomeCanceled:
		h.canceled++
	}
	h.last = rec
	if len(h.runs) == 0 {
		return
	}
	h.runs[h.next] = rec
	h.next = (h.next + 1) % len(h.runs)
	if h.next == 0 {
		h.full = true
	}
}

func (h *history) setStarted() {
	h.mu.Lock()
	h.started = true
	h.mu.Unlock()
}

func (h *history) setStopped() {
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
}

func (h *history) snapshot(name, description string, interval time.Duration) Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Status{
		Name: name, Description: description, Interval: interval,
		Successes: h.successes, Errors: h.errors, Panics: h.panics, Canceled: h.canceled,
		LastError: h.lastError, LastErrorAt: h.errorAt, HistorySize: len(h.runs),
	}
	if h.last.invocation != 0 {
		last := h.last.run()
		s.LastRun = &last
	}
	switch {
	case h.stopped:
		s.State = StateStopped
	case !h.started:
		s.State = StateNotStarted
	case h.running > 0:
		s.State = StateRunning
		s.RunningSince = h.since
	case h.backoff:
		s.State = StateBackingOff
	default:
		s.State = StateIdle
	}
	first, n := 0, h.next
	if h.full {
		first, n = h.next, len(h.runs)
	}
	s.Recent = make([]Run, 0, n)
	for i := range n {
		j := (first + i) % len(h.runs)
		s.Recent = append(s.Recent, h.runs[j].run())
	}
	return s
}
