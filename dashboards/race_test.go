//go:build race

package dashboards_test

// raceEnabled reports whether the test binary runs under the race
// detector; the e2e test then builds the service it starts with -race too.
const raceEnabled = true
