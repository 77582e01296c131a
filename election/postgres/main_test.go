package postgres_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/routinely/routinely/election/postgres/internal/pgtest"
)

// server is the PostgreSQL server of this package's tests; serverErr is
// why it did not start. Tests get it through db(t).
var (
	server    *pgtest.Server
	serverErr error
)

func TestMain(m *testing.M) {
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
