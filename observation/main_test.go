package observation_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines. It deliberately does not call
// logtest.Init: TestGlobalLoggerIsLazy needs a process whose global logger
// is not initialised yet (it runs in a child process of this binary).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
