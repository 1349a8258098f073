package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"example.com/demo/internal/devidp"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestInitCreatesAndReusesState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".devidp")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--init", "--state-dir", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), filepath.Join(dir, "client-secret")) {
		t.Errorf("output %q does not name the secret file", out.String())
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, %v", fi.Mode(), err)
	}
	contents := map[string][]byte{}
	for _, name := range []string{"cert.pem", "key.pem", "signing-key.pem", "client-secret"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
		contents[name], _ = os.ReadFile(p)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).Match(contents["client-secret"]) {
		t.Errorf("client secret %q is not 32 base64url bytes", contents["client-secret"])
	}

	st, err := loadState(dir, time.Now(), discard)
	if err != nil {
		t.Fatal(err)
	}
	c := st.cert.Leaf
	if !c.IsCA || c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature {
		t.Errorf("IsCA %v KeyUsage %v", c.IsCA, c.KeyUsage)
	}
	if d := c.NotAfter.Sub(time.Now()); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("validity %v", d)
	}
	if st.signingKey.N.BitLen() != 2048 {
		t.Errorf("signing key %d bits", st.signingKey.N.BitLen())
	}
	roots := x509.NewCertPool()
	roots.AddCert(c)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("certificate not valid for %s: %v", name, err)
		}
	}

	// A second run reuses everything.
	if err := run(context.Background(), []string{"--init", "--state-dir", dir}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for name, want := range contents {
		if got, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(got, want) {
			t.Errorf("%s changed on the second run", name)
		}
	}
}

func TestExpiredCertificateIsReplaced(t *testing.T) {
	dir := t.TempDir()
	old, err := loadState(dir, time.Now().Add(-2*365*24*time.Hour), discard)
	if err != nil {
		t.Fatal(err)
	}
	st, err := loadState(dir, time.Now(), discard)
	if err != nil {
		t.Fatal(err)
	}
	if !st.cert.Leaf.NotAfter.After(time.Now().Add(300 * 24 * time.Hour)) {
		t.Errorf("certificate not renewed: %v", st.cert.Leaf.NotAfter)
	}
	if st.clientSecret != old.clientSecret || !st.signingKey.Equal(old.signingKey) {
		t.Error("renewing the certificate changed the secret or the signing key")
	}
}

func TestCorruptStateIsReported(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "signing-key.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadState(dir, time.Now(), discard)
	if err == nil || !strings.Contains(err.Error(), "signing-key.pem") {
		t.Errorf("err = %v", err)
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:5443", true},
		{"localhost:5443", true},
		{"[::1]:5443", true},
		{"127.0.0.2:0", true},
		{":5443", false},
		{"0.0.0.0:5443", false},
		{"[::]:5443", false},
		{"192.168.1.10:5443", false},
		{"example.com:5443", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		_, err := checkLoopback(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%q) = %v", tt.addr, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--addr") {
			t.Errorf("error %q does not name --addr", err)
		}
	}
	if err := run(context.Background(), []string{"--addr", "0.0.0.0:5443", "--state-dir", t.TempDir()}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Errorf("run with a public address: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	// The project's own registration file, whatever app it registers.
	cfg, err := devidp.LoadConfig("../../devidp.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--config", "../../devidp.json", "--state-dir", dir}, &out, io.Discard)
	}()

	urlRE := regexp.MustCompile(`at (https://127\.0\.0\.1:\d+)/ for tenant (\S+) `)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			if m[2] != cfg.TenantID {
				t.Errorf("tenant %s", m[2])
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL line in %q", out.String())
		}
	}
	if !strings.Contains(out.String(), filepath.Join(dir, "client-secret")) {
		t.Errorf("output %q does not say where the client secret is", out.String())
	}

	// Trust only the generated certificate.
	pemBytes, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	resp, err = c.Get(base + "/" + cfg.TenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["issuer"] != base+"/"+cfg.TenantID+"/v2.0" {
		t.Errorf("issuer %v", doc["issuer"])
	}
	// The generated client secret authenticates the registered client.
	secret, _ := os.ReadFile(filepath.Join(dir, "client-secret"))
	resp, err = c.PostForm(base+"/"+cfg.TenantID+"/oauth2/v2.0/token", map[string][]string{
		"grant_type": {"client_credentials"}, "client_id": {cfg.Clients[0].ClientID},
		"client_secret": {string(secret)}, "scope": {"https://graph.microsoft.com/.default"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("client credentials with the generated secret: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "https://"), time.Second); err == nil {
		t.Error("still listening after shutdown")
	}
}

func TestBadConfig(t *testing.T) {
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--config", filepath.Join(t.TempDir(), "missing.json"), "--state-dir", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("err = %v", err)
	}
}
