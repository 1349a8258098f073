// Package transport builds the one HTTP client the app uses to talk to the
// identity provider and to downstream APIs.
//
// Two things matter on the hot path of a signed-in request: connections are
// reused (Go's default keeps only 2 idle connections per host, so most API
// calls would open a new TLS connection), and the identity provider's
// metadata documents are fetched once, not by every MSAL client the app
// creates.
package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"example.com/certapp/internal/config"
)

// NewClient returns an HTTP client that trusts the system's roots (so
// SSL_CERT_FILE works), plus Development:TrustCertificateFile in Development.
func NewClient(cfg *config.Config) (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if f := cfg.Development.TrustCertificateFile; f != "" {
		if !filepath.IsAbs(f) {
			f = filepath.Join(cfg.Dir, f)
		}
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("Development:TrustCertificateFile: %w (start the identity provider stand-in once to create it)", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("Development:TrustCertificateFile: %s holds no PEM certificate", f)
		}
	}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
	}
	return &http.Client{
		Transport: NewMetadataCache(base, time.Hour),
		Timeout:   30 * time.Second,
	}, nil
}
