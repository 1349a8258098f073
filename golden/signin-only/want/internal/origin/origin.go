// Package origin settles which public origin (scheme and host) a request
// was made to, for an app that may sit behind a reverse proxy, and refuses
// requests for hosts the app does not serve.
//
//   - X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-For are believed
//     only from the proxies in ForwardedHeaders:KnownProxies and
//     KnownNetworks; then r.Host, r.URL.Scheme and r.RemoteAddr say what
//     the browser asked for, so that sign-in builds its redirect URI from
//     the public origin. From anyone else they are ignored.
//   - Outside Development a request whose Host is not in AllowedHosts is
//     answered 400: a forged Host header cannot make the app build links
//     to another site.
//
// This is what ASP.NET Core's forwarded headers and host filtering
// middleware do, with the same setting names.
package origin

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"hello/internal/config"
)

// Guard applies the settings to every request; see the package comment.
type Guard struct {
	proxies []netip.Prefix
	// hosts are the allowed host names, lower case, without port; nil
	// allows any. A "*.example.com" entry allows any subdomain.
	hosts []string
	// https is set when AzureAd:RedirectUri fixes the public origin as
	// https.
	https bool
}

// New returns the Guard for cfg and logs a warning when, outside
// Development, every Host is accepted.
func New(cfg *config.Config, log *slog.Logger) *Guard {
	g := &Guard{}
	for _, p := range append(append([]string{}, cfg.ForwardedHeaders.KnownProxies...), cfg.ForwardedHeaders.KnownNetworks...) {
		if pfx, err := config.ParsePrefix(p); err == nil { // validated by config
			g.proxies = append(g.proxies, pfx)
		}
	}
	var redirectHost string
	if u, err := url.Parse(cfg.AzureAd.RedirectURI); err == nil && cfg.AzureAd.RedirectURI != "" {
		redirectHost = u.Hostname()
		g.https = u.Scheme == "https"
	}
	allowed := strings.TrimSpace(cfg.AllowedHosts)
	switch {
	case cfg.Environment == config.Development:
		allowed = "*"
	case allowed == "" && redirectHost != "":
		allowed = redirectHost
	case allowed == "":
		allowed = "*"
		log.Warn("AllowedHosts is not set and neither is AzureAd:RedirectUri: requests for any Host are accepted; set AllowedHosts (e.g. app.example.com) or AzureAd:RedirectUri (see README.md, Behind a reverse proxy)")
	}
	g.hosts = []string{}
	for _, h := range strings.Split(allowed, ";") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "*" {
			g.hosts = nil // any
			break
		}
		if h != "" {
			g.hosts = append(g.hosts, h)
		}
	}
	return g
}

// Handler returns next behind the guard.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = g.forwarded(r)
		// Probes (a load balancer's, the platform's) often use the
		// instance's address as Host; health and readiness build no URL.
		if !g.allowed(r.Host) && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			refuse(w)
			return
		}
		if r.URL.Scheme == "" {
			r.URL.Scheme = "http"
			if r.TLS != nil || (g.https && !loopback(r.Host)) {
				r.URL.Scheme = "https"
			}
		}
		next.ServeHTTP(w, r)
	})
}

// HTTPS reports whether r's public origin is https: a TLS connection, a
// trusted proxy's X-Forwarded-Proto, or an https AzureAd:RedirectUri (as
// set on r.URL.Scheme by Guard.Handler).
func HTTPS(r *http.Request) bool {
	return r.TLS != nil || r.URL.Scheme == "https"
}

// forwarded returns r with the trusted forwarded headers applied.
func (g *Guard) forwarded(r *http.Request) *http.Request {
	peer, ok := addr(r.RemoteAddr)
	if !ok || !g.trusted(peer) {
		return r
	}
	proto := last(r.Header.Get("X-Forwarded-Proto"))
	host := last(r.Header.Get("X-Forwarded-Host"))
	client := ""
	// X-Forwarded-For is appended by each proxy: the client is the
	// rightmost address that is not one of our proxies.
	if fwd := r.Header.Values("X-Forwarded-For"); len(fwd) > 0 {
		hops := strings.Split(strings.Join(fwd, ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := addr(strings.TrimSpace(hops[i]))
			if !ok {
				break
			}
			client = a.String()
			if !g.trusted(a) {
				break
			}
		}
	}
	if proto == "" && host == "" && client == "" {
		return r
	}
	r2 := r.Clone(r.Context())
	switch strings.ToLower(proto) {
	case "https":
		r2.URL.Scheme = "https"
		// Code that asks whether the browser's connection is TLS (secure
		// cookies, sign-in's redirect URI) gets the proxy's answer.
		if r2.TLS == nil {
			r2.TLS = &tls.ConnectionState{}
		}
	case "http":
		r2.URL.Scheme = "http"
	}
	if host != "" && validHost(host) {
		r2.Host = host
	}
	if client != "" {
		r2.RemoteAddr = net.JoinHostPort(client, "0")
	}
	return r2
}

func (g *Guard) trusted(a netip.Addr) bool {
	for _, p := range g.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// allowed reports whether host (with or without port) is an allowed host.
func (g *Guard) allowed(host string) bool {
	if g.hosts == nil {
		return true
	}
	name := strings.ToLower(hostname(host))
	if name == "" {
		return false
	}
	for _, h := range g.hosts {
		if h == name || (strings.HasPrefix(h, "*.") && strings.HasSuffix(name, h[1:])) {
			return true
		}
	}
	return false
}

func refuse(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte("<!doctype html>\n<title>Bad request</title>\n<h1>Bad request</h1>\n<p>This site is not served at this address.</p>\n"))
}

// addr parses "ip:port", "[ip]:port" or "ip".
func addr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return a.Unmap(), err == nil
}

// last returns the last of a header's comma-separated values: the one the
// nearest proxy set.
func last(v string) string {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(host, "[]")
}

// validHost refuses forwarded hosts that are not a host[:port].
func validHost(h string) bool {
	u, err := url.Parse("http://" + h)
	return err == nil && u.Host == h && u.Path == "" && u.User == nil
}

func loopback(host string) bool { return config.IsLoopback(hostname(host)) }
