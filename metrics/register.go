package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with r and returns the collector to use from then on.
//
// Registering the same metric twice is not an error: when r already holds a
// collector with an identical description (name, help, label names), that
// existing collector is returned and c is discarded, so two routines or two
// operations sharing a metric share its series instead of panicking.
//
// A conflicting registration (same name with other label names or help, or
// an existing collector of another Go type) returns an error that names the
// metric. A nil r means prometheus.DefaultRegisterer.
func Register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	if r == nil {
		r = prometheus.DefaultRegisterer
	}
	err := r.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		existing, ok := are.ExistingCollector.(C)
		if !ok {
			var zero C
			return zero, fmt.Errorf("metrics: %s is already registered as a %T, not a %T", describe(c), are.ExistingCollector, c)
		}
		return existing, nil
	}
	var zero C
	return zero, fmt.Errorf("metrics: cannot register %s: %w", describe(c), err)
}

// describe names the metrics of c for error messages.
func describe(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	var names []string
	for d := range ch {
		names = append(names, d.String())
	}
	if len(names) == 1 {
		return names[0]
	}
	return fmt.Sprint(names)
}
