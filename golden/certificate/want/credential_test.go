package main

import (
	"testing"

	"os"
	"path/filepath"

	"example.com/certapp/internal/devidp"

	"example.com/certapp/internal/credential/certificate/certtest"
)

// testCredential registers the app's credential with the stand-in's client
// and returns the environment that hands it to the app: a certificate file
// whose public part the stand-in knows.
func testCredential(t testing.TB, dir string, idp *devidp.Config) ([]string, func(*env)) {
	t.Helper()
	cert := certtest.New(t, certtest.Options{Subject: "app"})
	file := filepath.Join(dir, "app-cert.pem")
	if err := os.WriteFile(file, cert.PEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	idp.Clients[0].CertificatesPEM = []string{cert.CertPEM()}
	return []string{"AzureAd__ClientCredentials__0__" + "CertificateDiskPath=" + file}, nil
}
