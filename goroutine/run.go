package goroutine

import (
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/routinely/routinely/metrics"
)

// This file holds the one model of a routine and its runs that the
// history, Status, the status page and its JSON share.

// Outcome is how a run ended. Its text (String, and its JSON form) is the
// duration histogram's outcome label: success, error, panic or canceled.
type Outcome uint8

const (
	// OutcomeSuccess: the handler returned nil, or an error the error
	// filter keeps out of metrics.
	OutcomeSuccess Outcome = iota + 1
	// OutcomeError: the handler returned an error.
	OutcomeError
	// OutcomePanic: the handler panicked or called runtime.Goexit.
	OutcomePanic
	// OutcomeCanceled: the run was cut short because the routine was
	// stopped; neither a success nor a failure.
	OutcomeCanceled
)

// outcomes lists every valid Outcome, in order.
var outcomes = [...]Outcome{OutcomeSuccess, OutcomeError, OutcomePanic, OutcomeCanceled}

// outcomeLabels maps an Outcome to its label; index 0 is no outcome.
var outcomeLabels = [...]string{"", metrics.OutcomeSuccess, metrics.OutcomeError, metrics.OutcomePanic, metrics.OutcomeCanceled}

// String returns the outcome's label, or Outcome(n) for an invalid one.
func (o Outcome) String() string {
	if o.valid() {
		return outcomeLabels[o]
	}
	return fmt.Sprintf("Outcome(%d)", o)
}

func (o Outcome) valid() bool { return o >= OutcomeSuccess && o <= OutcomeCanceled }

// Failed reports whether the outcome is a failure: an error or a panic.
func (o Outcome) Failed() bool { return o == OutcomeError || o == OutcomePanic }

// MarshalText encodes the outcome as its label.
func (o Outcome) MarshalText() ([]byte, error) {
	if !o.valid() {
		return nil, fmt.Errorf("goroutine: cannot encode invalid %v", o)
	}
	return []byte(outcomeLabels[o]), nil
}

// UnmarshalText decodes a label written by MarshalText.
func (o *Outcome) UnmarshalText(b []byte) error {
	for _, c := range outcomes {
		if outcomeLabels[c] == string(b) {
			*o = c
			return nil
		}
	}
	return fmt.Errorf("goroutine: unknown run outcome %q: want success, error, panic or canceled", b)
}

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

// Run is one finished handler invocation. In JSON, times are RFC 3339 in
// UTC, the duration is duration_seconds and an untraced run's trace_id is
// "".
type Run struct {
	// Invocation numbers the routine's invocations from 1.
	Invocation uint64
	// Started is when the invocation began.
	Started time.Time
	// Duration is how long it took.
	Duration time.Duration
	// Outcome is how it ended.
	Outcome Outcome
	// Error is the error's text for a failed invocation, else "". At most
	// MaxRunErrorBytes of it are kept, with a note when it was cut.
	Error string
	// TraceID is the invocation's trace id; invalid (zero) when it was
	// not traced.
	TraceID trace.TraceID
}

// runJSON is Run's JSON form.
type runJSON struct {
	Invocation      uint64    `json:"invocation"`
	Started         time.Time `json:"started"`
	DurationSeconds float64   `json:"duration_seconds"`
	Outcome         Outcome   `json:"outcome"`
	Error           string    `json:"error"`
	TraceID         string    `json:"trace_id"`
}

// MarshalJSON encodes the run as the status page's JSON documents it.
func (r Run) MarshalJSON() ([]byte, error) {
	j := runJSON{
		Invocation: r.Invocation, Started: r.Started.UTC(), DurationSeconds: r.Duration.Seconds(),
		Outcome: r.Outcome, Error: r.Error,
	}
	if r.TraceID.IsValid() {
		j.TraceID = r.TraceID.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (r *Run) UnmarshalJSON(b []byte) error {
	var j runJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Run{
		Invocation: j.Invocation, Started: j.Started, Outcome: j.Outcome, Error: j.Error,
		Duration: time.Duration(j.DurationSeconds * float64(time.Second)),
	}
	if j.TraceID != "" {
		id, err := trace.TraceIDFromHex(j.TraceID)
		if err != nil {
			return fmt.Errorf("goroutine: run %d: trace_id %q: %w", j.Invocation, j.TraceID, err)
		}
		r.TraceID = id
	}
	return nil
}

// Status is a snapshot of a routine: what the status page shows and its
// JSON holds. In JSON, the interval is interval_seconds, runs is Runs(),
// and a zero RunningSince or LastErrorAt is null.
type Status struct {
	Name        string
	Description string
	State       State
	// Interval is the interval in force now.
	Interval time.Duration
	// Successes, Errors, Panics and Canceled count finished invocations
	// by outcome. Errors does not include Panics, while the
	// routine_handler_errors_total metric does: the page shows panics
	// apart, the metric counts every failure.
	Successes, Errors, Panics, Canceled uint64
	// ConsecutiveFailures is how many invocations failed (error or
	// panic) in a row: the longest such streak among the routine's loops
	// (WithConcurrency), which a success ends and a canceled run leaves as
	// it is. A singleton routine's streak starts at 0 with each term this
	// replica leads. The routine_consecutive_failures gauge holds the
	// same.
	ConsecutiveFailures uint64
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
	// Recent holds the most recent runs, oldest first, at most
	// HistorySize of them.
	Recent []Run
	// Leadership is this replica's part in a singleton routine
	// (WithLeaderElection), nil for other routines.
	Leadership *Leadership
}

// Runs is the number of finished invocations, whatever their outcome.
func (s Status) Runs() uint64 { return s.Successes + s.Errors + s.Panics + s.Canceled }

// statusJSON is Status's JSON form.
type statusJSON struct {
	Name                string      `json:"name"`
	Description         string      `json:"description"`
	State               State       `json:"state"`
	IntervalSeconds     float64     `json:"interval_seconds"`
	Runs                uint64      `json:"runs"`
	Successes           uint64      `json:"successes"`
	Errors              uint64      `json:"errors"`
	Panics              uint64      `json:"panics"`
	Canceled            uint64      `json:"canceled"`
	ConsecutiveFailures uint64      `json:"consecutive_failures"`
	RunningSince        *time.Time  `json:"running_since"`
	LastError           string      `json:"last_error"`
	LastErrorAt         *time.Time  `json:"last_error_at"`
	HistorySize         int         `json:"history_size"`
	LastRun             *Run        `json:"last_run"`
	Recent              []Run       `json:"recent"`
	Leadership          *Leadership `json:"leadership"`
}

// MarshalJSON encodes the status as the status page's JSON documents it.
func (s Status) MarshalJSON() ([]byte, error) {
	j := statusJSON{
		Name: s.Name, Description: s.Description, State: s.State,
		IntervalSeconds: s.Interval.Seconds(), Runs: s.Runs(),
		Successes: s.Successes, Errors: s.Errors, Panics: s.Panics, Canceled: s.Canceled,
		ConsecutiveFailures: s.ConsecutiveFailures,
		RunningSince:        utcOrNil(s.RunningSince), LastError: s.LastError, LastErrorAt: utcOrNil(s.LastErrorAt),
		HistorySize: s.HistorySize, LastRun: s.LastRun, Recent: s.Recent, Leadership: s.Leadership,
	}
	if j.Leadership != nil {
		l := *j.Leadership
		l.Since = l.Since.UTC()
		j.Leadership = &l
	}
	if j.Recent == nil {
		j.Recent = []Run{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON encodes; runs is ignored.
func (s *Status) UnmarshalJSON(b []byte) error {
	var j statusJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Status{
		Name: j.Name, Description: j.Description, State: j.State,
		Interval:  time.Duration(j.IntervalSeconds * float64(time.Second)),
		Successes: j.Successes, Errors: j.Errors, Panics: j.Panics, Canceled: j.Canceled,
		ConsecutiveFailures: j.ConsecutiveFailures,
		LastError:           j.LastError, HistorySize: j.HistorySize, LastRun: j.LastRun, Recent: j.Recent,
		Leadership: j.Leadership,
	}
	if j.RunningSince != nil {
		s.RunningSince = *j.RunningSince
	}
	if j.LastErrorAt != nil {
		s.LastErrorAt = *j.LastErrorAt
	}
	return nil
}

func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
