package tracing

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// otelEnv are the variables that change what NewProvider builds. TestMain
// unsets them, so the tests (and examples) see the same environment
// whatever the shell running them exports; tests set them with t.Setenv.
var otelEnv = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
}

func TestMain(m *testing.M) {
	for _, v := range otelEnv {
		_ = os.Unsetenv(v)
	}
	goleak.VerifyTestMain(m)
}
