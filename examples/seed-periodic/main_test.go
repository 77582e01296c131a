package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/routinely/routinely/internal/testenv"
)

func TestMain(m *testing.M) {
	if testenv.IsChild() {
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
	out, err := testenv.RunChild(t)
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	if got := string(out); got != "Hello from the background!\n" {
		t.Errorf("output %q, want one greeting", got)
	}
}
