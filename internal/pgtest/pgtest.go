// Package pgtest runs a throwaway PostgreSQL server for the tests of a
// package: a fresh cluster in a temporary directory, listening on a free
// port of 127.0.0.1, with trust authentication for the user postgres.
//
// A TestMain calls Main, which starts one server for the package, runs
// the tests, removes the server and checks for leaked goroutines; each
// test gets the server through Shared, which skips the test when the
// PostgreSQL binaries are missing, or fails it under CI=true.
package pgtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/routinely/routinely/internal/testenv"
)

// InstallHint says how to get the binaries Start needs.
const InstallHint = "apt-get install postgresql (Debian), or set PG_BIN to the directory holding initdb, pg_ctl and postgres"

// ErrNotInstalled is returned (wrapped) by Start when the PostgreSQL
// binaries are missing.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL binaries not found")

// Server is a PostgreSQL server started by Start.
type Server struct {
	// Port is the TCP port the server listens on, at 127.0.0.1.
	Port int

	bin, dir, data, logFile string
	asUser                  string // run the binaries as this user (when root)
}

// Start initialises a cluster in a new temporary directory and starts a
// server on it. The binaries are taken from PG_BIN, or else from the
// newest /usr/lib/postgresql/*/bin.
func Start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	// Not t.TempDir: its parents are not readable by the postgres user.
	s.dir, err = os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s.data = filepath.Join(s.dir, "data")
	s.logFile = filepath.Join(s.dir, "server.log")
	if os.Geteuid() == 0 {
		// postgres refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("pgtest: running as root, and no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			s.Close()
			return nil, err
		}
		s.asUser = "postgres"
	}
	if out, err := s.command("initdb", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "-D", s.data).CombinedOutput(); err != nil {
		s.Close()
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	if s.Port, err = freePort(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Restart(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// shared is the server Main started, or why it did not start.
var shared struct {
	server *Server
	err    error
}

// Main is a test package's TestMain body: it starts a server, runs the
// tests, removes the server and, when the tests passed, checks for leaked
// goroutines. It returns the exit code for os.Exit.
func Main(m *testing.M) int {
	shared.server, shared.err = Start()
	code := m.Run()
	shared.server.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	return code
}

// Shared returns the server Main started, as Require does.
func Shared(t testing.TB) *Server {
	t.Helper()
	return Require(t, shared.server, shared.err)
}

// Require returns s, or skips the test with a printed reason when Start
// failed because the binaries are missing (fails it under CI=true), or
// fails it when Start failed otherwise.
func Require(t testing.TB, s *Server, startErr error) *Server {
	t.Helper()
	switch {
	case startErr == nil && s != nil:
		return s
	case errors.Is(startErr, ErrNotInstalled) && !testenv.InCI():
		t.Skipf("skipping: %v (%s); under CI=true this fails", startErr, InstallHint)
	case errors.Is(startErr, ErrNotInstalled):
		t.Fatalf("%v under CI=true (%s)", startErr, InstallHint)
	default:
		t.Fatalf("pgtest: could not start PostgreSQL: %v", startErr)
	}
	return nil
}

// ConnString returns a URL that connects to the database postgres as
// user (postgres when empty), with the given extra URL parameters
// ("application_name=x").
func (s *Server) ConnString(user string, params ...string) string {
	if user == "" {
		user = "postgres"
	}
	url := fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", user, s.Port)
	for _, p := range params {
		url += "&" + p
	}
	return url
}

// Stop stops the server at once, as a crash would (pg_ctl -m immediate):
// clients see their connections drop and new ones refused.
func (s *Server) Stop() error { return s.stop("immediate") }

// Restart starts the server again after Stop, on the same port and data.
func (s *Server) Restart() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c fsync=off -c max_connections=200", s.Port, s.dir)
	// Without -l, pg_ctl leaves the server attached to its output and
	// CombinedOutput never returns.
	if out, err := s.command("pg_ctl", "-w", "-l", s.logFile, "-D", s.data, "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(s.logFile)
		return fmt.Errorf("pgtest: pg_ctl start: %v\n%s\nserver log:\n%s", err, out, log)
	}
	return nil
}

// Close stops the server, if it runs, and removes its directory.
func (s *Server) Close() {
	if s == nil {
		return
	}
	if s.data != "" {
		if _, err := os.Stat(filepath.Join(s.data, "postmaster.pid")); err == nil {
			_ = s.Stop()
		}
	}
	_ = os.RemoveAll(s.dir)
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func binDir() (string, error) {
	if dir := os.Getenv("PG_BIN"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
			return "", fmt.Errorf("%w: PG_BIN=%s: %v", ErrNotInstalled, dir, err)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w in /usr/lib/postgresql/*/bin", ErrNotInstalled)
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StopFast stops the server as pg_ctl -m fast does (active transactions
// rolled back, clients disconnected) and returns once it is down.
func (s *Server) StopFast() error { return s.stop("fast") }

// stop runs pg_ctl stop -m mode, which waits until the server is down.
func (s *Server) stop(mode string) error {
	if out, err := s.command("pg_ctl", "-m", mode, "-w", "-D", s.data, "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	return nil
}
