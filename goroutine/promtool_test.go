package goroutine

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/routinely/routinely/internal/testenv"
)

// TestMetrics_PassPromtoolCheckMetrics runs the real promtool over the
// exposition of routines that succeeded, failed and panicked.
func TestMetrics_PassPromtoolCheckMetrics(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool", "Debian package prometheus")
	f := newFixture(t)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	h := HandlerFunc(func(context.Context) error {
		calls++
		switch calls {
		case 1:
			return errors.New("boom")
		case 2:
			panic("kaboom")
		case 3:
			cancel()
		}
		return nil
	})
	f.periodic(ctx, "checked", time.Millisecond, h).Start()

	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
