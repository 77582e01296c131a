package main

import (
	"strings"
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
// the routine greets once a second and prints "done!" when the monitor
// stops it after the context is cancelled.
func TestSeedWalkthrough(t *testing.T) {
	t.Parallel()
	out, err := testenv.RunChild(t)
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got := lines[len(lines)-1]; got != "done!" {
		t.Errorf("last line %q, want done!\n%s", got, out)
	}
	greetings := 0
	for _, l := range lines[:len(lines)-1] {
		if l != "Hello there!" {
			t.Errorf("unexpected line %q", l)
		}
		greetings++
	}
	if greetings < 9 || greetings > 11 {
		t.Errorf("%d greetings in ten seconds at one per second", greetings)
	}
}
