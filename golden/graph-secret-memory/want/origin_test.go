package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"example.com/demo/internal/config"
)

// A client that trickles its request body is cut off by the read timeout
// (the server's own timeouts, scaled down a hundredfold).
func TestSlowRequestBodyIsCutOff(t *testing.T) {
	read := make(chan error, 1)
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		read <- err
	}))
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.IdleTimeout == 0 {
		t.Fatalf("server timeouts: header %v, read %v, idle %v; want all set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout)
	}
	// A page may wait for an API whose client gives up after 30s.
	if srv.WriteTimeout <= 30*time.Second {
		t.Fatalf("WriteTimeout = %v, want more than the API client's 30s", srv.WriteTimeout)
	}
	srv.ReadHeaderTimeout /= 100
	srv.ReadTimeout /= 100
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const size = 50
	start := time.Now()
	fmt.Fprintf(conn, "POST /signin-oidc HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", size)
	// One byte every 100ms: the body would take 5s.
	go func() {
		for range size {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-read:
		if err == nil {
			t.Fatalf("the whole trickled body was read after %v, want the read cut off at %v", time.Since(start), srv.ReadTimeout)
		}
		if d := time.Since(start); d > srv.ReadTimeout+2*time.Second {
			t.Errorf("cut off after %v, want about %v", d, srv.ReadTimeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler is still reading after 10s")
	}
}

// handlerWith wires the app with the test's settings, changed by change.
func (e *env) handlerWith(change func(*config.Config), environ ...string) http.Handler {
	e.t.Helper()
	cfg := e.appSettings(environ...)
	change(cfg)
	h, err := newApp(context.Background(), cfg, e.cache, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// signInFrom asks h for /signin as peer, with Host host and headers hdr,
// and returns the answer and the redirect_uri it sends to the identity
// provider ("" when it does not redirect there).
func signInFrom(t *testing.T, h http.Handler, peer, host string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	r := httptest.NewRequest("GET", "/signin", nil)
	r.RemoteAddr, r.Host = peer, host
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	resp := w.Result()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return resp, loc.Query().Get("redirect_uri")
}

var proxyHeaders = map[string]string{
	"X-Forwarded-Proto": "https",
	"X-Forwarded-Host":  "app.example.com",
	"X-Forwarded-For":   "198.51.100.7",
}

// Outside Development a request for another host is refused: no
// redirect_uri is ever built from a forged Host header.
func TestUnknownHostRefused(t *testing.T) {
	e := newEnv(t, testUsers)
	h := e.handlerWith(func(c *config.Config) { c.Environment = config.Production }, "AllowedHosts=app.example.com")
	resp, redirect := signInFrom(t, h, "203.0.113.9:4000", "evil.example", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || redirect != "" || strings.Contains(string(body), "evil.example") {
		t.Fatalf("Host evil.example: %s, redirect_uri %q, page %q; want 400 and no redirect", resp.Status, redirect, body)
	}
	if resp, redirect := signInFrom(t, h, "203.0.113.9:4000", "app.example.com", nil); resp.StatusCode != http.StatusFound || redirect != "http://app.example.com"+e.callback {
		t.Errorf("allowed host: %s, redirect_uri %q", resp.Status, redirect)
	}
}

// X-Forwarded-* from a peer that is not a known proxy are ignored.
func TestForwardedHeadersFromUntrustedPeerIgnored(t *testing.T) {
	e := newEnv(t, testUsers)
	h := e.handlerWith(func(*config.Config) {}, "ForwardedHeaders__KnownProxies__0=10.0.0.0/8")
	resp, redirect := signInFrom(t, h, "127.0.0.1:4000", "localhost:5000", proxyHeaders)
	if redirect != "http://localhost:5000"+e.callback {
		t.Errorf("redirect_uri = %q, want the request's own origin", redirect)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
		t.Errorf("Strict-Transport-Security %q on plain-http localhost", hsts)
	}
}

// From a known proxy they give the public origin: the redirect URI uses it
// and, as it is https, the answer carries HSTS.
func TestForwardedHeadersFromTrustedProxyHonoured(t *testing.T) {
	e := newEnv(t, testUsers)
	h := e.handlerWith(func(*config.Config) {}, "ForwardedHeaders__KnownProxies__0=127.0.0.1")
	resp, redirect := signInFrom(t, h, "127.0.0.1:4000", "localhost:5000", proxyHeaders)
	if redirect != "https://app.example.com"+e.callback {
		t.Errorf("redirect_uri = %q, want the proxy's public origin", redirect)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q behind an https proxy", hsts)
	}
}

// An https AzureAd:RedirectUri fixes the public origin as https: HSTS.
func TestHSTSForHTTPSRedirectURI(t *testing.T) {
	e := newEnv(t, testUsers)
	h := e.handlerWith(func(c *config.Config) {
		c.Environment = config.Production
		c.AzureAd.RedirectURI = "https://app.example.com" + e.callback
	})
	resp, redirect := signInFrom(t, h, "10.0.0.4:4000", "app.example.com", nil)
	if redirect != "https://app.example.com"+e.callback {
		t.Errorf("redirect_uri = %q", redirect)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q for an https RedirectUri", hsts)
	}
	if resp, _ := signInFrom(t, h, "10.0.0.4:4000", "evil.example", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("Host evil.example with RedirectUri set and no AllowedHosts: %s, want 400", resp.Status)
	}
}
