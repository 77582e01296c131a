package status

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"time"

	"github.com/routinely/routinely/goroutine"
)

// Chart geometry, in SVG user units: each recent run is one bar.
const (
	barWidth    = 6
	barGap      = 2
	chartHeight = 28
	maxChartPx  = 260 // widest a chart is drawn, however long the history
)

// htmlPage is what the template renders.
type htmlPage struct {
	Report    Report
	Generated string
	Refresh   int
	Routines  []htmlRoutine
}

type htmlRoutine struct {
	goroutine.Status
	Anchor     string
	StateClass string
	Interval   string
	LastStart  string
	// LastStartISO is LastStart in RFC 3339, for the time element.
	LastStartISO string
	LastAgo      string
	LastDur      string
	// LastErrorAgo says how long ago the last failure started, or "".
	LastErrorAgo string
	// RunningFor is how long the running invocation has run, or "".
	RunningFor string
	// Leadership says a singleton routine's part on this replica, or "".
	Leadership string
	Chart      chart
	// Newest holds Recent newest first, for the runs table.
	Newest []goroutine.Run
}

type chart struct {
	Width, ViewWidth, Height int
	Bars                     []bar
}

type bar struct {
	X, Y, W, H int
	Class      string
	Title      string
}

func renderHTML(w io.Writer, r Report, refresh int) error {
	page := htmlPage{
		Report:    r,
		Generated: r.GeneratedAt.Format(time.RFC3339),
		Refresh:   refresh,
		Routines:  make([]htmlRoutine, 0, len(r.Routines)),
	}
	for i, rt := range r.Routines {
		hr := htmlRoutine{
			Status:     rt,
			Anchor:     fmt.Sprintf("routine-%d", i+1),
			StateClass: stateClass(rt.State),
			Interval:   formatDuration(rt.Interval),
			Chart:      chartOf(rt.Recent),
		}
		if !rt.RunningSince.IsZero() {
			hr.RunningFor = formatDuration(r.GeneratedAt.Sub(rt.RunningSince))
		}
		if rt.LastRun != nil {
			hr.LastStart = clock(rt.LastRun.Started)
			hr.LastStartISO = rt.LastRun.Started.UTC().Format(time.RFC3339Nano)
			hr.LastAgo = formatDuration(r.GeneratedAt.Sub(rt.LastRun.Started).Round(100*time.Millisecond)) + " ago"
			hr.LastDur = formatDuration(rt.LastRun.Duration)
		}
		if l := rt.Leadership; l != nil {
			role := "follower"
			if l.Leader {
				role = fmt.Sprintf("leader, term %d", l.Term)
			}
			hr.Leadership = role + " for " + formatDuration(r.GeneratedAt.Sub(l.Since).Round(time.Second))
		}
		if !rt.LastErrorAt.IsZero() {
			hr.LastErrorAgo = formatDuration(r.GeneratedAt.Sub(rt.LastErrorAt).Round(100*time.Millisecond)) + " ago"
		}
		hr.Newest = slices.Clone(rt.Recent)
		slices.Reverse(hr.Newest)
		page.Routines = append(page.Routines, hr)
	}
	return pageTemplate.Execute(w, page)
}

// clock formats t as the page shows times: UTC, to the millisecond.
func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// traceID returns a run's trace id in hex, or "" when it was not traced.
func traceID(r goroutine.Run) string {
	if r.TraceID.IsValid() {
		return r.TraceID.String()
	}
	return ""
}

// formatDuration rounds d to three significant figures or so: 1.23s,
// 45.6ms, 789µs.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d >= 100*time.Second:
		return d.Round(time.Second).String()
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func stateClass(s goroutine.State) string {
	switch s {
	case goroutine.StateRunning:
		return "running"
	case goroutine.StateIdle:
		return "idle"
	case goroutine.StateBackingOff:
		return "backoff"
	case goroutine.StateStopped:
		return "stopped"
	}
	return "other"
}

func outcomeClass(o goroutine.Outcome) string {
	switch o {
	case goroutine.OutcomeSuccess:
		return "ok"
	case goroutine.OutcomeError:
		return "err"
	case goroutine.OutcomePanic:
		return "panic"
	case goroutine.OutcomeCanceled:
		return "canceled"
	}
	return "other"
}

// chartOf draws runs as bars, oldest on the left, heights proportional to
// duration (the longest run is full height), colored by outcome.
func chartOf(runs []goroutine.Run) chart {
	c := chart{Height: chartHeight}
	if len(runs) == 0 {
		return c
	}
	c.ViewWidth = len(runs)*(barWidth+barGap) - barGap
	c.Width = min(c.ViewWidth, maxChartPx)
	var longest time.Duration
	for _, r := range runs {
		longest = max(longest, r.Duration)
	}
	for i, r := range runs {
		h := chartHeight
		if longest > 0 {
			h = int(r.Duration * chartHeight / longest)
		}
		h = max(h, 2) // keep instant runs visible
		title := fmt.Sprintf("#%d %s %s at %s", r.Invocation, r.Outcome,
			formatDuration(r.Duration), clock(r.Started))
		if id := traceID(r); id != "" {
			title += " trace " + id
		}
		if r.Error != "" {
			title += ": " + r.Error
		}
		c.Bars = append(c.Bars, bar{
			X: i * (barWidth + barGap), Y: chartHeight - h, W: barWidth, H: h,
			Class: outcomeClass(r.Outcome), Title: title,
		})
	}
	return c
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"outcomeClass": outcomeClass,
	"clock":        clock,
	"duration":     formatDuration,
	"traceID":      traceID,
	"plural": func(n uint64, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return fmt.Sprintf("%d %ss", n, word)
	},
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Background routines</title>
<style>
:root { color-scheme: light; --ok: #2b8a3e; --err: #c92a2a; --panic: #862e9c; --muted: #6b7280; --line: #e5e7eb; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #111827; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
.meta { color: var(--muted); margin: 0 0 16px; }
a { color: #1c64f2; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 8px 10px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); background: #f9fafb; }
td.num, th.num { text-align: right; white-space: nowrap; }
.name strong { font-size: 15px; }
.desc { color: var(--muted); max-width: 28em; }
.state { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.state-running { background: #dbeafe; color: #1e40af; }
.state-idle { background: #dcfce7; color: #166534; }
.state-backoff { background: #ffedd5; color: #9a3412; }
.state-stopped { background: #e5e7eb; color: #374151; }
.state-other { background: #f3f4f6; color: #4b5563; }
.small { color: var(--muted); font-size: 12px; white-space: nowrap; }
.last-error code { display: block; max-width: 32em; max-height: 9em; overflow: auto; white-space: pre-wrap; word-break: break-word; color: var(--err); background: #fff5f5; padding: 4px 6px; border-radius: 4px; font-size: 12px; }
.none { color: var(--muted); }
code, .trace { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
svg .ok, .outcome-ok { fill: var(--ok); color: var(--ok); }
svg .err, .outcome-err { fill: var(--err); color: var(--err); }
svg .panic, .outcome-panic { fill: var(--panic); color: var(--panic); }
svg .canceled, .outcome-canceled { fill: var(--muted); color: var(--muted); }
svg .other { fill: var(--muted); }
svg { display: block; }
.legend { color: var(--muted); font-size: 12px; margin-top: 4px; }
details { margin: 6px 0; }
summary { cursor: pointer; font-weight: 600; }
table.runs { width: auto; margin: 6px 0 12px 18px; }
table.runs td, table.runs th { padding: 3px 10px; font-size: 12px; }
</style>
</head>
<body>
<h1>Background routines</h1>
<p class="meta">{{len .Routines}} {{if eq (len .Routines) 1}}routine{{else}}routines{{end}} ·
generated <time datetime="{{.Generated}}">{{.Generated}}</time> ·
<a href="?format=json">JSON</a> ·
{{if .Refresh}}refreshing every {{.Refresh}}s (<a href="?">stop</a>){{else}}<a href="?refresh=5">refresh every 5s</a>{{end}}</p>
<table class="routines">
<thead><tr>
<th>Routine</th><th>State</th><th class="num">Interval</th><th>Last run (UTC)</th><th class="num">Runs</th><th>Last error</th><th>Recent runs</th>
</tr></thead>
<tbody>
{{- range .Routines}}
<tr id="{{.Anchor}}" data-routine="{{.Name}}">
<td class="name"><strong>{{.Name}}</strong>{{with .Description}}<div class="desc">{{.}}</div>{{end}}</td>
<td><span class="state state-{{.StateClass}}">{{.State}}</span>{{with .RunningFor}}<div class="small running-for">for {{.}}</div>{{end}}{{with .Leadership}}<div class="small leadership">{{.}}</div>{{end}}</td>
<td class="num interval">{{.Interval}}</td>
<td class="last-run">{{if .LastRun}}<time datetime="{{.LastStartISO}}">{{.LastStart}}</time> <span class="small">{{.LastAgo}}</span><br>took {{.LastDur}} · <span class="outcome-{{outcomeClass .LastRun.Outcome}}">{{.LastRun.Outcome}}</span>{{else}}<span class="none">no run yet</span>{{end}}</td>
<td class="num runs" data-runs="{{.Runs}}"><strong>{{.Runs}}</strong><br><span class="small"><span class="outcome-ok">{{.Successes}} ok</span> · <span class="outcome-err" title="runs that returned an error, panics not included">{{plural .Errors "error"}}</span> · <span class="outcome-panic" title="runs that panicked; routine_handler_errors_total counts them as errors too">{{plural .Panics "panic"}}</span>{{if .Canceled}} · <span class="outcome-canceled">{{.Canceled}} canceled</span>{{end}}</span></td>
<td class="last-error">{{if .LastError}}<code>{{.LastError}}</code>{{with .LastErrorAgo}} <span class="small">{{.}}</span>{{end}}{{if .ConsecutiveFailures}}<br><span class="small outcome-err streak">failed {{plural .ConsecutiveFailures "run"}} in a row</span>{{end}}{{else}}<span class="none">none</span>{{end}}</td>
<td class="chart">{{if .Chart.Bars}}<svg role="img" aria-label="durations of the last {{len .Chart.Bars}} runs" width="{{.Chart.Width}}" height="{{.Chart.Height}}" viewBox="0 0 {{.Chart.ViewWidth}} {{.Chart.Height}}" preserveAspectRatio="none">
{{- range .Chart.Bars}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end -}}
</svg><div class="legend">last {{len .Chart.Bars}} · height = duration · <a href="#runs-{{.Anchor}}">details</a></div>{{else}}<span class="none">no runs yet</span>{{end}}</td>
</tr>
{{- else}}
<tr><td colspan="7" class="none">No routines registered.</td></tr>
{{- end}}
</tbody>
</table>
{{- if .Routines}}
<h2>Recent runs</h2>
{{- range .Routines}}
<details id="runs-{{.Anchor}}" data-routine="{{.Name}}">
<summary>{{.Name}} <span class="small">{{len .Newest}} recent, newest first</span></summary>
{{- if .Newest}}
<table class="runs">
<thead><tr><th class="num">#</th><th>Started (UTC)</th><th class="num">Duration</th><th>Outcome</th><th>Trace ID</th><th>Error</th></tr></thead>
<tbody>
{{- range .Newest}}
<tr><td class="num">{{.Invocation}}</td><td>{{clock .Started}}</td><td class="num">{{duration .Duration}}</td><td class="outcome-{{outcomeClass .Outcome}}">{{.Outcome}}</td><td class="trace">{{with traceID .}}{{.}}{{else}}<span class="none">not traced</span>{{end}}</td><td>{{with .Error}}<code>{{.}}</code>{{end}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="none">No runs yet.</p>
{{- end}}
</details>
{{- end}}
{{- end}}
</body>
</html>
`
