package goroutine

import (
	"sync"
	"time"
)

// history is a routine's bounded ring of recent runs and its counters.
type history struct {
	mu        sync.Mutex
	runs      []Run // ring buffer, capacity fixed at construction
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
	last      Run // the most recent run; invocation 0 before the first
}

func newHistory(size int) *history {
	return &history{runs: make([]Run, size)}
}

func (h *history) begin(start time.Time) {
	h.mu.Lock()
	h.running++
	h.since = start
	h.mu.Unlock()
}

func (h *history) end(run Run, backingOff bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running--
	h.backoff = backingOff
	switch run.Outcome {
	case OutcomeSuccess:
		h.successes++
	case OutcomeError:
		h.errors++
		h.lastError, h.errorAt = run.Error, run.Started
	case OutcomePanic:
		h.panics++
		h.lastError, h.errorAt = run.Error, run.Started
	case OutcomeCanceled:
		h.canceled++
	}
	h.last = run
	if len(h.runs) == 0 {
		return
	}
	h.runs[h.next] = run
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
	if h.last.Invocation != 0 {
		last := h.last
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
		s.Recent = append(s.Recent, h.runs[(first+i)%len(h.runs)])
	}
	return s
}
