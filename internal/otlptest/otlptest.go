// Package otlptest helps tests that play an OTLP/HTTP collector.
package otlptest

import (
	"compress/gzip"
	"io"
	"net/http"
)

// Body reads an OTLP/HTTP export request's body, gunzipped when the
// exporter compressed it (Content-Encoding: gzip).
func Body(r *http.Request) ([]byte, error) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		body = zr
	}
	return io.ReadAll(body)
}
