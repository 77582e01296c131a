package observation

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	"go.opentelemetry.io/otel"

	"github.com/routinely/routinely/internal/errtext"
	"github.com/routinely/routinely/metrics"
)

// DefaultOTelErrorInterval is how often an [OTelErrorHandler] made with a
// zero interval logs each kind of error at most.
const DefaultOTelErrorInterval = time.Minute

// maxOTelErrorText bounds the error text written to one log line.
const maxOTelErrorText = 4 << 10

// otelErrorKinds are the values of the kind label, in a fixed order.
var otelErrorKinds = []string{
	metrics.OTelErrorKindTracesExport,
	metrics.OTelErrorKindMetricsExport,
	metrics.OTelErrorKindLogsExport,
	metrics.OTelErrorKindInternal,
	metrics.OTelErrorKindOther,
}

// OTelErrorHandler receives OpenTelemetry's own errors — an exporter that
// cannot reach its collector ("traces export: ... connection refused"), a
// failed shutdown — which OpenTelemetry otherwise prints to stderr as plain
// text, once per failed batch. It implements otel.ErrorHandler.
//
// Every error is counted in the counter named [metrics.OTelErrorsName],
// labelled by a kind from a fixed set (traces_export, metrics_export,
// logs_export, internal, other; never the error's text), so lost spans are
// visible on a dashboard. At most one line per kind per interval is logged,
// at Warn level through github.com/sourcegraph/log with the fields kind,
// error and suppressed (how many errors of that kind were not logged since
// the previous line of that kind). A burst of a thousand failed exports
// therefore costs one log line and a thousand counter increments.
//
// Make it with [NewOTelErrorHandler] and activate it with
// [OTelErrorHandler.Install], or do both with [InstallOTelErrorHandler];
// tracing.NewProvider and tracing.Setup install one by default. All methods
// are safe for concurrent use; Handle never panics.
type OTelErrorHandler struct {
	logger   log.Logger
	errors   *prometheus.CounterVec
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	kinds map[string]*otelErrorKindState
}

// otelErrorKindState is the rate limiter of one kind.
type otelErrorKindState struct {
	logged     bool
	last       time.Time // when the last line of this kind was logged
	suppressed int       // errors not logged since then
}

// NewOTelErrorHandler returns a handler that logs to logger at most once per
// kind per interval and counts every error in a counter registered with reg.
//
// A nil logger means Default().Logger() scoped "otel", resolved lazily:
// before log.Init the errors are counted but not logged. A nil reg means
// prometheus.DefaultRegisterer. An interval of zero or less means
// [DefaultOTelErrorInterval]. Registering the counter where it already is
// shares the existing one (see [metrics.Register]); an incompatible
// collector registered under its name is an error.
func NewOTelErrorHandler(logger log.Logger, reg prometheus.Registerer, interval time.Duration) (*OTelErrorHandler, error) {
	if logger == nil {
		logger = Default().Logger().Scoped("otel")
	}
	if interval <= 0 {
		interval = DefaultOTelErrorInterval
	}
	counter, err := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metrics.OTelErrorsName,
		Help: metrics.OTelErrorsHelp,
	}, []string{metrics.OTelErrorKindLabel}))
	if err != nil {
		return nil, fmt.Errorf("observation: OpenTelemetry error handler: %w", err)
	}
	// Create every series at 0, so that rate() and increase() see the first
	// error.
	for _, kind := range otelErrorKinds {
		counter.WithLabelValues(kind)
	}
	return &OTelErrorHandler{
		logger:   logger,
		errors:   counter,
		interval: interval,
		now:      time.Now,
		kinds:    make(map[string]*otelErrorKindState, len(otelErrorKinds)),
	}, nil
}

// InstallOTelErrorHandler makes a handler with [NewOTelErrorHandler] and the
// default interval and installs it with [OTelErrorHandler.Install]. On error
// nothing is installed.
func InstallOTelErrorHandler(logger log.Logger, reg prometheus.Registerer) (*OTelErrorHandler, error) {
	h, err := NewOTelErrorHandler(logger, reg, 0)
	if err != nil {
		return nil, err
	}
	h.Install()
	return h, nil
}

// Install makes h OpenTelemetry's global error handler (otel.SetErrorHandler)
// and routes OpenTelemetry's internal logger (otel.SetLogger) through h: its
// error messages are counted and logged like errors given to Handle, with
// kind internal unless the error says it is an export error; its warning,
// info and debug messages are dropped, as OpenTelemetry's default logger
// drops them. Nothing OpenTelemetry reports is then printed as plain text.
//
// Like every OpenTelemetry global it is process-wide: the last handler
// installed wins. Installing the same handler twice is harmless.
func (h *OTelErrorHandler) Install() {
	otel.SetErrorHandler(h)
	otel.SetLogger(logr.New(otelLogSink{h: h}))
}

// Handle counts err and logs it unless a line of the same kind was logged
// less than the interval ago. A nil err is ignored.
func (h *OTelErrorHandler) Handle(err error) {
	if err == nil {
		return
	}
	_, text := errtext.Safe(err)
	h.report(otelErrorKind(text, metrics.OTelErrorKindOther), text)
}

// otelErrorKind classifies an error by the prefix OpenTelemetry's exporters
// give their errors; fallback is the kind of anything else.
func otelErrorKind(text, fallback string) string {
	switch {
	case strings.HasPrefix(text, "traces export"):
		return metrics.OTelErrorKindTracesExport
	case strings.HasPrefix(text, "metrics export"), strings.HasPrefix(text, "failed to upload metrics"):
		return metrics.OTelErrorKindMetricsExport
	case strings.HasPrefix(text, "logs export"), strings.HasPrefix(text, "failed to upload logs"):
		return metrics.OTelErrorKindLogsExport
	}
	return fallback
}

// report counts one error of kind and logs it if the kind's rate limit
// allows.
func (h *OTelErrorHandler) report(kind, text string, fields ...log.Field) {
	h.errors.WithLabelValues(kind).Inc()

	h.mu.Lock()
	st := h.kinds[kind]
	if st == nil {
		st = &otelErrorKindState{}
		h.kinds[kind] = st
	}
	now := h.now()
	if st.logged && now.Sub(st.last) < h.interval {
		st.suppressed++
		h.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.logged, st.last, st.suppressed = true, now, 0
	h.mu.Unlock()

	defer func() { _ = recover() }() // a broken logger must not break the exporter
	h.logger.Warn("OpenTelemetry error, telemetry may be lost", append([]log.Field{
		log.String("kind", kind),
		log.String("error", errtext.Truncate(text, maxOTelErrorText)),
		log.Int("suppressed", suppressed),
	}, fields...)...)
}

// otelLogSink is the logr.LogSink installed with otel.SetLogger. Only
// errors pass; OpenTelemetry logs warnings, info and debug messages at
// verbosity 1 and above, which its default logger drops too.
type otelLogSink struct {
	h      *OTelErrorHandler
	name   string
	values []any
}

func (otelLogSink) Init(logr.RuntimeInfo)    {}
func (otelLogSink) Enabled(int) bool         { return false }
func (otelLogSink) Info(int, string, ...any) {}
func (s otelLogSink) WithName(name string) logr.LogSink {
	if s.name != "" {
		name = s.name + "." + name
	}
	s.name = name
	return s
}

func (s otelLogSink) WithValues(kv ...any) logr.LogSink {
	s.values = append(s.values[:len(s.values):len(s.values)], kv...)
	return s
}

func (s otelLogSink) Error(err error, msg string, kv ...any) {
	_, text := errtext.Safe(err)
	kind := otelErrorKind(text, metrics.OTelErrorKindInternal)
	if text == "" {
		text = msg
	} else if msg != "" {
		text = msg + ": " + text
	}
	fields := []log.Field{}
	if s.name != "" {
		fields = append(fields, log.String("logger", s.name))
	}
	all := append(s.values[:len(s.values):len(s.values)], kv...)
	for i := 0; i+1 < len(all); i += 2 {
		fields = append(fields, log.String(safeSprint(all[i]), errtext.Truncate(safeSprint(all[i+1]), maxOTelErrorText)))
	}
	s.h.report(kind, text, fields...)
}

// safeSprint formats v, or says that formatting it panicked.
func safeSprint(v any) (s string) {
	defer func() {
		if p := recover(); p != nil {
			s = fmt.Sprintf("<%T: formatting panicked>", v)
		}
	}()
	return fmt.Sprint(v)
}
