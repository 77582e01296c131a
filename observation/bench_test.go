package observation

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/routinely/routinely/metrics"
)

// BenchmarkWith measures one observation with RED metrics, the no-op
// tracer provider and a logger that discards everything below Fatal, i.e.
// the cost the library adds around an operation.
func BenchmarkWith(b *testing.B) {
	red := metrics.MustNewREDMetrics(prometheus.NewRegistry(), "bench_op", metrics.WithLabels("kind"))
	op := NewContext(log.NoOp(), noop.NewTracerProvider(), nil).Operation(Op{
		Name: "bench.op", Metrics: red, MetricLabelValues: []string{"a"},
	})
	for _, tc := range []struct {
		name string
		err  error
	}{{"ok", nil}, {"error", errors.New("boom")}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				err := tc.err
				_, _, finish := op.With(ctx, &err, Args{})
				finish(1, Args{})
			}
		})
	}
}
