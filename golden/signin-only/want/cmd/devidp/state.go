package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
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
)

const (
	certValidity = 365 * 24 * time.Hour
	// renewBefore: a certificate this close to expiry is replaced, so a
	// long-running session does not hit the expiry.
	renewBefore = 24 * time.Hour
)

// state is the persistent material in the state directory.
type state struct {
	dir          string
	cert         tls.Certificate // Leaf is set
	certFile     string
	signingKey   *rsa.PrivateKey
	clientSecret string
	secretFile   string
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
		secretFile: filepath.Join(dir, "client-secret"),
	}
	var err error
	if st.signingKey, err = loadOrCreateSigningKey(filepath.Join(dir, "signing-key.pem"), log); err != nil {
		return nil, err
	}
	if st.clientSecret, err = loadOrCreateSecret(st.secretFile, log); err != nil {
		return nil, err
	}
	if st.cert, err = loadOrCreateCert(st.certFile, filepath.Join(dir, "key.pem"), now, log); err != nil {
		return nil, err
	}
	return st, nil
}

func loadOrCreateSigningKey(path string, log *slog.Logger) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
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
			log.Info("created token signing key", "file", path)
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
	rk, ok := key.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("%s: not an RSA key of at least 2048 bits (delete the file to generate a new key)", path)
	}
	return rk, nil
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

// loadOrCreateCert loads cert.pem and key.pem, or creates them when either
// is missing or the certificate expires within renewBefore.
func loadOrCreateCert(certFile, keyFile string, now time.Time, log *slog.Logger) (tls.Certificate, error) {
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	if errC == nil && errK == nil {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%s, %s: %w (delete both files to generate a new certificate)", certFile, keyFile, err)
		}
		checkPrivate(keyFile, log)
		if now.Add(renewBefore).Before(cert.Leaf.NotAfter) {
			return cert, nil
		}
		log.Info("certificate expired or about to; creating a new one (trust the new cert.pem again)", "file", certFile, "not_after", cert.Leaf.NotAfter)
	} else if !errors.Is(errC, fs.ErrNotExist) && errC != nil {
		return tls.Certificate{}, errC
	} else if !errors.Is(errK, fs.ErrNotExist) && errK != nil {
		return tls.Certificate{}, errK
	}

	certPEM, keyPEM, err := newCertificate(now)
	if err != nil {
		return tls.Certificate{}, err
	}
	// Key first: a crash in between leaves a key without a matching
	// certificate, which fails loudly rather than silently mismatching.
	if err := replaceFile(keyFile, keyPEM); err != nil {
		return tls.Certificate{}, err
	}
	if err := replaceFile(certFile, certPEM); err != nil {
		return tls.Certificate{}, err
	}
	log.Info("created self-signed TLS certificate", "file", certFile, "not_after", now.Add(certValidity).Format(time.DateOnly))
	return tls.X509KeyPair(certPEM, keyPEM)
}

// newCertificate creates a self-signed ECDSA P-256 certificate for
// localhost, 127.0.0.1 and ::1. It is a CA so that it can be added to a
// trust store as a root; name constraints keep it from vouching for any
// other name should the key leak, and MaxPathLen 0 from signing other CAs.
func newCertificate(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	_, loop4, _ := net.ParseCIDR("127.0.0.0/8")
	_, loop6, _ := net.ParseCIDR("::1/128")
	tmpl := &x509.Certificate{
		SerialNumber:                serial,
		Subject:                     pkix.Name{CommonName: "devidp local Entra ID stand-in (development only)", Organization: []string{"devidp"}},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(certValidity),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:                 []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		DNSNames:                    []string{"localhost"},
		IPAddresses:                 []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
		PermittedIPRanges:           []*net.IPNet{loop4, loop6},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
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

// writeTemp writes data to a new 0600 temporary file next to path.
func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
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
	tmp, err := writeTemp(path, data)
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

// replaceFile atomically writes path (mode 0600), replacing it if present.
func replaceFile(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
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
