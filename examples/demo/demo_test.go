package main

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routinely/routinely/goroutine/status"
	"github.com/routinely/routinely/internal/demotest"
	"github.com/routinely/routinely/internal/pgtest"
	"github.com/routinely/routinely/internal/testenv"
)

const shutdownTimeout = 5 * time.Second

// The demo as a newcomer runs it: it starts, its routines run and fail as
// advertised, /metrics, the JSON status and the status page show them,
// and SIGTERM stops it cleanly within its shutdown deadline.
func TestDemoRunsObservablyAndStopsCleanly(t *testing.T) {
	bin := demotest.Build(t, ".")
	d := demotest.Start(t, bin, "-addr", "127.0.0.1:0", "-interval-scale", "0.05", "-shutdown-timeout", shutdownTimeout.String())

	for _, want := range []string{d.URL + "/debug/routines\n", d.URL + "/debug/routines?format=json\n", d.URL + "/metrics\n", "Press Ctrl-C to stop."} {
		if !strings.Contains(d.Stderr(), want) {
			t.Errorf("start-up banner does not point to %q:\n%s", want, d.Stderr())
		}
	}

	report := d.WaitForReport(t, 20*time.Second, func(r status.Report) bool {
		if !demotest.EveryRoutineRanAndOneFailed(r) {
			return false
		}
		for _, rt := range r.Routines {
			if rt.Name == "syncer" && rt.Errors == 0 {
				return false
			}
		}
		return true
	})
	var names []string
	for _, rt := range report.Routines {
		names = append(names, rt.Name)
		if rt.LastRun == nil || !rt.LastRun.TraceID.IsValid() {
			t.Errorf("%s: last run %+v has no trace id", rt.Name, rt.LastRun)
		}
	}
	if want := []string{"janitor", "syncer", "report-builder"}; !slices.Equal(names, want) {
		t.Errorf("status lists routines %v, want %v", names, want)
	}

	code, header, metrics := d.Get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", code)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics: Content-Type %q", ct)
	}
	for _, want := range []string{
		`routine_handler_duration_seconds_bucket{outcome="success",routine="janitor",le="+Inf"}`,
		`routine_handler_errors_total{routine="syncer"}`,
		`routine_interval_seconds{routine="report-builder"} 0.15`,
		`routine_up{routine="janitor"} 1`,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	t.Run("promtool check metrics", func(t *testing.T) {
		promtool := testenv.LookPath(t, "promtool", "Debian package prometheus")
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(metrics)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
			t.Errorf("promtool check metrics on the demo's /metrics: %v\n%s", err, out)
		}
	})

	code, header, page := d.Get(t, "/debug/routines")
	if code != http.StatusOK || header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /debug/routines: status %d, Content-Type %q", code, header.Get("Content-Type"))
	}
	for _, want := range []string{
		`data-routine="janitor"`, `data-routine="syncer"`, `data-routine="report-builder"`,
		`upstream returned &lt;503&gt; &#34;Service Unavailable&#34; &amp; retry`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %s", want)
		}
	}
	if code, _, _ := d.Do(t, http.MethodPost, "/debug/routines"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /debug/routines: status %d, want 405", code)
	}

	start := time.Now()
	exit, err := d.Terminate(shutdownTimeout + 2*time.Second)
	if err != nil {
		t.Fatalf("%v; stderr:\n%s", err, d.Stderr())
	}
	if exit != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0; stderr:\n%s", exit, d.Stderr())
	}
	if took := time.Since(start); took > shutdownTimeout {
		t.Errorf("shutdown took %v, more than the %v deadline", took, shutdownTimeout)
	}
	if !strings.Contains(d.Stderr(), "stopped cleanly") {
		t.Errorf("stderr does not report a clean stop:\n%s", d.Stderr())
	}
	// stdout is not a terminal here, so spans are the exporter's JSON.
	if !strings.Contains(d.Stdout(), `{"Name":"routine.syncer"`) {
		t.Errorf("stdout has no JSON span of the syncer; it starts:\n%.500s", d.Stdout())
	}
}

// When the last spans cannot be flushed (here: an OTLP endpoint on a
// closed port), the demo says why and exits non-zero instead of reporting
// a clean stop, and the flush counts against the same shutdown deadline.
func TestDemoReportsAFailedTraceFlush(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+closed)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")

	bin := demotest.Build(t, ".")
	d := demotest.Start(t, bin, "-addr", "127.0.0.1:0", "-interval-scale", "0.05", "-shutdown-timeout", shutdownTimeout.String())
	d.WaitForReport(t, 20*time.Second, demotest.EveryRoutineRanAndOneFailed)

	start := time.Now()
	exit, err := d.Terminate(shutdownTimeout + 2*time.Second)
	if err != nil {
		t.Fatalf("%v; stderr:\n%s", err, d.Stderr())
	}
	if took := time.Since(start); took > shutdownTimeout {
		t.Errorf("shutdown took %v, more than the %v deadline", took, shutdownTimeout)
	}
	if exit != 1 {
		t.Errorf("exit status %d after a failed flush, want 1; stderr:\n%s", exit, d.Stderr())
	}
	stderr := d.Stderr()
	if strings.Contains(stderr, "stopped cleanly") {
		t.Errorf("stderr reports a clean stop although the flush failed:\n%s", stderr)
	}
	if !strings.Contains(stderr, serviceName+": goroutine: shutdown hook 0: tracing: flush spans:") || !strings.Contains(stderr, closed) {
		t.Errorf("stderr does not say the flush to %s failed:\n%s", closed, stderr)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.addr != "127.0.0.1:8080" || o.scale != 1 || o.shutdownTimeout != 10*time.Second || o.spans != "auto" {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	for _, args := range [][]string{
		{"-interval-scale", "0"},
		{"-interval-scale", "-1"},
		{"-interval-scale", "NaN"},
		{"-interval-scale", "+Inf"},
		{"-shutdown-timeout", "0s"},
		{"-spans", "xml"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted invalid input", args)
		}
	}
}

func TestShortSpanWriter(t *testing.T) {
	var out strings.Builder
	w := newShortSpanWriter(&out)
	span := `{"Name":"routine.syncer","SpanContext":{"TraceID":"4bf92f3577b34da6a3ce929d0e0e4736"},` +
		`"StartTime":"2025-01-02T15:04:05.1Z","EndTime":"2025-01-02T15:04:05.1632Z",` +
		`"Attributes":[{"Key":"routine.invocation","Value":{"Type":"INT64","Value":42}}],` +
		`"Status":{"Code":"Error","Description":"upstream returned \u003c503\u003e"}}` + "\n"
	// Written in two pieces, then a line that is not a span.
	for _, p := range []string{span[:40], span[40:], "not json\n"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	got := out.String()
	want := `routine.syncer #42 63.2ms Error "upstream returned <503>" trace 4bf92f3577b34da6a3ce929d0e0e4736` + "\nnot json\n"
	if !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 2 {
		t.Errorf("got\n%s\nwant it to end with\n%s", got, want)
	}
}

// TestDemoReplicasShareTheWork runs two demos with -postgres on one real
// PostgreSQL server, as the README shows: each routine runs on exactly
// one of them, and when that one stops, the other takes its routines
// over at once (the stopping demo releases its leases).
func TestDemoReplicasShareTheWork(t *testing.T) {
	pg, err := pgtest.Start()
	t.Cleanup(pg.Close)
	pg = pgtest.Require(t, pg, err)
	bin := demotest.Build(t, ".")
	args := []string{"-addr", "127.0.0.1:0", "-interval-scale", "0.05", "-spans", "none",
		"-shutdown-timeout", shutdownTimeout.String(), "-postgres", pg.ConnString("")}
	a, b := demotest.Start(t, bin, args...), demotest.Start(t, bin, args...)

	// Every routine led by one demo and run there, never on the other.
	led := func(r status.Report) map[string]bool {
		m := map[string]bool{}
		for _, rt := range r.Routines {
			if rt.Leadership != nil && rt.Leadership.Leader && rt.Runs() > 0 {
				m[rt.Name] = true
			}
		}
		return m
	}
	var byA, byB map[string]bool
	deadline := time.Now().Add(20 * time.Second)
	for {
		byA, byB = led(a.Report(t)), led(b.Report(t))
		if len(byA)+len(byB) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling two processes' status pages
	}
	if len(byA)+len(byB) != 3 {
		t.Fatalf("routines led and run: %v on one demo, %v on the other; want each of the 3 on one", byA, byB)
	}
	for name := range byA {
		if byB[name] {
			t.Errorf("%s is led and run by both demos", name)
		}
	}
	for _, rt := range b.Report(t).Routines {
		if byA[rt.Name] && rt.Runs() != 0 {
			t.Errorf("%s ran %d times on the demo that does not lead it", rt.Name, rt.Runs())
		}
	}

	// The first demo stops; the second takes over everything.
	if code, err := a.Terminate(shutdownTimeout + 5*time.Second); err != nil || code != 0 {
		t.Fatalf("first demo: exit %d, %v\n%s", code, err, a.Stderr())
	}
	b.WaitForReport(t, 10*time.Second, func(r status.Report) bool { return len(led(r)) == 3 })
	if code, err := b.Terminate(shutdownTimeout + 5*time.Second); err != nil || code != 0 {
		t.Fatalf("second demo: exit %d, %v\n%s", code, err, b.Stderr())
	}
}
