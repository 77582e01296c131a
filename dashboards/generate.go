package dashboards

//go:generate go run ./cmd/generate -out generated

// File names of the generated artifacts, in the directory Files' output is
// written to.
const (
	DashboardFile = "routines.json"
	RulesFile     = "alerts.yml"
	RunbookFile   = "RUNBOOK.md"
	// DatasourcesFile provisions the Prometheus and trace data sources,
	// linked by the exemplars' trace ids.
	DatasourcesFile = "datasources.yml"
)

// File is one generated artifact.
type File struct {
	Name    string // DashboardFile, RulesFile, RunbookFile or DatasourcesFile
	Content []byte
}

// Files returns the four artifacts built with opts, in a fixed order: the
// dashboard JSON, the rule file, the runbook and the Grafana data source
// provisioning file. The same options always
// give the same bytes; the repository's generated/ directory holds
// Files() and a test fails when it is stale.
func Files(opts ...Option) ([]File, error) {
	dash, err := DashboardJSON(opts...)
	if err != nil {
		return nil, err
	}
	rules, err := AlertRules(opts...)
	if err != nil {
		return nil, err
	}
	rulesYAML, err := rules.YAML()
	if err != nil {
		return nil, err
	}
	runbook, err := Runbook(opts...)
	if err != nil {
		return nil, err
	}
	datasources, err := DatasourcesYAML(opts...)
	if err != nil {
		return nil, err
	}
	return []File{
		{Name: DashboardFile, Content: dash},
		{Name: RulesFile, Content: rulesYAML},
		{Name: RunbookFile, Content: []byte(runbook)},
		{Name: DatasourcesFile, Content: datasources},
	}, nil
}
