package dashboards

//go:generate go run ./cmd/generate -out generated

// File names of the generated artifacts, in the directory Files' output is
// written to.
const (
	DashboardFile = "routines.json"
	RulesFile     = "alerts.yml"
	RunbookFile   = "RUNBOOK.md"
)

// File is one generated artifact.
type File struct {
	Name    string // DashboardFile, RulesFile or RunbookFile
	Content []byte
}

// Files returns the three artifacts built with opts, in a fixed order: the
// dashboard JSON, the rule file and the runbook. The same options always
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
	return []File{
		{Name: DashboardFile, Content: dash},
		{Name: RulesFile, Content: rulesYAML},
		{Name: RunbookFile, Content: []byte(runbook)},
	}, nil
}
