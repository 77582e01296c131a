package goroutine

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/routinely/routinely/metrics"
	"github.com/routinely/routinely/observation"
)

// exemplars returns the trace ids of the exemplars on the duration
// histogram of routine, by outcome.
func exemplars(t *testing.T, reg prometheus.Gatherer, routine string) map[string][]string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		if mf.GetName() != names.HandlerDuration {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels[metrics.RoutineLabel] != routine {
				continue
			}
			for _, b := range m.GetHistogram().GetBucket() {
				if e := b.GetExemplar(); e != nil {
					out[labels[metrics.OutcomeLabel]] = append(out[labels[metrics.OutcomeLabel]], exemplarTraceID(e))
				}
			}
		}
	}
	return out
}

func exemplarTraceID(e *dto.Exemplar) string {
	for _, lp := range e.GetLabel() {
		if lp.GetName() == metrics.ExemplarTraceIDLabel {
			return lp.GetValue()
		}
	}
	return ""
}

// TestExemplars_SampledRunsCarryTheirTraceID: the duration sample of a
// sampled run carries its span's trace id; an unsampled one carries none.
func TestExemplars_SampledRunsCarryTheirTraceID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		fails := false
		h := HandlerFunc(func(context.Context) error {
			if fails {
				return context.DeadlineExceeded
			}
			fails = true
			return nil
		})
		r := f.periodic(t.Context(), "sampled", time.Second, h)
		run(t, r, 1500*time.Millisecond) // a success at 0, an error at 1s

		spans := f.spanNamed("routine.sampled")
		if len(spans) != 2 {
			t.Fatalf("%d spans, want 2", len(spans))
		}
		got := exemplars(t, f.reg, "sampled")
		for i, outcome := range []string{metrics.OutcomeSuccess, metrics.OutcomeError} {
			want := spans[i].SpanContext().TraceID().String()
			if len(got[outcome]) != 1 || got[outcome][0] != want {
				t.Errorf("%s exemplars %v, want the trace id of its span %s", outcome, got[outcome], want)
			}
		}
	})
}

func TestExemplars_NoneForUnsampledRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		f.obs = observation.NewContext(f.obs.Logger(), sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())), f.reg)
		r := f.periodic(t.Context(), "unsampled", time.Second, HandlerFunc(func(context.Context) error { return nil }))
		run(t, r, 1500*time.Millisecond)
		if got := f.durationCount("unsampled", metrics.OutcomeSuccess); got != 2 {
			t.Fatalf("%v runs observed, want 2", got)
		}
		if got := exemplars(t, f.reg, "unsampled"); len(got) != 0 {
			t.Errorf("exemplars %v on unsampled runs, want none", got)
		}
	})
}
