package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/log"
	"github.com/sourcegraph/log/logtest"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/routinely/routinely/metrics"
)

// These tests pin what the OTEL_* variables do through NewProvider. Package
// tracing parses none of them beyond deciding whether tracing is on: the
// SDK, autoexport and the OTLP exporters read them, so the tests check the
// spans that come out, not a parsed Config.

// oneSpan ends one span named "env-span" on p, shuts p down and returns
// whether the span was recorded.
func oneSpan(t *testing.T, p *Provider) bool {
	t.Helper()
	_, span := p.TracerProvider().Tracer("test").Start(context.Background(), "env-span")
	recording := span.IsRecording()
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	return recording
}

func TestEnvironmentChoosesExporter(t *testing.T) {
	t.Run("nothing set: off, and a warning says how to turn it on", func(t *testing.T) {
		logger, logs := logtest.Captured(t)
		p := newTestProvider(t, Config{Logger: logger, Registerer: prometheus.NewRegistry()})
		if _, ok := p.TracerProvider().(noop.TracerProvider); !ok {
			t.Errorf("TracerProvider() is %T, want noop", p.TracerProvider())
		}
		got := logs()
		if len(got) != 1 || got[0].Level != log.LevelWarn || !strings.Contains(got[0].Message, "tracing is off") {
			t.Fatalf("logs = %+v, want one warning that tracing is off", got)
		}
		fields := got[0].Fields
		if fields["spansToStdout"] != "OTEL_TRACES_EXPORTER=console" || fields["spansToCollector"] != "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318" {
			t.Errorf("warning fields = %v, want the variables that turn tracing on", fields)
		}
	})

	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"OTEL_TRACES_EXPORTER=none", map[string]string{"OTEL_TRACES_EXPORTER": "none"}},
		{"OTEL_SDK_DISABLED=true wins", map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "console"}},
	} {
		t.Run(tt.name+": off, silently", func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			logger, logs := logtest.Captured(t)
			p := newTestProvider(t, Config{Logger: logger, Registerer: prometheus.NewRegistry()})
			if _, ok := p.TracerProvider().(noop.TracerProvider); !ok {
				t.Errorf("TracerProvider() is %T, want noop", p.TracerProvider())
			}
			if got := logs(); len(got) != 0 {
				t.Errorf("logged %v, want nothing for an explicit choice", got.Messages())
			}
		})
	}

	t.Run("OTEL_TRACES_EXPORTER=console: JSON on stdout", func(t *testing.T) {
		t.Setenv("OTEL_TRACES_EXPORTER", "console")
		p := newTestProvider(t, Config{Registerer: prometheus.NewRegistry()})
		// stdouttrace holds os.Stdout from its package's initialisation,
		// out of a test's reach: check the exporter, not the output.
		if _, ok := p.exp.(*stdouttrace.Exporter); !ok {
			t.Fatalf("exporter is %T, want *stdouttrace.Exporter", p.exp)
		}
	})

	t.Run("OTEL_EXPORTER_OTLP_ENDPOINT alone: OTLP/HTTP there", func(t *testing.T) {
		srv, reqs := newCollector(t)
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
		oneSpan(t, newTestProvider(t, Config{Registerer: prometheus.NewRegistry()}))
		if r := receive(t, reqs); r.method != http.MethodPost || r.path != "/v1/traces" || !bytes.Contains(r.body, []byte("env-span")) {
			t.Errorf("collector got %s %s %q, want POST /v1/traces with the span", r.method, r.path, r.body)
		}
	})

	t.Run("Config.Exporter wins", func(t *testing.T) {
		t.Setenv("OTEL_TRACES_EXPORTER", "console")
		var buf bytes.Buffer
		oneSpan(t, newTestProvider(t, Config{Exporter: ExporterStdout, Writer: &buf, Registerer: prometheus.NewRegistry()}))
		if !strings.Contains(buf.String(), "env-span") {
			t.Errorf("Config.Writer got %q, want the span", buf.String())
		}
	})

	for _, tt := range []struct{ name, key, value, want string }{
		{"unknown exporter", "OTEL_TRACES_EXPORTER", "jaeger", `OTEL_TRACES_EXPORTER="jaeger"`},
		{"a list of exporters", "OTEL_TRACES_EXPORTER", "otlp,console", `OTEL_TRACES_EXPORTER="otlp,console"`},
		{"http/json protocol", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "invalid OTLP protocol"},
	} {
		t.Run(tt.name+": an error", func(t *testing.T) {
			t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
			t.Setenv(tt.key, tt.value)
			p, err := NewProvider(context.Background(), Config{Registerer: prometheus.NewRegistry()})
			if err == nil || p != nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewProvider = %v, %v; want an error containing %s", p, err, tt.want)
			}
		})
	}
}

func TestEnvironmentSampler(t *testing.T) {
	written := func(t *testing.T, cfg Config) bool {
		t.Helper()
		var buf bytes.Buffer
		cfg.Exporter, cfg.Writer = ExporterStdout, &buf
		cfg.Registerer = prometheus.NewRegistry()
		oneSpan(t, newTestProvider(t, cfg))
		return strings.Contains(buf.String(), "env-span")
	}
	t.Run("OTEL_TRACES_SAMPLER=always_off", func(t *testing.T) {
		t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
		if written(t, Config{}) {
			t.Error("a span was exported")
		}
	})
	t.Run("OTEL_TRACES_SAMPLER_ARG=0", func(t *testing.T) {
		t.Setenv("OTEL_TRACES_SAMPLER", "traceidratio")
		t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0")
		if written(t, Config{}) {
			t.Error("a span was exported")
		}
	})
	t.Run("Config.Sampler wins", func(t *testing.T) {
		t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
		if !written(t, Config{Sampler: sdktrace.AlwaysSample()}) {
			t.Error("no span exported")
		}
		t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
		if written(t, Config{Sampler: sdktrace.NeverSample()}) {
			t.Error("a span was exported")
		}
	})
	for _, tt := range []struct{ sampler, arg string }{{"sometimes", ""}, {"traceidratio", "1.5"}} {
		t.Run("invalid "+tt.sampler+" "+tt.arg+": reported, then sampled", func(t *testing.T) {
			saveGlobals(t)
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tt.arg)
			logger, logs := logtest.Captured(t)
			reg := prometheus.NewRegistry()
			var buf bytes.Buffer
			oneSpan(t, newTestProvider(t, Config{Exporter: ExporterStdout, Writer: &buf, Logger: logger, Registerer: reg}))
			if !strings.Contains(buf.String(), "env-span") {
				t.Error("no span exported: the SDK falls back to sampling")
			}
			if n := otelErrors(t, reg, metrics.OTelErrorKindOther); n != 1 {
				t.Errorf("%s{kind=other} = %v, want 1", metrics.OTelErrorsName, n)
			}
			if got := logs(); len(got) != 1 {
				t.Errorf("logged %v, want the SDK's complaint once", got.Messages())
			}
		})
	}
}

// spanResource exports one span to a stdout exporter built from cfg and
// returns the resource attributes it carried.
func spanResource(t *testing.T, cfg Config) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	cfg.Exporter, cfg.Writer = ExporterStdout, &buf
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	oneSpan(t, newTestProvider(t, cfg))
	var span stdoutSpan
	if err := json.Unmarshal(buf.Bytes(), &span); err != nil {
		t.Fatalf("output is not one JSON span: %v\n%s", err, buf.String())
	}
	res := map[string]any{}
	for _, kv := range span.Resource {
		res[kv.Key] = kv.Value.Value
	}
	return res
}

func TestEnvironmentResource(t *testing.T) {
	t.Run("nothing set", func(t *testing.T) {
		res := spanResource(t, Config{})
		if name, _ := res["service.name"].(string); !strings.HasPrefix(name, "unknown_service:") {
			t.Errorf("service.name = %v, want the SDK's unknown_service:<executable>", res["service.name"])
		}
		if res["telemetry.sdk.language"] != "go" {
			t.Errorf("resource lacks the SDK's attributes: %v", res)
		}
	})
	t.Run("OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES", func(t *testing.T) {
		t.Setenv("OTEL_SERVICE_NAME", "env-svc")
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=x,service.version=9")
		res := spanResource(t, Config{})
		if res["service.name"] != "env-svc" || res["team"] != "x" || res["service.version"] != "9" {
			t.Errorf("resource = %v, want service.name env-svc, team x, service.version 9", res)
		}
	})
	t.Run("Config wins, the rest of the environment stays", func(t *testing.T) {
		t.Setenv("OTEL_SERVICE_NAME", "env-svc")
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=x,service.version=9")
		res := spanResource(t, Config{ServiceName: "code-svc", ServiceVersion: "1.2.3"})
		if res["service.name"] != "code-svc" || res["service.version"] != "1.2.3" || res["team"] != "x" {
			t.Errorf("resource = %v, want service.name code-svc, service.version 1.2.3, team x", res)
		}
	})
	t.Run("Setup's name sits below the environment", func(t *testing.T) {
		if got := spanResource(t, Config{defaultServiceName: "default-svc"})["service.name"]; got != "default-svc" {
			t.Errorf("without variables service.name = %v, want default-svc", got)
		}
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr-svc")
		if got := spanResource(t, Config{defaultServiceName: "default-svc"})["service.name"]; got != "attr-svc" {
			t.Errorf("with OTEL_RESOURCE_ATTRIBUTES service.name = %v, want attr-svc", got)
		}
		t.Setenv("OTEL_SERVICE_NAME", "env-svc")
		if got := spanResource(t, Config{defaultServiceName: "default-svc"})["service.name"]; got != "env-svc" {
			t.Errorf("with OTEL_SERVICE_NAME service.name = %v, want env-svc", got)
		}
	})
	t.Run("invalid OTEL_RESOURCE_ATTRIBUTES: reported, the valid part kept", func(t *testing.T) {
		saveGlobals(t)
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=x,broken")
		logger, logs := logtest.Captured(t)
		reg := prometheus.NewRegistry()
		res := spanResource(t, Config{Logger: logger, Registerer: reg})
		if res["team"] != "x" {
			t.Errorf("resource = %v, want team x", res)
		}
		if n := otelErrors(t, reg, metrics.OTelErrorKindOther); n != 1 {
			t.Errorf("%s{kind=other} = %v, want 1", metrics.OTelErrorsName, n)
		}
		if got := logs(); len(got) != 1 {
			t.Errorf("logged %v, want the SDK's complaint once", got.Messages())
		}
	})
}
