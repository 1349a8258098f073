// Command devidp runs the local Microsoft Entra ID stand-in (package
// internal/devidp) over HTTPS on a loopback address, for development only.
//
// On first run it creates its state directory (default .devidp) with a
// self-signed certificate (cert.pem, key.pem), an RSA token signing key
// (signing-key.pem) and a random client secret (client-secret), which is
// the secret of every client in devidp.json that has no clientSecret.
// Later runs reuse them, regenerating the certificate once it expires.
//
// The protected APIs registered in devidp.json ("apis") are served at
// https://<addr>/apis/<name>/; their URLs are printed at start-up.
//
//	devidp [--addr 127.0.0.1:5443] [--config devidp.json] [--state-dir .devidp] [--init]
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"hello/internal/devidp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "devidp:", err)
		os.Exit(1)
	}
}

// run is main without the process globals, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devidp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:5443", "`host:port` to listen on; loopback addresses only")
	configPath := fs.String("config", "devidp.json", "registration `file`: tenant, clients, test users and APIs")
	stateDir := fs.String("state-dir", ".devidp", "`directory` for the TLS certificate, the signing key and the client secret")
	initOnly := fs.Bool("init", false, "create the state directory and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: devidp [flags]\n\nA local stand-in for Microsoft Entra ID, for development only.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	host, err := checkLoopback(*addr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	st, err := loadState(*stateDir, time.Now(), logger)
	if err != nil {
		return err
	}
	if *initOnly {
		fmt.Fprintf(stdout, "devidp: state ready in %s (certificate %s valid until %s; client secret in %s)\n",
			st.dir, st.certFile, st.cert.Leaf.NotAfter.Format(time.DateOnly), st.secretFile)
		return nil
	}

	cfg, err := devidp.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	for i := range cfg.Clients {
		if cfg.Clients[i].ClientSecret == "" {
			cfg.Clients[i].ClientSecret = st.clientSecret
		}
	}
	cfg.SigningKey = st.signingKey
	cfg.Logger = logger
	srv, err := devidp.New(cfg)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		if addrInUse(err) {
			_, port, _ := net.SplitHostPort(*addr)
			return fmt.Errorf("port %s is in use (another devidp running?); stop it or set --addr to another port", port)
		}
		return fmt.Errorf("--addr %s: %w", *addr, err)
	}
	hs := &http.Server{
		Handler:           srv,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{st.cert}},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "https://" + net.JoinHostPort(host, port)
	fmt.Fprintf(stdout, "devidp: local Microsoft Entra ID stand-in (development only) at %s/ for tenant %s (authority %s/%s); client secret in %s\n",
		base, cfg.TenantID, base, cfg.TenantID, st.secretFile)
	for _, a := range cfg.APIs {
		fmt.Fprintf(stdout, "devidp: API %s at %s/apis/%s/ (app ID URI %s; scopes: %s; app roles: %s)\n",
			a.Name, base, a.Name, a.AppIDURI, listOrNone(a.Scopes), listOrNone(a.AppRoles))
	}

	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// addrInUse reports whether a listen error means the port is taken.
func addrInUse(err error) bool {
	if errors.Is(err, syscall.EADDRINUSE) {
		return true
	}
	msg := err.Error() // Windows: WSAEADDRINUSE
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "Only one usage of each socket address")
}

func listOrNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, " ")
}

// checkLoopback refuses addresses that are not loopback: the stand-in
// signs anyone in and must not be reachable from the network. It returns
// the host to use in URLs.
func checkLoopback(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--addr %q: %w", addr, err)
	}
	if host == "" {
		return "", fmt.Errorf("--addr %q listens on all interfaces; devidp is a development tool and only listens on loopback (e.g. --addr 127.0.0.1:5443)", addr)
	}
	if strings.EqualFold(host, "localhost") {
		return "localhost", nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return host, nil
	}
	return "", fmt.Errorf("--addr %q is not a loopback address; devidp is a development tool and only listens on localhost, 127.0.0.1 or ::1", addr)
}
