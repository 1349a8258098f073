package origin

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"example.com/certapp/internal/config"
)

// seen records what the app behind the guard sees.
type seen struct {
	called           bool
	host, scheme, ip string
	https            bool
}

func serve(t *testing.T, cfg *config.Config, remote, host string, hdr map[string]string) (*httptest.ResponseRecorder, *seen, string) {
	t.Helper()
	var logs bytes.Buffer
	g := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	s := &seen{}
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*s = seen{called: true, host: r.Host, scheme: r.URL.Scheme, ip: r.RemoteAddr, https: HTTPS(r)}
	}))
	r := httptest.NewRequest("GET", "/signin", nil)
	r.RemoteAddr, r.Host = remote, host
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, s, logs.String()
}

func prod(redirect, allowed string, proxies ...string) *config.Config {
	c := &config.Config{Environment: config.Production, AllowedHosts: allowed}
	c.AzureAd.RedirectURI = redirect
	c.ForwardedHeaders.KnownProxies = proxies
	return c
}

func TestUnknownHostRefusedOutsideDevelopment(t *testing.T) {
	for _, cfg := range []*config.Config{
		prod("https://app.example.com/signin-oidc", ""),
		prod("", "app.example.com;*.contoso.example"),
	} {
		w, s, _ := serve(t, cfg, "203.0.113.9:4000", "evil.example", nil)
		if w.Code != http.StatusBadRequest || s.called {
			t.Errorf("Host evil.example (%+v): status %d, app called %v; want 400 and not called", cfg, w.Code, s.called)
		}
		body, _ := io.ReadAll(w.Body)
		if !strings.Contains(string(body), "Bad request") || strings.Contains(string(body), "evil.example") {
			t.Errorf("refusal page = %q", body)
		}
		if w, s, _ := serve(t, cfg, "203.0.113.9:4000", "app.example.com:443", nil); w.Code != 200 || !s.called {
			t.Errorf("allowed host: status %d", w.Code)
		}
	}
	cfg := prod("", "*.contoso.example")
	if w, _, _ := serve(t, cfg, "203.0.113.9:4000", "www.contoso.example", nil); w.Code != 200 {
		t.Errorf("wildcard subdomain: status %d", w.Code)
	}
	if w, _, _ := serve(t, cfg, "203.0.113.9:4000", "contoso.example.evil.example", nil); w.Code != 400 {
		t.Errorf("suffix trick: status %d", w.Code)
	}
}

func TestAnyHostInDevelopment(t *testing.T) {
	cfg := prod("", "app.example.com")
	cfg.Environment = config.Development
	if w, _, _ := serve(t, cfg, "127.0.0.1:4000", "evil.example", nil); w.Code != 200 {
		t.Errorf("Development: status %d, want 200", w.Code)
	}
}

func TestAnyHostWarns(t *testing.T) {
	w, _, logs := serve(t, prod("", ""), "203.0.113.9:4000", "evil.example", nil)
	if w.Code != 200 || !strings.Contains(logs, "AllowedHosts") {
		t.Errorf("no AllowedHosts nor RedirectUri: status %d, log %q; want 200 and a warning", w.Code, logs)
	}
	_, _, logs = serve(t, prod("", "*"), "203.0.113.9:4000", "evil.example", nil)
	if logs != "" {
		t.Errorf("AllowedHosts=*: log %q, want none", logs)
	}
}

func TestProbesAnsweredForAnyHost(t *testing.T) {
	g := New(prod("https://app.example.com/signin-oidc", ""), slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, path := range []string{"/healthz", "/readyz"} {
		r := httptest.NewRequest("GET", path, nil)
		r.Host = "10.1.2.3:8080"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Errorf("%s: status %d", path, w.Code)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "10.1.2.3:8080"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code == 200 {
		t.Error("/ answered for a host that is not allowed")
	}
}

var forwarded = map[string]string{
	"X-Forwarded-Proto": "https",
	"X-Forwarded-Host":  "app.example.com",
	"X-Forwarded-For":   "198.51.100.7, 10.0.0.5",
}

func TestForwardedHeadersFromUntrustedPeerIgnored(t *testing.T) {
	cfg := prod("", "*", "10.0.0.0/16")
	_, s, _ := serve(t, cfg, "203.0.113.9:4000", "internal:8080", forwarded)
	if s.host != "internal:8080" || s.scheme != "http" || s.https || s.ip != "203.0.113.9:4000" {
		t.Errorf("untrusted peer: app saw %+v", s)
	}
}

func TestForwardedHeadersFromTrustedProxyHonoured(t *testing.T) {
	for _, proxies := range [][]string{{"10.0.0.0/16"}, {"10.0.0.5", "10.0.0.9"}} {
		cfg := prod("", "app.example.com", proxies...)
		w, s, _ := serve(t, cfg, "10.0.0.9:4000", "internal:8080", forwarded)
		if w.Code != 200 || s.host != "app.example.com" || s.scheme != "https" || !s.https || s.ip != "198.51.100.7:0" {
			t.Errorf("trusted proxy %v: status %d, app saw %+v", proxies, w.Code, s)
		}
	}
}

func TestHTTPSFromRedirectURI(t *testing.T) {
	_, s, _ := serve(t, prod("https://app.example.com/signin-oidc", ""), "203.0.113.9:4000", "app.example.com", nil)
	if !s.https {
		t.Errorf("https RedirectUri: app saw %+v, want https", s)
	}
	cfg := prod("https://app.example.com/signin-oidc", "")
	cfg.Environment = config.Development
	_, s, _ = serve(t, cfg, "127.0.0.1:4000", "localhost:5000", nil)
	if s.https {
		t.Errorf("plain-http localhost: app saw %+v, want http", s)
	}
	_, s, _ = serve(t, prod("", "*"), "203.0.113.9:4000", "app.example.com", nil)
	if s.https {
		t.Errorf("no RedirectUri, plain http: app saw %+v, want http", s)
	}
}
