// Package status serves a live status page for background routines: for
// each routine its name, description, state, interval, last run, run
// counts, last error (and how many runs in a row failed) and its most
// recent runs — each with its duration,
// outcome and trace id — drawn as a small inline chart.
//
// The page reads the routines' own in-memory run history
// (goroutine.PeriodicGoroutine.Status, a bounded ring buffer per routine
// sized with goroutine.WithHistorySize); it never scrapes Prometheus, so
// it works in a process that exports no metrics at all. It differs from
// the Prometheus endpoint in what it answers: not "how is this routine
// doing over time" but "what did it just do, and with which trace".
//
// Mount it on any http.ServeMux:
//
//	janitor := goroutine.NewPeriodicGoroutine(ctx, time.Minute, h, goroutine.WithName("janitor"))
//	mux.Handle("/debug/routines", status.NewPage(janitor))
//
// or build a Page and add routines as they are created:
//
//	var page status.Page
//	page.Add(janitor, syncer)
//	mux.Handle("/debug/routines", &page)
//
// # What it serves
//
// GET (and HEAD) requests get an HTML page rendered on the server with
// html/template: every name, description and error text is escaped, the
// page has no JavaScript and loads nothing from elsewhere (its
// Content-Security-Policy forbids it). Query parameters:
//
//   - format=json returns the same data as JSON (see below); format=html,
//     or no format, returns the page. Any other format is a 400.
//   - refresh=N (1 to 3600) asks the browser to reload the page every N
//     seconds, through the Refresh response header.
//
// Every other method gets 405 Method Not Allowed: the handler is
// read-only and changes nothing in the routines it shows.
//
// # JSON
//
// The JSON document is a Report, encoded with the field names in its
// struct tags. Its shape is stable: fields may be added, none are renamed
// or removed. Times are RFC 3339 strings in UTC with sub-second precision;
// durations are numbers of seconds (fields ending in _seconds). Every
// field is always present; running_since is null unless an invocation is
// running, leadership is null unless the routine is a singleton
// (goroutine.WithLeaderElection; then {"leader": true, "term": 7, "since":
// "..."}), last_run is null before the first run, last_error_at is null
// before the first failure, and error and trace_id
// are "" when a run had none. consecutive_failures counts the runs that
// failed (errors and panics) since the last success, as the
// routine_consecutive_failures gauge does; the page shows it next to the
// last error while it is not 0.
//
//	{
//	  "generated_at": "2025-01-02T15:04:05.123456789Z",
//	  "routines": [
//	    {
//	      "name": "syncer",
//	      "description": "Pulls accounts from the upstream API",
//	      "state": "idle",
//	      "interval_seconds": 1,
//	      "runs": 3, "successes": 2, "errors": 1, "panics": 0, "canceled": 0,
//	      "consecutive_failures": 0,
//	      "running_since": null,
//	      "last_error": "upstream returned \u003c503\u003e",
//	      "last_error_at": "2025-01-02T15:04:04.101Z",
//	      "history_size": 32,
//	      "last_run": {"invocation": 3, "started": "...", "duration_seconds": 0.012,
//	                   "outcome": "success", "error": "", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
//	      "recent": [ ...runs, oldest first... ],
//	      "leadership": null
//	    }
//	  ]
//	}
package status
