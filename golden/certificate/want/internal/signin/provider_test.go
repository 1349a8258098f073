package signin

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"example.com/certapp/internal/config"
)

const (
	tenant   = "11111111-2222-3333-4444-555555555555"
	clientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)

// idpKeys serves an OpenID configuration and a JWKS holding key.
func idpKeys(t *testing.T, key *rsa.PrivateKey, issuerTemplate string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			json.NewEncoder(w).Encode(map[string]string{
				"issuer":               strings.ReplaceAll(issuerTemplate, "HOST", srv.URL),
				"jwks_uri":             srv.URL + "/keys",
				"end_session_endpoint": srv.URL + "/logout",
			})
		case r.URL.Path == "/keys":
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
				{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"},
			}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// The ID token checks MSAL Go skips: each forged token must be refused.
func TestVerifyRefusesForgedIDTokens(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv := idpKeys(t, key, "HOST/"+tenant+"/v2.0")
	p := newProvider(config.AzureAd{Instance: srv.URL + "/", TenantID: tenant, ClientID: clientID}, srv.Client())
	issuer := srv.URL + "/" + tenant + "/v2.0"
	now := time.Now()
	good := func() map[string]any {
		return map[string]any{"iss": issuer, "aud": clientID, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
			"nonce": "n1", "oid": "o", "tid": tenant, "name": "Adele", "sub": "s"}
	}
	with := func(k string, v any) map[string]any { c := good(); c[k] = v; return c }
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(must(json.Marshal(good()))) + "."

	if c, err := p.verify(context.Background(), sign(t, key, "k1", good()), "n1"); err != nil || c.Name != "Adele" {
		t.Fatalf("a good token: %+v, %v", c, err)
	}
	tests := []struct{ name, token, nonce string }{
		{"alg none", none, "n1"},
		{"signed by another key", sign(t, other, "k1", good()), "n1"},
		{"wrong audience", sign(t, key, "k1", with("aud", "someone-else")), "n1"},
		{"wrong issuer", sign(t, key, "k1", with("iss", "https://evil.example/"+tenant+"/v2.0")), "n1"},
		{"expired", sign(t, key, "k1", with("exp", now.Add(-time.Hour).Unix())), "n1"},
		{"nonce of another sign-in", sign(t, key, "k1", good()), "n2"},
		{"no nonce", sign(t, key, "k1", with("nonce", "")), "n1"},
		{"empty", "", "n1"},
		{"garbage", "not.a.jwt", "n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.verify(context.Background(), tt.token, tt.nonce); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// Multi-tenant apps (common, organizations) get tokens issued by each
// user's own tenant; the issuer must still name the token's tenant.
func TestVerifyMultiTenantIssuer(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv := idpKeys(t, key, "HOST/{tenantid}/v2.0")
	p := newProvider(config.AzureAd{Instance: srv.URL + "/", TenantID: "organizations", ClientID: clientID}, srv.Client())
	claims := func(iss, tid string) map[string]any {
		return map[string]any{"iss": iss, "aud": clientID, "exp": time.Now().Add(time.Hour).Unix(), "nonce": "n", "tid": tid}
	}
	ok := sign(t, key, "k1", claims(srv.URL+"/"+tenant+"/v2.0", tenant))
	if _, err := p.verify(context.Background(), ok, "n"); err != nil {
		t.Fatalf("token from the user's tenant: %v", err)
	}
	bad := sign(t, key, "k1", claims(srv.URL+"/99999999-2222-3333-4444-555555555555/v2.0", tenant))
	if _, err := p.verify(context.Background(), bad, "n"); err == nil {
		t.Fatal("accepted an issuer that is not the token's tenant")
	}
	// The other way round: a tid that claims an allowed tenant under
	// another tenant's issuer, or the allowed issuer with another tid.
	forged := sign(t, key, "k1", claims(srv.URL+"/"+tenant+"/v2.0", "99999999-2222-3333-4444-555555555555"))
	if _, err := p.verify(context.Background(), forged, "n"); err == nil {
		t.Fatal("accepted a tid that is not the issuer's tenant")
	}
	if _, err := p.verify(context.Background(), sign(t, key, "k1", claims(srv.URL+"/{tenantid}/v2.0", "")), "n"); err == nil {
		t.Fatal("accepted the templated issuer itself")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
