package goroutine

import (
	"testing"

	"github.com/sourcegraph/log/logtest"
	"go.uber.org/goleak"

	"github.com/routinely/routinely/internal/testenv"
)

func TestMain(m *testing.M) {
	if testenv.IsChild() {
		runSignalChild()
		return
	}
	logtest.Init(m)
	goleak.VerifyTestMain(m)
}
