package transport

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"example.com/certapp/internal/config"
)

func TestMetadataCache(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, r.URL.Path)
	}))
	defer srv.Close()
	mc := NewMetadataCache(http.DefaultTransport, time.Minute)
	now := time.Now()
	mc.now = func() time.Time { return now }
	c := &http.Client{Transport: mc}
	get := func(path string) string {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	wk := "/tenant/v2.0/.well-known/openid-configuration"
	for range 3 {
		if got := get(wk); got != wk {
			t.Fatalf("body = %q", got)
		}
	}
	if hits.Load() != 1 {
		t.Errorf("openid configuration fetched %d times, want 1", hits.Load())
	}
	get("/tenant/oauth2/v2.0/token")
	get("/tenant/oauth2/v2.0/token")
	if hits.Load() != 3 {
		t.Errorf("other requests must not be cached: %d hits, want 3", hits.Load())
	}
	now = now.Add(2 * time.Minute)
	get(wk)
	if hits.Load() != 4 {
		t.Errorf("expired entry not refetched: %d hits", hits.Load())
	}
}

func TestNewClientTrustFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	cfg := &config.Config{Dir: t.TempDir()}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(srv.URL); err == nil {
		t.Fatal("an unknown self-signed certificate was trusted")
	}

	cfg.Development.TrustCertificateFile = "missing.pem"
	if _, err := NewClient(cfg); err == nil || !strings.Contains(err.Error(), "Development:TrustCertificateFile") {
		t.Fatalf("missing trust file: %v", err)
	}
	pemFile := filepath.Join(cfg.Dir, "idp.pem")
	os.WriteFile(pemFile, pemEncode(srv.Certificate().Raw), 0o600)
	cfg.Development.TrustCertificateFile = "idp.pem"
	c, err = NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("the trusted certificate was refused: %v", err)
	}
	resp.Body.Close()
}

func pemEncode(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
