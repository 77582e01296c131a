package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/routinely/routinely/goroutine"
)

// Source is a routine the page can show. *goroutine.PeriodicGoroutine is
// one. Status must be safe to call concurrently with the routine running.
type Source interface {
	Status() goroutine.Status
}

// Page is the status page of a set of routines, an http.Handler. The zero
// value is an empty page, ready to use; Add and ServeHTTP may be called
// concurrently. Routines are shown in the order they were added.
type Page struct {
	mu      sync.RWMutex
	sources []Source
}

// NewPage returns a Page showing sources, an http.Handler.
func NewPage(sources ...Source) *Page {
	p := &Page{}
	p.Add(sources...)
	return p
}

// Add appends sources to the page; nil sources are ignored. A routine
// added twice is shown twice.
func (p *Page) Add(sources ...Source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range sources {
		if s != nil {
			p.sources = append(p.sources, s)
		}
	}
}

// Report is the page's content at one moment, and the document served
// with ?format=json. See the package documentation for its JSON shape.
type Report struct {
	// GeneratedAt is when the report was taken, in UTC.
	GeneratedAt time.Time `json:"generated_at"`
	// Routines are the page's routines, in the order they were added.
	Routines []goroutine.Status `json:"routines"`
}

// Report returns the current status of the page's routines.
func (p *Page) Report() Report {
	p.mu.RLock()
	sources := append([]Source(nil), p.sources...)
	p.mu.RUnlock()

	r := Report{GeneratedAt: time.Now().UTC(), Routines: make([]goroutine.Status, 0, len(sources))}
	for _, s := range sources {
		r.Routines = append(r.Routines, s.Status())
	}
	return r
}

// maxRefresh bounds ?refresh=N, in seconds.
const maxRefresh = 3600

// ServeHTTP serves the page as HTML, or as JSON with ?format=json, to GET
// and HEAD requests, and 405 Method Not Allowed to any other. See the
// package documentation for the query parameters.
func (p *Page) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the routine status page is read-only", http.StatusMethodNotAllowed)
		return
	}
	q := req.URL.Query()
	refresh := 0
	if v := q.Get("refresh"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRefresh {
			http.Error(w, fmt.Sprintf("invalid refresh %q: want whole seconds from 1 to %d", v, maxRefresh), http.StatusBadRequest)
			return
		}
		refresh = n
	}

	var (
		buf         bytes.Buffer
		contentType string
		err         error
	)
	report := p.Report()
	switch format := q.Get("format"); format {
	case "json":
		contentType = "application/json; charset=utf-8"
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	case "", "html":
		contentType = "text/html; charset=utf-8"
		err = renderHTML(&buf, report, refresh)
	default:
		http.Error(w, fmt.Sprintf("invalid format %q: want html or json", format), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, "rendering the routine status page: "+err.Error(), http.StatusInternalServerError)
		return
	}

	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	if refresh > 0 {
		h.Set("Refresh", strconv.Itoa(refresh))
	}
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
