// Command certapp is a web app that signs users in with Microsoft Entra ID and
// calls MicrosoftGraph on their behalf.
//
// Settings come from appsettings.json, appsettings.{APP_ENV}.json and the
// environment (see README.md). PORT sets the port (default 5000).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/credential"
	"example.com/certapp/internal/credential/certificate"
	"example.com/certapp/internal/downstream"
	"example.com/certapp/internal/graph"
	"example.com/certapp/internal/origin"
	"example.com/certapp/internal/pages/profile"
	"example.com/certapp/internal/session"
	"example.com/certapp/internal/signin"
	"example.com/certapp/internal/tokencache"
	"example.com/certapp/internal/tokencache/memory"
	"example.com/certapp/internal/tokens"
	"example.com/certapp/internal/transport"
	"example.com/certapp/internal/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, log); err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	if err := config.LoadDotEnv(".env"); err != nil {
		return err
	}
	cfg, err := config.Load(".", os.Getenv("APP_ENV"), os.Environ())
	if err != nil {
		return err
	}
	cache, err := openCache(ctx, cfg, log)
	if err != nil {
		return err
	}
	handler, err := newApp(ctx, cfg, cache, log)
	if err != nil {
		return err
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "5000"
	}
	// In Development only this machine may connect: the app then trusts
	// the local stand-in and its secrets.
	addr := ":" + port
	if cfg.Environment == config.Development {
		addr = "127.0.0.1:" + port
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %s is in use (is the app already running?): stop that process or set PORT", port)
		}
		return err
	}
	srv := newServer(handler)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info(fmt.Sprintf("listening on http://localhost:%s", port), "environment", cfg.Environment, "authority", cfg.AzureAd.Authority())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Finish the requests in flight, then stop.
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newServer returns the server for handler. Its timeouts keep slow or idle
// clients from holding connections open: the headers must arrive within
// 10s and the whole request within 30s (the pages read at most a small
// form), and an answer may take 60s, since a page may wait for an API
// whose client gives up after 30s. Outbound calls keep their own timeouts.
func newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// stores are where the app keeps users' tokens, and the sessions that
// were signed out (so that a copy of the cookie is refused).
type stores struct {
	tokens tokencache.Store
	ended  session.Revocations
}

// openCache opens the token cache: in memory, lost when the process stops.
func openCache(ctx context.Context, cfg *config.Config, log *slog.Logger) (stores, error) {
	st, err := memory.Open(ctx, cfg)
	// One process: its own memory of signed-out sessions is all there is.
	return stores{tokens: st, ended: session.NewEnded()}, err
}

// newAcquirer loads the app's client credential and returns the token
// acquisition for its users over the token cache.
func newAcquirer(ctx context.Context, cfg *config.Config, cache tokencache.Store, httpClient *http.Client, log *slog.Logger) (*tokens.Acquirer, error) {
	cred, err := credential.Load(ctx, cfg, certificate.PathSource{Logger: log}, certificate.Base64Source{Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("client credential loaded", "entry", cred.Entry)
	return tokens.New(cfg.AzureAd, cred, cache, httpClient)
}

// newApp wires the app together: settings → credential → token cache →
// token acquisition → sign-in → APIs → pages.
func newApp(ctx context.Context, cfg *config.Config, cache stores, log *slog.Logger) (http.Handler, error) {
	httpClient, err := transport.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	acquirer, err := newAcquirer(ctx, cfg, cache.tokens, httpClient, log)
	if err != nil {
		return nil, err
	}
	codec, err := session.NewCodecFromConfig(cfg.Session, cfg.Environment, log)
	if err != nil {
		return nil, err
	}
	cookies := session.Cookies{
		Codec:        codec,
		Ended:        cache.ended,
		AlwaysSecure: strings.HasPrefix(cfg.AzureAd.RedirectURI, "https://"),
	}
	// Sign-in asks for MicrosoftGraph's scopes, so the user consents once;
	// other APIs ask for theirs when first called (incremental consent).
	first, err := cfg.DownstreamAPI("MicrosoftGraph")
	if err != nil {
		return nil, err
	}
	signIn := signin.New(cfg.AzureAd, first.Scopes, acquirer, cookies, httpClient, log)
	app := web.New("certapp", cookies, signIn, cfg.AzureAd.SignedOutCallbackPath, log)
	if c, ok := cache.tokens.(tokencache.Checker); ok {
		app.Ready = c.Check // GET /readyz: can the token cache be reached?
	}
	graphAPI, err := downstream.New(cfg, graph.Section, acquirer, httpClient)
	if err != nil {
		return nil, err
	}
	profile.Register(app, graph.New(graphAPI))
	// Only users with the app role Admin (App roles in the app registration,
	// assigned in Enterprise applications) see it; others get a 403 page.
	app.Handle("GET /admin", "/admin", "Administration", web.RequireRole("Admin", web.AdminPage))
	// Behind a reverse proxy: the public origin, trusted proxies and allowed hosts.
	return origin.New(cfg, log).Handler(app.Handler()), nil
}
