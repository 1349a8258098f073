package certificate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/credential"
)

// PathSource loads entries of SourceType Path: CertificateDiskPath is a
// PEM or PFX file (relative to the settings' directory unless absolute),
// CertificatePassword the PFX's password, best set in the environment:
//
//	AzureAd__ClientCredentials__0__CertificatePassword=...
//
// The file is watched: when it changes on disk (modification time or
// size), the next token request loads the new certificate. A new file that
// does not load (half written, expired, wrong password) is logged and the
// certificate loaded before stays in use, so a rotation gone wrong does not
// take a running app down.
type PathSource struct {
	// Logger receives expiry warnings and rotation messages; nil means
	// slog.Default().
	Logger *slog.Logger
}

// SourceType implements credential.Source.
func (PathSource) SourceType() string { return "Path" }

// Load implements credential.Source.
func (s PathSource) Load(_ context.Context, cfg *config.Config, d config.CredentialDescription, key string) (credential.Credential, error) {
	setting := key + ":CertificateDiskPath"
	if d.CertificateDiskPath == "" {
		return credential.Credential{}, fmt.Errorf("%s is empty: set it to the PEM or PFX file of the app's certificate", setting)
	}
	path := d.CertificateDiskPath
	if !filepath.IsAbs(path) {
		path = filepath.Join(cfg.Dir, path)
	}
	f := &watchedFile{path: path, password: d.CertificatePassword, key: key, setting: setting, log: logger(s.Logger)}
	cert, stamp, err := f.load()
	if err != nil {
		return credential.Credential{}, err
	}
	f.cert, f.seen = cert, stamp
	return credential.Credential{MSAL: AssertionCredential(f.current, cfg.AzureAd.ClientID, cfg.AzureAd.SendX5C)}, nil
}

// Base64Source loads entries of SourceType Base64Encoded:
// Base64EncodedValue is a PFX (with CertificatePassword) or PEM file's
// bytes in base64, typically injected into the environment from a secret
// store:
//
//	AzureAd__ClientCredentials__0__Base64EncodedValue=$(base64 -w0 cert.pfx)
type Base64Source struct {
	// Logger receives the expiry warning; nil means slog.Default().
	Logger *slog.Logger
}

// SourceType implements credential.Source.
func (Base64Source) SourceType() string { return "Base64Encoded" }

// Load implements credential.Source.
func (s Base64Source) Load(_ context.Context, cfg *config.Config, d config.CredentialDescription, key string) (credential.Credential, error) {
	setting := key + ":Base64EncodedValue"
	if d.Base64EncodedValue == "" {
		return credential.Credential{}, fmt.Errorf("%s is empty: set the environment variable %s__Base64EncodedValue to the base64 of the PFX or PEM file",
			setting, envName(key))
	}
	// Tolerate the line breaks of `base64` without -w0.
	data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(d.Base64EncodedValue), ""))
	if err != nil {
		return credential.Credential{}, fmt.Errorf("%s: not base64: %v", setting, err)
	}
	cert, err := Parse(data, d.CertificatePassword)
	if err != nil {
		return credential.Credential{}, parseError(key, setting, "the value", err)
	}
	if err := cert.Check(time.Now(), logger(s.Logger), setting); err != nil {
		return credential.Credential{}, err
	}
	current := func(context.Context) (*Certificate, error) { return cert, nil }
	return credential.Credential{MSAL: AssertionCredential(current, cfg.AzureAd.ClientID, cfg.AzureAd.SendX5C)}, nil
}

// AssertionCredential is the MSAL credential that, at every token request,
// signs a client assertion with the certificate current returns (so a
// source may swap certificates while the app runs). clientID is used when
// MSAL does not say which client it asks for.
func AssertionCredential(current func(context.Context) (*Certificate, error), clientID string, sendX5C bool) confidential.Credential {
	return confidential.NewCredFromAssertionCallback(func(ctx context.Context, o confidential.AssertionRequestOptions) (string, error) {
		cert, err := current(ctx)
		if err != nil {
			return "", err
		}
		id := o.ClientID
		if id == "" {
			id = clientID
		}
		return cert.Assertion(id, o.TokenEndpoint, sendX5C, time.Now())
	})
}

// watchedFile is the certificate file of a Path entry and the certificate
// last loaded from it.
type watchedFile struct {
	path, password string
	key, setting   string
	log            *slog.Logger

	mu   sync.Mutex
	cert *Certificate
	seen stamp // the file's state when it was last read (or found unreadable)
}

// stamp identifies a version of a file without reading it.
type stamp struct {
	modTime int64 // nanoseconds
	size    int64
	missing bool
}

// load reads, parses and checks the file.
func (f *watchedFile) load() (*Certificate, stamp, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return nil, stamp{missing: true}, fmt.Errorf("%s: %v", f.setting, err)
	}
	st := stamp{modTime: fi.ModTime().UnixNano(), size: fi.Size()}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, st, fmt.Errorf("%s: %v", f.setting, err)
	}
	cert, err := Parse(data, f.password)
	if err != nil {
		return nil, st, parseError(f.key, f.setting, fmt.Sprintf("%q", f.path), err)
	}
	if err := cert.Check(time.Now(), f.log, f.setting); err != nil {
		return nil, st, err
	}
	return cert, st, nil
}

// current returns the certificate to sign with, loading the file again
// when it changed since it was last read.
func (f *watchedFile) current(context.Context) (*Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := stamp{missing: true}
	if fi, err := os.Stat(f.path); err == nil {
		st = stamp{modTime: fi.ModTime().UnixNano(), size: fi.Size()}
	}
	if st == f.seen {
		return f.cert, nil
	}
	cert, st, err := f.load()
	f.seen = st // a broken version is reported once, not at every request
	if err != nil {
		f.log.Error("the client certificate file changed but does not load; still signing with the certificate loaded before",
			"entry", f.key, "error", err.Error(), "certificate", f.cert.Name())
		return f.cert, nil
	}
	f.log.Info("loaded the client certificate file again after it changed",
		"entry", f.key, "path", f.path, "certificate", cert.Name(), "previous", f.cert.Name())
	f.cert = cert
	return cert, nil
}

// parseError names the setting to fix: CertificatePassword when the
// password is the problem, otherwise setting. what is the file or value.
func parseError(key, setting, what string, err error) error {
	if errors.Is(err, ErrPassword) {
		return fmt.Errorf("%s:CertificatePassword: cannot open the PFX file %s: wrong or missing password: set the environment variable %s__CertificatePassword",
			key, what, envName(key))
	}
	return fmt.Errorf("%s: %s: %v", setting, what, err)
}

// envName is the environment variable prefix of an entry key:
// AzureAd:ClientCredentials:0 -> AzureAd__ClientCredentials__0.
func envName(key string) string { return strings.ReplaceAll(key, ":", "__") }

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
