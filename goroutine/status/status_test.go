package status_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/goroutine/status"
)

// fakeSource returns a fixed status and counts how often it was read.
type fakeSource struct {
	status goroutine.Status
	reads  atomic.Int64
}

func (f *fakeSource) Status() goroutine.Status {
	f.reads.Add(1)
	return f.status
}

const evil = `<script>alert("x")</script>`

var t0 = time.Date(2025, 1, 2, 15, 4, 5, 123_000_000, time.FixedZone("CET", 3600))

// hostile is a routine whose every free-text field carries markup.
func hostile() *fakeSource {
	src := &fakeSource{status: goroutine.Status{
		Name:        "name" + evil,
		Description: "desc" + evil,
		State:       goroutine.StateBackingOff,
		Interval:    1500 * time.Millisecond,
		Successes:   2, Errors: 1, Panics: 1,
		LastError: "last" + evil,
		Recent: []goroutine.Run{
			{Invocation: 1, Started: t0, Duration: 20 * time.Millisecond, Outcome: goroutine.OutcomeSuccess, TraceID: traceID("4bf92f3577b34da6a3ce929d0e0e4736")},
			{Invocation: 2, Started: t0.Add(time.Second), Duration: 40 * time.Millisecond, Outcome: goroutine.OutcomeError, Error: "run" + evil},
			{Invocation: 3, Started: t0.Add(2 * time.Second), Duration: 5 * time.Millisecond, Outcome: goroutine.OutcomePanic, Error: "panic" + evil},
			{Invocation: 4, Started: t0.Add(3 * time.Second), Duration: 10 * time.Millisecond, Outcome: goroutine.OutcomeSuccess, TraceID: traceID("00f067aa0ba902b700f067aa0ba902b7")},
		},
		LastErrorAt: t0.Add(2 * time.Second),
		HistorySize: 4,
	}}
	last := src.status.Recent[3]
	src.status.LastRun = &last
	return src
}

// traceID parses a hex trace id.
func traceID(hex string) trace.TraceID {
	id, err := trace.TraceIDFromHex(hex)
	if err != nil {
		panic(err)
	}
	return id
}

func get(t *testing.T, h http.Handler, target string) *http.Response {
	t.Helper()
	return do(t, h, http.MethodGet, target)
}

func do(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHTMLEscapesEveryFreeTextField(t *testing.T) {
	resp := get(t, status.NewPage(hostile()), "/debug/routines")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q, want text/html; charset=utf-8", ct)
	}
	page := body(t, resp)
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Errorf("page contains an unescaped <script> tag:\n%s", page)
	}
	for _, text := range []string{"name", "desc", "last", "run", "panic"} {
		want := text + `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`
		if !strings.Contains(page, want) {
			t.Errorf("page does not show %q escaped as %q", text+evil, want)
		}
	}
}

func TestHTMLShowsEachRoutine(t *testing.T) {
	src := hostile()
	src.status.Name, src.status.Description = "syncer", "Pulls accounts"
	other := &fakeSource{status: goroutine.Status{Name: "janitor", State: goroutine.StateNotStarted, Interval: time.Minute}}
	page := body(t, get(t, status.NewPage(src, other), "/debug/routines"))

	for _, want := range []string{
		`data-routine="syncer"`, `<strong>syncer</strong>`, `Pulls accounts`,
		`state-backoff">backing off<`, `>1.5s<`, `data-runs="4"`,
		`4bf92f3577b34da6a3ce929d0e0e4736`, `00f067aa0ba902b700f067aa0ba902b7`, // every run's trace id
		`took 10ms`, // the last run's duration
		`data-routine="janitor"`, `state-other">not started<`, `no run yet`, `>1m0s<`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, "<rect "); n != len(src.status.Recent) {
		t.Errorf("chart has %d bars, want one per recent run (%d)", n, len(src.status.Recent))
	}
	for _, class := range []string{`<rect class="ok"`, `<rect class="err"`, `<rect class="panic"`} {
		if !strings.Contains(page, class) {
			t.Errorf("chart lacks a bar %s", class)
		}
	}
	if i, j := strings.Index(page, `data-routine="syncer"`), strings.Index(page, `data-routine="janitor"`); i > j {
		t.Error("routines are not shown in the order they were added")
	}
}

// A routine failing run after run says so next to its last error; one
// whose last run succeeded does not.
func TestHTMLShowsFailuresInARow(t *testing.T) {
	failing := &fakeSource{status: goroutine.Status{
		Name: "importer", State: goroutine.StateBackingOff, Interval: time.Hour,
		Successes: 5, Errors: 2, Panics: 1, ConsecutiveFailures: 3,
		LastError: "connection refused", LastErrorAt: t0,
	}}
	recovered := hostile() // its last run succeeded
	recovered.status.Name = "syncer"
	page := body(t, get(t, status.NewPage(failing, recovered), "/debug/routines"))
	if n := strings.Count(page, "in a row"); n != 1 {
		t.Errorf("page says \"in a row\" %d times, want once (importer only)", n)
	}
	if !strings.Contains(page, "failed 3 runs in a row") {
		t.Error("page lacks importer's \"failed 3 runs in a row\"")
	}
}

func TestJSONShape(t *testing.T) {
	src := hostile()
	src.status.ConsecutiveFailures = 2 // not its history's: only the trip is tested
	empty := &fakeSource{status: goroutine.Status{Name: "fresh", State: goroutine.StateNotStarted, Interval: 2 * time.Second}}
	resp := get(t, status.NewPage(src, empty), "/debug/routines?format=json")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q, want application/json; charset=utf-8", ct)
	}
	raw := body(t, resp)
	if strings.Contains(raw, "<script") {
		t.Error("JSON contains a raw <script>: want it escaped as \\u003c")
	}

	// The documented field names, all present.
	var doc map[string]any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m any) []string {
		var ks []string
		for k := range m.(map[string]any) {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if got, want := keys(doc), []string{"generated_at", "routines"}; !slices.Equal(got, want) {
		t.Errorf("report keys %v, want %v", got, want)
	}
	routines := doc["routines"].([]any)
	wantRoutine := []string{"canceled", "consecutive_failures", "description", "errors", "history_size", "interval_seconds", "last_error", "last_error_at", "last_run", "leadership", "name", "panics", "recent", "running_since", "runs", "state", "successes"}
	for _, r := range routines {
		if got := keys(r); !slices.Equal(got, wantRoutine) {
			t.Errorf("routine keys %v, want %v", got, wantRoutine)
		}
	}
	wantRun := []string{"duration_seconds", "error", "invocation", "outcome", "started", "trace_id"}
	if got := keys(routines[0].(map[string]any)["last_run"]); !slices.Equal(got, wantRun) {
		t.Errorf("run keys %v, want %v", got, wantRun)
	}
	fresh := routines[1].(map[string]any)
	if fresh["last_run"] != nil {
		t.Errorf("last_run of a routine that never ran is %v, want null", fresh["last_run"])
	}
	if recent, ok := fresh["recent"].([]any); !ok || len(recent) != 0 {
		t.Errorf("recent of a routine that never ran is %#v, want []", fresh["recent"])
	}
	if started := routines[0].(map[string]any)["last_run"].(map[string]any)["started"]; started != "2025-01-02T14:04:08.123Z" {
		t.Errorf("started %v, want RFC 3339 in UTC 2025-01-02T14:04:08.123Z", started)
	}

	// The typed view of the same document.
	var report status.Report
	if err := json.Unmarshal([]byte(raw), &report); err != nil {
		t.Fatal(err)
	}
	got := report.Routines[0]
	// It round-trips: what the page encodes decodes to the same status,
	// times in UTC.
	want := src.status
	want.LastErrorAt = want.LastErrorAt.UTC()
	for i := range want.Recent {
		want.Recent[i].Started = want.Recent[i].Started.UTC()
	}
	last := want.Recent[3]
	want.LastRun = &last
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routine\n got %+v\nwant %+v", got, want)
	}
	if got.Runs() != 4 {
		t.Errorf("runs %d, want 4", got.Runs())
	}
	if time.Since(report.GeneratedAt) > time.Minute || report.GeneratedAt.Location() != time.UTC {
		t.Errorf("generated_at %v is not now in UTC", report.GeneratedAt)
	}
}

func TestReadOnly(t *testing.T) {
	src := hostile()
	h := status.NewPage(src)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		resp := do(t, h, method, "/debug/routines")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", method, resp.StatusCode)
		}
		if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("%s: Allow %q, want GET, HEAD", method, allow)
		}
	}
	if n := src.reads.Load(); n != 0 {
		t.Errorf("refused requests read the routine's status %d times", n)
	}

	resp := do(t, h, http.MethodHead, "/debug/routines")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if b := body(t, resp); b != "" {
		t.Errorf("HEAD returned a body of %d bytes", len(b))
	}
}

func TestSecurityHeaders(t *testing.T) {
	resp := get(t, status.NewPage(hostile()), "/debug/routines")
	for header, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s: %q, want %q", header, got, want)
		}
	}
}

func TestQueryParameters(t *testing.T) {
	h := status.NewPage(hostile())
	for _, tc := range []struct {
		target      string
		code        int
		contentType string
		refresh     string
	}{
		{"/?format=html", 200, "text/html; charset=utf-8", ""},
		{"/?format=json&refresh=2", 200, "application/json; charset=utf-8", "2"},
		{"/?refresh=5", 200, "text/html; charset=utf-8", "5"},
		{"/?format=xml", 400, "text/plain; charset=utf-8", ""},
		{"/?refresh=0", 400, "text/plain; charset=utf-8", ""},
		{"/?refresh=soon", 400, "text/plain; charset=utf-8", ""},
		{"/?refresh=3601", 400, "text/plain; charset=utf-8", ""},
	} {
		resp := get(t, h, tc.target)
		if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != tc.contentType || resp.Header.Get("Refresh") != tc.refresh {
			t.Errorf("GET %s: status %d, Content-Type %q, Refresh %q; want %d, %q, %q", tc.target,
				resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Refresh"), tc.code, tc.contentType, tc.refresh)
		}
	}
}

func TestZeroPageIsEmptyAndAddAppends(t *testing.T) {
	var page status.Page
	if html := body(t, get(t, &page, "/")); !strings.Contains(html, "No routines registered.") {
		t.Error("empty page does not say that no routines are registered")
	}
	if raw := body(t, get(t, &page, "/?format=json")); !strings.Contains(raw, `"routines": []`) {
		t.Errorf("empty page's JSON has no empty routines list:\n%s", raw)
	}

	page.Add(nil, &fakeSource{status: goroutine.Status{Name: "a"}})
	page.Add(&fakeSource{status: goroutine.Status{Name: "b"}})
	var names []string
	for _, r := range page.Report().Routines {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("routines %v, want [a b]: Add ignores nil and keeps order", names)
	}
}

func TestRunningRoutineShowsSince(t *testing.T) {
	// In a synctest bubble the clock stands still, so the page's "for"
	// is exactly what the source reported.
	synctest.Test(t, func(t *testing.T) {
		since := time.Now().Add(-150 * time.Second)
		running := &fakeSource{status: goroutine.Status{Name: "slow", State: goroutine.StateRunning, Interval: time.Second, RunningSince: since}}
		idle := &fakeSource{status: goroutine.Status{Name: "idle", State: goroutine.StateIdle, Interval: time.Second}}
		page := status.NewPage(running, idle)

		var doc struct {
			Routines []struct {
				RunningSince *time.Time `json:"running_since"`
			} `json:"routines"`
		}
		if err := json.Unmarshal([]byte(body(t, get(t, page, "/?format=json"))), &doc); err != nil {
			t.Fatal(err)
		}
		if got := doc.Routines[0].RunningSince; got == nil || !got.Equal(since) || got.Location() != time.UTC {
			t.Errorf("running_since %v, want %v in UTC", got, since)
		}
		if got := doc.Routines[1].RunningSince; got != nil {
			t.Errorf("running_since of an idle routine %v, want null", got)
		}
		html := body(t, get(t, page, "/"))
		if !strings.Contains(html, `state-running">running</span><div class="small running-for">for 2m30s<`) {
			t.Errorf("page does not say for how long the running routine has run:\n%s", html)
		}
	})
}

// TestLeadershipIsShown: a singleton routine's part on this replica is on
// the page and in the JSON; other routines have leadership null.
func TestLeadershipIsShown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		since := time.Now().Add(-90 * time.Second)
		leader := &fakeSource{status: goroutine.Status{Name: "janitor", State: goroutine.StateIdle, Interval: time.Minute,
			Leadership: &goroutine.Leadership{Leader: true, Term: 7, Since: since}}}
		follower := &fakeSource{status: goroutine.Status{Name: "syncer", State: goroutine.StateIdle, Interval: time.Minute,
			Leadership: &goroutine.Leadership{Term: 6, Since: since}}}
		plain := &fakeSource{status: goroutine.Status{Name: "plain", State: goroutine.StateIdle, Interval: time.Minute}}
		page := status.NewPage(leader, follower, plain)

		html := body(t, get(t, page, "/"))
		for _, want := range []string{`<div class="small leadership">leader, term 7 for 1m30s</div>`, `<div class="small leadership">follower for 1m30s</div>`} {
			if !strings.Contains(html, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if n := strings.Count(html, `class="small leadership"`); n != 2 {
			t.Errorf("%d leadership lines, want 2: none for a routine without an elector", n)
		}

		var doc struct {
			Routines []struct {
				Leadership *goroutine.Leadership `json:"leadership"`
			} `json:"routines"`
		}
		if err := json.Unmarshal([]byte(body(t, get(t, page, "/?format=json"))), &doc); err != nil {
			t.Fatal(err)
		}
		if l := doc.Routines[0].Leadership; l == nil || !l.Leader || l.Term != 7 || !l.Since.Equal(since) || l.Since.Location() != time.UTC {
			t.Errorf("leader's leadership %+v, want leader of term 7 since %v in UTC", l, since)
		}
		if l := doc.Routines[1].Leadership; l == nil || l.Leader || l.Term != 6 {
			t.Errorf("follower's leadership %+v, want a follower that last led term 6", l)
		}
		if doc.Routines[2].Leadership != nil {
			t.Errorf("leadership of a routine without an elector is %+v, want null", doc.Routines[2].Leadership)
		}
	})
}
