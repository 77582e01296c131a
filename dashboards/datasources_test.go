package dashboards_test

import (
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/routinely/routinely/dashboards"
	"github.com/routinely/routinely/metrics"
)

// provisionedDatasource is a data source of a Grafana provisioning file,
// read as Grafana reads it.
type provisionedDatasource struct {
	Name     string `yaml:"name"`
	Type     string `yaml:"type"`
	UID      string `yaml:"uid"`
	URL      string `yaml:"url"`
	JSONData struct {
		ExemplarTraceIDDestinations []struct {
			Name          string `yaml:"name"`
			DatasourceUID string `yaml:"datasourceUid"`
		} `yaml:"exemplarTraceIdDestinations"`
	} `yaml:"jsonData"`
}

func parseDatasources(t *testing.T, b []byte) map[string]provisionedDatasource {
	t.Helper()
	var f struct {
		APIVersion  int                     `yaml:"apiVersion"`
		Datasources []provisionedDatasource `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("parsing %s: %v", dashboards.DatasourcesFile, err)
	}
	if f.APIVersion != 1 {
		t.Errorf("apiVersion = %d, want 1", f.APIVersion)
	}
	byType := map[string]provisionedDatasource{}
	for _, d := range f.Datasources {
		if d.Name == "" || d.UID == "" || d.URL == "" {
			t.Errorf("data source %+v lacks a name, uid or url", d)
		}
		byType[d.Type] = d
	}
	return byType
}

// TestDatasources_PrometheusLinksExemplarsToTraces: the provisioned
// Prometheus data source sends exemplars' trace ids (the label goroutine
// sets) to the provisioned trace data source, Tempo by default.
func TestDatasources_PrometheusLinksExemplarsToTraces(t *testing.T) {
	jaeger, err := dashboards.DatasourcesYAML(dashboards.WithTraceDatasourceType("jaeger"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		content   []byte
		traceType string
	}{
		"generated/" + dashboards.DatasourcesFile: {readGenerated(t, dashboards.DatasourcesFile), "tempo"},
		"WithTraceDatasourceType(jaeger)":         {jaeger, "jaeger"},
	} {
		ds := parseDatasources(t, tc.content)
		if len(ds) != 2 {
			t.Errorf("%s: data sources of types %v, want prometheus and %s", name, ds, tc.traceType)
		}
		prom, traces := ds["prometheus"], ds[tc.traceType]
		if traces.UID == "" {
			t.Fatalf("%s: no %s data source", name, tc.traceType)
		}
		dests := prom.JSONData.ExemplarTraceIDDestinations
		if len(dests) != 1 || dests[0].Name != metrics.ExemplarTraceIDLabel || dests[0].DatasourceUID != traces.UID {
			t.Errorf("%s: exemplarTraceIdDestinations = %+v, want [{name: %s, datasourceUid: %s}]", name, dests, metrics.ExemplarTraceIDLabel, traces.UID)
		}
	}
}
