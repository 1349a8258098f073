// Package pgtest runs throwaway PostgreSQL servers for tests, the way the
// repository's scripts/postgres does: a cluster made by initdb in a
// temporary directory, trust authentication, listening on 127.0.0.1 only,
// on a free port, with its socket in that directory. Tests that need a
// server take IDWEB_TEST_POSTGRES_URL when it is set (CI may provide one)
// and otherwise start their own; they skip only when no PostgreSQL
// binaries are installed (apt-get install postgresql).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding a server's URL for tests
// (a superuser, or a role that may create databases).
const EnvURL = "IDWEB_TEST_POSTGRES_URL"

// ErrNoBinaries is returned by Start when initdb and pg_ctl are not
// installed.
var ErrNoBinaries = errors.New("pgtest: no PostgreSQL binaries (initdb, pg_ctl) in PATH or /usr/lib/postgresql/*/bin; install them (apt-get install postgresql) or set " + EnvURL)

// Server is a PostgreSQL cluster of the test's own, which it may stop and
// start again (on the same port) to test outages.
type Server struct {
	Port int
	dir  string // holds data/, the socket, the log and pgtest.conf
	bin  string
}

// Binaries returns the directory holding initdb and pg_ctl: where PATH's
// pg_ctl really is (a directory in PATH may hold links to a few of the
// binaries), or Debian's newest /usr/lib/postgresql/<version>/bin.
func Binaries() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if p, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
				return filepath.Dir(p), nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start makes a new cluster and starts it. Close removes it.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Binaries()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: when the tests run as root the server runs as
	// another user, which must reach the directory.
	dir, err := os.MkdirTemp("", "idweb-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin}
	if err := s.init(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if s.Port, err = freePort(); err == nil {
			if err = s.configure(); err == nil {
				if err = s.Start(ctx); err == nil {
					return s, nil
				}
			}
		}
		// Another process may have taken the port between our look and
		// the server's bind; try another.
		if attempt == 4 || !strings.Contains(s.log(), "could not bind") {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func (s *Server) init(ctx context.Context) error {
	if err := owned(s.dir); err != nil {
		return err
	}
	out, err := s.command(ctx, "initdb", "-D", s.data(), "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	conf, err := os.OpenFile(filepath.Join(s.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(conf, "include 'pgtest.conf'")
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	return err
}

// configure writes the settings a test server runs with: loopback only,
// its socket beside its data, and no fsync (it is thrown away). Commits
// stay synchronous: Stop kills the server, and what a test wrote before
// must survive that as it would in production.
func (s *Server) configure() error {
	conf := fmt.Sprintf(`listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
full_page_writes = off
max_connections = 200
`, s.Port, s.dir)
	p := filepath.Join(s.data(), "pgtest.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		return err
	}
	return owned(p)
}

// EnableTLS restarts the server with TLS on, serving the PEM certificate
// (chain) and key; clients may still connect without TLS.
func (s *Server) EnableTLS(ctx context.Context, certPEM, keyPEM []byte) error {
	for name, b := range map[string][]byte{"server.crt": certPEM, "server.key": keyPEM} {
		p := filepath.Join(s.data(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
		if err := owned(p); err != nil {
			return err
		}
	}
	conf, err := os.OpenFile(filepath.Join(s.data(), "pgtest.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(conf, "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'")
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := s.Stop(ctx); err != nil {
		return err
	}
	return s.Start(ctx)
}

// Start starts the server (again), on its port, and waits until it accepts
// connections.
func (s *Server) Start(ctx context.Context) error {
	out, err := s.command(ctx, "pg_ctl", "start", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, s.log())
	}
	return nil
}

// Stop stops the server at once (pg_ctl stop -m immediate), as a crash or
// a lost network would: clients' connections break mid-use.
func (s *Server) Stop(ctx context.Context) error {
	out, err := s.command(ctx, "pg_ctl", "stop", "-D", s.data(), "-m", "immediate", "-w").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.Stop(ctx)
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

// URL returns the URL of database db as the superuser postgres.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	return string(b)
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	asServerUser(cmd)
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// NewDatabase creates an empty database on the server at adminURL and
// returns its URL; the database is dropped when the test ends.
func NewDatabase(t testing.TB, adminURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 6)
	rand.Read(b)
	name := "idweb_test_" + hex.EncodeToString(b)
	if err := admin(ctx, adminURL, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating a database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, adminURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL", EnvURL)
	}
	u.Path = "/" + name
	return u.String()
}

func admin(ctx context.Context, adminURL, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Shared is a server for a whole test package: IDWEB_TEST_POSTGRES_URL's, or
// one started on first use and closed by Close (from TestMain).
type Shared struct {
	once   sync.Once
	url    string
	server *Server
	err    error
}

// URL returns the shared server's admin URL, starting a server the first
// time if IDWEB_TEST_POSTGRES_URL is not set. It skips the test when no
// PostgreSQL is installed, and fails it when one does not start.
func (sh *Shared) URL(t testing.TB) string {
	t.Helper()
	sh.once.Do(func() {
		if sh.url = os.Getenv(EnvURL); sh.url != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if sh.server, sh.err = Start(ctx); sh.err == nil {
			sh.url = sh.server.URL("postgres")
		}
	})
	switch {
	case errors.Is(sh.err, ErrNoBinaries):
		t.Skip(sh.err)
	case sh.err != nil:
		t.Fatal(sh.err)
	}
	return sh.url
}

// Close stops the server URL started, if it did.
func (sh *Shared) Close() {
	if sh.server != nil {
		sh.server.Close()
	}
}

// Own starts a server only this test uses (to stop and start it), closed
// when the test ends. It skips when no PostgreSQL binaries are installed,
// even with IDWEB_TEST_POSTGRES_URL set: that server is not the test's to stop.
func Own(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx)
	switch {
	case errors.Is(err, ErrNoBinaries):
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Log(err)
		}
	})
	return s
}
