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

// TestSeedWalkthrough runs the walkthrough as written (two real seconds,
// then 200ms for the monitor): the routine greets at once and a second
// later; the context is cancelled at two seconds, just before the
// routine's third check, and the monitor calls Stop before anything else,
// so the routine prints "done!" well within the 200ms main waits.
//
// "Just before" is the walkthrough's own race: the routine's checks lag
// main's clock only by the few milliseconds the routine took to start.
// When the machine delays main's wake-up (or the monitor's) by more than
// that, the routine checks first, greets a third time and sleeps past
// main's exit. No monitor can prevent that, so that outcome, and only
// that one, is retried.
func TestSeedWalkthrough(t *testing.T) {
	t.Parallel()
	const want = "Hello there!\nHello there!\ndone!\n"
	const attempts = 5
	for i := 1; ; i++ {
		out, err := testenv.RunChild(t)
		if err != nil {
			t.Fatalf("walkthrough failed: %v\n%s", err, out)
		}
		if string(out) == want {
			return
		}
		if i < attempts && strings.HasPrefix(string(out), "Hello there!\nHello there!\nHello there!\n") {
			t.Logf("attempt %d: the routine checked for Stop before main cancelled (a race in the walkthrough itself); retrying", i)
			continue
		}
		t.Fatalf("walkthrough printed\n%s\nwant\n%s", out, want)
	}
}
