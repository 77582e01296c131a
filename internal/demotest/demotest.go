// Package demotest builds the demo service and runs it as a subprocess,
// for the demo's own test and the browser test in the e2e module. It is
// test support, not part of the library.
package demotest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/routinely/routinely/goroutine/status"
)

// Build compiles the demo's main package in dir into a temporary directory
// and returns the binary's path. When the test runs with -race, so is the
// demo built.
func Build(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v in %s: %v\n%s", args, dir, err, out)
	}
	return bin
}

// Demo is a running demo process.
type Demo struct {
	// URL is where the demo serves, e.g. "http://127.0.0.1:41234".
	URL string

	cmd            *exec.Cmd
	client         *http.Client
	stdout, stderr syncBuffer
	exited         chan struct{} // closed once the process has exited
	waitErr        error
}

var listeningRE = regexp.MustCompile(`listening on (http://\S+)`)

// Start runs the demo binary with args and returns once it has printed its
// address and answers HTTP, failing the test if that takes longer than
// 30s. The process is killed at the end of the test if still running.
func Start(t testing.TB, bin string, args ...string) *Demo {
	t.Helper()
	d := &Demo{
		cmd: exec.Command(bin, args...),
		// No keep-alive: no idle connection outlives a request, so tests
		// checking for leaked goroutines find none.
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second},
		exited: make(chan struct{}),
	}
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting the demo: %v", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
			t.Logf("demo killed at the end of the test; stderr:\n%s", d.Stderr())
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for d.URL == "" {
		if m := listeningRE.FindStringSubmatch(d.Stderr()); m != nil {
			d.URL = m[1]
			break
		}
		d.checkAlive(t, deadline, "print its address")
	}
	for {
		resp, err := d.client.Get(d.URL + "/debug/routines?format=json")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		d.checkAlive(t, deadline, "answer HTTP")
	}
}

// checkAlive fails the test if the demo exited or the deadline passed,
// and otherwise waits a moment.
func (d *Demo) checkAlive(t testing.TB, deadline time.Time, what string) {
	t.Helper()
	select {
	case <-d.exited:
		t.Fatalf("demo exited (%v) before it could %s; stderr:\n%s", d.waitErr, what, d.Stderr())
	case <-time.After(20 * time.Millisecond):
	}
	if time.Now().After(deadline) {
		t.Fatalf("demo did not %s within 30s; stderr:\n%s", what, d.Stderr())
	}
}

// Get fetches path from the demo and returns the response's status code,
// headers and body.
func (d *Demo) Get(t testing.TB, path string) (int, http.Header, string) {
	t.Helper()
	return d.Do(t, http.MethodGet, path)
}

// Do sends a request without a body to the demo.
func (d *Demo) Do(t testing.TB, method, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, d.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// Report fetches the demo's status page as JSON.
func (d *Demo) Report(t testing.TB) status.Report {
	t.Helper()
	code, _, body := d.Get(t, "/debug/routines?format=json")
	if code != http.StatusOK {
		t.Fatalf("GET /debug/routines?format=json: status %d: %s", code, body)
	}
	var r status.Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("decoding the status report: %v\n%s", err, body)
	}
	return r
}

// WaitForReport polls the status report until ok accepts it, and returns
// it; it fails the test after timeout.
func (d *Demo) WaitForReport(t testing.TB, timeout time.Duration, ok func(status.Report) bool) status.Report {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := d.Report(t)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(r, "", "  ")
			t.Fatalf("status report not as expected after %v:\n%s", timeout, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// EveryRoutineRanAndOneFailed reports whether every routine has finished
// at least one run and at least one routine has a last error: what a
// status page needs to be worth looking at.
func EveryRoutineRanAndOneFailed(r status.Report) bool {
	failed := false
	for _, rt := range r.Routines {
		if rt.Runs() == 0 {
			return false
		}
		failed = failed || rt.LastError != ""
	}
	return len(r.Routines) > 0 && failed
}

// Terminate sends SIGTERM and waits up to timeout for the demo to exit.
// It returns the exit code, or an error if the demo was still running at
// the deadline (it is then killed).
func (d *Demo) Terminate(timeout time.Duration) (int, error) {
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return -1, fmt.Errorf("sending SIGTERM: %w", err)
	}
	select {
	case <-d.exited:
		var exitErr *exec.ExitError
		if d.waitErr != nil && !errors.As(d.waitErr, &exitErr) {
			return -1, d.waitErr
		}
		return d.cmd.ProcessState.ExitCode(), nil
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return -1, fmt.Errorf("demo still running %v after SIGTERM", timeout)
	}
}

// Stdout returns what the demo has written to stdout so far.
func (d *Demo) Stdout() string { return d.stdout.String() }

// Stderr returns what the demo has written to stderr so far.
func (d *Demo) Stderr() string { return d.stderr.String() }

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
