package dashboards_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/routinely/routinely/internal/otlptest"
	"github.com/routinely/routinely/internal/testenv"
	"github.com/routinely/routinely/metrics"
)

// TestEndToEnd_ExemplarsAreTheTraceIDsOfExportedSpans is the path from a
// point on a duration panel to its trace, minus Grafana: the test service,
// tracing every run with the tracing package's OTLP/HTTP exporter into a
// collector in this test, serves OpenMetrics; a real Prometheus with
// exemplar storage scrapes it every second; and the exemplars Prometheus
// returns for each query of the generated dashboard with exemplar: true
// (the duration panels', sent to query_exemplars as Grafana sends them)
// are trace ids of spans routine.<routine> of the same routine that
// reached the collector, for the healthy and the failing routine. That is what Grafana needs to open
// the trace: exemplarTraceIdDestinations maps the label to the trace
// data source, which holds those spans.
func TestEndToEnd_ExemplarsAreTheTraceIDsOfExportedSpans(t *testing.T) {
	promBin := testenv.LookPath(t, "prometheus", promtoolHint)
	goBin := testenv.LookPath(t, "go", "the Go toolchain")
	dir := t.TempDir()

	service := buildTestService(t, goBin, dir)
	ctx, cancel := context.WithTimeout(t.Context(), e2eBudget)
	defer cancel()
	begin := time.Now()

	collector := newSpanCollector(t)
	cmd := exec.Command(service, "-addr", "127.0.0.1:0", "-interval", "200ms", "-otlp-endpoint", collector.srv.URL)
	// Export spans within 100ms of their end rather than 5s; the rest
	// of the tracing set-up is explicit flags, not OTEL_* variables.
	cmd.Env = append(os.Environ(), "OTEL_BSP_SCHEDULE_DELAY=100")
	serviceAddr := startTestService(t, ctx, cmd)
	api := startPrometheus(t, ctx, promBin, dir, serviceAddr, "", "--enable-feature=exemplar-storage")

	// What Grafana sends for each duration query with exemplar: true:
	// its expression, to /api/v1/query_exemplars over the time range.
	checked := 0
	for _, q := range exemplarQueries(t) {
		expr := toPromQL(t, q, "30s", "1m")
		poll(t, ctx, fmt.Sprintf("panel %s to show exemplars of both finishing routines, each the trace id of one of their exported spans: %s", q.where, expr), func() (bool, string) {
			// Only exemplars at least a second old: their spans, exported
			// within 100ms of ending, have reached the collector by now.
			exemplars, err := api.exemplars(expr, begin, time.Now().Add(-time.Second))
			if err != nil {
				return false, err.Error()
			}
			spans := collector.spans()
			byRoutine := map[string]int{}
			var unknown []string
			for _, e := range exemplars {
				routine := e.series[metrics.RoutineLabel]
				if e.traceID == "" {
					t.Fatalf("an exemplar of %v has no %s label: %v", e.series, metrics.ExemplarTraceIDLabel, e.labels)
				}
				name, ok := spans[e.traceID]
				switch {
				case !ok:
					unknown = append(unknown, routine+":"+e.traceID)
					continue
				case name != "routine."+routine:
					t.Fatalf("exemplar %s of routine %s (outcome %s) is the trace of span %q, want routine.%s",
						e.traceID, routine, e.series[metrics.OutcomeLabel], name, routine)
				}
				byRoutine[routine]++
			}
			if len(unknown) > 0 || byRoutine["healthy"] == 0 || byRoutine["failing"] == 0 {
				return false, fmt.Sprintf("%d exemplars, matched by routine %v, trace ids no exported span has: %v (%d spans exported)",
					len(exemplars), byRoutine, unknown, len(spans))
			}
			if len(exemplars) > checked {
				checked = len(exemplars)
			}
			return true, ""
		})
	}
	t.Logf("up to %d exemplars per query, each the trace id of an exported span of its routine", checked)
}

// spanCollector is an OTLP/HTTP trace collector on loopback that keeps
// the name of every span it receives by trace id.
type spanCollector struct {
	srv *httptest.Server

	mu    sync.Mutex
	names map[string]string // trace id (hex) -> span name
}

func newSpanCollector(t *testing.T) *spanCollector {
	t.Helper()
	c := &spanCollector{names: map[string]string{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		b, err := otlptest.Body(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					c.names[hex.EncodeToString(s.GetTraceId())] = s.GetName()
				}
			}
		}
		c.mu.Unlock()
		resp, err := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// spans returns a copy of the span names by trace id received so far.
func (c *spanCollector) spans() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.names))
	for id, name := range c.names {
		out[id] = name
	}
	return out
}

// promExemplar is one exemplar of Prometheus' /api/v1/query_exemplars.
type promExemplar struct {
	series  map[string]string // labels of the series it belongs to
	labels  map[string]string // its own labels
	traceID string            // labels[metrics.ExemplarTraceIDLabel]
}

// exemplars returns the exemplars of the series query selects between
// start and end.
func (a *promAPI) exemplars(query string, start, end time.Time) ([]promExemplar, error) {
	var data []struct {
		SeriesLabels map[string]string `json:"seriesLabels"`
		Exemplars    []struct {
			Labels map[string]string `json:"labels"`
		} `json:"exemplars"`
	}
	ts := func(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
	if err := a.call("/api/v1/query_exemplars", url.Values{"query": {query}, "start": {ts(start)}, "end": {ts(end)}}, &data); err != nil {
		return nil, err
	}
	var out []promExemplar
	for _, s := range data {
		for _, e := range s.Exemplars {
			out = append(out, promExemplar{series: s.SeriesLabels, labels: e.Labels, traceID: strings.ToLower(e.Labels[metrics.ExemplarTraceIDLabel])})
		}
	}
	return out, nil
}
