// Package web serves the app's pages.
package web

import (
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	"example.com/demo/internal/graph"
	"example.com/demo/internal/session"
	"example.com/demo/internal/signin"
	"example.com/demo/internal/tokens"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// App holds what the pages need.
type App struct {
	Name          string
	Cookies       session.Cookies
	SignIn        *signin.Handler
	Graph         *graph.Client
	SignedOutPath string
	Log           *slog.Logger
}

// Handler returns the app's routes, with sign-in's, behind security headers.
func (a *App) Handler() http.Handler {
	a.SignIn.OnError = a.renderError
	mux := http.NewServeMux()
	a.SignIn.Register(mux)
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /profile", a.profile)
	mux.HandleFunc("GET "+a.SignedOutPath, a.signedOut)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /static/", http.FileServerFS(staticFS))
	// Browsers ask for it on every first visit; there is none.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return securityHeaders(mux)
}

type pageData struct {
	AppName  string
	User     *session.User
	Profile  *graph.User
	Message  string
	Status   int
	Template string
}

func (a *App) render(w http.ResponseWriter, status int, d pageData) {
	d.AppName = a.Name
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, d.Template, d); err != nil {
		a.Log.Error("render page", "template", d.Template, "err", err)
	}
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	d := pageData{Template: "home.html"}
	if u, ok := a.Cookies.User(r); ok {
		d.User = &u
	}
	a.render(w, http.StatusOK, d)
}

// profile shows the user's Graph profile, fetched with a token from the
// cache. A session whose tokens are gone (restart, eviction, revoked
// consent) is sent through sign-in once and comes back here.
func (a *App) profile(w http.ResponseWriter, r *http.Request) {
	u, ok := a.Cookies.User(r)
	if !ok {
		a.SignIn.Challenge(w, r, r.URL.RequestURI())
		return
	}
	me, err := a.Graph.Me(r.Context(), u.HomeAccountID)
	var claims *graph.ClaimsChallenge
	var apiErr *graph.Error
	switch {
	case errors.Is(err, tokens.ErrInteractionRequired):
		a.SignIn.Reauthenticate(w, r, r.URL.RequestURI())
		return
	case errors.As(err, &claims):
		a.SignIn.ChallengeClaims(w, r, r.URL.RequestURI(), claims.Claims)
		return
	case errors.As(err, &apiErr) && apiErr.Status/100 == 4:
		a.Log.Warn("profile: Graph refused the request", "err", err)
		a.renderError(w, r, http.StatusBadGateway, "Microsoft Graph refused the request: "+apiErr.Code+". You may need to sign in again or ask an administrator for consent.")
		return
	case err != nil:
		a.Log.Error("profile: call Graph", "err", err)
		a.renderError(w, r, http.StatusBadGateway, "Microsoft Graph could not be reached. Please try again.")
		return
	}
	a.SignIn.Settled(w, r)
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, http.StatusOK, pageData{Template: "profile.html", User: &u, Profile: me})
}

func (a *App) signedOut(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, pageData{Template: "signedout.html"})
}

func (a *App) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, status, pageData{Template: "error.html", Message: msg, Status: status})
}

// securityHeaders sets headers that keep the pages from being framed,
// sniffed or made to load anything from elsewhere.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
