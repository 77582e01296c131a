// Package e2e holds the end-to-end tests that need more than the Go
// toolchain: here, a real headless Chromium driving the demo's status page.
// It is a module of its own so that the library does not depend on
// chromedp.
package e2e_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/routinely/routinely/goroutine/status"
	"github.com/routinely/routinely/internal/demotest"
	"github.com/routinely/routinely/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// chromiumPath is the browser the test drives: $CHROMIUM, else Debian's
// chromium package.
func chromiumPath(t *testing.T) string {
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if testenv.InCI() {
			t.Fatalf("no Chromium at %s (%v): CI must install it (apt-get install -y chromium)", path, err)
		}
		t.Skipf("skipping: no Chromium at %s (%v); install Debian's chromium package or set CHROMIUM", path, err)
	}
	return path
}

// artifactsDir is where the screenshot goes: $ARTIFACTS_DIR, else
// testdata/artifacts (ignored by git).
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

const syncerError = `upstream returned <503> "Service Unavailable" & retry`

// row is what the browser shows in one row of the routines table.
type row struct {
	Name           string
	Runs           string
	State          string
	Error          string
	ErrorElements  int // elements inside the error cell's <code>
	ErrorInnerHTML string
}

// A newcomer's view of the status page, in a real browser: every routine
// is listed and has run, and the syncer's error shows as the literal text
// it is, markup characters and all. Leaves a screenshot for humans.
func TestStatusPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	bin := demotest.Build(t, filepath.Join("..", "examples", "demo"))

	// Everything from here on, browser included, within a minute.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	d := demotest.Start(t, bin, "-addr", "127.0.0.1:0", "-interval-scale", "0.05")
	// Wait for enough history that the charts say something.
	report := d.WaitForReport(t, 20*time.Second, func(r status.Report) bool {
		for _, rt := range r.Routines {
			if len(rt.Recent) < 16 || rt.Name == "syncer" && rt.Errors == 0 {
				return false
			}
		}
		return demotest.EveryRoutineRanAndOneFailed(r)
	})
	var names []string
	for _, rt := range report.Routines {
		names = append(names, rt.Name)
	}

	// The server escapes; the browser below shows that the result reads
	// right.
	if _, _, page := d.Get(t, "/debug/routines"); !strings.Contains(page, `upstream returned &lt;503&gt; &#34;Service Unavailable&#34; &amp; retry`) {
		t.Errorf("the served page does not carry the syncer's error HTML-escaped")
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	resp, err := chromedp.Run(browser, chromedp.NavigateResponse(d.URL+"/debug/routines"))
	if err != nil {
		t.Fatalf("loading the status page: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("status page: HTTP %d", resp.Status)
	}
	if err := chromedp.Do(browser, chromedp.WaitVisible(chromedp.CSS("table.routines"))); err != nil {
		t.Fatal(err)
	}

	rows, err := chromedp.Run(browser, chromedp.Evaluate[[]row](`
		[...document.querySelectorAll("table.routines tbody tr[data-routine]")].map(tr => {
			const code = tr.querySelector("td.last-error code");
			return {
				Name: tr.querySelector("td.name strong").innerText,
				Runs: tr.querySelector("td.runs strong").innerText,
				State: tr.querySelector(".state").innerText,
				Error: code ? code.innerText : "",
				ErrorElements: code ? code.querySelectorAll("*").length : 0,
				ErrorInnerHTML: code ? code.innerHTML : "",
			};
		})`))
	if err != nil {
		t.Fatalf("reading the routines table: %v", err)
	}
	positive := regexp.MustCompile(`^[1-9][0-9]*$`)
	var shown []string
	for _, r := range rows {
		shown = append(shown, r.Name)
		if !positive.MatchString(r.Runs) {
			t.Errorf("%s: the table shows %q runs, want a positive count", r.Name, r.Runs)
		}
		if r.State == "" {
			t.Errorf("%s: no state shown", r.Name)
		}
		if r.Name != "syncer" {
			continue
		}
		if !strings.Contains(r.Error, syncerError) {
			t.Errorf("syncer: the browser shows last error %q, want it to contain the literal %q", r.Error, syncerError)
		}
		if r.ErrorElements != 0 {
			t.Errorf("syncer: the error text became %d HTML elements: %s", r.ErrorElements, r.ErrorInnerHTML)
		}
	}
	if !slices.Equal(shown, names) {
		t.Errorf("the table shows routines %v, want %v", shown, names)
	}

	// Each run's trace id, in the syncer's recent runs.
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`details[data-routine="syncer"] summary`))); err != nil {
		t.Fatalf("opening the syncer's recent runs: %v", err)
	}
	traces, err := chromedp.Run(browser, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('details[data-routine="syncer"] td.trace')].map(td => td.innerText)`))
	if err != nil {
		t.Fatal(err)
	}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	if len(traces) < 16 {
		t.Errorf("syncer's recent runs list %d runs, want at least 16", len(traces))
	}
	for _, id := range traces {
		if !hex32.MatchString(id) {
			t.Errorf("recent run shows trace id %q, want 32 hex digits", id)
		}
	}

	png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactsDir(t), "status-page.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot of the status page: %s (%d bytes)", abs, len(png))

	// Close the browser before stopping the demo, then check the demo
	// still stops cleanly.
	cancelBrowser()
	cancelAlloc()
	if code, err := d.Terminate(10 * time.Second); err != nil || code != 0 {
		t.Errorf("demo stopped with status %d, %v; want 0\n%s", code, err, d.Stderr())
	}
	if ctx.Err() != nil {
		t.Errorf("the test took longer than its minute: %v", ctx.Err())
	}
}
