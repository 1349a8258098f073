package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"example.com/certapp/internal/devidp"
)

const (
	// certValidity is the server certificate's lifetime; it is renewed
	// automatically, and needs no new trust, since browsers trust the CA.
	certValidity = 365 * 24 * time.Hour
	// caValidity is the local CA's lifetime: trusting it is a manual step.
	caValidity = 10 * 365 * 24 * time.Hour
	// renewBefore: a certificate this close to expiry is replaced, so a
	// long-running session does not hit the expiry.
	renewBefore = 24 * time.Hour
	// clientCertValidity is the client certificate's lifetime. It is
	// renewed automatically too: an app with a Path credential notices the
	// new file, and the stand-in registers it when it starts.
	clientCertValidity = 365 * 24 * time.Hour
)

// state is the persistent material in the state directory.
type state struct {
	dir string
	// cert is the server's certificate, issued by ca; its chain (cert.pem)
	// holds the CA too. Leaf is set.
	cert     tls.Certificate
	certFile string
	// ca is the project's local certificate authority (ca.pem): trusting
	// it once makes browsers accept every certificate devidp issues.
	ca           *x509.Certificate
	caFile       string
	signingKey   *rsa.PrivateKey
	clientSecret string
	secretFile   string
	// clientCertFile (client-cert.pem) is a client certificate and its
	// RSA key, for apps whose credential is a certificate file (SourceType
	// Path, CertificateDiskPath ".devidp/client-cert.pem"); clientCertPEM
	// is the certificate alone, which clients without certificatesPem
	// accept.
	clientCertFile string
	clientCertPEM  string
}

// fillClients gives every client in cfg without a secret the state's
// client secret, and every client without certificates the state's client
// certificate, so that an app runs locally with either kind of credential
// and devidp.json holds no credential at all.
func (st *state) fillClients(cfg *devidp.Config) {
	for i := range cfg.Clients {
		c := &cfg.Clients[i]
		if c.ClientSecret == "" {
			c.ClientSecret = st.clientSecret
		}
		if len(c.CertificatesPEM) == 0 {
			c.CertificatesPEM = []string{st.clientCertPEM}
		}
	}
}

// loadState loads the state directory, creating what is missing and
// replacing an expired certificate.
func loadState(dir string, now time.Time, log *slog.Logger) (*state, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("state directory is accessible by other users; consider chmod 700", "dir", dir)
	}
	st := &state{
		dir:        dir,
		certFile:   filepath.Join(dir, "cert.pem"),
		caFile:     filepath.Join(dir, "ca.pem"),
		secretFile: filepath.Join(dir, "client-secret"),

		clientCertFile: filepath.Join(dir, "client-cert.pem"),
	}
	var err error
	if st.signingKey, err = loadOrCreateSigningKey(filepath.Join(dir, "signing-key.pem"), log); err != nil {
		return nil, err
	}
	if st.clientSecret, err = loadOrCreateSecret(st.secretFile, log); err != nil {
		return nil, err
	}
	if st.clientCertPEM, err = loadOrCreateClientCert(st.clientCertFile, now, log); err != nil {
		return nil, err
	}
	caKey, err := loadOrCreateCAKey(filepath.Join(dir, "ca-key.pem"), log)
	if err != nil {
		return nil, err
	}
	if st.ca, err = loadOrCreateCA(st.caFile, caKey, now, log); err != nil {
		return nil, err
	}
	if st.cert, err = loadOrCreateCert(st.certFile, filepath.Join(dir, "key.pem"), st.ca, caKey, now, log); err != nil {
		return nil, err
	}
	return st, nil
}

func loadOrCreateSigningKey(path string, log *slog.Logger) (*rsa.PrivateKey, error) {
	key, err := loadOrCreateKey(path, "token signing key", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }, log)
	if err != nil {
		return nil, err
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("%s: not an RSA key of at least 2048 bits (delete the file to generate a new key)", path)
	}
	return rk, nil
}

func loadOrCreateCAKey(path string, log *slog.Logger) (*ecdsa.PrivateKey, error) {
	key, err := loadOrCreateKey(path, "local CA key", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }, log)
	if err != nil {
		return nil, err
	}
	ek, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key (delete ca-key.pem and ca.pem to create a new CA, then trust the new ca.pem)", path)
	}
	return ek, nil
}

// loadOrCreateKey loads the PEM private key at path, or creates it with
// generate. When two processes race, both end up with the same key.
func loadOrCreateKey(path, what string, generate func() (crypto.Signer, error), log *slog.Logger) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := generate()
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		created, err := createFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if err != nil {
			return nil, err
		}
		if created {
			log.Info("created "+what, "file", path)
			return key, nil
		}
		// Another process created it first: use theirs.
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	checkPrivate(path, log)
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (delete the file to generate a new key)", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported key type %T (delete the file to generate a new key)", path, key)
	}
	return signer, nil
}

func loadOrCreateSecret(path string, log *slog.Logger) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		secret := base64.RawURLEncoding.EncodeToString(b)
		// No trailing newline: readers may use the file's content as is.
		created, err := createFile(path, []byte(secret))
		if err != nil {
			return "", err
		}
		if created {
			log.Info("created client secret", "file", path)
			return secret, nil
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	checkPrivate(path, log)
	secret := strings.TrimSpace(string(data))
	if secret == "" {
		return "", fmt.Errorf("%s is empty (delete it to generate a new secret)", path)
	}
	return secret, nil
}

// loadOrCreateClientCert returns the certificate (PEM) of the client
// certificate file at path: the certificate, then its PKCS #8 RSA key, mode
// 0600. It creates the file when missing and replaces it when the
// certificate expires within renewBefore.
func loadOrCreateClientCert(path string, now time.Time, log *slog.Logger) (string, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		checkPrivate(path, log)
		cert, _, perr := parseClientCert(data)
		if perr != nil {
			return "", fmt.Errorf("%s: %w (delete it to generate a new client certificate)", path, perr)
		}
		if now.Add(renewBefore).Before(cert.NotAfter) {
			return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})), nil
		}
		certPEM, file, err := newClientCert(now)
		if err != nil {
			return "", err
		}
		if err := replaceFile(path, file, 0o600); err != nil {
			return "", err
		}
		log.Info("renewed the client certificate (an app reading it as its credential picks the new one up)",
			"file", path, "not_after", now.Add(clientCertValidity).Format(time.DateOnly))
		return certPEM, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	certPEM, file, err := newClientCert(now)
	if err != nil {
		return "", err
	}
	created, err := createFile(path, file)
	if err != nil {
		return "", err
	}
	if !created {
		// Another process created it first: use theirs.
		return loadOrCreateClientCert(path, now, log)
	}
	log.Info("created client certificate (for AzureAd:ClientCredentials with SourceType Path)", "file", path)
	return certPEM, nil
}

// newClientCert makes a self-signed client certificate with an RSA 2048
// key (Entra ID's client assertions are RS256): certPEM is the
// certificate, file the certificate followed by the key.
func newClientCert(now time.Time) (certPEM string, file []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "devidp client certificate", Organization: []string{"devidp (development only)"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(clientCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, err
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return certPEM, append([]byte(certPEM), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...), nil
}

// parseClientCert reads a client certificate file: a certificate and the
// RSA key it certifies.
func parseClientCert(data []byte) (*x509.Certificate, *rsa.PrivateKey, error) {
	cert, err := parseCertificate(data)
	if err != nil {
		return nil, nil, err
	}
	var key any
	for rest := data; key == nil; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			if key, err = parsePrivateKey(pem.EncodeToMemory(b)); err != nil {
				return nil, nil, err
			}
		}
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok || !rk.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, errors.New("not a certificate followed by its RSA private key")
	}
	return cert, rk, nil
}

// caName is the local CA's common name. It derives from the CA's key, so
// a renewed CA certificate keeps the name (and issued certificates keep
// chaining to it), and the CAs of two projects have different names in a
// trust store.
func caName(key *ecdsa.PrivateKey) string {
	spki, _ := x509.MarshalPKIXPublicKey(key.Public())
	sum := sha256.Sum256(spki)
	return "devidp development CA " + hex.EncodeToString(sum[:4])
}

// loadOrCreateCA loads the local CA's certificate, or creates one for key
// when it is missing, expiring, or not key's.
func loadOrCreateCA(path string, key *ecdsa.PrivateKey, now time.Time, log *slog.Logger) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		ca, perr := parseCertificate(data)
		switch {
		case perr != nil:
			log.Warn("local CA certificate unreadable; creating a new one (trust the new ca.pem)", "file", path, "error", perr)
		case !key.PublicKey.Equal(ca.PublicKey):
			log.Warn("local CA certificate does not match ca-key.pem; creating a new one (trust the new ca.pem)", "file", path)
		case !now.Add(renewBefore).Before(ca.NotAfter):
			log.Warn("local CA expired or about to; creating a new one (trust the new ca.pem)", "file", path, "not_after", ca.NotAfter)
		default:
			return ca, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	der, err := newCA(key, now)
	if err != nil {
		return nil, err
	}
	if err := replaceFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	log.Info("created local certificate authority", "file", path, "name", ca.Subject.CommonName, "not_after", ca.NotAfter.Format(time.DateOnly))
	return ca, nil
}

// newCA creates the local CA's self-signed certificate. Name constraints
// keep it from vouching for anything but localhost and loopback addresses,
// should its key leak; MaxPathLen 0 keeps it from making other CAs.
func newCA(key *ecdsa.PrivateKey, now time.Time) ([]byte, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	_, loop4, _ := net.ParseCIDR("127.0.0.0/8")
	_, loop6, _ := net.ParseCIDR("::1/128")
	tmpl := &x509.Certificate{
		SerialNumber:                serial,
		Subject:                     pkix.Name{CommonName: caName(key), Organization: []string{"devidp (development only)"}},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(caValidity),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
		PermittedIPRanges:           []*net.IPNet{loop4, loop6},
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
}

// loadOrCreateCert loads cert.pem and key.pem, or issues a new server
// certificate from ca when either is missing, the certificate expires
// within renewBefore, or it was not issued by ca (a certificate of an
// older devidp was self-signed).
func loadOrCreateCert(certFile, keyFile string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time, log *slog.Logger) (tls.Certificate, error) {
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	if errC == nil && errK == nil {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%s, %s: %w (delete both files to generate a new certificate)", certFile, keyFile, err)
		}
		checkPrivate(keyFile, log)
		switch {
		case len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[1], ca.Raw) || cert.Leaf.CheckSignatureFrom(ca) != nil:
			log.Info("certificate not issued by the local CA; issuing a new one", "file", certFile)
		case !now.Add(renewBefore).Before(cert.Leaf.NotAfter):
			log.Info("certificate expired or about to; issuing a new one", "file", certFile, "not_after", cert.Leaf.NotAfter)
		default:
			return cert, nil
		}
	} else if !errors.Is(errC, fs.ErrNotExist) && errC != nil {
		return tls.Certificate{}, errC
	} else if !errors.Is(errK, fs.ErrNotExist) && errK != nil {
		return tls.Certificate{}, errK
	}

	certPEM, keyPEM, err := newCertificate(ca, caKey, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	// Key first: a crash in between leaves a key without a matching
	// certificate, which fails loudly rather than silently mismatching.
	if err := replaceFile(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := replaceFile(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	log.Info("issued TLS certificate", "file", certFile, "not_after", cert.Leaf.NotAfter.Format(time.DateOnly))
	return cert, nil
}

// newCertificate issues an ECDSA P-256 server certificate for localhost,
// 127.0.0.1 and ::1 from ca. certPEM is the chain: the certificate, then
// the CA's.
func newCertificate(ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(certValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"devidp (development only)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// parseCertificate parses the first certificate of a PEM file.
func parseCertificate(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// fingerprint is the SHA-256 fingerprint of a certificate as browsers'
// certificate viewers show it: upper-case hex bytes separated by colons.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

func parsePrivateKey(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "PRIVATE KEY":
		return x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
}

// writeTemp writes data to a new temporary file next to path, with mode perm.
func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// createFile atomically creates path (mode 0600) with data unless it
// already exists; created is false when another process won the race.
func createFile(path string, data []byte) (created bool, err error) {
	tmp, err := writeTemp(path, data, 0o600)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	// A hard link fails if the target exists, unlike rename.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		// Filesystems without hard links: fall back to exclusive create.
		f, err2 := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err2 != nil {
			if errors.Is(err2, fs.ErrExist) {
				return false, nil
			}
			return false, err
		}
		_, err2 = f.Write(data)
		if cerr := f.Close(); err2 == nil {
			err2 = cerr
		}
		return err2 == nil, err2
	}
	return true, nil
}

// replaceFile atomically writes path with mode perm, replacing it if
// present.
func replaceFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// checkPrivate warns when a secret file is readable by others.
func checkPrivate(path string, log *slog.Logger) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("file holding a secret is accessible by other users; consider chmod 600", "file", path)
	}
}
