// Package observation turns one unit of work into one observation: a trace
// span, a sample of RED (rate, errors, duration) metrics and one structured
// log line, started together by Operation.With and ended together by the
// function it returns.
//
// # How it differs from using OpenTelemetry and Prometheus directly
//
// With the OpenTelemetry API, client_golang and a logger used side by side,
// every call site starts a span, times the work, records the error on the
// span and sets its status, observes a histogram, increments two counters
// and writes a log line, and the signals drift apart: one call site forgets
// the error counter, another logs without the trace id, a third counts a
// cancellation as a failure. Here an Op declares once what an operation is
// called, which metrics it feeds, which attributes it carries and which
// errors are expected (ErrorFilter); each occurrence then reports all three
// signals the same way, and the log lines carry the span's trace and span
// ids so a log line leads to its trace.
//
// The package depends on the OpenTelemetry API only; the application picks
// the SDK and exporter (see package tracing) and the Prometheus registry.
//
// # Defaults are resolved lazily
//
// A Context holds where observations go. What NewContext is given as nil resolves to
// the process-wide default each time it is used, never when the Context is
// built, so a Context or an Operation made in a package variable or before
// main has set up logging and tracing still reports once that is done:
//
//   - Logger: the global github.com/sourcegraph/log logger, scoped
//     "routinely". Before log.Init it discards what it is given and never
//     panics, not even with SRC_DEVELOPMENT=true, where log.Scoped would;
//     after log.Init the same logger, and every logger derived from it,
//     writes through the global one.
//   - TracerProvider: otel.GetTracerProvider(), looked up per observation,
//     so a later otel.SetTracerProvider takes effect.
//   - Registerer: prometheus.DefaultRegisterer, as returned by Registerer.
//
// The zero Context, Default() and a nil *Context all mean "every default".
//
// # Example
//
// An indexer observes each repository it syncs. The RED metrics are built
// once, with the Context's registerer, and the Operation once per kind of
// work:
//
//	obs := observation.Default() // or NewContext(logger, tracerProvider, registerer)
//	red, err := metrics.NewREDMetrics(obs.Registerer(), "indexer_sync", metrics.WithLabels("repo"))
//	if err != nil {
//		return err
//	}
//	syncOp := obs.Operation(observation.Op{
//		Name:        "indexer.sync",
//		Description: "fetches and indexes one repository",
//		Metrics:     red,
//		ErrorFilter: observation.IgnoreCanceled, // a cancelled sync is not a failure
//	})
//
// Each sync is then one observation. The finish function reads err when
// the deferred call runs, so it sees the error the function returns:
//
//	func (ix *Indexer) Sync(ctx context.Context, repo string) (err error) {
//		ctx, logger, finish := ix.syncOp.With(ctx, &err, observation.Args{
//			Attrs:             []attribute.KeyValue{attribute.String("repo", repo)},
//			MetricLabelValues: []string{repo},
//		})
//		defer finish(1, observation.Args{})
//
//		logger.Info("fetching") // carries the span's TraceId and SpanId
//		return ix.fetchAndIndex(ctx, repo) // spans started from ctx are children
//	}
//
// A sync that fails with "disk full" produces:
//
//   - a span "indexer.sync" of kind internal with attribute repo, the error
//     recorded as an exception event and status Error;
//   - indexer_sync_total{repo} and indexer_sync_errors_total{repo}
//     incremented, and one indexer_sync_duration_seconds{repo} sample;
//   - one Error line "indexer.sync failed" with repo, description,
//     duration, error, TraceId and SpanId.
//
// A successful sync produces the span with status Unset, no error count and
// a Debug line "indexer.sync". A sync whose context was cancelled is
// reported like a success except that its Debug line carries the error.
//
// # OpenTelemetry's own errors
//
// OpenTelemetry prints its own failures (an exporter that cannot reach its
// collector) to stderr as plain text. An [OTelErrorHandler], installed with
// [InstallOTelErrorHandler] or by package tracing, logs them through
// sourcegraph/log instead, at most once per kind per interval, and counts
// every one in routinely_otel_errors_total{kind}.
package observation
