package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// shortSpanWriter turns the OpenTelemetry stdout exporter's JSON, one span
// per line, into one short human line per span:
//
//	15:04:05.123 routine.syncer #42 63.2ms Error "sync accounts: ..." trace 4bf92f3577b34da6a3ce929d0e0e4736
//
// Lines that are not spans are passed through unchanged.
type shortSpanWriter struct {
	mu      sync.Mutex
	out     io.Writer
	pending []byte
}

func newShortSpanWriter(out io.Writer) *shortSpanWriter { return &shortSpanWriter{out: out} }

// span holds the fields of the exporter's JSON that the short line shows.
type span struct {
	Name        string
	SpanContext struct{ TraceID string }
	StartTime   time.Time
	EndTime     time.Time
	Status      struct{ Code, Description string }
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (w *shortSpanWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := w.pending[:i+1]
		w.pending = w.pending[i+1:]
		if _, err := w.out.Write(shorten(line)); err != nil {
			return len(p), err
		}
	}
}

func shorten(line []byte) []byte {
	var s span
	if err := json.Unmarshal(line, &s); err != nil || s.Name == "" {
		return line
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s", s.StartTime.Local().Format("15:04:05.000"), s.Name)
	for _, a := range s.Attributes {
		if a.Key == "routine.invocation" {
			fmt.Fprintf(&b, " #%v", a.Value.Value)
		}
	}
	fmt.Fprintf(&b, " %v", s.EndTime.Sub(s.StartTime).Round(100*time.Microsecond))
	switch s.Status.Code {
	case "Error":
		fmt.Fprintf(&b, " Error %q", s.Status.Description)
	default:
		b.WriteString(" Ok")
	}
	fmt.Fprintf(&b, " trace %s\n", s.SpanContext.TraceID)
	return b.Bytes()
}
