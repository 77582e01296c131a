package goroutine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/routinely/routinely/internal/testenv"
)

// stubRoutine records its lifecycle; its Stop blocks until release is
// closed when release is set.
type stubRoutine struct {
	name    string
	ctx     context.Context
	cancel  context.CancelFunc
	release chan struct{}
	started atomic.Bool
	stopped atomic.Bool
}

func newStub(name string) *stubRoutine {
	ctx, cancel := context.WithCancel(context.Background())
	return &stubRoutine{name: name, ctx: ctx, cancel: cancel}
}

func (s *stubRoutine) Name() string { return s.name }
func (s *stubRoutine) Start() {
	s.started.Store(true)
	<-s.ctx.Done()
}
func (s *stubRoutine) Stop() {
	if s.release != nil {
		<-s.release
	}
	s.stopped.Store(true)
	s.cancel()
}

var noSignals = []os.Signal{}

func TestMonitor_StopsEveryRoutineWhenTheContextIsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newStub("a"), newStub("b")
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() { returned <- Monitor{Signals: noSignals}.Run(ctx, a, b) }()
		synctest.Wait()
		if !a.started.Load() || !b.started.Load() {
			t.Fatal("routines not started")
		}
		cancel()
		if err := <-returned; err != nil {
			t.Fatalf("Run = %v", err)
		}
		if !a.stopped.Load() || !b.stopped.Load() {
			t.Error("Run returned before every Stop returned")
		}
	})
}

func TestMonitor_StopsRoutinesConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := func(name string) BackgroundRoutine {
			return &slowStop{BackgroundRoutine: NoopRoutine(), d: 10 * time.Second}
		}
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan struct{})
		go func() {
			_ = Monitor{Signals: noSignals}.Run(ctx, slow("a"), slow("b"), slow("c"))
			close(returned)
		}()
		synctest.Wait()
		start := time.Now()
		cancel()
		<-returned
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("stopping three routines that take 10s each took %v, want 10s (concurrent)", took)
		}
	})
}

type slowStop struct {
	BackgroundRoutine
	d time.Duration
}

func (s *slowStop) Stop() {
	time.Sleep(s.d)
	s.BackgroundRoutine.Stop()
}

func TestMonitor_ShutdownDeadlineReportsRoutinesThatDidNotStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fine, stuck := newStub("fine"), newStub("stuck")
		stuck.release = make(chan struct{})
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() {
			returned <- Monitor{Signals: noSignals, ShutdownTimeout: 5 * time.Second}.Run(ctx, fine, stuck)
		}()
		synctest.Wait()
		start := time.Now()
		cancel()
		err := <-returned
		if took := time.Since(start); took != 5*time.Second {
			t.Errorf("Run returned after %v, want the 5s deadline", took)
		}
		var se *ShutdownError
		if !errors.As(err, &se) || len(se.Pending) != 1 || se.Pending[0] != "stuck" {
			t.Fatalf("Run = %v, want a ShutdownError naming only stuck", err)
		}
		if !strings.Contains(err.Error(), "1 routine(s) did not stop within 5s: stuck") {
			t.Errorf("error text %q", err)
		}
		close(stuck.release) // let the bubble finish
	})
}

func TestMonitor_SurvivesARoutineThatPanicsOnStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		other := newStub("other")
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() { returned <- Monitor{Signals: noSignals}.Run(ctx, panicOnStart{}, other) }()
		synctest.Wait()
		cancel()
		if err := <-returned; err != nil {
			t.Fatal(err)
		}
		if !other.stopped.Load() {
			t.Error("other routine not stopped")
		}
	})
}

type panicOnStart struct{}

func (panicOnStart) Start() { panic("start failed") }
func (panicOnStart) Stop()  {}

func TestCombinedRoutine_StartsAndStopsTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newStub("a"), newStub("b")
		c := CombinedRoutine{a, b}
		returned := make(chan struct{})
		go func() { c.Start(); close(returned) }()
		synctest.Wait()
		if !a.started.Load() || !b.started.Load() {
			t.Fatal("not all started")
		}
		c.Stop()
		<-returned
		if !a.stopped.Load() || !b.stopped.Load() {
			t.Error("not all stopped")
		}
	})
}

func TestNoopRoutine_StopBeforeStart(t *testing.T) {
	r := NoopRoutine()
	r.Stop()
	r.Stop()
	r.Start() // returns at once
}

func TestGo_RecoversPanics(t *testing.T) {
	done := make(chan struct{})
	Go(func() {
		defer close(done)
		panic("in a goroutine")
	})
	<-done // the process is still alive; goleak checks the goroutine ended
}

// runSignalChild is the test binary acting as a service for the signal
// tests (testenv.ChildMode "clean" or "block-stop"): it runs
// MonitorBackgroundRoutines with one routine and reports its progress on
// stdout.
func runSignalChild() {
	block := testenv.ChildMode() == "block-stop"
	r := &childRoutine{done: make(chan struct{}), block: block}
	MonitorBackgroundRoutines(context.Background(), r)
	fmt.Println("monitor returned")
	os.Exit(0)
}

type childRoutine struct {
	done  chan struct{}
	block bool
}

// Start prints "started": the monitor installs its signal handler before it
// starts routines, so the parent may signal once it reads the line.
func (c *childRoutine) Start() {
	fmt.Println("started")
	<-c.done
}
func (c *childRoutine) Stop() {
	fmt.Println("stopping")
	if c.block {
		select {} // never stops: only a second signal ends the process
	}
	close(c.done)
}

// startChild runs this test binary as a signal child and returns it with a
// reader of its stdout lines.
func startChild(t *testing.T, mode string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := testenv.ChildCommand(mode, "^$")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

func expectLine(t *testing.T, s *bufio.Scanner, want string) {
	t.Helper()
	if !s.Scan() {
		t.Fatalf("child exited before printing %q: %v", want, s.Err())
	}
	if got := s.Text(); got != want {
		t.Fatalf("child printed %q, want %q", got, want)
	}
}

func TestMonitorBackgroundRoutines_SIGTERMStopsRoutinesAndReturns(t *testing.T) {
	cmd, out := startChild(t, "clean")
	expectLine(t, out, "started")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expectLine(t, out, "stopping")
	expectLine(t, out, "monitor returned")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child exited with %v, want a clean exit", err)
	}
}

func TestMonitorBackgroundRoutines_SecondSignalExitsImmediately(t *testing.T) {
	cmd, out := startChild(t, "block-stop")
	expectLine(t, out, "started")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expectLine(t, out, "stopping") // Stop now blocks forever
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("child exited with %v, want exit status 143 after the second SIGTERM", err)
	}
}

type returnsAtOnce struct{}

func (returnsAtOnce) Name() string { return "quitter" }
func (returnsAtOnce) Start()       {}
func (returnsAtOnce) Stop()        {}

func TestMonitor_LogsARoutineThatReturnsBeforeShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		ctx, cancel := context.WithCancel(t.Context())
		bound := f.periodic(ctx, "ctx-bound", time.Minute, &recorder{})
		returned := make(chan error)
		go func() {
			returned <- Monitor{Signals: noSignals, Logger: f.obs.Logger()}.Run(ctx, returnsAtOnce{}, bound)
		}()
		synctest.Wait()
		cancel()
		if err := <-returned; err != nil {
			t.Fatal(err)
		}
		early := f.logsMatching("background routine returned before shutdown")
		if len(early) != 1 || logAttrs(early[0])["routine"] != "quitter" {
			t.Errorf("early-return warnings = %+v, want one for quitter only", early)
		}
	})
}
