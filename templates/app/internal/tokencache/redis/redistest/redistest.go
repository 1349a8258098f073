// Package redistest gives tests a real Redis: the one named by
// IDWEB_TEST_REDIS_URL (scripts/redis starts one), or a redis-server of the
// test's own on a free loopback port. A fake would not show what matters
// here: expiry, pub/sub, and what the client does when the server dies and
// comes back.
package redistest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvURL names the environment variable holding a Redis URL for tests.
// Tests that share that server keep apart by key prefix; they never flush it.
const EnvURL = "IDWEB_TEST_REDIS_URL"

// URL returns a Redis URL for t: IDWEB_TEST_REDIS_URL when set, otherwise
// that of a server Start runs for t alone. It skips t when neither exists.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return Start(t).URL
}

// Config is what StartWith sets up beyond Start's plain server.
type Config struct {
	// TLS serves only TLS (rediss://), as Azure Cache for Redis does on
	// 6380, with a certificate for "localhost" from a CA made for the
	// test (Server.CAs).
	TLS bool
	// Password is required of clients (requirepass) when not empty.
	Password string
}

// Server is a redis-server process owned by one test: in memory only, on
// 127.0.0.1, killed when the test ends. Tests stop and restart it to see
// an outage.
type Server struct {
	// Port is where the server listens; it stays the same across Restart.
	Port int
	// URL is redis://127.0.0.1:Port/0, or with TLS
	// rediss://localhost:Port/0 (the name in the certificate); with the
	// password when there is one.
	URL string
	// CAs holds the CA that issued a TLS server's certificate.
	CAs *x509.CertPool

	t    testing.TB
	bin  string
	dir  string
	cfg  Config
	args []string // TLS and password arguments

	mu     sync.Mutex
	proc   *os.Process
	exited chan error // receives the process's exit once
}

// Start runs a redis-server from PATH for t on a free loopback port and
// waits until it answers. It skips t when there is no redis-server (install
// it with scripts/redis, or apt-get install redis-server).
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Config{})
}

// StartWith is Start with TLS or a password.
func StartWith(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skipf("no redis-server in PATH and %s is unset: run scripts/redis install (Debian's redis-server) or set %s", EnvURL, EnvURL)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), cfg: cfg}
	if cfg.TLS {
		cert, key, pool, err := makeCerts()
		if err != nil {
			t.Fatalf("redistest: certificates: %v", err)
		}
		certFile, keyFile := filepath.Join(s.dir, "server.pem"), filepath.Join(s.dir, "server.key")
		if err := os.WriteFile(certFile, cert, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
		s.CAs = pool
		s.args = append(s.args, "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-auth-clients", "no")
	}
	if cfg.Password != "" {
		s.args = append(s.args, "--requirepass", cfg.Password)
	}
	t.Cleanup(s.Stop)
	// A free port can be taken between finding and binding it; try again then.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: finding a free port: %v", err)
		}
		s.Port = port
		u := url.URL{Scheme: "redis", Host: fmt.Sprintf("127.0.0.1:%d", port), Path: "/0"}
		if cfg.TLS {
			u.Scheme, u.Host = "rediss", fmt.Sprintf("localhost:%d", port)
		}
		if cfg.Password != "" {
			u.User = url.UserPassword("", cfg.Password)
		}
		s.URL = u.String()
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// Stop kills the server at once, as a crash or a lost node would, and
// waits for it to exit. It does nothing when the server is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.Kill()
	<-s.exited
	s.proc = nil
}

// Restart starts the server again on the same port, empty (it keeps
// nothing on disk), and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The port was ours a moment ago; give the kernel a few tries to free it.
	var err error
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart on port %d: %v", s.Port, err)
}

func (s *Server) start() error {
	out := &syncBuffer{}
	port := []string{"--port", strconv.Itoa(s.Port)}
	if s.cfg.TLS {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.Port)}
	}
	cmd := exec.Command(s.bin, append(append(port,
		"--bind", "127.0.0.1",
		"--protected-mode", "yes",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--loglevel", "warning",
	), s.args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for s.ping() != nil {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on port %d exited (%v): %s", s.Port, err, strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer within 10s: %s", s.Port, strings.TrimSpace(out.String()))
		}
	}
	s.mu.Lock()
	s.proc, s.exited = cmd.Process, exited
	s.mu.Unlock()
	return nil
}

// ping sends PING in Redis's inline protocol and wants +PONG (or, with a
// password, the NOAUTH error: the server is up).
func (s *Server) ping() error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	d := &net.Dialer{Timeout: time.Second}
	var (
		c   net.Conn
		err error
	)
	if s.cfg.TLS {
		c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: s.CAs, ServerName: "localhost"})
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if l := strings.TrimSpace(line); l != "+PONG" && !strings.HasPrefix(l, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// makeCerts returns a certificate and key (PEM) for "localhost", issued by
// a CA made here, and a pool holding that CA.
func makeCerts() (certPEM, keyPEM []byte, pool *x509.CertPool, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pool, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects the server's output, written by exec's copying
// goroutine and read by start.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
