package dashboards_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/routinely/routinely/dashboards"
	"github.com/routinely/routinely/internal/testenv"
	"github.com/routinely/routinely/metrics"
)

// e2eBudget bounds the end-to-end test once the programs are built.
const e2eBudget = 90 * time.Second

// e2eForScale shortens every alert's for: (2m becomes 2s) so that the
// end-to-end test sees alerts fire within seconds. Expressions, windows and
// thresholds are the shipped ones: the test checks that the rule file it
// loads differs from generated/alerts.yml in for: only.
const e2eForScale = 1.0 / 60

// TestEndToEnd_PrometheusScrapingTheService starts the test service (a
// healthy routine, a failing one that backs off, a hanging one and a
// singleton that no replica leads, the healthy one reporting that it
// leads) and a real Prometheus server scraping it every second with the
// generated rules, then checks through Prometheus' HTTP API that every
// dashboard query returns data for the healthy and the failing routine
// (the leader panels for the healthy and the leaderless one), that every
// routine exports its next-run time, that the fast error-ratio alert fires
// for the failing routine, RoutineStalled for the hanging one and
// RoutineWithoutLeader for the leaderless one, while the healthy routine
// raises no alert at all, not even a pending one, and the failing one no
// RoutineStalled.
func TestEndToEnd_PrometheusScrapingTheService(t *testing.T) {
	promBin := testenv.LookPath(t, "prometheus", promtoolHint)
	goBin := testenv.LookPath(t, "go", "the Go toolchain")
	dir := t.TempDir()

	service := buildTestService(t, goBin, dir)
	ctx, cancel := context.WithTimeout(t.Context(), e2eBudget)
	defer cancel()

	serviceAddr := startTestService(t, ctx, exec.Command(service, "-addr", "127.0.0.1:0", "-interval", "200ms"))
	rulesPath := writeFastRules(t, dir)
	api := startPrometheus(t, ctx, promBin, dir, serviceAddr, rulesPath)

	// Every panel query returns data, for both routines where it is by routine.
	for _, q := range panelQueries(t) {
		expr := toPromQL(t, q, "30s", "1m")
		poll(t, ctx, fmt.Sprintf("panel %s to return data: %s", q.where, expr), func() (bool, string) {
			result, err := api.query(expr)
			if err != nil || len(result) == 0 {
				return false, fmt.Sprintf("%d series, %v", len(result), err)
			}
			seen := map[string]bool{}
			byRoutine := false
			for _, s := range result {
				if r, ok := s.Metric[metrics.RoutineLabel]; ok {
					byRoutine = true
					seen[r] = true
				}
			}
			want := []string{"healthy", "failing"}
			if strings.Contains(expr, metrics.RoutineNames("").Leader) {
				// Singleton routines only: healthy leads, leaderless has no leader.
				want = []string{"healthy", "leaderless"}
			}
			if byRoutine && !strings.Contains(expr, "> 0)") && !(seen[want[0]] && seen[want[1]]) {
				return false, fmt.Sprintf("routines %v, want %v", seen, want)
			}
			return true, ""
		})
	}
	// Every variable finds its values.
	for _, q := range variableSelectors(t) {
		expr := toPromQL(t, q, "30s", "1m")
		label := strings.TrimPrefix(q.where, "variable ")
		poll(t, ctx, fmt.Sprintf("%s to find values: %s", q.where, expr), func() (bool, string) {
			result, err := api.query(expr)
			if err != nil || len(result) == 0 || result[0].Metric[label] == "" {
				return false, fmt.Sprintf("%v, %v", result, err)
			}
			return true, ""
		})
	}

	// Every started routine exports when its next run is due.
	nextRun := metrics.RoutineNames("").NextRun + " > 0"
	poll(t, ctx, "every routine to export its next-run time: "+nextRun, func() (bool, string) {
		result, err := api.query(nextRun)
		seen := map[string]bool{}
		for _, s := range result {
			seen[s.Metric[metrics.RoutineLabel]] = true
		}
		return seen["healthy"] && seen["failing"] && seen["hanging"], fmt.Sprintf("routines %v, %v", seen, err)
	})

	// The failing routine fires the fast burn, the hanging one
	// RoutineStalled; the healthy one, which runs more often than
	// Prometheus scrapes, stays silent.
	var alerts []promAlert
	for alert, routine := range map[string]string{dashboards.AlertErrorRatioFastBurn: "failing", dashboards.AlertStalled: "hanging", dashboards.AlertWithoutLeader: "leaderless"} {
		poll(t, ctx, alert+" to fire for the "+routine+" routine", func() (bool, string) {
			var err error
			if alerts, err = api.alerts(); err != nil {
				return false, err.Error()
			}
			for _, a := range alerts {
				if a.Labels[model.AlertNameLabel] == alert && a.Labels[metrics.RoutineLabel] == routine && a.State == "firing" {
					if a.Labels["severity"] != "critical" {
						t.Errorf("%s has severity %q, want critical", alert, a.Labels["severity"])
					}
					return true, ""
				}
			}
			return false, fmt.Sprintf("alerts: %+v", alerts)
		})
	}
	if alerts, err := api.alerts(); err != nil {
		t.Error(err)
	} else {
		for _, a := range alerts {
			switch r := a.Labels[metrics.RoutineLabel]; {
			case r == "healthy":
				t.Errorf("the healthy routine has an alert: %+v", a)
			case r == "failing" && a.Labels[model.AlertNameLabel] == dashboards.AlertStalled:
				t.Errorf("the failing routine, which backs off but runs when due, is stalled: %+v", a)
			}
		}
	}
	// The stalled expression itself finds neither of them late.
	for _, r := range generatedRules(t).Alerts() {
		if r.Alert != dashboards.AlertStalled {
			continue
		}
		result, err := api.query(r.Expr)
		if err != nil {
			t.Fatalf("querying %s's expression: %v", r.Alert, err)
		}
		for _, s := range result {
			if routine := s.Metric[metrics.RoutineLabel]; routine != "hanging" {
				t.Errorf("%s's expression matches routine %s", r.Alert, routine)
			}
		}
	}
}

// buildTestService compiles internal/testservice into dir, with -race when
// the test runs with it (sharing the build cache with the test binary).
func buildTestService(t *testing.T, goBin, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "testservice")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, append(args, "./internal/testservice")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./internal/testservice: %v\n%s", err, out)
	}
	return bin
}

// startTestService starts the service, cmd, and returns the address it
// serves /metrics on, which it prints first.
func startTestService(t *testing.T, ctx context.Context, cmd *exec.Cmd) string {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, cmd, "testservice")
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case addr := <-lines:
		if _, _, err := net.SplitHostPort(addr); err != nil {
			t.Fatalf("testservice printed %q, not its address", addr)
		}
		return addr
	case <-ctx.Done():
		t.Fatal("testservice did not print its address")
		return ""
	}
}

// writeFastRules writes the generated rules with WithForScale(e2eForScale)
// and checks they differ from the checked-in rules in for: only.
func writeFastRules(t *testing.T, dir string) string {
	t.Helper()
	fast, err := dashboards.AlertRules(dashboards.WithForScale(e2eForScale))
	if err != nil {
		t.Fatal(err)
	}
	b, err := fast.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var reread dashboards.RuleFile
	if err := yaml.Unmarshal(b, &reread); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(withoutFor(reread), withoutFor(generatedRules(t))) {
		t.Fatal("the fast rules differ from generated/alerts.yml in more than for:")
	}
	path := filepath.Join(dir, "alerts.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func withoutFor(f dashboards.RuleFile) dashboards.RuleFile {
	for _, g := range f.Groups {
		for i := range g.Rules {
			g.Rules[i].For = 0
		}
	}
	return f
}

// startPrometheus starts a Prometheus server on a free loopback port,
// scraping target every second and evaluating rules, if any, every second,
// with the extra flags, waits until it is ready and returns its HTTP API.
func startPrometheus(t *testing.T, ctx context.Context, bin, dir, target, rules string, flags ...string) *promAPI {
	t.Helper()
	ruleFiles := ""
	if rules != "" {
		ruleFiles = fmt.Sprintf("rule_files:\n  - %q\n", rules)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
%sscrape_configs:
  - job_name: routinely-testservice
    static_configs:
      - targets: [%q]
`, ruleFiles, target)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start(t, exec.Command(bin, append([]string{
		"--config.file=" + configPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
		"--web.listen-address=" + addr,
	}, flags...)...), "prometheus")
	api := &promAPI{base: "http://" + addr, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}}
	poll(t, ctx, "Prometheus to be ready", func() (bool, string) {
		status, body, err := api.get("/-/ready", nil)
		return err == nil && status == http.StatusOK, fmt.Sprint(status, " ", body, " ", err)
	})
	return api
}

// start starts cmd and has it killed and waited for when the test ends,
// with the tail of its standard error printed if the test failed.
func start(t *testing.T, cmd *exec.Cmd, name string) {
	t.Helper()
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("stderr of %s (last %d bytes):\n%s", name, stderr.max, stderr.String())
		}
	})
}

// poll calls check every 200ms until it reports done, failing the test
// with check's last message when ctx ends first. It waits on external
// processes, which have no other way to say they are ready.
func poll(t *testing.T, ctx context.Context, what string, check func() (done bool, msg string)) {
	t.Helper()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for {
		done, msg := check()
		if done {
			return
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; last: %s", what, msg)
		}
	}
}

// promAPI is the slice of Prometheus' HTTP API the test uses.
type promAPI struct {
	base   string
	client *http.Client
}

func (a *promAPI) get(path string, params url.Values) (int, string, error) {
	u := a.base + path
	if params != nil {
		u += "?" + params.Encode()
	}
	resp, err := a.client.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

type promSeries struct {
	Metric map[string]string `json:"metric"`
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (a *promAPI) call(path string, params url.Values, data any) error {
	status, body, err := a.get(path, params)
	if err != nil {
		return err
	}
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &envelope); err != nil {
		return fmt.Errorf("HTTP %d: %s", status, body)
	}
	if envelope.Status != "success" {
		return fmt.Errorf("HTTP %d: %s", status, envelope.Error)
	}
	return json.Unmarshal(envelope.Data, data)
}

// query runs an instant query and returns the series of its vector result.
func (a *promAPI) query(expr string) ([]promSeries, error) {
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSeries `json:"result"`
	}
	if err := a.call("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", data.ResultType)
	}
	return data.Result, nil
}

func (a *promAPI) alerts() ([]promAlert, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	err := a.call("/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if extra := b.buf.Len() - b.max; extra > 0 {
		b.buf.Next(extra)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
