// Package certtest makes client certificates for tests: generated at run
// time (no key is ever committed), in the forms the app reads them (PEM
// with the key, PFX with a password) and the form the stand-in registers
// them in (CertPEM).
package certtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"software.sslmate.com/src/go-pkcs12"
)

// Options shape a certificate; zero values give a self-signed certificate
// "CN=<test name>" valid from an hour ago for a year.
type Options struct {
	Subject             string
	NotBefore, NotAfter time.Time
	// Chain: issue the certificate from a generated CA, which PEM and PFX
	// then include after it.
	Chain bool
}

// A Cert is a generated certificate and its key.
type Cert struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
	CA   *x509.Certificate // the issuer with Options.Chain, else nil
}

// New generates a certificate with a fresh RSA 2048 key.
func New(t testing.TB, o Options) *Cert {
	t.Helper()
	if o.Subject == "" {
		o.Subject = t.Name()
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().AddDate(1, 0, 0)
	}
	key := genKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: o.Subject},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	c := &Cert{Key: key}
	parent, signer := tmpl, key
	if o.Chain {
		caKey := genKey(t)
		caTmpl := &x509.Certificate{
			SerialNumber:          serial(t),
			Subject:               pkix.Name{CommonName: o.Subject + " CA"},
			NotBefore:             o.NotBefore,
			NotAfter:              o.NotAfter.Add(time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		if c.CA, err = x509.ParseCertificate(der); err != nil {
			t.Fatal(err)
		}
		parent, signer = c.CA, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	return c
}

// CertPEM is the certificate alone, as devidp.Client.CertificatesPEM takes it.
func (c *Cert) CertPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
}

// PEM is the certificate, its PKCS #8 key and the CA certificate if any:
// the file a Path entry reads.
func (c *Cert) PEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	out := []byte(c.CertPEM())
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	if c.CA != nil {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.CA.Raw})...)
	}
	return out
}

// PFX is a PKCS #12 file of the certificate, key and CA, encrypted with
// password the way current tools write it (AES-256, PBKDF2).
func (c *Cert) PFX(t testing.TB, password string) []byte {
	t.Helper()
	var chain []*x509.Certificate
	if c.CA != nil {
		chain = []*x509.Certificate{c.CA}
	}
	pfx, err := pkcs12.Modern2023.Encode(c.Key, c.Cert, chain, password)
	if err != nil {
		t.Fatal(err)
	}
	return pfx
}

func genKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Signed reports whether the JWS assertion is signed by c's key (RS256).
func (c *Cert) Signed(assertion string) bool {
	jws, err := jose.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return false
	}
	_, err = jws.Verify(&c.Key.PublicKey)
	return err == nil
}

// Decode returns a JWT's header and claims without verifying it.
func Decode(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	for i, out := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return header, claims
}
