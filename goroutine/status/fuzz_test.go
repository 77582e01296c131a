package status_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/routinely/routinely/goroutine"
	"github.com/routinely/routinely/goroutine/status"
)

// FuzzPageEscapesFreeText: whatever a routine's description or a run's
// error says, the HTML page shows it escaped and the JSON stays valid.
func FuzzPageEscapesFreeText(f *testing.F) {
	for _, seed := range []string{evil, `"><img src=x onerror=alert(1)>`, "</code></td></tr></table><script>", "\xff\xfe", "a\u2028b", "{{.Name}}", "&amp;lt;"} {
		f.Add(seed, seed)
	}
	f.Fuzz(func(t *testing.T, description, errText string) {
		src := &fakeSource{status: goroutine.Status{
			Name: "fuzzed", Description: description, State: goroutine.StateIdle,
			Interval: time.Second, Errors: 1, LastError: errText, LastErrorAt: t0,
			Recent: []goroutine.Run{{Invocation: 1, Started: t0, Duration: time.Millisecond, Outcome: goroutine.OutcomeError, Error: errText}},
		}}
		page := status.NewPage(src)

		resp := get(t, page, "/")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, text := range []string{description, errText} {
			if strings.ContainsAny(text, "<>") && strings.Contains(string(body), text) {
				t.Errorf("page contains %q unescaped", text)
			}
		}

		resp = get(t, page, "/?format=json")
		var rep status.Report
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Errorf("JSON does not decode: %v", err)
		}
		resp.Body.Close()
	})
}
