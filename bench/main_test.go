package bench

import (
	"fmt"
	"os"
	"testing"

	"github.com/sourcegraph/log"
	"go.uber.org/goleak"
)

// TestMain initialises the global sourcegraph/log logger the way a service
// does in production (log.Init: JSON, level Info, no development mode), so
// the success line (Debug) is level-filtered and the error line is encoded
// and written. Its output goes to /dev/null: log.Init can only write to the
// process's stderr, which it resolves when it is called, so os.Stderr points
// at /dev/null for the duration of the call and is restored afterwards.
// Each written line therefore costs its encoding and one write(2), as on a
// real service (where stderr is a pipe or a file). Sampling is disabled
// (SRC_LOG_SAMPLING_INITIAL=0) so that every error line is written, not one
// in a hundred after the first hundred per second.
func TestMain(m *testing.M) {
	for k, v := range map[string]string{
		log.EnvDevelopment:        "false",
		log.EnvLogFormat:          "json",
		log.EnvLogLevel:           "info",
		log.EnvLogSamplingInitial: "0",
	} {
		os.Setenv(k, v)
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	stderr := os.Stderr
	os.Stderr = devNull
	sync := log.Init(log.Resource{Name: "routinely-bench"})
	os.Stderr = stderr

	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		sync.Sync()
		devNull.Close()
		os.Exit(code)
	}))
}
