// Package testenv holds what tests share about their environment: finding
// the external programs (promtool, prometheus, chromium) that tests run for
// real, and the rule that CI never skips them.
package testenv

import (
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// external program is a failure, not a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// LookPath returns the path of the named program. When it is absent, the
// test is skipped with a printed reason, or fails under CI.
func LookPath(t testing.TB, name, installHint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if InCI() {
		t.Fatalf("%s not found on PATH under CI=true (%s): %v", name, installHint, err)
	}
	t.Skipf("skipping: %s not found on PATH (%s); under CI=true this fails", name, installHint)
	return ""
}

// childEnv marks a process started by ChildCommand; its value is the mode.
const childEnv = "ROUTINELY_TEST_CHILD"

// ChildMode returns the mode this test binary was started in by
// ChildCommand, or "" when it runs as the test process itself.
func ChildMode() string { return os.Getenv(childEnv) }

// IsChild reports whether this test binary was started by ChildCommand. A
// TestMain calls the program's main (or other child code) instead of the
// tests when it is.
func IsChild() bool { return ChildMode() != "" }

// ChildCommand returns a command that runs this test binary again as a
// child in mode (see ChildMode), running the tests matching the -test.run
// pattern run ("^$" for none), once.
func ChildCommand(mode, run string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	return cmd
}

// RunChild runs this test binary again as a child with no test selected
// and returns its standard output.
func RunChild(t testing.TB) ([]byte, error) {
	t.Helper()
	return ChildCommand("main", "^$").Output()
}

// LockedWriter writes to W holding Mu, so that a test can read what a
// child process or a logger writes, under the same mutex, while it
// writes.
type LockedWriter struct {
	Mu *sync.Mutex
	W  io.Writer
}

// Write writes p to W while holding Mu.
func (l *LockedWriter) Write(p []byte) (int, error) {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	return l.W.Write(p)
}
