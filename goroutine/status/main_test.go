package status_test

import (
	"testing"

	"github.com/sourcegraph/log/logtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	logtest.Init(m)
	goleak.VerifyTestMain(m)
}
