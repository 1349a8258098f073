// Command devidp runs the local Microsoft Entra ID stand-in (package
// internal/devidp) over HTTPS on a loopback address, for development only.
//
// On first run it creates its state directory (default .devidp) with a
// local certificate authority (ca.pem, ca-key.pem), a TLS certificate it
// issues from that CA (cert.pem, key.pem), an RSA token signing key
// (signing-key.pem), a random client secret (client-secret), which is
// the secret of every client in devidp.json that has no clientSecret, and
// a client certificate with its key (client-cert.pem), which every client
// without certificatesPem accepts.
// Later runs reuse them, issuing a new certificate before the old one
// expires. Browsers accept the certificate once the CA is trusted; the
// command to trust it is printed at start-up, with the fingerprints.
//
// The protected APIs registered in devidp.json ("apis") are served at
// https://<addr>/apis/<name>/; their URLs are printed at start-up.
//
// Credential-less client credentials work too. When a client in devidp.json
// trusts a Kubernetes service account (federatedCredentials with issuer
// "/kubernetes"), devidp writes that account's token to
// <state-dir>/azure-identity-token, rewrites it every 10 minutes as the
// kubelet rotates it, and sets AZURE_FEDERATED_TOKEN_FILE for the command.
// When a client trusts a managed identity (issuer "/<tenantId>/v2.0"), it
// sets IDENTITY_ENDPOINT (https://<addr>/msi/token) and IDENTITY_HEADER,
// as App Service does. Variables already set are left alone.
//
// Given a command (after --), devidp runs it once it listens, with
// APP_ENV=Development, and stops with it: make dev is
//
//	bin/devidp -- bin/app
//
// Ctrl-C stops both (exit status 0); when the command fails, devidp stops
// and exits with its status; when devidp cannot start (its port is taken),
// the command is not started.
//
//	devidp [--addr 127.0.0.1:5443] [--config devidp.json] [--state-dir .devidp] [--init] [-- command [args...]]
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
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"example.com/certapp/internal/devidp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	foreground = takeTerminal
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var exit exitStatus
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.As(err, &exit):
		// The command said why it failed.
		os.Exit(int(exit))
	default:
		fmt.Fprintln(os.Stderr, "devidp:", err)
		os.Exit(1)
	}
}

// exitStatus is the failing status of the command devidp ran.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("the command exited with status %d", int(e)) }

// run is main without the process globals, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devidp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:5443", "`host:port` to listen on; loopback addresses only")
	configPath := fs.String("config", "devidp.json", "registration `file`: tenant, clients, test users and APIs")
	stateDir := fs.String("state-dir", ".devidp", "`directory` for the local CA, the TLS certificate, the signing key and the client secret")
	initOnly := fs.Bool("init", false, "create the state directory and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: devidp [flags] [-- command [args...]]\n\n"+
			"A local stand-in for Microsoft Entra ID, for development only.\n"+
			"With a command (the app), devidp starts it with APP_ENV=Development once it\n"+
			"listens, and stops when it stops; Ctrl-C stops both.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	command := fs.Args()
	if *initOnly && len(command) > 0 {
		return fmt.Errorf("--init takes no command (got %s)", strings.Join(command, " "))
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
		fmt.Fprintf(stdout, "devidp: state ready in %s (client secret in %s)\n", st.dir, st.secretFile)
		printTrust(stdout, st)
		return nil
	}

	cfg, err := devidp.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	st.fillClients(&cfg)
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
	printTrust(stdout, st)
	// Federated credentials in devidp.json: a service-account token file
	// and the managed identity endpoint, named to the app (the command
	// inherits devidp's environment).
	appEnv, err := credentialless(ctx, srv, cfg, base, st.dir, stdout, logger)
	if err != nil {
		return err
	}
	for _, kv := range appEnv {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}

	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	shutdown := func() error {
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

	if len(command) > 0 {
		app, err := startCommand(command, stdout, stderr)
		if err != nil {
			shutdown()
			return err
		}
		defer app.restore()
		select {
		case <-app.done:
			// The app stopped on its own (a taken port, say): it said why.
			if err := shutdown(); err != nil {
				return err
			}
			return app.status()
		case <-ctx.Done():
			// Ctrl-C: the app got it too (same process group); a signal
			// sent to devidp alone is passed on.
			app.stop(15 * time.Second)
			return shutdown()
		case err := <-errc:
			app.stop(15 * time.Second)
			return err
		}
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return shutdown()
}

// printTrust prints the certificate's and the CA's fingerprints and the
// command that makes this system's browsers trust the CA.
func printTrust(w io.Writer, st *state) {
	fmt.Fprintf(w, "devidp: TLS certificate %s (SHA-256 %s), issued by this project's local CA %s (%q, SHA-256 %s)\n",
		st.certFile, fingerprint(st.cert.Leaf), st.caFile, st.ca.Subject.CommonName, fingerprint(st.ca))
	fmt.Fprintf(w, "devidp: browsers say \"Your connection is not private\" until you trust that CA once (README.md, \"Try it without a tenant\"); here: %s\n",
		trustCommand(runtime.GOOS, st.caFile, st.ca.Subject.CommonName))
}

// trustCommand is the command that adds the CA in caFile to the trust
// store the browsers of goos use, for the current user.
func trustCommand(goos, caFile, name string) string {
	switch goos {
	case "darwin":
		return "security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db " + shellQuote(caFile)
	case "windows":
		return `certutil -user -addstore Root "` + caFile + `"`
	default:
		// Chrome, Chromium and Edge on Linux read the NSS database in
		// ~/.pki/nssdb (certutil: Debian's and Ubuntu's libnss3-tools,
		// Fedora's nss-tools).
		nick := strings.ReplaceAll(name, " ", "-")
		return "mkdir -p ~/.pki/nssdb && certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n " + shellQuote(nick) + " -i " + shellQuote(filepath.ToSlash(caFile))
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,=+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
