package main

import (
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"
)

const runMainEnv = "ROUTINELY_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) != "" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// TestSeedWalkthrough runs the walkthrough as written (ten real seconds):
// the handler runs once at start (the next run would be two minutes
// later), and the program exits cleanly after the monitor stops it.
func TestSeedWalkthrough(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	if got := string(out); got != "Hello from the background!\n" {
		t.Errorf("output %q, want one greeting", got)
	}
}
