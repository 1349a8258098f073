package certificate

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/credential"
	"example.com/certapp/internal/credential/certificate/certtest"
	"example.com/certapp/internal/credential/credentialtest"
	"example.com/certapp/internal/devidp"
)

const key0 = "AzureAd:ClientCredentials:0"

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestContractPath(t *testing.T) {
	c := certtest.New(t, certtest.Options{})
	credentialtest.Run(t, credentialtest.Fixture{
		Source: PathSource{Logger: discard()},
		Valid: func(t *testing.T) (*config.Config, config.CredentialDescription) {
			dir := t.TempDir()
			writeFile(t, dir, "cert.pem", c.PEM(t))
			return &config.Config{Dir: dir}, config.CredentialDescription{CertificateDiskPath: "cert.pem"}
		},
		Broken: func(t *testing.T) (*config.Config, config.CredentialDescription, string) {
			return &config.Config{Dir: t.TempDir()}, config.CredentialDescription{CertificateDiskPath: "missing.pem"}, "CertificateDiskPath"
		},
	})
}

func TestContractBase64(t *testing.T) {
	c := certtest.New(t, certtest.Options{})
	credentialtest.Run(t, credentialtest.Fixture{
		Source: Base64Source{Logger: discard()},
		Valid: func(t *testing.T) (*config.Config, config.CredentialDescription) {
			return &config.Config{Dir: t.TempDir()}, config.CredentialDescription{
				Base64EncodedValue: base64.StdEncoding.EncodeToString(c.PFX(t, "pw")), CertificatePassword: "pw"}
		},
		Broken: func(t *testing.T) (*config.Config, config.CredentialDescription, string) {
			return &config.Config{Dir: t.TempDir()}, config.CredentialDescription{Base64EncodedValue: "not base64!"}, "Base64EncodedValue"
		},
	})
}

// TestSignIn loads each form of certificate, signs in as the app at the
// stand-in, and checks the client assertion the token endpoint received.
func TestSignIn(t *testing.T) {
	plain := certtest.New(t, certtest.Options{})
	chained := certtest.New(t, certtest.Options{Chain: true})
	tests := []struct {
		name    string
		cert    *certtest.Cert
		source  credential.Source
		entry   func(t *testing.T, dir string) config.CredentialDescription
		sendX5C bool
	}{
		{"PEM file", plain, PathSource{}, func(t *testing.T, dir string) config.CredentialDescription {
			writeFile(t, dir, "cert.pem", plain.PEM(t))
			return config.CredentialDescription{CertificateDiskPath: "cert.pem"}
		}, false},
		{"PFX file with a password, absolute path", plain, PathSource{}, func(t *testing.T, dir string) config.CredentialDescription {
			p := writeFile(t, t.TempDir(), "cert.pfx", plain.PFX(t, "s3cret"))
			return config.CredentialDescription{CertificateDiskPath: p, CertificatePassword: "s3cret"}
		}, false},
		{"PFX with a chain and SendX5C", chained, PathSource{}, func(t *testing.T, dir string) config.CredentialDescription {
			writeFile(t, dir, "cert.pfx", chained.PFX(t, "pw"))
			return config.CredentialDescription{CertificateDiskPath: "cert.pfx", CertificatePassword: "pw"}
		}, true},
		{"PEM with a chain and SendX5C", chained, PathSource{}, func(t *testing.T, dir string) config.CredentialDescription {
			writeFile(t, dir, "cert.pem", chained.PEM(t))
			return config.CredentialDescription{CertificateDiskPath: "cert.pem"}
		}, true},
		{"Base64Encoded PFX", plain, Base64Source{}, func(t *testing.T, dir string) config.CredentialDescription {
			return config.CredentialDescription{Base64EncodedValue: base64.StdEncoding.EncodeToString(plain.PFX(t, "pw")), CertificatePassword: "pw"}
		}, false},
		{"Base64Encoded PEM with line breaks", plain, Base64Source{}, func(t *testing.T, dir string) config.CredentialDescription {
			b := base64.StdEncoding.EncodeToString(plain.PEM(t))
			return config.CredentialDescription{Base64EncodedValue: b[:64] + "\n" + b[64:]}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := credentialtest.StandIn(t, devidp.Client{CertificatesPEM: []string{tt.cert.CertPEM()}})
			dir := t.TempDir()
			cfg := &config.Config{Dir: dir}
			cfg.AzureAd.ClientID = s.Client.ClientID
			cfg.AzureAd.SendX5C = tt.sendX5C
			d := tt.entry(t, dir)
			d.SourceType = tt.source.SourceType()
			cfg.AzureAd.ClientCredentials = []config.CredentialDescription{d}
			cred, err := credential.Load(context.Background(), cfg, tt.source)
			if err != nil {
				t.Fatal(err)
			}
			var jtis []string
			for range 2 {
				if _, err := s.AppToken(context.Background(), cred.MSAL); err != nil {
					t.Fatalf("app token: %v", err)
				}
				jtis = append(jtis, checkAssertion(t, s, tt.cert, tt.sendX5C))
			}
			if jtis[0] == jtis[1] {
				t.Errorf("two assertions share the jti %q", jtis[0])
			}
		})
	}
}

// checkAssertion checks the last client assertion the stand-in received
// and returns its jti.
func checkAssertion(t *testing.T, s *credentialtest.Provider, c *certtest.Cert, sendX5C bool) string {
	t.Helper()
	f := s.LastRequest()
	if got := f.Get("client_assertion_type"); got != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Errorf("client_assertion_type %q", got)
	}
	if f.Has("client_secret") {
		t.Error("a client_secret was sent")
	}
	a := f.Get("client_assertion")
	if !c.Signed(a) {
		t.Fatal("the client assertion is not signed by the certificate's key")
	}
	header, claims := certtest.Decode(t, a)
	sum := sha256.Sum256(c.Cert.Raw)
	if header["alg"] != "RS256" || header["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) || header["x5t"] == nil {
		t.Errorf("header %v", header)
	}
	x5c, has := header["x5c"].([]any)
	switch {
	case sendX5C && (len(x5c) != 2 || x5c[0] != base64.StdEncoding.EncodeToString(c.Cert.Raw) || x5c[1] != base64.StdEncoding.EncodeToString(c.CA.Raw)):
		t.Errorf("x5c = %v, want the certificate and its CA", header["x5c"])
	case !sendX5C && has:
		t.Errorf("x5c sent without SendX5C")
	}
	if claims["aud"] != s.TokenEndpoint || claims["iss"] != s.Client.ClientID || claims["sub"] != s.Client.ClientID {
		t.Errorf("aud/iss/sub = %v/%v/%v, want %s and %s", claims["aud"], claims["iss"], claims["sub"], s.TokenEndpoint, s.Client.ClientID)
	}
	now := float64(time.Now().Unix())
	exp, _ := claims["exp"].(float64)
	nbf, _ := claims["nbf"].(float64)
	if exp <= now || exp > now+11*60 || nbf > now+1 || nbf < now-60 || claims["iat"] == nil {
		t.Errorf("exp %v nbf %v iat %v, now %v", claims["exp"], claims["nbf"], claims["iat"], now)
	}
	jti, _ := claims["jti"].(string)
	if len(jti) < 16 {
		t.Errorf("jti %q", jti)
	}
	return jti
}

func TestLoadErrors(t *testing.T) {
	good := certtest.New(t, certtest.Options{Subject: "good"})
	other := certtest.New(t, certtest.Options{Subject: "other"})
	expired := certtest.New(t, certtest.Options{Subject: "expired", NotBefore: time.Now().AddDate(-1, 0, 0), NotAfter: time.Now().Add(-time.Hour)})
	early := certtest.New(t, certtest.Options{Subject: "early", NotBefore: time.Now().Add(48 * time.Hour)})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	ecPEM := append([]byte(good.CertPEM()), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})...)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other.Key)})
	encrypted := append([]byte(good.CertPEM()), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})...)

	tests := []struct {
		name     string
		file     []byte // written as cert.bin; nil: no file
		d        config.CredentialDescription
		source   credential.Source
		want     string
		wantMore string
	}{
		{name: "wrong PFX password", file: good.PFX(t, "right"), d: config.CredentialDescription{CertificatePassword: "wrong"},
			want: key0 + ":CertificatePassword: cannot open the PFX file", wantMore: "set the environment variable AzureAd__ClientCredentials__0__CertificatePassword"},
		{name: "missing PFX password", file: good.PFX(t, "right"), want: key0 + ":CertificatePassword:"},
		{name: "missing file", want: key0 + ":CertificateDiskPath: stat ", wantMore: "no such file or directory"},
		{name: "empty path", d: config.CredentialDescription{CertificateDiskPath: "-"}, want: key0 + ":CertificateDiskPath is empty"},
		{name: "expired", file: expired.PEM(t), want: key0 + `:CertificateDiskPath: the certificate "CN=expired" expired on ` + expired.Cert.NotAfter.UTC().Format("2006-01-02")},
		{name: "not yet valid", file: early.PEM(t), want: key0 + `:CertificateDiskPath: the certificate "CN=early" is not valid before`},
		{name: "ECDSA key", file: ecPEM, want: "only RSA keys are supported"},
		{name: "key of another certificate", file: append([]byte(good.CertPEM()), pkcs1...), want: "no certificate in the file matches the private key"},
		{name: "certificate without key", file: []byte(good.CertPEM()), want: "no private key in the PEM file"},
		{name: "encrypted PEM key", file: encrypted, want: "the private key is encrypted"},
		{name: "garbage", file: []byte("garbage"), want: key0 + ":CertificateDiskPath: ", wantMore: "neither PEM nor a readable PFX file"},
		{name: "Base64Encoded: empty", source: Base64Source{}, want: key0 + ":Base64EncodedValue is empty: set the environment variable AzureAd__ClientCredentials__0__Base64EncodedValue"},
		{name: "Base64Encoded: wrong password", source: Base64Source{},
			d:    config.CredentialDescription{Base64EncodedValue: base64.StdEncoding.EncodeToString(good.PFX(t, "x"))},
			want: key0 + ":CertificatePassword: cannot open the PFX file the value: wrong or missing password"},
		{name: "Base64Encoded: expired", source: Base64Source{},
			d:    config.CredentialDescription{Base64EncodedValue: base64.StdEncoding.EncodeToString(expired.PEM(t))},
			want: key0 + `:Base64EncodedValue: the certificate "CN=expired" expired on`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != nil {
				writeFile(t, dir, "cert.bin", tt.file)
			}
			if tt.source == nil {
				tt.source = PathSource{Logger: discard()}
				if tt.d.CertificateDiskPath == "-" {
					tt.d.CertificateDiskPath = ""
				} else {
					tt.d.CertificateDiskPath = "cert.bin"
				}
			}
			_, err := tt.source.Load(context.Background(), &config.Config{Dir: dir}, tt.d, key0)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, tt.wantMore) || strings.Contains(msg, "\n") {
				t.Errorf("error %q\nwant one line containing %q and %q", msg, tt.want, tt.wantMore)
			}
		})
	}
}

// TestExpiryWarning: a certificate that expires within 30 days loads, with
// a warning; one that expires later loads silently.
func TestExpiryWarning(t *testing.T) {
	for _, tt := range []struct {
		days int
		warn bool
	}{{10, true}, {60, false}} {
		c := certtest.New(t, certtest.Options{Subject: "soon", NotAfter: time.Now().AddDate(0, 0, tt.days)})
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		d := config.CredentialDescription{Base64EncodedValue: base64.StdEncoding.EncodeToString(c.PEM(t))}
		if _, err := (Base64Source{Logger: log}).Load(context.Background(), &config.Config{}, d, key0); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		warned := strings.Contains(out, "level=WARN") && strings.Contains(out, "expires soon") &&
			strings.Contains(out, `subject="CN=soon"`) && strings.Contains(out, key0+":Base64EncodedValue")
		if warned != tt.warn {
			t.Errorf("expiry in %d days: log %q, want a warning: %v", tt.days, out, tt.warn)
		}
	}
}

// TestRotation replaces the certificate file under a loaded credential:
// the next token request is signed with the new certificate; a broken or
// expired file keeps the one loaded before.
func TestRotation(t *testing.T) {
	first := certtest.New(t, certtest.Options{Subject: "first"})
	second := certtest.New(t, certtest.Options{Subject: "second"})
	expired := certtest.New(t, certtest.Options{Subject: "expired", NotBefore: time.Now().AddDate(-1, 0, 0), NotAfter: time.Now().Add(-time.Hour)})
	s := credentialtest.StandIn(t, devidp.Client{CertificatesPEM: []string{first.CertPEM(), second.CertPEM()}})
	dir := t.TempDir()
	path := writeFile(t, dir, "cert.pem", first.PEM(t))
	var logs bytes.Buffer
	cfg := &config.Config{Dir: dir}
	cfg.AzureAd.ClientID = s.Client.ClientID
	cred, err := PathSource{Logger: slog.New(slog.NewTextHandler(&logs, nil))}.Load(context.Background(), cfg,
		config.CredentialDescription{SourceType: "Path", CertificateDiskPath: "cert.pem"}, key0)
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Now()
	replace := func(data []byte) {
		t.Helper()
		// Write beside and rename, as cert-manager and kubelet do; give
		// each version its own modification time.
		tmp := writeFile(t, dir, "cert.tmp", data)
		stamp = stamp.Add(time.Second)
		if err := os.Chtimes(tmp, stamp, stamp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	signedBy := func(want *certtest.Cert) {
		t.Helper()
		logs.Reset()
		if _, err := s.AppToken(context.Background(), cred.MSAL); err != nil {
			t.Fatalf("app token: %v", err)
		}
		if a := s.LastRequest().Get("client_assertion"); !want.Signed(a) {
			t.Fatalf("the assertion is not signed by %s", want.Cert.Subject)
		}
	}

	signedBy(first)
	replace(second.PEM(t))
	signedBy(second)
	if !strings.Contains(logs.String(), "loaded the client certificate file again") {
		t.Errorf("no rotation logged: %q", logs.String())
	}
	signedBy(second) // unchanged file: not reported again
	if logs.Len() != 0 {
		t.Errorf("unchanged file logged %q", logs.String())
	}
	for _, broken := range [][]byte{[]byte("-----BEGIN CERTIFICATE-----\nhalf writ"), expired.PEM(t)} {
		replace(broken)
		signedBy(second)
		if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, key0+":CertificateDiskPath") {
			t.Errorf("broken file: log %q, want an error naming the setting", out)
		}
		signedBy(second)
		if logs.Len() != 0 {
			t.Errorf("the same broken file was reported again: %q", logs.String())
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	signedBy(second)
	replace(first.PEM(t))
	signedBy(first)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
