//go:build linux

package fleettest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/routinely/routinely/election/postgres/internal/pgtest"
)

// server is the PostgreSQL server of this package's tests; serverErr is
// why it did not start.
var (
	server    *pgtest.Server
	serverErr error
)

// TestMain runs a replica instead of the tests when the test binary was
// started as one (see startReplica).
func TestMain(m *testing.M) {
	if os.Getenv(replicaEnv) != "" {
		os.Exit(replicaMain())
	}
	server, serverErr = pgtest.Start()
	code := m.Run()
	server.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func db(t testing.TB) *pgtest.Server {
	t.Helper()
	return pgtest.Require(t, server, serverErr)
}
