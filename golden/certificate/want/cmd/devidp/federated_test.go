package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"example.com/certapp/internal/devidp"
)

// A devidp.json client that trusts a service account and a managed
// identity gets, in make dev, a token file the token endpoint accepts and
// the App Service–style endpoint, both named in the app's environment.
func TestCredentialless(t *testing.T) {
	for _, k := range []string{"AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"} {
		t.Setenv(k, "")
	}
	const tenant, clientID = "11111111-2222-3333-4444-555555555555", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	cfg := devidp.Config{
		TenantID: tenant,
		Users:    []devidp.User{{ID: "6e7b768e-07e2-4810-8459-485f84f8f204", DisplayName: "A", UserPrincipalName: "a@x.example"}},
		Clients: []devidp.Client{{ClientID: clientID, RedirectURIs: []string{"http://localhost:5000/cb"},
			FederatedCredentials: []devidp.FederatedCredential{
				{Issuer: "/kubernetes", Subject: "system:serviceaccount:default:app"},
				{Issuer: "/" + tenant + "/v2.0", Subject: devidp.SystemAssignedIdentity(tenant).ObjectID},
			}}},
		Logger: discard,
	}
	srv, err := devidp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	env, err := credentialless(ctx, srv, cfg, ts.URL, dir, &out, discard)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, federatedTokenFile)
	if abs, _ := filepath.Abs(tokenFile); !slices.Contains(env, "AZURE_FEDERATED_TOKEN_FILE="+abs) ||
		!slices.Contains(env, "IDENTITY_ENDPOINT="+ts.URL+"/msi/token") || !slices.Contains(env, "IDENTITY_HEADER="+srv.IdentityHeader()) {
		t.Errorf("env %q", env)
	}
	for _, w := range []string{"system:serviceaccount:default:app", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", devidp.SystemAssignedIdentity(tenant).ObjectID} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output %q lacks %q", out.String(), w)
		}
	}
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	tok, _ := os.ReadFile(tokenFile)
	resp, err := ts.Client().PostForm(ts.URL+"/"+tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"https://graph.microsoft.com/.default"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {string(tok)},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the token file's token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/msi/token?api-version=2019-08-01&resource=api://AzureADTokenExchange", nil)
	req.Header.Set("X-IDENTITY-HEADER", srv.IdentityHeader())
	if resp, err = ts.Client().Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("managed identity endpoint: %d", resp.StatusCode)
	}

	// Without federated credentials: nothing to do. Variables set by the
	// developer are left alone.
	t.Setenv("IDENTITY_HEADER", "mine")
	cfg.Clients[0].FederatedCredentials = cfg.Clients[0].FederatedCredentials[1:]
	env, err = credentialless(ctx, srv, cfg, ts.URL, t.TempDir(), &out, discard)
	if err != nil || len(env) != 1 || !strings.HasPrefix(env[0], "IDENTITY_ENDPOINT=") {
		t.Errorf("env %q, %v", env, err)
	}
	cfg.Clients[0].FederatedCredentials = nil
	if env, err = credentialless(ctx, srv, cfg, ts.URL, t.TempDir(), &out, discard); err != nil || len(env) != 0 {
		t.Errorf("env %q, %v", env, err)
	}
}
