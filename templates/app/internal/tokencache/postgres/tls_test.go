package postgres

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/postgres/pgtest"
)

// TestVerifyFull connects as an app should to Azure Database for
// PostgreSQL, sslmode=verify-full, to a server whose certificate a private
// CA issued (sslrootcert): the connection is encrypted, and a server whose
// certificate the CA did not issue, or issued for another name, is refused
// at start-up.
func TestVerifyFull(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Own(t)
	dir := t.TempDir()
	ca, caKey, caFile := newCA(t, dir, "ca")
	_, _, otherCAFile := newCA(t, dir, "other-ca")
	certPEM, keyPEM := issue(t, ca, caKey, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"db.internal"})
	if err := srv.EnableTLS(ctx, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}

	tlsURL := func(host, rootCert string) string {
		return fmt.Sprintf("postgres://postgres@%s:%d/postgres?sslmode=verify-full&sslrootcert=%s", host, srv.Port, rootCert)
	}
	s, rec := open(t, tlsURL("127.0.0.1", caFile), config.TokenCache{})
	if err := s.Save(ctx, "alice.tenant", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var encrypted bool
	if err := s.pool.QueryRow(ctx, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&encrypted); err != nil || !encrypted {
		t.Fatalf("the connection is not encrypted (%v, %v)", encrypted, err)
	}
	if rec.count("verify-full") != 0 {
		t.Fatalf("warned about verify-full:\n%s", rec)
	}

	for name, u := range map[string]string{
		"another CA":   tlsURL("127.0.0.1", otherCAFile),
		"another name": tlsURL("localhost", caFile), // the certificate names 127.0.0.1 and db.internal
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(ctx, &config.Config{TokenCache: config.TokenCache{PostgresURL: u}})
			if err == nil || !strings.Contains(err.Error(), "refused the app") || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("Open = %v; want it refused for the certificate", err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}

func newCA(t *testing.T, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, file
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, ips []net.IP, names []string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "postgres"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  ips,
		DNSNames:     names,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
}
