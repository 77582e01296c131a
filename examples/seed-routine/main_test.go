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

// TestSeedWalkthrough runs the walkthrough as written (two real seconds,
// then 200ms for the monitor): the routine greets at once and a second
// later, the context is cancelled at two seconds, just before its third
// check, and the monitor calls Stop at once, so the routine prints "done!"
// well within the 200ms main waits before it exits.
func TestSeedWalkthrough(t *testing.T) {
	t.Parallel()
	out, err := testenv.RunChild(t)
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	want := "Hello there!\nHello there!\ndone!\n"
	if string(out) != want {
		t.Errorf("walkthrough printed\n%s\nwant\n%s", out, want)
	}
}
