package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"

	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/observation"
)

// scaleRoutines is how many periodic jobs BenchmarkScale runs at once.
const scaleRoutines = 10_000

// scaleIdleWindow is how long BenchmarkScale measures idle CPU for.
const scaleIdleWindow = 3 * time.Second

// BenchmarkScale runs 10,000 periodic jobs with a 1 s interval and a no-op
// handler in one process and reports, per run:
//
//   - start-ms: from the first constructor call until every job has been
//     created and its scheduler started (the start calls have returned);
//   - all-ran-ms: from the same origin until every job has run once
//     (routinely and gocron run a job at once on start; robfig/cron cannot,
//     its first run is one interval later, so its value includes that 1 s);
//   - idle-cpu-%: user+system CPU time of the whole process (getrusage)
//     over scaleIdleWindow, as a percentage of one core, starting right
//     after the memory measurement's forced GC (so start-up garbage is not
//     charged to it; the window is too short to include the amortised cost
//     of the collections the jobs' own garbage causes);
//   - KiB/routine: growth of the process's resident set (VmRSS) per job,
//     measured after a forced GC and FreeOSMemory before starting and
//     again once every job has run: what the jobs cost the machine;
//   - heap-KiB/routine: growth of live heap objects plus goroutine stacks
//     (runtime/metrics) per job: the Go-level part of the same, less
//     sensitive to page granularity;
//   - stop-ms: from asking every job to stop until all have returned.
//
// Every library gets the same metrics per job (a duration histogram by
// outcome and an error counter) in a fresh prometheus.NewRegistry():
// routinely by default, gocron through its MonitorStatus hook, robfig/cron
// through a JobWrapper. routinely also runs what the others do not: a span
// per run (OpenTelemetry no-op provider), a log line (log.NoOp), the
// in-flight, last-success, interval and up gauges and the status history.
func BenchmarkScale(b *testing.B) {
	for _, lib := range []struct {
		name  string
		start func(n int, ran func(i int)) (stop func(), err error)
	}{
		{"routinely", startRoutinely},
		{"gocron", startGocron},
		{"robfig", startRobfig},
	} {
		b.Run("lib="+lib.name, func(b *testing.B) {
			var sum scaleResult
			for range b.N {
				r, err := measureScale(scaleRoutines, lib.start)
				if err != nil {
					b.Fatal(err)
				}
				sum.add(r)
			}
			sum.report(b, float64(b.N))
		})
	}
}

type scaleResult struct {
	startMs, allRanMs, idleCPU, rssKiB, heapKiB, stopMs float64
}

func (s *scaleResult) add(r scaleResult) {
	s.startMs += r.startMs
	s.allRanMs += r.allRanMs
	s.idleCPU += r.idleCPU
	s.rssKiB += r.rssKiB
	s.heapKiB += r.heapKiB
	s.stopMs += r.stopMs
}

func (s *scaleResult) report(b *testing.B, n float64) {
	b.ReportMetric(0, "ns/op") // the whole experiment is one op; its time says nothing
	b.ReportMetric(s.startMs/n, "start-ms")
	b.ReportMetric(s.allRanMs/n, "all-ran-ms")
	b.ReportMetric(s.idleCPU/n, "idle-cpu-%")
	b.ReportMetric(s.rssKiB/n, "KiB/routine")
	b.ReportMetric(s.heapKiB/n, "heap-KiB/routine")
	b.ReportMetric(s.stopMs/n, "stop-ms")
}

func measureScale(n int, start func(n int, ran func(i int)) (func(), error)) (scaleResult, error) {
	var r scaleResult
	rss0, heap0 := settledMemory()

	firsts := make([]atomic.Bool, n)
	var ranOnce atomic.Int64
	allRan := make(chan struct{})
	ran := func(i int) {
		if !firsts[i].Load() && !firsts[i].Swap(true) && ranOnce.Add(1) == int64(n) {
			close(allRan)
		}
	}

	t0 := time.Now()
	stop, err := start(n, ran)
	if err != nil {
		return r, err
	}
	r.startMs = ms(time.Since(t0))
	select {
	case <-allRan:
		r.allRanMs = ms(time.Since(t0))
	case <-time.After(30 * time.Second):
		stop()
		return r, fmt.Errorf("only %d of %d jobs ran within 30s", ranOnce.Load(), n)
	}

	// Memory first: the forced collection also clears the start-up
	// garbage, so the idle window sees the steady state.
	rss1, heap1 := settledMemory()
	r.rssKiB = float64(rss1-rss0) / 1024 / float64(n)
	r.heapKiB = float64(heap1-heap0) / 1024 / float64(n)

	stopProfile := profileIdle()
	cpu0, w0 := cpuTime(), time.Now()
	time.Sleep(scaleIdleWindow)
	r.idleCPU = 100 * float64(cpuTime()-cpu0) / float64(time.Since(w0))
	stopProfile()

	t1 := time.Now()
	stop()
	r.stopMs = ms(time.Since(t1))
	return r, nil
}

// profileIdle writes a CPU profile of the idle window alone to the file
// named by $BENCH_IDLE_CPUPROFILE, when set (the last run overwrites it).
func profileIdle() (stop func()) {
	path := os.Getenv("BENCH_IDLE_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime is the user plus system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settledMemory collects garbage, returns free pages to the OS and reports
// the resident set (VmRSS) and the bytes of live heap objects plus
// goroutine stacks.
func settledMemory() (rss, heap uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
	}
	metrics.Read(samples)
	heap = samples[0].Value.Uint64() + samples[1].Value.Uint64()
	return vmRSS(), heap
}

func vmRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		panic(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := bytes.Fields(sc.Bytes()); len(f) >= 2 && string(f[0]) == "VmRSS:" {
			kb, err := strconv.ParseUint(string(f[1]), 10, 64)
			if err != nil {
				panic(err)
			}
			return kb * 1024
		}
	}
	panic("no VmRSS in /proc/self/status")
}

// startRoutinely runs the jobs as PeriodicGoroutines under one Monitor,
// the documented way to run several (MonitorBackgroundRoutines without
// signal handling); stopping cancels its context.
func startRoutinely(n int, ran func(i int)) (func(), error) {
	obs := observation.NewContext(log.NoOp(), noop.NewTracerProvider(), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	routines := make([]goroutine.BackgroundRoutine, n)
	for i := range n {
		r, err := goroutine.NewPeriodic(ctx, time.Second,
			goroutine.HandlerFunc(func(context.Context) error { ran(i); return nil }),
			goroutine.WithName(fmt.Sprintf("job_%05d", i)), goroutine.WithObservationContext(obs))
		if err != nil {
			cancel()
			return nil, err
		}
		routines[i] = r
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = goroutine.Monitor{Signals: []os.Signal{}, Logger: log.NoOp()}.Run(ctx, routines...)
	}()
	return func() { cancel(); <-done }, nil
}

// jobMetrics are the per-job metrics the peers are given, as a user would
// add them: a duration histogram by outcome and an error counter.
type jobMetrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

func newJobMetrics() *jobMetrics {
	m := &jobMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "job_duration_seconds",
			Help:    "Time each job run took.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"routine", "outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "job_errors_total",
			Help: "Job runs that failed.",
		}, []string{"routine"}),
	}
	prometheus.NewRegistry().MustRegister(m.duration, m.errors)
	return m
}

// gocronMonitor feeds gocron's MonitorStatus hook into jobMetrics.
type gocronMonitor struct{ *jobMetrics }

func (gocronMonitor) IncrementJob(uuid.UUID, string, []string, gocron.JobStatus)        {}
func (gocronMonitor) RecordJobTiming(time.Time, time.Time, uuid.UUID, string, []string) {}
func (m gocronMonitor) RecordJobTimingWithStatus(start, end time.Time, _ uuid.UUID, name string, _ []string, status gocron.JobStatus, _ error) {
	outcome := "success"
	if status == gocron.Fail {
		outcome = "error"
		m.errors.WithLabelValues(name).Inc()
	}
	m.duration.WithLabelValues(name, outcome).Observe(end.Sub(start).Seconds())
}

func startGocron(n int, ran func(i int)) (func(), error) {
	s, err := gocron.NewScheduler(gocron.WithMonitorStatus(gocronMonitor{newJobMetrics()}))
	if err != nil {
		return nil, err
	}
	for i := range n {
		_, err := s.NewJob(gocron.DurationJob(time.Second),
			gocron.NewTask(func() error { ran(i); return nil }),
			gocron.WithName(fmt.Sprintf("job_%05d", i)),
			gocron.WithStartAt(gocron.WithStartImmediately()))
		if err != nil {
			_ = s.Shutdown()
			return nil, err
		}
	}
	s.Start()
	return func() { _ = s.Shutdown() }, nil
}

func startRobfig(n int, ran func(i int)) (func(), error) {
	m := newJobMetrics()
	c := cron.New()
	for i := range n {
		name := fmt.Sprintf("job_%05d", i)
		c.Schedule(cron.Every(time.Second), cron.FuncJob(func() {
			start := time.Now()
			ran(i) // robfig jobs cannot fail: no error counter to feed
			m.duration.WithLabelValues(name, "success").Observe(time.Since(start).Seconds())
		}))
	}
	c.Start()
	return func() { <-c.Stop().Done() }, nil
}
