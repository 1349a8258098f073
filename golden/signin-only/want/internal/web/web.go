// Package web serves the app's pages: the home page, the signed-out page,
// error pages, and the pages other packages add with Handle (the Graph
// profile, a downstream API's answer, ...).
//
// Every page that calls an API goes through Handle, which is the one place
// that turns what can go wrong with a token or an API into what the user
// should see: tokens gone or consent missing (sign in once, for the scopes
// the call needed, and come back), a claims challenge (sign in with those
// claims), an API that refuses or cannot be reached (a clear error page),
// sign-in data that cannot be read for now (503: the token cache or the
// store of sign-outs is down).
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"hello/internal/origin"
	"hello/internal/session"
	"hello/internal/signin"
	"hello/internal/tokencache"
	"hello/internal/tokens"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var layout = template.Must(template.ParseFS(templateFS, "templates/layout.html"))

var (
	homePage      = Template(templateFS, "templates/home.html")
	errorPage     = Template(templateFS, "templates/error.html")
	signedOutPage = Template(templateFS, "templates/signedout.html")
)

// Template returns the page in file of fsys, parsed with the app's layout
// (its "header" and "footer"). Pages of other packages use it with their
// own embedded files.
func Template(fsys fs.FS, file string) *template.Template {
	return template.Must(template.Must(layout.Clone()).ParseFS(fsys, file))
}

// App holds what the pages need.
type App struct {
	// Ready, when set, tells whether the app can serve signed-in users
	// now: GET /readyz answers 200 when it returns nil, 503 otherwise, so
	// that a load balancer or Kubernetes sends no traffic to an instance
	// whose token cache is down. Typically the token cache's Check
	// (tokencache.Checker). Set it before serving.
	Ready func(ctx context.Context) error

	name          string
	cookies       session.Cookies
	signIn        *signin.Handler
	signedOutPath string
	log           *slog.Logger
	mux           *http.ServeMux
	links         []Link
}

// A Link is an entry of the home page and the header for signed-in users.
type Link struct {
	Path  string
	Title string
}

// New returns the app's pages; add pages with Handle, then serve Handler.
func New(name string, cookies session.Cookies, signIn *signin.Handler, signedOutPath string, log *slog.Logger) *App {
	a := &App{name: name, cookies: cookies, signIn: signIn, signedOutPath: signedOutPath, log: log, mux: http.NewServeMux()}
	signIn.OnError = a.renderError
	signIn.Register(a.mux)
	a.mux.HandleFunc("GET /{$}", a.home)
	a.mux.HandleFunc("GET "+signedOutPath, a.signedOut)
	// Liveness: the process answers. It never depends on the token
	// cache, or an outage of the cache would get every instance restarted.
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("GET /static/", http.FileServerFS(staticFS))
	// Browsers ask for it on every first visit; there is none.
	a.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return a
}

// A View is what a page shows: a template made with Template and its data
// (the template sees it as .Data).
type View struct {
	Template *template.Template
	Data     any
}

// A PageFunc makes the page for the signed-in user u. An error it returns
// (from the token cache or an API) is answered by Handle.
type PageFunc func(r *http.Request, u session.User) (View, error)

// Handle serves pattern ("GET /profile") to signed-in users; anyone else
// signs in first and comes back. When link is not empty the page is
// listed on the home page under that title.
func (a *App) Handle(pattern, path, link string, page PageFunc) {
	if link != "" {
		a.links = append(a.links, Link{Path: path, Title: link})
	}
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		u, err := a.cookies.Session(r)
		if err != nil {
			if unavailable(err) {
				// Signed out or not cannot be told now: signing in
				// again would meet the same store.
				a.unavailable(w, r, err)
				return
			}
			a.signIn.Challenge(w, r, r.URL.RequestURI())
			return
		}
		v, err := page(r, u)
		if err != nil {
			if !a.forbidden(w, r, err) {
				a.fail(w, r, err)
			}
			return
		}
		a.signIn.Settled(w, r)
		a.render(w, r, http.StatusOK, v.Template, pageData{User: &u, Data: v.Data})
	})
}

// The errors of API clients that pages act on (package downstream's, and
// any other client's that implements them), as interfaces so that an app
// that calls no API does not carry an API client.
type (
	// claimsChallenge is an API's demand for a token with more claims.
	claimsChallenge interface {
		error
		ClaimsRequest() (scopes []string, claims string)
	}
	// apiError is an API's answer other than 2xx.
	apiError interface {
		error
		APIStatus() (api string, status int, code string)
	}
)

// fail answers a page's error: sign-in again where that is the cure (once:
// see signin.Handler.Reauthenticate), otherwise an error page.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		interaction *tokens.InteractionRequiredError
		claims      claimsChallenge
		refused     apiError
	)
	back := r.URL.RequestURI()
	switch {
	case unavailable(err):
		a.unavailable(w, r, err)
	case errors.As(err, &interaction):
		// The session outlived its tokens, the refresh token expired, or
		// the user has not consented to this API yet (incremental
		// consent): sign in for the scopes the call needed.
		a.log.Info("signing in again for an API's scopes", "scopes", interaction.Scopes, "consent", interaction.ConsentRequired, "err", err)
		a.signIn.Reauthenticate(w, r, back, interaction.Scopes)
	case errors.As(err, &claims):
		scopes, c := claims.ClaimsRequest()
		a.signIn.ChallengeClaims(w, r, back, scopes, c)
	case errors.As(err, &refused):
		api, status, code := refused.APIStatus()
		if status/100 == 4 {
			a.log.Warn("an API refused the request", "api", api, "err", err)
			answer := fmt.Sprintf("%s answered %d", api, status)
			if code != "" { // not every API answers with an error code
				answer += " " + code
			}
			a.renderError(w, r, http.StatusBadGateway, "The API refused the request",
				answer+". You may need to sign in again or ask an administrator for consent.")
			return
		}
		a.log.Error("an API failed", "api", api, "err", err)
		a.renderError(w, r, http.StatusBadGateway, "The API could not be reached", api+" did not answer as expected. Please try again.")
	default:
		a.log.Error("page failed", "path", r.URL.Path, "err", err)
		a.renderError(w, r, http.StatusBadGateway, "The API could not be reached", "A service this page needs did not answer. Please try again.")
	}
}

// retryAfter is what a 503 asks clients to wait: a shared store's outage
// (a failover, a restart) typically lasts seconds.
const retryAfter = 10 * time.Second

// unavailable reports whether err means sign-in data cannot be read for
// now: the token cache is down (tokencache.ErrUnavailable) or the store of
// sign-outs is (session.ErrRevocationsUnavailable).
func unavailable(err error) bool {
	return errors.Is(err, tokencache.ErrUnavailable) || errors.Is(err, session.ErrRevocationsUnavailable)
}

// unavailable answers 503 with Retry-After and a page that says to try
// again: nothing is wrong with the user's session or the page.
func (a *App) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("sign-in data unavailable", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
	a.renderError(w, r, http.StatusServiceUnavailable, "Sign-in data is temporarily unavailable",
		"Sign-in data is temporarily unavailable, try again in a moment.")
}

// readyTimeout bounds the readiness check, so a store that hangs makes the
// instance not ready rather than the probe time out.
const readyTimeout = 3 * time.Second

// readyz answers GET /readyz: 200 "ready" when the app can serve signed-in
// users (App.Ready, when set, returns nil), else 503 with the reason. The
// reason is a category, never the store's error (it may name internal
// hosts); the error goes to the log.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if a.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := a.Ready(ctx); err != nil {
			reason := "the readiness check failed"
			if errors.Is(err, tokencache.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
				reason = "token cache unavailable"
			}
			a.log.Warn("not ready", "reason", reason, "err", err)
			h.Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %s\n", reason)
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Handler returns the app's routes, with sign-in's, behind security
// headers, with styled pages for unknown paths and methods.
func (a *App) Handler() http.Handler {
	return securityHeaders(a.signIn.ProviderOrigin(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := a.mux.Handler(r)
		if pattern != "" {
			h.ServeHTTP(w, r)
			return
		}
		// The mux's own 404 or 405 (with its Allow header): the same
		// status and headers, with a page instead of plain text.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if allow := rec.Header().Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.Code == http.StatusMethodNotAllowed {
			a.renderError(w, r, rec.Code, "Method not allowed", r.Method+" is not allowed here.")
			return
		}
		a.renderError(w, r, http.StatusNotFound, "Page not found", "There is no page at "+r.URL.Path+".")
	}))
}

// pageData is what every template sees.
type pageData struct {
	AppName string
	User    *session.User
	Links   []Link
	Title   string
	Message string
	Status  int
	Data    any
}

func (a *App) render(w http.ResponseWriter, _ *http.Request, status int, t *template.Template, d pageData) {
	d.AppName, d.Links = a.name, a.links
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "page", d); err != nil {
		a.log.Error("render page", "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if d.User != nil {
		// A page with the user's data must not be kept by caches, nor
		// served to a browser with another cookie.
		h.Set("Cache-Control", "no-store")
		h.Add("Vary", "Cookie")
	}
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	d := pageData{}
	if u, ok := a.cookies.User(r); ok {
		d.User = &u
	}
	a.render(w, r, http.StatusOK, homePage, d)
}

func (a *App) signedOut(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, signedOutPage, pageData{})
}

func (a *App) renderError(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	d := pageData{Title: title, Message: msg, Status: status}
	// A signed-in user keeps seeing who they are and how to sign out.
	if u, ok := a.cookies.User(r); ok {
		d.User = &u
	}
	a.render(w, r, status, errorPage, d)
}

// securityHeaders sets headers that keep the pages from being framed,
// sniffed or made to load anything from elsewhere, and HSTS whenever the
// public origin is https (a TLS connection, a trusted proxy's
// X-Forwarded-Proto, or an https AzureAd:RedirectUri: see package origin),
// never on plain-http localhost. Forms may post only here, and be
// redirected on to the identity provider (provider, its origin): browsers
// apply form-action to the redirects of a form's post, and signing out is
// a post that ends at the provider's logout endpoint.
func securityHeaders(provider string, next http.Handler) http.Handler {
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' " + provider + "; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if origin.HTTPS(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
