package observation_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/routinely/routinely/internal/testenv"
	"github.com/routinely/routinely/observation"
)

// The global sourcegraph/log logger is initialised once per process, and
// the tests of this package that use logtest initialise it. The tests below
// therefore re-run this test binary as a child process that runs only one
// of them, selected by testenv.ChildMode, and inspect the child's stderr, where the
// global logger writes.

// initMarker separates what the child logged before log.Init from what it
// logged after.
const initMarker = "---- log.Init ----"

// runChild runs test in a child process with env added, and returns what
// the child wrote to stderr before and after log.Init.
func runChild(t *testing.T, test string, env ...string) (before, after string) {
	t.Helper()
	cmd := testenv.ChildCommand(test, "^"+test+"$")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v\nstdout:\n%s\nstderr:\n%s", test, err, &stdout, &stderr)
	}
	if !strings.Contains(stdout.String(), "PASS") {
		t.Fatalf("child %s did not pass\nstdout:\n%s", test, &stdout)
	}
	before, after, found := strings.Cut(stderr.String(), initMarker+"\n")
	if !found {
		t.Fatalf("child %s never reached log.Init\nstderr:\n%s", test, &stderr)
	}
	return before, after
}

func isChild(test string) bool { return testenv.ChildMode() == test }

// jsonLine is the part of a sourcegraph/log JSON line the tests check.
type jsonLine struct {
	Scope      string            `json:"InstrumentationScope"`
	Severity   string            `json:"SeverityText"`
	Body       string            `json:"Body"`
	Caller     string            `json:"Caller"`
	TraceID    string            `json:"TraceId"`
	SpanID     string            `json:"SpanId"`
	Attributes map[string]any    `json:"Attributes"`
	Resource   map[string]string `json:"Resource"`
}

func TestGlobalLoggerIsLazy(t *testing.T) {
	if isChild(t.Name()) {
		lazyChild(t)
		return
	}
	before, after := runChild(t, t.Name(),
		log.EnvDevelopment+"=false", log.EnvLogFormat+"=json", log.EnvLogLevel+"=debug")

	if before != "" {
		t.Errorf("before log.Init the child wrote to stderr, want nothing:\n%s", before)
	}

	lines := map[string][]jsonLine{}
	sc := bufio.NewScanner(strings.NewReader(after))
	for sc.Scan() {
		var l jsonLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("after log.Init the child wrote a line that is not JSON: %v\n%s", err, sc.Text())
		}
		lines[l.Body] = append(lines[l.Body], l)
	}
	one := func(body string) jsonLine {
		t.Helper()
		if n := len(lines[body]); n != 1 {
			t.Fatalf("%d lines %q after log.Init, want 1; got:\n%s", n, body, after)
		}
		return lines[body][0]
	}

	ctxLine := one("context logger")
	if ctxLine.Scope != "routinely" || ctxLine.Severity != "INFO" || ctxLine.Attributes["k"] != "v" {
		t.Errorf("context logger line = %+v, want scope routinely, INFO, attribute k=v", ctxLine)
	}
	if ctxLine.Resource["service.name"] != "test" {
		t.Errorf("context logger line resource = %v, want the global logger's (service.name test)", ctxLine.Resource)
	}
	if got := one("global logger").Scope; got != "routinely" {
		t.Errorf("Default().Logger() line scope = %q, want routinely", got)
	}
	derived := one("derived before init")
	if derived.Scope != "routinely.sub" || derived.Attributes["a"] != "b" {
		t.Errorf("derived logger line = %+v, want scope routinely.sub and attribute a=b", derived)
	}

	inside := one("inside")
	closing := one("lazy.op")
	if closing.Severity != "DEBUG" || closing.TraceID == "" || closing.SpanID == "" {
		t.Errorf("observation line = %+v, want DEBUG with trace and span ids", closing)
	}
	if inside.TraceID != closing.TraceID || inside.SpanID != closing.SpanID {
		t.Errorf("TraceLogger line ids %s/%s differ from the observation's %s/%s", inside.TraceID, inside.SpanID, closing.TraceID, closing.SpanID)
	}

	// Every line, however many lazy and trace-aware loggers it went
	// through, reports the line of this file that logged it.
	for body, ls := range lines {
		for _, l := range ls {
			if !strings.HasPrefix(l.Caller, "observation/logger_test.go:") {
				t.Errorf("line %q reports caller %q, want observation/logger_test.go", body, l.Caller)
			}
		}
	}
}

// lazyChild builds a Context, logs without an initialised global logger,
// initialises it, and logs again through the loggers made before.
func lazyChild(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	obs := observation.NewContext(nil, tp, prometheus.NewRegistry())
	op := obs.Operation(observation.Op{Name: "lazy.op"})
	logger := obs.Logger()
	global := observation.Default().Logger()
	derived := logger.Scoped("sub").With(log.String("a", "b"))

	observeAndLog := func() {
		logger.Info("context logger", log.String("k", "v"))
		global.Warn("global logger")
		derived.Info("derived before init")
		_, tl, finish := op.With(context.Background(), nil, observation.Args{})
		tl.Info("inside")
		finish(1, observation.Args{})
	}

	observeAndLog()
	fmt.Fprintln(os.Stderr, initMarker)
	sync := log.Init(log.Resource{Name: "test"})
	observeAndLog()
	sync.Sync()
}

func TestGlobalLoggerBeforeInitInDevelopment(t *testing.T) {
	if isChild(t.Name()) {
		developmentChild(t)
		return
	}
	before, after := runChild(t, t.Name(), log.EnvDevelopment+"=true", log.EnvLogLevel+"=debug")

	if before != "" {
		t.Errorf("before log.Init the child wrote to stderr, want nothing:\n%s", before)
	}
	if n := strings.Count(after, "after init"); n != 1 {
		t.Errorf("after log.Init the child logged %q %d times, want once:\n%s", "after init", n, after)
	}
}

// developmentChild logs before log.Init with SRC_DEVELOPMENT=true, where
// log.Scoped panics, then after it.
func developmentChild(t *testing.T) {
	global := observation.Default().Logger()
	global.Error("before init")
	global.Scoped("sub").With(log.String("a", "b")).Info("before init")
	obs := observation.NewContext(nil, nil, prometheus.NewRegistry())
	obs.Logger().Info("before init")
	_, tl, finish := obs.Operation(observation.Op{Name: "dev.op"}).With(context.Background(), nil, observation.Args{})
	tl.Info("before init")
	finish(1, observation.Args{})

	fmt.Fprintln(os.Stderr, initMarker)
	sync := log.Init(log.Resource{Name: "test"})
	global.Info("after init")
	sync.Sync()
}
