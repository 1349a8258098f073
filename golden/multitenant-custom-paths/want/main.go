// Command my-app is a web app that signs users in with Microsoft Entra ID and
// calls Microsoft Graph on their behalf.
//
// Settings come from appsettings.json, appsettings.{APP_ENV}.json and the
// environment (see README.md). PORT sets the port (default 5000).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/acme/my-app/internal/config"
	"github.com/acme/my-app/internal/credential"
	"github.com/acme/my-app/internal/graph"
	"github.com/acme/my-app/internal/session"
	"github.com/acme/my-app/internal/signin"
	"github.com/acme/my-app/internal/tokencache"
	"github.com/acme/my-app/internal/tokens"
	"github.com/acme/my-app/internal/transport"
	"github.com/acme/my-app/internal/web"
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
	handler, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "5000"
	}
	srv := &http.Server{
		Addr:              ":" + port,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
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

// newApp wires the app together: settings → credential → token cache →
// token acquisition → sign-in → Graph client → routes.
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (http.Handler, error) {
	httpClient, err := transport.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	cred, err := credential.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	store, err := tokencache.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	acquirer, err := tokens.New(cfg.AzureAd, cred, store, httpClient)
	if err != nil {
		return nil, err
	}
	codec, err := session.NewCodecFromBase64(cfg.Session.EncryptionKey)
	if err != nil {
		return nil, err
	}
	cookies := session.Cookies{
		Codec:        codec,
		Ended:        session.NewEnded(),
		AlwaysSecure: strings.HasPrefix(cfg.AzureAd.RedirectURI, "https://"),
	}

	app := &web.App{
		Name:          "my-app",
		Cookies:       cookies,
		SignIn:        signin.New(cfg.AzureAd, cfg.MicrosoftGraph.Scopes, acquirer, cookies, httpClient, log),
		Graph:         graph.New(cfg.MicrosoftGraph, acquirer, httpClient),
		SignedOutPath: cfg.AzureAd.SignedOutCallbackPath,
		Log:           log,
	}
	return app.Handler(), nil
}
