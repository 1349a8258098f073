package devidp

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const testServiceAccount = "system:serviceaccount:default:app"

// newFederatedEnv is a stand-in whose test client trusts the Kubernetes
// service account default/app and the system-assigned managed identity.
func newFederatedEnv(t *testing.T, extra ...FederatedCredential) *env {
	t.Helper()
	return newEnvWith(t, func(c *Config) {
		c.Clients[0].FederatedCredentials = append([]FederatedCredential{
			{Issuer: KubernetesIssuerPath, Subject: testServiceAccount},
			{Issuer: "/" + testTenant + "/v2.0", Subject: SystemAssignedIdentity(testTenant).ObjectID},
		}, extra...)
	})
}

// federatedForm is a client-credentials request presenting assertion.
func federatedForm(clientID, assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {clientID},
		"scope":                 {"https://graph.microsoft.com/.default"},
		"client_assertion_type": {jwtBearerAssertion},
		"client_assertion":      {assertion},
	}
}

// k8sToken signs claims with key as a service-account token would be.
func k8sToken(t *testing.T, key any, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A service-account token from the stand-in's Kubernetes issuer is a
// client assertion for a client that trusts that service account, and
// every mismatch is refused with Entra's error.
func TestFederatedServiceAccount(t *testing.T) {
	e := newFederatedEnv(t, FederatedCredential{Issuer: "https://issuer.example", Subject: "repo:contoso/app:ref:refs/heads/main"})
	k8sKey, _, err := e.srv.fed.kubernetesKey()
	if err != nil {
		t.Fatal(err)
	}
	iss := e.ts.URL + KubernetesIssuerPath
	claims := func(change func(map[string]any)) map[string]any {
		now := time.Now()
		c := map[string]any{"iss": iss, "sub": testServiceAccount, "aud": []string{TokenExchangeAudience},
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	good, err := e.srv.ServiceAccountToken(e.ts.URL, "default", "app")
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.srv.ServiceAccountToken(e.ts.URL, "default", "other")
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := e.srv.ServiceAccountToken("https://localhost:1", "default", "app")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		assertion string
		advance   time.Duration
		status    int
		aadsts    string
	}{
		{name: "ServiceAccountToken", assertion: good, status: 200},
		{name: "a token signed with the issuer's key", assertion: k8sToken(t, k8sKey, claims(nil)), status: 200},
		{name: "subject not trusted", assertion: other, status: 401, aadsts: "AADSTS70021"},
		{name: "issuer of another host", assertion: elsewhere, status: 401, aadsts: "AADSTS70021"},
		{name: "wrong audience", assertion: k8sToken(t, k8sKey, claims(func(c map[string]any) { c["aud"] = []string{"api://other"} })), status: 401, aadsts: "AADSTS70021"},
		{name: "expired", assertion: good, advance: 2 * time.Hour, status: 401, aadsts: "AADSTS700024"},
		{name: "no exp", assertion: k8sToken(t, k8sKey, claims(func(c map[string]any) { delete(c, "exp") })), status: 401, aadsts: "AADSTS700024"},
		{name: "signed by another key", assertion: k8sToken(t, rogueKey, claims(nil)), status: 401, aadsts: "AADSTS700027"},
		{name: "the Entra key claiming the Kubernetes issuer", assertion: k8sToken(t, signingKey, claims(nil)), status: 401, aadsts: "AADSTS700027"},
		{name: "an external issuer the stand-in cannot reach", assertion: k8sToken(t, rogueKey, claims(func(c map[string]any) {
			c["iss"], c["sub"] = "https://issuer.example", "repo:contoso/app:ref:refs/heads/main"
		})), status: 401, aadsts: "AADSTS50166"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.advance(tt.advance)
			defer e.advance(-tt.advance)
			status, body := e.token(federatedForm(testClient, tt.assertion))
			if status != tt.status {
				t.Fatalf("status %d %v, want %d", status, body, tt.status)
			}
			if tt.status == 200 {
				c := e.claims(body["access_token"].(string))
				if c["azp"] != testClient || c["azpacr"] != "2" {
					t.Errorf("access token claims %v", c)
				}
				return
			}
			desc, _ := body["error_description"].(string)
			if errorCode(body) != "invalid_client" || !strings.HasPrefix(desc, tt.aadsts+":") {
				t.Errorf("got %v, want invalid_client %s", body, tt.aadsts)
			}
		})
	}

	// Another client trusts nothing: the message says so.
	_, body := e.token(federatedForm(otherClient, good))
	mustContain(t, body["error_description"].(string), "AADSTS70021: No matching federated identity record found", "Assertion Subject: '"+testServiceAccount+"'", "no federatedCredentials")
}

// The Kubernetes issuer publishes its discovery document and keys, as a
// cluster with service account issuer discovery does, and those keys
// verify its tokens.
func TestKubernetesIssuerDiscovery(t *testing.T) {
	e := newFederatedEnv(t)
	resp, body := e.get(e.ts.URL+KubernetesIssuerPath+"/.well-known/openid-configuration", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("discovery: %d %s", resp.StatusCode, body)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != e.ts.URL+KubernetesIssuerPath || doc.JWKSURI != doc.Issuer+"/openid/v1/jwks" {
		t.Fatalf("discovery %+v", doc)
	}
	resp, body = e.get(doc.JWKSURI, nil)
	var set jose.JSONWebKeySet
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &set) != nil {
		t.Fatalf("jwks: %d %s", resp.StatusCode, body)
	}
	raw, err := e.srv.ServiceAccountToken(e.ts.URL, "prod", "web")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in %s", tok.Headers[0].KeyID, body)
	}
	var c struct {
		jwt.Claims
		K8s struct {
			Namespace      string `json:"namespace"`
			ServiceAccount struct {
				Name string `json:"name"`
			} `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != doc.Issuer || c.Subject != "system:serviceaccount:prod:web" || !c.Audience.Contains(TokenExchangeAudience) ||
		c.K8s.Namespace != "prod" || c.K8s.ServiceAccount.Name != "web" || c.Expiry.Time().Sub(c.IssuedAt.Time()) != time.Hour {
		t.Errorf("claims %+v", c)
	}
	if _, err := e.srv.ServiceAccountToken(e.ts.URL, "Bad_NS", "web"); err == nil {
		t.Error("an invalid namespace was accepted")
	}
}

func TestLoadConfigFederated(t *testing.T) {
	const user = `{"id":"6e7b768e-07e2-4810-8459-485f84f8f204","displayName":"A","userPrincipalName":"a@x.example"}`
	file := func(fics, mis string) string {
		return `{"tenantId":"11111111-2222-3333-4444-555555555555","users":[` + user + `],` +
			`"clients":[{"clientId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","redirectUris":["http://localhost:5000/cb"],"federatedCredentials":[` + fics + `]}]` +
			`,"managedIdentities":[` + mis + `]}`
	}
	const sa = `{"issuer":"/kubernetes","subject":"system:serviceaccount:default:app"}`
	const mi = `{"clientId":"0b7c6f9e-2a1d-4c3b-9e8f-7a6b5c4d3e2f","objectId":"1c8d7e0f-3b2e-4d4c-8f9a-8b7c6d5e4f3a"}`
	tests := []struct {
		name, json, want string
	}{
		{"valid", file(sa+`,{"issuer":"/11111111-2222-3333-4444-555555555555/v2.0","subject":"1c8d7e0f-3b2e-4d4c-8f9a-8b7c6d5e4f3a","audiences":["api://AzureADTokenExchange"]},{"issuer":"https://token.actions.githubusercontent.com","subject":"repo:contoso/app:environment:prod"}`, mi), ""},
		{"http issuer", file(`{"issuer":"http://issuer.example","subject":"x"}`, ""), "clients[0].federatedCredentials[0].issuer"},
		{"unknown own issuer", file(`{"issuer":"/github","subject":"x"}`, ""), `"/github": a path must name one of the stand-in's own issuers`},
		{"no subject", file(`{"issuer":"/kubernetes"}`, ""), "clients[0].federatedCredentials[0].subject: required"},
		{"not a service account", file(`{"issuer":"/kubernetes","subject":"default:app"}`, ""), `"default:app" is not a service account`},
		{"two audiences", file(`{"issuer":"/kubernetes","subject":"system:serviceaccount:default:app","audiences":["a:b","c:d"]}`, ""), "at most one audience"},
		{"duplicate", file(sa+","+sa, ""), "clients[0].federatedCredentials[1]: another federated credential"},
		{"unknown key", file(`{"issuer":"/kubernetes","subject":"system:serviceaccount:default:app","audience":"x"}`, ""), `unknown field "audience"`},
		{"identity without GUID", file(sa, `{"clientId":"x","objectId":"1c8d7e0f-3b2e-4d4c-8f9a-8b7c6d5e4f3a"}`), "managedIdentities[0].clientId"},
		{"duplicate identity", file(sa, mi+","+mi), "managedIdentities[1].clientId"},
		{"the system-assigned identity's id", file(sa, `{"clientId":"`+SystemAssignedIdentity(testTenant).ClientID+`","objectId":"1c8d7e0f-3b2e-4d4c-8f9a-8b7c6d5e4f3a"}`), "managedIdentities[0].clientId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "devidp.json")
			if err := os.WriteFile(p, []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(p)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(cfg.Clients[0].FederatedCredentials) != 3 || len(cfg.ManagedIdentities) != 1 || cfg.ManagedIdentities[0].ObjectID == "" {
					t.Errorf("config %+v", cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
