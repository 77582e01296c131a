package dashboards_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/routinely/routinely/dashboards"
)

// TestGeneratedFiles_AreUpToDate fails when generated/ is not what the Go
// definitions produce: after changing them, run go generate ./dashboards/...
func TestGeneratedFiles_AreUpToDate(t *testing.T) {
	files, err := dashboards.Files()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, f := range files {
		want[f.Name] = true
		got := readGenerated(t, f.Name)
		if !bytes.Equal(got, f.Content) {
			t.Errorf("%s is stale: run go generate ./dashboards/... and commit the result", filepath.Join(generatedDir, f.Name))
		}
	}
	entries, err := os.ReadDir(generatedDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("%s is not generated any more: delete it", filepath.Join(generatedDir, e.Name()))
		}
	}
}

func TestFiles_AreStable(t *testing.T) {
	a, err := dashboards.Files()
	if err != nil {
		t.Fatal(err)
	}
	b, err := dashboards.Files()
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !bytes.Equal(a[i].Content, b[i].Content) {
			t.Errorf("%s differs between two calls", a[i].Name)
		}
	}
}

func TestOptions_RejectInvalidValues(t *testing.T) {
	for name, opt := range map[string]dashboards.Option{
		"WithErrorBudget(0)":       dashboards.WithErrorBudget(0),
		"WithErrorBudget(1)":       dashboards.WithErrorBudget(1),
		"WithRunbookURL(relative)": dashboards.WithRunbookURL("RUNBOOK.md"),
		"WithRunbookURL(fragment)": dashboards.WithRunbookURL("https://example.com/r.md#x"),
		"WithForScale(2)":          dashboards.WithForScale(2),
		"WithForScale(-1)":         dashboards.WithForScale(-1),
		"WithTraceDatasourceType":  dashboards.WithTraceDatasourceType("loki"),
		"nil":                      nil,
	} {
		if _, err := dashboards.Files(opt); err == nil {
			t.Errorf("%s: Files returned no error", name)
		}
		if _, err := dashboards.AlertRules(opt); err == nil {
			t.Errorf("%s: AlertRules returned no error", name)
		}
	}
}

func TestWithNamespace_RenamesEverySeries(t *testing.T) {
	files, err := dashboards.Files(dashboards.WithNamespace("jobs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files[:2] { // the dashboard and the rules
		if bytes.Contains(f.Content, []byte("routine_handler")) || !bytes.Contains(f.Content, []byte("jobs_handler_errors_total")) {
			t.Errorf("%s still names the default namespace's metrics", f.Name)
		}
	}
}
