package postgres_test

import (
	"os"
	"testing"

	"github.com/routinely/routinely/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// db is the package's PostgreSQL server.
func db(t testing.TB) *pgtest.Server {
	t.Helper()
	return pgtest.Shared(t)
}
