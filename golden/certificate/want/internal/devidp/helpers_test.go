package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testTenant   = "11111111-2222-3333-4444-555555555555"
	testClient   = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	otherClient  = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff"
	testSecret   = "test-secret-value"
	otherSecret  = "other-secret-value"
	testRedirect = "http://localhost:5000/signin-oidc"
	testLogout   = "http://localhost:5000/signout-callback-oidc"
	adeleID      = "6e7b768e-07e2-4810-8459-485f84f8f204"
	alexID       = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
)

var testUsers = []User{
	{ID: adeleID, DisplayName: "Adele Vance", GivenName: "Adele", Surname: "Vance", UserPrincipalName: "adele@contoso.example", Mail: "adele@contoso.example", JobTitle: "Retail Manager", OfficeLocation: "18/2111"},
	{ID: alexID, DisplayName: "Alex Wilber", GivenName: "Alex", Surname: "Wilber", UserPrincipalName: "alex@contoso.example", Mail: "alex@contoso.example"},
}

// RSA key generation is slow; share keys between tests.
var (
	keysOnce                        sync.Once
	signingKey, clientKey, rogueKey *rsa.PrivateKey
	clientCert                      *x509.Certificate
	clientCertPEM                   string
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		gen := func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return k
		}
		signingKey, clientKey, rogueKey = gen(), gen(), gen()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(42),
			Subject:      pkix.Name{CommonName: "devidp test client"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &clientKey.PublicKey, clientKey)
		if err != nil {
			panic(err)
		}
		clientCert, _ = x509.ParseCertificate(der)
		clientCertPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
}

// env is a stand-in served by an httptest TLS server, with a movable clock.
type env struct {
	t      *testing.T
	srv    *Server
	ts     *httptest.Server
	offset atomic.Int64 // added to time.Now
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith is newEnv with a hook to adjust the configuration.
func newEnvWith(t *testing.T, adjust func(*Config)) *env {
	t.Helper()
	testKeys(t)
	e := &env{t: t}
	cfg := Config{
		TenantID: testTenant,
		Users:    testUsers,
		Clients: []Client{
			{ClientID: testClient, ClientSecret: testSecret, RedirectURIs: []string{testRedirect},
				PostLogoutRedirectURIs: []string{testLogout}, CertificatesPEM: []string{clientCertPEM}},
			{ClientID: otherClient, ClientSecret: otherSecret, RedirectURIs: []string{"https://localhost:7000/cb"}},
		},
		SigningKey: signingKey,
		Now:        e.now,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ts = httptest.NewTLSServer(srv)
	t.Cleanup(e.ts.Close)
	return e
}

func (e *env) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

func (e *env) advance(d time.Duration) { e.offset.Add(int64(d)) }

func (e *env) tokenEndpoint() string { return e.ts.URL + "/" + testTenant + "/oauth2/v2.0/token" }

func (e *env) issuer() string { return e.ts.URL + "/" + testTenant + "/v2.0" }

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = randomToken(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeURL builds an authorization request; overrides replace or (with
// an empty value) remove parameters.
func (e *env) authorizeURL(overrides map[string]string) string {
	q := url.Values{
		"client_id":     {testClient},
		"redirect_uri":  {testRedirect},
		"response_type": {"code"},
		"response_mode": {"form_post"},
		"scope":         {"openid profile offline_access User.Read"},
		"state":         {"st-123"},
		"nonce":         {"nonce-456"},
	}
	for k, v := range overrides {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	return e.ts.URL + "/" + testTenant + "/oauth2/v2.0/authorize?" + q.Encode()
}

// code signs adele in with PKCE and returns the code and verifier.
func (e *env) code(overrides map[string]string) (code, verifier string) {
	e.t.Helper()
	verifier, challenge := pkce()
	if overrides == nil {
		overrides = map[string]string{}
	}
	overrides["code_challenge"] = challenge
	overrides["code_challenge_method"] = "S256"
	_, form, err := SignIn(context.Background(), e.ts.Client(), e.authorizeURL(overrides), adeleID)
	if err != nil {
		e.t.Fatal(err)
	}
	if form.Get("state") != "st-123" {
		e.t.Fatalf("state = %q", form.Get("state"))
	}
	return form.Get("code"), verifier
}

// redeem exchanges a code with the test client's secret.
func (e *env) redeem(code, verifier string) (int, map[string]any) {
	return e.token(url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {testClient},
		"client_secret": {testSecret},
		"code":          {code},
		"redirect_uri":  {testRedirect},
		"code_verifier": {verifier},
		"scope":         {"User.Read openid profile offline_access"},
	})
}

// token posts a token request and decodes the JSON response.
func (e *env) token(form url.Values) (int, map[string]any) {
	e.t.Helper()
	resp, err := e.ts.Client().PostForm(e.tokenEndpoint(), form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		e.t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, body
}

// get performs a GET without following redirects.
func (e *env) get(u string, header http.Header) (*http.Response, string) {
	e.t.Helper()
	c := *e.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// claims verifies a JWT with the stand-in's published JWKS and decodes it.
func (e *env) claims(token string) map[string]any {
	e.t.Helper()
	resp, body := e.get(e.ts.URL+"/"+testTenant+"/discovery/v2.0/keys", nil)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("jwks: %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		e.t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		e.t.Fatal(err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		e.t.Fatalf("kid %q not in JWKS", tok.Headers[0].KeyID)
	}
	var c map[string]any
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		e.t.Fatalf("JWKS does not verify token: %v", err)
	}
	return c
}

// assertion builds a client assertion signed with key.
func assertion(t *testing.T, key *rsa.PrivateKey, alg jose.SignatureAlgorithm, iss, aud string, exp time.Time) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(jwt.Claims{
		Issuer: iss, Subject: iss, Audience: jwt.Audience{aud}, ID: randomGUID(),
		Expiry: jwt.NewNumericDate(exp), NotBefore: jwt.NewNumericDate(time.Now().Add(-time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func errorCode(body map[string]any) string {
	s, _ := body["error"].(string)
	return s
}

func mustContain(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("missing %q in:\n%s", sub, s)
		}
	}
}

func newJar() http.CookieJar {
	j, err := cookiejar.New(nil)
	if err != nil {
		panic(err)
	}
	return j
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func decodeJSON(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}
