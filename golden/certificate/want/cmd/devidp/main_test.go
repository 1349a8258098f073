package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"example.com/certapp/internal/devidp"
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
	for name, mode := range map[string]os.FileMode{
		"ca.pem": 0o644, "ca-key.pem": 0o600, "cert.pem": 0o644, "key.pem": 0o600,
		"signing-key.pem": 0o600, "client-secret": 0o600,
	} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), mode)
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
	if c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("server certificate: IsCA %v KeyUsage %v", c.IsCA, c.KeyUsage)
	}
	if d := c.NotAfter.Sub(time.Now()); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("validity %v", d)
	}
	if !st.ca.IsCA || !st.ca.MaxPathLenZero || st.ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA %v MaxPathLenZero %v KeyUsage %v", st.ca.IsCA, st.ca.MaxPathLenZero, st.ca.KeyUsage)
	}
	if d := st.ca.NotAfter.Sub(time.Now()); d < 9*365*24*time.Hour {
		t.Errorf("CA validity %v", d)
	}
	if st.signingKey.N.BitLen() != 2048 {
		t.Errorf("signing key %d bits", st.signingKey.N.BitLen())
	}
	// Trusting ca.pem, and only it, makes the certificate valid for the
	// loopback names, as a browser with the CA in its trust store sees it.
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(contents["ca.pem"]) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("certificate not valid for %s: %v", name, err)
		}
	}
	if len(st.cert.Certificate) != 2 || !bytes.Equal(st.cert.Certificate[1], st.ca.Raw) {
		t.Error("cert.pem is not the certificate followed by the CA's")
	}
	// The output says what to trust, with fingerprints to check.
	for _, want := range []string{
		filepath.Join(dir, "cert.pem") + " (SHA-256 " + fingerprint(c) + ")",
		filepath.Join(dir, "ca.pem") + " (" + strconv.Quote(st.ca.Subject.CommonName) + ", SHA-256 " + fingerprint(st.ca) + ")",
		trustCommand(runtime.GOOS, filepath.Join(dir, "ca.pem"), st.ca.Subject.CommonName),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
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

// The CA guards against its key leaking: it can vouch for loopback names
// only, and cannot make other CAs.
func TestCAIsConstrainedToLoopback(t *testing.T) {
	st, err := loadState(t.TempDir(), time.Now(), discard)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := loadOrCreateCAKey(filepath.Join(st.dir, "ca-key.pem"), discard)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(st.ca)
	issue := func(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		t.Helper()
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl.SerialNumber = big.NewInt(2)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, key
	}
	for _, tmpl := range []*x509.Certificate{
		{DNSNames: []string{"login.microsoftonline.com"}},
		{IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}},
	} {
		c, _ := issue(tmpl, st.ca, caKey)
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
			t.Errorf("the CA vouches for %v %v", c.DNSNames, c.IPAddresses)
		}
	}
	sub, subKey := issue(&x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, st.ca, caKey)
	leaf, _ := issue(&x509.Certificate{DNSNames: []string{"localhost"}}, sub, subKey)
	inter := x509.NewCertPool()
	inter.AddCert(sub)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err == nil {
		t.Error("the CA can make another CA")
	}
	// The test's own certificates are sound: one for localhost verifies.
	ok, _ := issue(&x509.Certificate{DNSNames: []string{"localhost"}}, st.ca, caKey)
	if _, err := ok.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Errorf("a certificate for localhost: %v", err)
	}
}

// Certificates are renewed before they expire without a new CA (nothing
// to trust again); an expiring CA is replaced, and so is the certificate.
func TestExpiringCertificatesAreReplaced(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old, err := loadState(dir, now.Add(-2*365*24*time.Hour), discard)
	if err != nil {
		t.Fatal(err)
	}
	st, err := loadState(dir, now, discard)
	if err != nil {
		t.Fatal(err)
	}
	if !st.cert.Leaf.NotAfter.After(now.Add(300 * 24 * time.Hour)) {
		t.Errorf("certificate not renewed: %v", st.cert.Leaf.NotAfter)
	}
	if !st.ca.Equal(old.ca) {
		t.Error("renewing the certificate replaced the CA")
	}
	if st.clientSecret != old.clientSecret || !st.signingKey.Equal(old.signingKey) {
		t.Error("renewing the certificate changed the secret or the signing key")
	}

	later, err := loadState(dir, old.ca.NotAfter.Add(-time.Hour), discard)
	if err != nil {
		t.Fatal(err)
	}
	if later.ca.Equal(st.ca) || !later.ca.NotAfter.After(old.ca.NotAfter) {
		t.Errorf("expiring CA not replaced (not after %v)", later.ca.NotAfter)
	}
	if later.ca.Subject.CommonName != st.ca.Subject.CommonName {
		t.Errorf("the renewed CA is called %q, was %q", later.ca.Subject.CommonName, st.ca.Subject.CommonName)
	}
	if err := later.cert.Leaf.CheckSignatureFrom(later.ca); err != nil {
		t.Errorf("certificate not reissued by the new CA: %v", err)
	}
}

// State written by an older devidp (a self-signed certificate, no CA) gets
// a CA and a certificate issued by it.
func TestSelfSignedCertificateIsReissued(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(300 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)

	st, err := loadState(dir, time.Now(), discard)
	if err != nil {
		t.Fatal(err)
	}
	if st.cert.Leaf.IsCA || st.cert.Leaf.CheckSignatureFrom(st.ca) != nil {
		t.Error("the self-signed certificate was kept")
	}
}

func TestTrustCommand(t *testing.T) {
	const name = "devidp development CA 0a1b2c3d"
	for _, tt := range []struct{ goos, file, want string }{
		{"linux", ".devidp/ca.pem", "mkdir -p ~/.pki/nssdb && certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n devidp-development-CA-0a1b2c3d -i .devidp/ca.pem"},
		{"linux", "/home/me/my app/.devidp/ca.pem", "mkdir -p ~/.pki/nssdb && certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n devidp-development-CA-0a1b2c3d -i '/home/me/my app/.devidp/ca.pem'"},
		{"darwin", ".devidp/ca.pem", "security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db .devidp/ca.pem"},
		{"windows", `.devidp\ca.pem`, `certutil -user -addstore Root ".devidp\ca.pem"`},
	} {
		if got := trustCommand(tt.goos, tt.file, name); got != tt.want {
			t.Errorf("trustCommand(%s, %s) =\n%s\nwant\n%s", tt.goos, tt.file, got, tt.want)
		}
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

// testConfig is a registration file with an API, for tests that need
// one whatever the project's devidp.json holds.
const testConfig = `{
  "tenantId": "11111111-2222-3333-4444-555555555555",
  "clients": [{"clientId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "redirectUris": ["http://localhost:5000/signin-oidc"]}],
  "users": [{"id": "6e7b768e-07e2-4810-8459-485f84f8f204", "displayName": "Adele Vance", "userPrincipalName": "adele@contoso.example"}],
  "apis": [
    {"name": "Orders", "appIdUri": "api://0a1b2c3d-0000-4000-8000-000000000001", "scopes": ["Orders.Read", "Orders.Write"], "appRoles": ["Orders.Read.All"]},
    {"name": "Reports", "appIdUri": "https://contoso.example/reports", "appRoles": ["Reports.Read.All"]}
  ]
}`

// writeTestConfig writes testConfig to a temporary devidp.json.
func writeTestConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "devidp.json")
	if err := os.WriteFile(p, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// projectConfig is the project's own devidp.json; in the template tree,
// where it is still devidp.json.tmpl, testConfig stands in for it.
func projectConfig(t *testing.T) string {
	t.Helper()
	const p = "../../devidp.json"
	if _, err := os.Stat(p); err != nil {
		if _, terr := os.Stat(p + ".tmpl"); terr == nil {
			return writeTestConfig(t)
		}
		t.Fatal(err)
	}
	return p
}

// serve runs the command on a free loopback port until the test ends (or
// stop is called) and returns its base URL, an HTTPS client trusting only
// its certificate, its output and its state directory.
func serve(t *testing.T, configPath string) (base string, c *http.Client, out *syncBuffer, dir string, stop func() error) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--config", configPath, "--state-dir", dir}, out, io.Discard)
	}()
	urlRE := regexp.MustCompile(`at (https://127\.0\.0\.1:\d+)/ for tenant `)
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no URL line in %q", out.String())
		}
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	c = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("no shutdown")
		}
	}
	t.Cleanup(func() { stop() })
	return base, c, out, dir, stop
}

// The registered APIs are served and their URLs printed at start-up.
func TestServeAPIs(t *testing.T) {
	base, c, out, _, stop := serve(t, writeTestConfig(t))
	for _, want := range []string{
		"devidp: API Orders at " + base + "/apis/Orders/ (app ID URI api://0a1b2c3d-0000-4000-8000-000000000001; scopes: Orders.Read Orders.Write; app roles: Orders.Read.All)\n",
		"devidp: API Reports at " + base + "/apis/Reports/ (app ID URI https://contoso.example/reports; scopes: none; app roles: Reports.Read.All)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	resp, err := c.Get(base + "/apis/Orders/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("API without a token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

// A taken port is one clear line, and main exits non-zero.
func TestPortInUse(t *testing.T) {
	if os.Getenv("DEVIDP_TEST_MAIN") == "1" {
		os.Args = append([]string{"devidp"}, strings.Fields(os.Getenv("DEVIDP_TEST_ARGS"))...)
		main()
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	args := []string{"--addr", ln.Addr().String(), "--config", writeTestConfig(t), "--state-dir", filepath.Join(t.TempDir(), "state")}

	err = run(context.Background(), args, io.Discard, io.Discard)
	want := "port " + port + " is in use (another devidp running?); stop it or set --addr to another port"
	if err == nil || err.Error() != want {
		t.Errorf("run: %v, want %q", err, want)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestPortInUse$")
	cmd.Env = append(os.Environ(), "DEVIDP_TEST_MAIN=1", "DEVIDP_TEST_ARGS="+strings.Join(args, " "))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit: %v", err)
	}
	if got := stderr.String(); got != "devidp: "+want+"\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestServe(t *testing.T) {
	// The project's own registration file, whatever app it registers.
	configPath := projectConfig(t)
	cfg, err := devidp.LoadConfig(configPath)
	if err != nil {
		t.Fatal(err)
	}
	base, c, out, dir, stop := serve(t, configPath)
	if !strings.Contains(out.String(), " for tenant "+cfg.TenantID+" ") {
		t.Errorf("output %q does not name tenant %s", out.String(), cfg.TenantID)
	}
	if !strings.Contains(out.String(), filepath.Join(dir, "client-secret")) {
		t.Errorf("output %q does not say where the client secret is", out.String())
	}

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

	if err := stop(); err != nil {
		t.Errorf("run: %v", err)
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
