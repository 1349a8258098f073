// Package certificate loads ClientCredentials entries that are a
// certificate with its private key: SourceType Path (a PEM or PFX file)
// and Base64Encoded (the file's bytes in a setting), and signs the client
// assertions (private_key_jwt) the app proves its identity with.
//
// The app builds the assertion itself rather than handing the key to MSAL
// Go's certificate credential: MSAL's certificate credential is fixed when
// the client is made, while a certificate file is rotated on disk (by
// cert-manager, a Key Vault sync, an operator) and a running app must pick
// the new one up without a restart. The assertion carries x5t#S256 (and the
// SHA-1 x5t older Entra ID deployments look for) so Entra ID finds the
// registered certificate, and x5c when AzureAd:SendX5C asks for subject
// name and issuer authentication.
//
// Parse and (*Certificate).Assertion are shared with package keyvault.
package certificate

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// ErrPassword means a PFX could not be opened with the password given
// (the setting to fix is CertificatePassword, not the file).
var ErrPassword = errors.New("wrong or missing password")

// ExpiryWarning is how long before its expiry a certificate is warned about
// at start-up: time enough to register and roll out its successor.
const ExpiryWarning = 30 * 24 * time.Hour

// AssertionLifetime is how long a client assertion is valid. Entra ID
// accepts at most a few minutes' skew; MSAL uses 10 minutes.
const AssertionLifetime = 10 * time.Minute

// A Certificate is a client certificate with its RSA private key.
type Certificate struct {
	// Leaf is the certificate whose key signs; Chain is Leaf followed by
	// the rest of the chain as the file gave it (for x5c).
	Leaf  *x509.Certificate
	Chain []*x509.Certificate
	Key   *rsa.PrivateKey
}

// Parse reads a certificate and its private key from data: PEM (a
// CERTIFICATE block, an unencrypted RSA or PKCS #8 key, optionally more
// certificates of the chain, in any order) or PFX/PKCS #12 opened with
// password. Only RSA keys are accepted: Entra ID's client assertions are
// RS256. An error wraps ErrPassword when the password is the problem.
func Parse(data []byte, password string) (*Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return parsePEM(data)
	}
	key, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
			return nil, fmt.Errorf("cannot open the PFX file: %w", ErrPassword)
		}
		return nil, fmt.Errorf("neither PEM nor a readable PFX file: %v", strings.TrimPrefix(err.Error(), "pkcs12: "))
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the private key is %s: only RSA keys are supported", keyKind(key))
	}
	return assemble(rsaKey, append([]*x509.Certificate{leaf}, chain...))
}

func parsePEM(data []byte) (*Certificate, error) {
	var (
		certs []*x509.Certificate
		key   any
	)
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var err error
		switch {
		case b.Type == "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				certs = append(certs, c)
			}
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "":
			return nil, errors.New("the private key is encrypted: use a PFX file with CertificatePassword, or an unencrypted PEM key (keep the file readable only by the app)")
		case b.Type == "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case b.Type == "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case b.Type == "EC PRIVATE KEY":
			return nil, errors.New("the private key is ECDSA: only RSA keys are supported")
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %q: %v", b.Type, err)
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block in the PEM file")
	}
	if key == nil {
		return nil, errors.New("no private key in the PEM file (put the key's PEM block after the certificate)")
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the private key is %s: only RSA keys are supported", keyKind(key))
	}
	return assemble(rsaKey, certs)
}

// assemble finds the certificate of key among certs and puts it first.
func assemble(key *rsa.PrivateKey, certs []*x509.Certificate) (*Certificate, error) {
	for i, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.Equal(&key.PublicKey) {
			chain := append([]*x509.Certificate{c}, certs[:i]...)
			chain = append(chain, certs[i+1:]...)
			return &Certificate{Leaf: c, Chain: chain, Key: key}, nil
		}
	}
	return nil, errors.New("no certificate in the file matches the private key")
}

// keyKind names a key's type for messages ("ecdsa.PrivateKey").
func keyKind(key any) string {
	if key == nil {
		return "missing"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", key), "*")
}

// Name is the certificate's subject and SHA-256 thumbprint, for messages.
func (c *Certificate) Name() string {
	sum := sha256.Sum256(c.Leaf.Raw)
	return fmt.Sprintf("%q (SHA-256 %s)", c.Leaf.Subject.String(), strings.ToUpper(hex.EncodeToString(sum[:])))
}

// Check refuses a certificate that is expired or not yet valid at now (the
// token endpoint would refuse every assertion), and warns through log (if
// not nil) when it expires within ExpiryWarning. where names the setting
// in messages ("AzureAd:ClientCredentials:0:CertificateDiskPath").
func (c *Certificate) Check(now time.Time, log *slog.Logger, where string) error {
	subject := c.Leaf.Subject.String()
	switch {
	case now.After(c.Leaf.NotAfter):
		return fmt.Errorf("%s: the certificate %q expired on %s: register a new certificate with the app and configure it here",
			where, subject, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.Leaf.NotBefore):
		return fmt.Errorf("%s: the certificate %q is not valid before %s (check the clock, or wait)",
			where, subject, c.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if left := c.Leaf.NotAfter.Sub(now); left < ExpiryWarning && log != nil {
		log.Warn("the client certificate expires soon: register its successor with the app and roll it out",
			"setting", where, "subject", subject, "notAfter", c.Leaf.NotAfter.UTC().Format(time.RFC3339),
			"days", int(left.Hours()/24))
	}
	return nil
}

// Assertion returns a client assertion (RFC 7523, RS256) for clientID,
// addressed to the token endpoint tokenEndpoint and valid from now for
// AssertionLifetime. With sendX5C the header carries the certificate
// chain, for subject name and issuer authentication.
func (c *Certificate) Assertion(clientID, tokenEndpoint string, sendX5C bool, now time.Time) (string, error) {
	sha256Sum := sha256.Sum256(c.Leaf.Raw)
	sha1Sum := sha1.Sum(c.Leaf.Raw)
	header := map[string]any{
		"alg":      "RS256",
		"typ":      "JWT",
		"x5t#S256": base64.RawURLEncoding.EncodeToString(sha256Sum[:]),
		"x5t":      base64.RawURLEncoding.EncodeToString(sha1Sum[:]),
	}
	if sendX5C {
		x5c := make([]string, len(c.Chain))
		for i, cert := range c.Chain {
			x5c[i] = base64.StdEncoding.EncodeToString(cert.Raw)
		}
		header["x5c"] = x5c
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := map[string]any{
		"aud": tokenEndpoint,
		"iss": clientID,
		"sub": clientID,
		"jti": hex.EncodeToString(jti),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(AssertionLifetime).Unix(),
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signingInput := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.Key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
