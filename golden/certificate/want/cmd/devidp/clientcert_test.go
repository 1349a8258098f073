package main

import (
	"context"
	"crypto/rsa"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"example.com/certapp/internal/devidp"
)

// TestClientCertificate: the state directory gets a client certificate
// file (certificate and RSA 2048 key, mode 0600, valid a year) that is
// reused, renewed before it expires, and registered with every client
// that has no certificate of its own.
func TestClientCertificate(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	st, err := loadState(dir, now, discard)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "client-cert.pem")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	cert, key, err := parseClientCert(data)
	if err != nil {
		t.Fatal(err)
	}
	if key.N.BitLen() != 2048 || cert.NotAfter.Sub(now) < 364*24*time.Hour || cert.NotAfter.Sub(now) > 366*24*time.Hour {
		t.Errorf("key of %d bits, certificate valid until %v", key.N.BitLen(), cert.NotAfter)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok || st.clientCertPEM == "" {
		t.Fatal("no RSA client certificate in the state")
	}

	again, err := loadState(dir, now, discard)
	if err != nil || again.clientCertPEM != st.clientCertPEM {
		t.Fatalf("a second run made another certificate (%v)", err)
	}
	renewed, err := loadState(dir, cert.NotAfter.Add(-time.Hour), discard)
	if err != nil || renewed.clientCertPEM == st.clientCertPEM {
		t.Fatalf("an expiring client certificate was kept (%v)", err)
	}

	own := "-----BEGIN CERTIFICATE-----\nown\n-----END CERTIFICATE-----\n"
	cfg := devidp.Config{Clients: []devidp.Client{{ClientID: "a"}, {ClientID: "b", ClientSecret: "s", CertificatesPEM: []string{own}}}}
	st.fillClients(&cfg)
	if c := cfg.Clients[0]; c.ClientSecret != st.clientSecret || len(c.CertificatesPEM) != 1 || c.CertificatesPEM[0] != st.clientCertPEM {
		t.Errorf("client without credentials: %+v", c)
	}
	if c := cfg.Clients[1]; c.ClientSecret != "s" || len(c.CertificatesPEM) != 1 || c.CertificatesPEM[0] != own {
		t.Errorf("client with its own credentials: %+v", c)
	}
}

// TestServeClientCertificate: an app whose credential is the state's
// client-cert.pem (what a Path entry reads) gets an app token from the
// running stand-in.
func TestServeClientCertificate(t *testing.T) {
	os.Unsetenv("MSAL_FORCE_REGION")
	configPath := projectConfig(t)
	cfg, err := devidp.LoadConfig(configPath)
	if err != nil {
		t.Fatal(err)
	}
	base, c, _, dir, stop := serve(t, configPath)
	defer stop()
	data, err := os.ReadFile(filepath.Join(dir, "client-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	certs, key, err := confidential.CertFromPEM(data, "")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(base+"/"+cfg.TenantID, cfg.Clients[0].ClientID, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.AcquireTokenByCredential(context.Background(), []string{"https://graph.microsoft.com/.default"}); err != nil {
		t.Fatalf("app token with client-cert.pem: %v", err)
	}
}
