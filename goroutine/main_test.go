package goroutine

import (
	"os"
	"testing"

	"github.com/sourcegraph/log/logtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(signalChildEnv) != "" {
		runSignalChild()
		return
	}
	logtest.Init(m)
	goleak.VerifyTestMain(m)
}
