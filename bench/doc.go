// Package bench measures what routinely costs, side by side with what a
// user would pick instead, in one run:
//
//   - BenchmarkInvocation: one observed handler invocation (no-op handler)
//     against a bare call and hand-rolled OpenTelemetry + Prometheus +
//     sourcegraph/log instrumentation.
//   - BenchmarkScale: 10,000 periodic routines in one process against the
//     same jobs in github.com/go-co-op/gocron/v2 and github.com/robfig/cron/v3.
//   - BenchmarkTiming: start-time error of a 10 ms schedule over 1,000 ticks
//     against gocron.
//
// It is a module of its own so that users of routinely never inherit the
// peers it compares against. scripts/run.sh runs it and regenerates
// README.md's results and the overhead chart.
package bench
