package goroutine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sourcegraph/log"
	"github.com/sourcegraph/log/logtest"

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
			if err := (Monitor{Signals: noSignals, ShutdownTimeout: time.Minute}).Run(ctx, slow("a"), slow("b"), slow("c")); err != nil {
				t.Error(err)
			}
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
		f := newFixture(t)
		other := newStub("other")
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() {
			returned <- Monitor{Signals: noSignals, Logger: f.obs.Logger()}.Run(ctx, panicOnStart{}, other)
		}()
		synctest.Wait()
		recovered := f.logsMatching("recovered from panic in goroutine")
		if len(recovered) != 1 {
			t.Fatalf("panic logs = %+v, want one, through the monitor's logger", recovered)
		}
		if a := logAttrs(recovered[0]); a["panic"] != "start failed" || !strings.Contains(fmt.Sprint(a["stack"]), "panicOnStart.Start") {
			t.Errorf("panic logged with %v, want the value and a stack through panicOnStart.Start", a)
		}
		if !other.started.Load() || other.stopped.Load() {
			t.Error("the other routine should run on after the panic")
		}
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

func TestNoopRoutine_StartReturnsAtOnceAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := NoopRoutine()
		r.Stop()
		r.Stop() // idempotent
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		synctest.Wait()
		select {
		case <-returned:
		default:
			t.Fatal("Start after Stop blocks; want it to return at once")
		}
	})
}

func TestNoopRoutine_StartBlocksUntilStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := NoopRoutine()
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		synctest.Wait()
		select {
		case <-returned:
			t.Fatal("Start returned before Stop")
		default:
		}
		r.Stop()
		synctest.Wait()
		select {
		case <-returned:
		default:
			t.Fatal("Start still blocked after Stop")
		}
	})
}

// TestGo_RecoversPanicsAndLogsThem runs Go in a child process whose global
// logger writes to stderr: the process survives the panic, which is logged
// with its value and stack.
func TestGo_RecoversPanicsAndLogsThem(t *testing.T) {
	cmd := testenv.ChildCommand("go-panic", "^$")
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The panic is logged on Go's goroutine after f's deferred calls ran,
	// so after the child printed "alive": it stays up until this has read
	// the line, then exits when its stdin closes.
	logged, eof := make(chan string, 1), make(chan string)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "recovered from panic in goroutine") {
				select {
				case logged <- sc.Text():
				default: // a second one: the first is checked
				}
			}
		}
		eof <- all.String()
	}()
	var line, all string
	select {
	case line = <-logged:
	case all = <-eof:
	case <-time.After(30 * time.Second): // a bound on a failure, not a wait
	}
	_ = stdin.Close()
	if all == "" {
		all = <-eof
	}
	if err := cmd.Wait(); err != nil || stdout.String() != "deferred call ran\nalive\n" {
		t.Fatalf("child: %v, stdout %q, want the deferred call and a clean exit; stderr:\n%s", err, stdout.String(), all)
	}
	for _, want := range []string{"recovered from panic in goroutine", "in a goroutine", "goroutine.runGoPanicChild"} {
		if !strings.Contains(line, want) {
			t.Errorf("the log line lacks %q; stderr:\n%s", want, all)
		}
	}
}

// runGoPanicChild panics in a goroutine started by Go, reports that the
// process is still alive, and exits when its stdin closes.
func runGoPanicChild() {
	logtest.Init(nil) // the global logger writes to stderr
	done := make(chan struct{})
	Go(func() {
		defer close(done)
		defer fmt.Println("deferred call ran")
		panic("in a goroutine")
	})
	<-done
	fmt.Println("alive")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// runSignalChild is the test binary acting as a service for the signal
// tests (testenv.ChildMode "clean", "block-stop" or "ctx-block-stop"): it
// runs MonitorBackgroundRoutines with one routine and reports its progress
// on stdout. In mode "ctx-block-stop" the routine cancels the monitor's
// context once started, so shutdown begins without a signal.
func runSignalChild() {
	if testenv.ChildMode() == "go-panic" {
		runGoPanicChild()
		os.Exit(0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &childRoutine{done: make(chan struct{}), block: testenv.ChildMode() != "clean"}
	if testenv.ChildMode() == "ctx-block-stop" {
		r.started = cancel
	}
	MonitorBackgroundRoutines(ctx, r)
	fmt.Println("monitor returned")
	os.Exit(0)
}

type childRoutine struct {
	done    chan struct{}
	block   bool
	started func()
}

// Start prints "started": the monitor installs its signal handler before it
// starts routines, so the parent may signal once it reads the line.
func (c *childRoutine) Start() {
	fmt.Println("started")
	if c.started != nil {
		c.started()
	}
	<-c.done
}
func (c *childRoutine) Stop() {
	fmt.Println("stopping")
	if c.block {
		select {} // never stops: only a signal (or the deadline) ends the process
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

// waitExit waits for the child to exit, killing it after a minute: a
// guard against a hang, not a synchronisation.
func waitExit(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatal("child still running a minute after the signal")
		return nil
	}
}

func TestMonitorBackgroundRoutines_SignalDuringContextShutdownExits(t *testing.T) {
	cmd, out := startChild(t, "ctx-block-stop")
	expectLine(t, out, "started")
	expectLine(t, out, "stopping") // ctx cancelled; Stop now blocks forever
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := waitExit(t, cmd)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGINT) {
		t.Fatalf("child exited with %v, want exit status 130 after SIGINT during shutdown", err)
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
	err := waitExit(t, cmd)
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

// stopTracker is a stub whose Stop records whether the monitor had already
// logged the start of shutdown when Stop was called.
type stopTracker struct {
	*stubRoutine
	f          *fixture
	loggedWhen atomic.Int32 // 1: not logged yet at Stop, 2: already logged
}

func (s *stopTracker) Stop() {
	if len(s.f.logsMatching("stopping background routines")) == 0 {
		s.loggedWhen.Store(1)
	} else {
		s.loggedWhen.Store(2)
	}
	s.stubRoutine.Stop()
}

func TestMonitor_StopsRoutinesBeforeLogging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		r := &stopTracker{stubRoutine: newStub("r"), f: f}
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() { returned <- Monitor{Signals: noSignals, Logger: f.obs.Logger()}.Run(ctx, r) }()
		synctest.Wait()
		cancel()
		if err := <-returned; err != nil {
			t.Fatal(err)
		}
		if got := r.loggedWhen.Load(); got != 1 {
			t.Errorf("Stop called after the monitor logged (state %d); want Stop first, then the log", got)
		}
		if n := len(f.logsMatching("stopping background routines")); n != 1 {
			t.Errorf("%d shutdown log lines, want 1", n)
		}
	})
}

func TestMonitor_ZeroValueShutdownIsBoundedByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		stuck := newStub("stuck")
		stuck.release = make(chan struct{})
		defer close(stuck.release)
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() {
			returned <- Monitor{Signals: noSignals, Logger: f.obs.Logger()}.Run(ctx, stuck, newStub("fine"))
		}()
		synctest.Wait()
		start := time.Now()
		cancel()
		err := <-returned
		if took := time.Since(start); took != DefaultShutdownTimeout {
			t.Errorf("Run returned after %v, want DefaultShutdownTimeout (%v)", took, DefaultShutdownTimeout)
		}
		var se *ShutdownError
		if !errors.As(err, &se) || se.Timeout != DefaultShutdownTimeout || !slices.Equal(se.Pending, []string{"stuck"}) {
			t.Fatalf("Run = %v, want a ShutdownError naming stuck", err)
		}
		warns := f.logsMatching("background routines still stopping")
		if len(warns) != 1 || warns[0].Level != log.LevelWarn || fmt.Sprint(logAttrs(warns[0])["stopping"]) != "[stuck]" {
			t.Errorf("still-stopping warnings = %+v, want one at Warn naming stuck", warns)
		}
		errs := f.logsMatching("shutdown did not finish in time")
		if len(errs) != 1 || errs[0].Level != log.LevelError || !strings.Contains(fmt.Sprint(logAttrs(errs[0])["error"]), "stuck") {
			t.Errorf("deadline errors logged = %+v, want one at Error naming stuck", errs)
		}
	})
}

func TestMonitor_NegativeTimeoutWaitsWithoutDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		slow := &slowStop{BackgroundRoutine: NoopRoutine(), d: time.Minute}
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() {
			returned <- Monitor{Signals: noSignals, Logger: f.obs.Logger(), ShutdownTimeout: -1}.Run(ctx, slow)
		}()
		synctest.Wait()
		start := time.Now()
		cancel()
		if err := <-returned; err != nil {
			t.Fatalf("Run = %v, want nil once the slow Stop returned", err)
		}
		if took := time.Since(start); took != time.Minute {
			t.Errorf("Run returned after %v, want a minute (no deadline)", took)
		}
		// Warnings after 5s, then each time the wait doubles: 10s, 20s, 40s.
		if n := len(f.logsMatching("background routines still stopping")); n != 4 {
			t.Errorf("%d still-stopping warnings in a minute, want 4", n)
		}
	})
}

// slowStart is a routine whose Start goes on for d after Stop returned.
type slowStart struct {
	stopped chan struct{}
	d       time.Duration
}

func (s *slowStart) Name() string { return "slow-start" }
func (s *slowStart) Start() {
	<-s.stopped
	time.Sleep(s.d)
}
func (s *slowStart) Stop() { close(s.stopped) }

func TestMonitor_RunWaitsForStartToReturn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &slowStart{stopped: make(chan struct{}), d: 3 * time.Second}
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() { returned <- Monitor{Signals: noSignals}.Run(ctx, r) }()
		synctest.Wait()
		start := time.Now()
		cancel()
		if err := <-returned; err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("Run returned %v after shutdown began, want 3s: when Start returned", took)
		}
	})
}

func TestMonitor_ShutdownErrorNamesRoutinesWhoseStartIsStillRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &slowStart{stopped: make(chan struct{}), d: time.Minute}
		stuck := newStub("stuck")
		stuck.release = make(chan struct{})
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() { returned <- Monitor{Signals: noSignals, ShutdownTimeout: 2 * time.Second}.Run(ctx, r, stuck) }()
		synctest.Wait()
		cancel()
		err := <-returned
		var se *ShutdownError
		if !errors.As(err, &se) {
			t.Fatalf("Run = %v, want a ShutdownError", err)
		}
		if !slices.Equal(se.Pending, []string{"slow-start", "stuck"}) ||
			!slices.Equal(se.Stopping, []string{"stuck"}) ||
			!slices.Equal(se.Running, []string{"slow-start", "stuck"}) {
			t.Errorf("Pending %v, Stopping %v, Running %v", se.Pending, se.Stopping, se.Running)
		}
		want := "goroutine: 2 routine(s) did not stop within 2s: slow-start (Start still running), stuck"
		if err.Error() != want {
			t.Errorf("error text\n%q, want\n%q", err, want)
		}
		close(stuck.release)
		time.Sleep(time.Minute) // fake time: let the slow Start finish in the bubble
	})
}

func TestMonitor_OnShutdownRunsAfterRoutinesWithWhatIsLeftOfTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &slowStop{BackgroundRoutine: NoopRoutine(), d: 3 * time.Second}
		stopped := newStub("stopped")
		hookErr := errors.New("flush failed")
		var order []string
		var left time.Duration
		m := Monitor{Signals: noSignals, ShutdownTimeout: 10 * time.Second, OnShutdown: []func(context.Context) error{
			func(ctx context.Context) error {
				deadline, ok := ctx.Deadline()
				if !ok {
					t.Error("hook context has no deadline")
				}
				left = time.Until(deadline)
				order = append(order, fmt.Sprintf("first, routine stopped: %v", stopped.stopped.Load()))
				return nil
			},
			func(ctx context.Context) error {
				if v := ctx.Value(ctxKey{}); v != "value" {
					t.Errorf("hook context value %v, want Run's ctx values", v)
				}
				order = append(order, "second")
				return hookErr
			},
		}}
		ctx, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, "value"))
		returned := make(chan error)
		go func() { returned <- m.Run(ctx, r, stopped) }()
		synctest.Wait()
		cancel()
		err := <-returned
		if !errors.Is(err, hookErr) {
			t.Errorf("Run = %v, want the hook's error", err)
		}
		var se *ShutdownError
		if errors.As(err, &se) {
			t.Errorf("Run = %v, want no ShutdownError", err)
		}
		if left != 7*time.Second {
			t.Errorf("hook deadline %v away, want 7s: 10s less the 3s the routines took", left)
		}
		if want := []string{"first, routine stopped: true", "second"}; !slices.Equal(order, want) {
			t.Errorf("hooks ran as %q, want %q", order, want)
		}
	})
}

type ctxKey struct{}

func TestMonitor_OnShutdownIsBoundedByTheSameDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &slowStop{BackgroundRoutine: NoopRoutine(), d: 4 * time.Second}
		release := make(chan struct{})
		secondCalled := false
		m := Monitor{Signals: noSignals, ShutdownTimeout: 10 * time.Second, OnShutdown: []func(context.Context) error{
			func(context.Context) error { <-release; return nil }, // ignores its deadline
			func(context.Context) error { secondCalled = true; return nil },
		}}
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() { returned <- m.Run(ctx, r) }()
		synctest.Wait()
		start := time.Now()
		cancel()
		err := <-returned
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("Run returned after %v, want 10s: one deadline for routines and hooks", took)
		}
		var se *ShutdownError
		if !errors.As(err, &se) || se.Hooks != 2 || len(se.Pending) != 0 {
			t.Fatalf("Run = %v, want a ShutdownError counting 2 unfinished hooks", err)
		}
		if want := "goroutine: 2 shutdown hook(s) did not finish within 10s"; err.Error() != want {
			t.Errorf("error text %q, want %q", err, want)
		}
		close(release)
		synctest.Wait()
		if secondCalled {
			t.Error("a hook was called after the deadline")
		}
	})
}

func TestMonitor_OnShutdownPanicIsReturned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := Monitor{Signals: noSignals, OnShutdown: []func(context.Context) error{
			func(context.Context) error { panic("hook failed") },
		}}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := m.Run(ctx, NoopRoutine())
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Value != "hook failed" {
			t.Errorf("Run = %v, want the hook's panic as a *PanicError", err)
		}
	})
}

func TestMonitor_OnShutdownNotCalledWhenRoutinesMissTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stuck := newStub("stuck")
		stuck.release = make(chan struct{})
		called := false
		m := Monitor{Signals: noSignals, ShutdownTimeout: time.Second, OnShutdown: []func(context.Context) error{
			func(context.Context) error { called = true; return nil },
		}}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := m.Run(ctx, stuck)
		var se *ShutdownError
		if !errors.As(err, &se) || se.Hooks != 1 || !slices.Equal(se.Pending, []string{"stuck"}) {
			t.Errorf("Run = %v, want a ShutdownError naming stuck and one hook", err)
		}
		if want := "goroutine: 1 routine(s) did not stop within 1s: stuck; 1 shutdown hook(s) did not finish"; err.Error() != want {
			t.Errorf("error text %q, want %q", err, want)
		}
		close(stuck.release)
		synctest.Wait()
		if called {
			t.Error("hook called after the deadline")
		}
	})
}

// TestMonitor_SignalDuringContextShutdownExits sends a real signal to this
// process while a ctx-started shutdown waits for a stuck routine; the
// monitor's exit function stands in for os.Exit.
func TestMonitor_SignalDuringContextShutdownExits(t *testing.T) {
	stuck := newStub("stuck")
	stuck.release = make(chan struct{})
	stopping := make(chan struct{})
	exited := make(chan int, 1)
	m := Monitor{Signals: []os.Signal{syscall.SIGUSR1}, ShutdownTimeout: -1, exit: func(code int) { exited <- code }}
	ctx, cancel := context.WithCancel(t.Context())
	returned := make(chan error)
	go func() {
		returned <- m.Run(ctx, &stopSignal{stubRoutine: stuck, stopping: stopping})
	}()
	cancel()
	<-stopping
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != 128+int(syscall.SIGUSR1) {
			t.Errorf("exit(%d), want 128+SIGUSR1", code)
		}
	case <-time.After(time.Minute): // a guard against a hang, not a synchronisation
		t.Error("the signal during a ctx-started shutdown did not exit the process")
	}
	close(stuck.release)
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
}

type stopSignal struct {
	*stubRoutine
	stopping chan struct{}
}

func (s *stopSignal) Stop() {
	close(s.stopping)
	s.stubRoutine.Stop()
}

func TestCombinedRoutine_SurvivesAPanickingMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newStub("a")
		c := CombinedRoutine{panicOnStart{}, a}
		returned := make(chan struct{})
		go func() { c.Start(); close(returned) }()
		synctest.Wait()
		if !a.started.Load() {
			t.Fatal("a not started")
		}
		c.Stop()
		<-returned
		if !a.stopped.Load() {
			t.Error("a not stopped")
		}
	})
}

// Two routines with one name (unnamed ones are named by their type), one
// still stopping and one whose Start still runs: the message marks one.
func TestShutdownError_MarksOneOfTwoRoutinesWithTheSameName(t *testing.T) {
	err := &ShutdownError{Timeout: time.Second,
		Pending:  []string{"goroutine.CombinedRoutine", "goroutine.CombinedRoutine"},
		Stopping: []string{"goroutine.CombinedRoutine"},
		Running:  []string{"goroutine.CombinedRoutine", "goroutine.CombinedRoutine"},
	}
	want := "goroutine: 2 routine(s) did not stop within 1s: goroutine.CombinedRoutine, goroutine.CombinedRoutine (Start still running)"
	if err.Error() != want {
		t.Errorf("error text\n%q, want\n%q", err.Error(), want)
	}
}

// A shutdown hook that calls runtime.Goexit (t.Fatal in a user's test)
// fails like a panicking one: Run returns, naming the hook.
func TestMonitor_OnShutdownHookThatCallsGoexitFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		m := Monitor{Signals: noSignals, OnShutdown: []func(context.Context) error{
			func(context.Context) error { runtime.Goexit(); return nil },
		}}
		returned := make(chan error)
		go func() { returned <- m.Run(ctx, newStub("r")) }()
		synctest.Wait()
		cancel()
		err := <-returned
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Value != ErrGoexit || !strings.Contains(err.Error(), "shutdown hook 0") {
			t.Errorf("Run = %v, want shutdown hook 0 failing with ErrGoexit", err)
		}
	})
}
