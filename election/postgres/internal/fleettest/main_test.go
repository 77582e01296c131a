//go:build linux

package fleettest

import (
	"os"
	"testing"

	"github.com/routinely/routinely/internal/pgtest"
)

// TestMain runs a replica instead of the tests when the test binary was
// started as one (see startReplica).
func TestMain(m *testing.M) {
	if os.Getenv(replicaEnv) != "" {
		os.Exit(replicaMain())
	}
	os.Exit(pgtest.Main(m))
}

func db(t testing.TB) *pgtest.Server {
	t.Helper()
	return pgtest.Shared(t)
}
