// Command demo is a small service that shows routinely at work: three
// background routines — a healthy janitor, a flaky syncer that fails about
// 30% of its runs, and a slow report builder that sometimes hits its
// timeout — observed through Prometheus metrics, OpenTelemetry traces,
// sourcegraph/log logs and a live status page.
//
//	go run ./examples/demo
//
// then open http://127.0.0.1:8080/debug/routines. Ctrl-C (or SIGTERM)
// stops every routine and the HTTP server, flushes the traces and exits
// with status 0, all within -shutdown-timeout; if something did not stop
// in time or the final flush failed, it prints why and exits with status
// 1. A second Ctrl-C exits at once.
//
// Flags:
//
//	-addr 127.0.0.1:8080     where to serve /metrics and /debug/routines;
//	                         port 0 picks a free port (printed at start)
//	-interval-scale 1        multiplies every interval, timeout and work
//	                         time: 0.1 runs ten times faster
//	-shutdown-timeout 10s    how long the whole shutdown may take: the
//	                         routines, the HTTP server, the trace flush
//	-postgres URL            run the routines as singletons across every
//	                         demo sharing this PostgreSQL database: start
//	                         several on different -addr and they share the
//	                         work (one run per interval across them)
//	-spans auto              how spans are written to stdout: short (one
//	                         line per span), json (the OpenTelemetry stdout
//	                         exporter's JSON), none, or auto: short on a
//	                         terminal, json when stdout is redirected
//
// Where things go: the "where to look" banner and the logs go to stderr,
// spans to stdout, so `go run ./examples/demo >spans.jsonl` keeps a clean
// terminal and a file of JSON spans. When OTEL_TRACES_EXPORTER or
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or
// OTEL_SDK_DISABLED) is set, the OTEL_* variables decide instead, as
// tracing.Setup reads them; OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318
// sends the spans to a local collector over OTLP. Logs are condensed and at
// info level unless SRC_LOG_FORMAT and SRC_LOG_LEVEL say otherwise;
// SRC_LOG_LEVEL=debug adds a line per successful run.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sourcegraph/log"

	"github.com/routinely/routinely/election/postgres"
	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/goroutine/status"
	"github.com/routinely/routinely/observation"
	"github.com/routinely/routinely/tracing"
)

const serviceName = "routinely-demo"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	addr            string
	scale           float64
	shutdownTimeout time.Duration
	spans           string
	postgres        string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet(serviceName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "`address` to serve /metrics and /debug/routines on; port 0 picks a free port")
	fs.Float64Var(&o.scale, "interval-scale", 1, "multiply every routine's interval, timeout and work time by `factor` (0.1 runs 10× faster)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long the whole shutdown (routines, HTTP server, trace flush) may take on Ctrl-C or SIGTERM")
	fs.StringVar(&o.postgres, "postgres", "", "PostgreSQL `URL`: run the routines as singletons across every demo sharing this database (leader election)")
	fs.StringVar(&o.spans, "spans", "auto", "`format` of the spans written to stdout: short, json, none, or auto (short on a terminal, else json); ignored when OTEL_* variables configure tracing")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	case !(o.scale > 0) || math.IsInf(o.scale, 0):
		return o, fmt.Errorf("-interval-scale %v must be a positive number", o.scale)
	case o.shutdownTimeout <= 0:
		return o, fmt.Errorf("-shutdown-timeout %v must be positive", o.shutdownTimeout)
	}
	switch o.spans {
	case "auto", "short", "json", "none":
	default:
		return o, fmt.Errorf("-spans %q: want auto, short, json or none", o.spans)
	}
	return o, nil
}

// run is the demo's main; it returns the process's exit status.
func run(args []string, stdout, stderr *os.File) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", serviceName, err)
		return 2
	}

	setDefaultEnv("SRC_LOG_FORMAT", "condensed")
	setDefaultEnv("SRC_LOG_LEVEL", "info")
	liblog := log.Init(log.Resource{Name: serviceName})
	defer liblog.Sync()
	logger := log.Scoped("demo")

	ctx := context.Background()
	traces, shutdownTracing, err := setupTracing(ctx, opts.spans, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "%s: tracing: %v\n", serviceName, err)
		return 1
	}
	// Flush spans on the ways out before the monitor runs; from then on
	// the monitor flushes them within its own deadline.
	monitored := false
	defer func() {
		if monitored {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), opts.shutdownTimeout)
		defer cancel()
		if err := shutdownTracing(ctx); err != nil {
			logger.Error("flushing traces", log.Error(err))
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	// Logger and tracer provider nil: the routines use the global ones,
	// set up above by log.Init and setupTracing.
	obs := observation.NewContext(nil, nil, reg)
	// OpenTelemetry's own errors (say, a collector that is down) are logged
	// rate-limited and counted on this registry, not printed to stderr.
	if _, err := observation.InstallOTelErrorHandler(nil, reg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", serviceName, err)
		return 1
	}

	var singleton []goroutine.Option
	hooks := []func(context.Context) error{shutdownTracing}
	if opts.postgres != "" {
		elector, err := postgres.New(opts.postgres)
		if err != nil {
			fmt.Fprintf(stderr, "%s: -postgres: %v\n", serviceName, err)
			return 1
		}
		singleton = append(singleton, goroutine.WithLeaderElection(elector))
		// After the routines stopped (and released their leases), before
		// the traces are flushed.
		hooks = append([]func(context.Context) error{func(context.Context) error { return elector.Close() }}, hooks...)
		logger.Info("routines are singletons across the demos sharing this database", log.String("holder", elector.Holder()))
	}
	routines, err := newRoutines(ctx, obs, opts.scale, singleton...)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", serviceName, err)
		return 1
	}
	page := &status.Page{}
	for _, r := range routines {
		page.Add(r)
	}

	mux := http.NewServeMux()
	// OpenMetrics, so that a sampled run's duration sample carries its trace
	// id as an exemplar (the text format has no exemplars).
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true}))
	mux.Handle("/debug/routines", page)
	mux.Handle("GET /{$}", http.RedirectHandler("/debug/routines", http.StatusFound))

	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", serviceName, err)
		return 1
	}
	server := newHTTPServer(ln, mux, opts.shutdownTimeout)

	printBanner(stderr, "http://"+ln.Addr().String(), routines, traces)

	all := []goroutine.BackgroundRoutine{server}
	for _, r := range routines {
		all = append(all, r)
	}
	// One deadline for the whole shutdown: the routines and the HTTP
	// server stop, then the last spans are flushed in what time is left.
	monitor := goroutine.Monitor{
		ShutdownTimeout: opts.shutdownTimeout,
		Logger:          logger,
		OnShutdown:      hooks,
	}
	monitored = true
	if err := monitor.Run(ctx, all...); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", serviceName, err)
		return 1
	}
	fmt.Fprintf(stderr, "%s: stopped cleanly\n", serviceName)
	return 0
}

// setDefaultEnv sets an environment variable that the user has not set.
func setDefaultEnv(key, value string) {
	if _, ok := os.LookupEnv(key); !ok {
		_ = os.Setenv(key, value)
	}
}

// otelEnv are the variables that hand the choice of exporter to the
// OTEL_* environment, through tracing.Setup.
var otelEnv = []string{
	"OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_SDK_DISABLED",
}

// setupTracing installs the global tracer provider: the one the OTEL_*
// variables describe when any of otelEnv is set, else spans written to
// stdout in the -spans format. It returns a description of where spans go,
// for the banner.
func setupTracing(ctx context.Context, format string, stdout *os.File) (string, func(context.Context) error, error) {
	for _, key := range otelEnv {
		if os.Getenv(key) != "" {
			shutdown, err := tracing.Setup(ctx, serviceName)
			return describeOTELEnv(), shutdown, err
		}
	}
	if format == "auto" {
		format = "json"
		if isTerminal(stdout) {
			format = "short"
		}
	}
	cfg := tracing.Config{Exporter: tracing.ExporterStdout, Writer: stdout, SetGlobal: true}
	if os.Getenv("OTEL_SERVICE_NAME") == "" {
		cfg.ServiceName = serviceName
	}
	where := "stdout, one JSON object per span (OpenTelemetry stdout exporter)"
	switch format {
	case "short":
		cfg.Writer = newShortSpanWriter(stdout)
		where = "stdout, one line per span (-spans=json for OpenTelemetry JSON)"
	case "none":
		cfg.Exporter = tracing.ExporterNone
		where = "not exported (-spans=none); runs have no trace ids"
	}
	p, err := tracing.NewProvider(ctx, cfg)
	if err != nil {
		return "", nil, err
	}
	return where, p.Shutdown, nil
}

// describeOTELEnv says where tracing.Setup sends spans, for the banner.
// The exporter itself is chosen by OpenTelemetry's autoexport, which is
// told the same variables.
func describeOTELEnv() string {
	exporter := os.Getenv("OTEL_TRACES_EXPORTER")
	switch {
	case strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true"), exporter == "none":
		return "not exported (OTEL_* variables); runs have no trace ids"
	case exporter == "console":
		return "stdout, one JSON object per span (OTEL_TRACES_EXPORTER=console)"
	}
	protocol := cmp.Or(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf")
	endpoint := cmp.Or(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "the default endpoint")
	return "OTLP " + protocol + " to " + endpoint + " (OTEL_* variables)"
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func printBanner(w io.Writer, base string, routines []*goroutine.PeriodicGoroutine, traces string) {
	names := make([]string, len(routines))
	for i, r := range routines {
		names[i] = r.Name()
	}
	fmt.Fprintf(w, `
%s listening on %s
%d background routines are running: %s.

  Status page   %s/debug/routines
  JSON status   %s/debug/routines?format=json
  Metrics       %s/metrics
  Traces        %s
  Logs          stderr (SRC_LOG_LEVEL=debug for a line per run)

Press Ctrl-C to stop.

`, serviceName, base, len(routines), strings.Join(names, ", "), base, base, base, traces)
}
