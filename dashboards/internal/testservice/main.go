// Command testservice is the service the dashboards end-to-end test
// scrapes: four periodic routines, "healthy" whose handler always
// succeeds, "failing" whose handler always returns an error and which
// backs off after each failure (up to 10 intervals), "hanging" whose
// first run never returns until the routine stops, and "leaderless", a
// singleton that no replica leads, and their metrics on /metrics. The
// leader series are faked: "healthy" reports leading (routine_leader 1,
// one transition), "leaderless" reports following (routine_leader 0). It prints the address it listens on as the first line of
// its standard output and runs until SIGINT or SIGTERM.
//
// /metrics is in the OpenMetrics format when the scraper asks for it, so
// that each duration sample of a sampled run carries its trace id as an
// exemplar. With -otlp-endpoint, every run is sampled and its span
// (routine.<name>) exported with OTLP over HTTP to that collector; the
// batch span processor's delay is OTEL_BSP_SCHEDULE_DELAY (5s unless set).
//
//	go run ./dashboards/internal/testservice -addr 127.0.0.1:9100 -otlp-endpoint http://127.0.0.1:4318
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sourcegraph/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/internal/electortest"
	"github.com/routinely/routinely/tracing"
)

// Routine names, as the e2e test expects them in the routine label.
const (
	healthyRoutine = "healthy"
	failingRoutine = "failing"
	hangingRoutine = "hanging"
	// leaderlessRoutine is a singleton whose election no replica wins.
	leaderlessRoutine = "leaderless"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to serve /metrics on; port 0 picks a free port")
	interval := flag.Duration("interval", 200*time.Millisecond, "interval of the routines")
	otlpEndpoint := flag.String("otlp-endpoint", "", "URL of an OTLP/HTTP collector to export every run's span to (plaintext); empty means no tracing")
	flag.Parse()
	if err := run(*addr, *interval, *otlpEndpoint); err != nil {
		fmt.Fprintln(os.Stderr, "testservice:", err)
		os.Exit(1)
	}
}

func run(addr string, interval time.Duration, otlpEndpoint string) error {
	liblog := log.Init(log.Resource{Name: "routinely-testservice"})
	defer liblog.Sync()

	ctx := context.Background()
	if otlpEndpoint != "" {
		// Explicit fields rather than OTEL_* variables: every run sampled,
		// so every duration sample carries an exemplar.
		tp, err := tracing.NewProvider(ctx, tracing.Config{
			Exporter:    tracing.ExporterOTLPHTTP,
			Endpoint:    otlpEndpoint,
			Insecure:    true,
			ServiceName: "routinely-testservice",
			Sampler:     sdktrace.AlwaysSample(),
			SetGlobal:   true,
		})
		if err != nil {
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = tp.Shutdown(ctx)
		}()
	}
	// Both singletons: this replica leads "healthy" at once and never
	// leads "leaderless".
	elector := electortest.Leading(healthyRoutine)
	healthy, err := goroutine.NewPeriodic(ctx, interval,
		goroutine.NewHandlerWithErrorMessage(healthyRoutine, func(context.Context) error { return nil }),
		goroutine.WithLeaderElection(elector))
	if err != nil {
		return err
	}
	failing, err := goroutine.NewPeriodic(ctx, interval,
		goroutine.NewHandlerWithErrorMessage(failingRoutine, func(context.Context) error {
			return errors.New("this routine always fails")
		}), goroutine.WithBackoff(2*interval, 10*interval))
	if err != nil {
		return err
	}
	hanging, err := goroutine.NewPeriodic(ctx, interval,
		goroutine.NewHandlerWithErrorMessage(hangingRoutine, func(ctx context.Context) error {
			<-ctx.Done() // until the routine stops
			return ctx.Err()
		}))
	if err != nil {
		return err
	}

	leaderless, err := goroutine.NewPeriodic(ctx, interval,
		goroutine.NewHandlerWithErrorMessage(leaderlessRoutine, func(context.Context) error { return nil }),
		goroutine.WithLeaderElection(elector))
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	// OpenMetrics, the only format with exemplars.
	mux.Handle("/metrics", promhttp.InstrumentMetricHandler(prometheus.DefaultRegisterer,
		promhttp.HandlerFor(prometheus.DefaultGatherer, promhttp.HandlerOpts{EnableOpenMetrics: true})))
	server := &httpRoutine{server: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	fmt.Println(ln.Addr().String())

	return goroutine.Monitor{ShutdownTimeout: 5 * time.Second}.Run(ctx, healthy, failing, hanging, leaderless, server)
}

// httpRoutine serves HTTP as a BackgroundRoutine.
type httpRoutine struct {
	server *http.Server
	ln     net.Listener
}

func (h *httpRoutine) Start() {
	if err := h.server.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "testservice: serve:", err)
	}
}

func (h *httpRoutine) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.server.Shutdown(ctx)
}
