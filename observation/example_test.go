package observation_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/routinely/routinely/metrics"
	"github.com/routinely/routinely/observation"
)

func ExampleOperation_With() {
	// Where observations go: a span recorder, a fresh registry and, to keep
	// the output deterministic, a logger that discards.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	reg := prometheus.NewRegistry()
	obs := observation.NewContext(log.NoOp(), tp, reg)

	red, err := metrics.NewREDMetrics(obs.Registerer(), "indexer_sync", metrics.WithLabels("repo"))
	if err != nil {
		fmt.Println(err)
		return
	}
	syncOp := obs.Operation(observation.Op{Name: "indexer.sync", Metrics: red})

	syncRepo := func(ctx context.Context, repo string) (err error) {
		_, logger, finish := syncOp.With(ctx, &err, observation.Args{
			Attrs:             []attribute.KeyValue{attribute.String("repo", repo)},
			MetricLabelValues: []string{repo},
		})
		defer finish(1, observation.Args{})

		logger.AddEvent("fetched")
		if repo == "broken" {
			return errors.New("disk full")
		}
		return nil
	}
	_ = syncRepo(context.Background(), "healthy")
	_ = syncRepo(context.Background(), "broken")

	for _, s := range spans.Ended() {
		fmt.Printf("span %s: status %s %q\n", s.Name(), s.Status().Code, s.Status().Description)
	}
	for _, repo := range []string{"healthy", "broken"} {
		fmt.Printf("%s: syncs %v, errors %v\n", repo,
			testutil.ToFloat64(red.Count.WithLabelValues(repo)),
			testutil.ToFloat64(red.Errors.WithLabelValues(repo)))
	}
	// Output:
	// span indexer.sync: status Unset ""
	// span indexer.sync: status Error "disk full"
	// healthy: syncs 1, errors 0
	// broken: syncs 1, errors 1
}
