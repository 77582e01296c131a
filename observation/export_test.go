package observation

import (
	"time"

	"github.com/go-logr/logr"
)

// SetOTelErrorClock replaces h's clock; call it before h is used.
func SetOTelErrorClock(h *OTelErrorHandler, now func() time.Time) { h.now = now }

// OTelLogr returns the logr.Logger that Install gives otel.SetLogger.
func OTelLogr(h *OTelErrorHandler) logr.Logger { return logr.New(otelLogSink{h: h}) }
