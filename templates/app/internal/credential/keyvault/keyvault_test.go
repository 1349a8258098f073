package keyvault

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential/certificate/certtest"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential/credentialtest"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential/keyvault/keyvaulttest"
	"github.com/idweb-init/idweb-init/templates/app/internal/devidp"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokens"
)

const key0 = "AzureAd:ClientCredentials:0"

// store puts c into the vault as Key Vault keeps a certificate: the
// secret of the same name, a PFX without password in base64 (or PEM).
func store(t *testing.T, v *keyvaulttest.Vault, name string, c *certtest.Cert, asPEM bool) string {
	t.Helper()
	if asPEM {
		return v.SetSecret(name, "application/x-pem-file", string(c.PEM(t)))
	}
	return v.SetSecret(name, "application/x-pkcs12", base64.StdEncoding.EncodeToString(c.PFX(t, "")))
}

func source(v *keyvaulttest.Vault, log *slog.Logger) Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return Source{Logger: log, Credential: v.Credential(), ClientOptions: v.ClientOptions()}
}

func entry(v *keyvaulttest.Vault, name string) config.CredentialDescription {
	return config.CredentialDescription{SourceType: "KeyVault", KeyVaultURL: v.URL, KeyVaultCertificateName: name}
}

func TestContract(t *testing.T) {
	v := keyvaulttest.New(t)
	store(t, v, "app-cert", certtest.New(t, certtest.Options{}), false)
	credentialtest.Run(t, credentialtest.Fixture{
		Source: source(v, nil),
		Valid: func(t *testing.T) (*config.Config, config.CredentialDescription) {
			return &config.Config{}, entry(v, "app-cert")
		},
		Broken: func(t *testing.T) (*config.Config, config.CredentialDescription, string) {
			d := entry(v, "app-cert")
			d.KeyVaultURL = strings.Replace(v.URL, "https:", "http:", 1)
			return &config.Config{}, d, "KeyVaultUrl"
		},
	})
}

// TestSignIn reads the certificate from the vault (PFX and PEM secrets)
// and signs in as the app with it at the stand-in.
func TestSignIn(t *testing.T) {
	for _, asPEM := range []bool{false, true} {
		t.Run(map[bool]string{false: "PFX", true: "PEM"}[asPEM], func(t *testing.T) {
			c := certtest.New(t, certtest.Options{})
			v := keyvaulttest.New(t)
			store(t, v, "app-cert", c, asPEM)
			s := credentialtest.StandIn(t, devidp.Client{CertificatesPEM: []string{c.CertPEM()}})
			cfg := &config.Config{}
			cfg.AzureAd.ClientID = s.Client.ClientID
			cfg.AzureAd.ClientCredentials = []config.CredentialDescription{entry(v, "app-cert")}
			cred, err := credential.Load(context.Background(), cfg, source(v, nil))
			if err != nil {
				t.Fatal(err)
			}
			if cred.Rejected == nil {
				t.Error("no Rejected hook")
			}
			if _, err := s.AppToken(context.Background(), cred.MSAL); err != nil {
				t.Fatal(err)
			}
			if !c.Signed(s.LastRequest().Get("client_assertion")) {
				t.Error("the assertion is not signed by the vault's certificate")
			}
			// The client followed the vault's challenge to the token it names.
			reqs := v.TokenRequests()
			if len(reqs) == 0 || reqs[0].TenantID != keyvaulttest.Tenant || len(reqs[0].Scopes) != 1 || reqs[0].Scopes[0] != keyvaulttest.Resource+"/.default" {
				t.Errorf("token requests %+v", reqs)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	v := keyvaulttest.New(t)
	good := certtest.New(t, certtest.Options{Subject: "good"})
	expired := certtest.New(t, certtest.Options{Subject: "old", NotBefore: time.Now().AddDate(-1, 0, 0), NotAfter: time.Now().Add(-time.Hour)})
	store(t, v, "app-cert", good, false)
	store(t, v, "old-cert", expired, false)
	v.SetSecret("plain", "text/plain", "hunter2")
	where := func(name string) string {
		return key0 + " (KeyVault " + v.URL + ` certificate "` + name + `"): `
	}
	tests := []struct {
		name string
		d    func(d *config.CredentialDescription)
		deny bool
		want string
	}{
		{name: "http URL", d: func(d *config.CredentialDescription) { d.KeyVaultURL = "http://x.vault.azure.net/" },
			want: key0 + `:KeyVaultUrl: "http://x.vault.azure.net/" is not an https URL`},
		{name: "no URL", d: func(d *config.CredentialDescription) { d.KeyVaultURL = "" }, want: key0 + ":KeyVaultUrl is empty"},
		{name: "bad name", d: func(d *config.CredentialDescription) { d.KeyVaultCertificateName = "app cert" },
			want: key0 + `:KeyVaultCertificateName: "app cert" is not a Key Vault certificate name`},
		{name: "access denied", deny: true,
			want: where("app-cert") + `access denied (403 Forbidden, Forbidden, ForbiddenByRbac): grant the app's identity the "Key Vault Secrets User" role`},
		{name: "not found", d: func(d *config.CredentialDescription) { d.KeyVaultCertificateName = "nope" },
			want: where("nope") + "not found (404 Not Found, SecretNotFound)"},
		{name: "a plain secret", d: func(d *config.CredentialDescription) { d.KeyVaultCertificateName = "plain" },
			want: where("plain") + `the secret's content type is "text/plain"`},
		{name: "expired", d: func(d *config.CredentialDescription) { d.KeyVaultCertificateName = "old-cert" },
			want: where("old-cert") + `the certificate "CN=old" expired on`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v.Deny(tt.deny)
			defer v.Deny(false)
			d := entry(v, "app-cert")
			if tt.d != nil {
				tt.d(&d)
			}
			_, err := source(v, nil).Load(context.Background(), &config.Config{}, d, key0)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("Load: %v\nwant one line containing %s", err, tt.want)
			}
		})
	}
}

// TestRotation: the vault gets a new version after the app loaded the
// certificate; Rejected reads it, and the next assertion is signed with it.
// With nothing new, Rejected says so and bursts of refusals read once.
func TestRotation(t *testing.T) {
	first := certtest.New(t, certtest.Options{Subject: "first"})
	second := certtest.New(t, certtest.Options{Subject: "second"})
	v := keyvaulttest.New(t)
	store(t, v, "app-cert", first, false)
	s := credentialtest.StandIn(t, devidp.Client{CertificatesPEM: []string{first.CertPEM(), second.CertPEM()}})
	cfg := &config.Config{}
	cfg.AzureAd.ClientID = s.Client.ClientID
	var logs bytes.Buffer
	cred, err := source(v, slog.New(slog.NewTextHandler(&logs, nil))).Load(context.Background(), cfg, entry(v, "app-cert"), key0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	signedBy := func(want *certtest.Cert) {
		t.Helper()
		if _, err := s.AppToken(ctx, cred.MSAL); err != nil {
			t.Fatal(err)
		}
		if !want.Signed(s.LastRequest().Get("client_assertion")) {
			t.Fatalf("the assertion is not signed by %s", want.Cert.Subject)
		}
	}

	store(t, v, "app-cert", second, false)
	gets := v.Gets()
	signedBy(first) // cached: the vault is not read at every token request
	if v.Gets() != gets {
		t.Errorf("a token request read the vault")
	}
	if !cred.Rejected(ctx) {
		t.Fatal("Rejected = false after a rotation")
	}
	signedBy(second)
	if !strings.Contains(logs.String(), "loaded the latest version") {
		t.Errorf("log %q", logs.String())
	}
	// A burst of refusals shares that read.
	gets = v.Gets()
	cred.Rejected(ctx)
	if v.Gets() != gets {
		t.Error("a second Rejected within RecheckInterval read the vault again")
	}

	// Nothing new in the vault: Rejected reads and says no.
	cred2, err := source(v, nil).Load(ctx, cfg, entry(v, "app-cert"), key0)
	if err != nil {
		t.Fatal(err)
	}
	gets = v.Gets()
	if cred2.Rejected(ctx) {
		t.Error("Rejected = true with nothing changed")
	}
	if v.Gets() != gets+1 {
		t.Errorf("Rejected read the vault %d times, want 1", v.Gets()-gets)
	}
	// A vault that became unreadable: no retry, the cached certificate stays.
	cred3, err := source(v, nil).Load(ctx, cfg, entry(v, "app-cert"), key0)
	if err != nil {
		t.Fatal(err)
	}
	v.Deny(true)
	if cred3.Rejected(ctx) {
		t.Error("Rejected = true when the vault refuses")
	}
}

type failingCredential struct{}

func (failingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("DefaultAzureCredential: failed to acquire a token.\nAttempted credentials:\n\tEnvironmentCredential: missing environment variables\n\tManagedIdentityCredential: no response")
}

// TestNoToken: the identity cannot get a token: the error says so on one line.
func TestNoToken(t *testing.T) {
	v := keyvaulttest.New(t)
	store(t, v, "app-cert", certtest.New(t, certtest.Options{}), false)
	src := source(v, nil)
	src.Credential = failingCredential{}
	_, err := src.Load(context.Background(), &config.Config{}, entry(v, "app-cert"), key0)
	want := "cannot get a token for Key Vault: DefaultAzureCredential: failed to acquire a token.; Attempted credentials:; EnvironmentCredential: missing environment variables; ManagedIdentityCredential: no response"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Load: %v\nwant it to end with %s", err, want)
	}
}

// TestManagedIdentity: with ManagedIdentityClientId and no injected
// credential, the vault is read with a token of that user-assigned managed
// identity, here from an App Service-style identity endpoint on loopback.
func TestManagedIdentity(t *testing.T) {
	const miClientID = "99999999-8888-7777-6666-555555555555"
	v := keyvaulttest.New(t)
	store(t, v, "app-cert", certtest.New(t, certtest.Options{}), false)
	var asked url.Values
	mi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-IDENTITY-HEADER") != "secret-header" {
			http.Error(w, "no identity header", http.StatusBadRequest)
			return
		}
		asked = r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"expires_on":"%d","resource":%q,"token_type":"Bearer","client_id":%q}`,
			v.AcceptedToken(), time.Now().Add(time.Hour).Unix(), asked.Get("resource"), miClientID)
	}))
	defer mi.Close()
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("IDENTITY_ENDPOINT", mi.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", "secret-header")
	src := source(v, nil)
	src.Credential = nil
	d := entry(v, "app-cert")
	d.ManagedIdentityClientID = miClientID
	if _, err := src.Load(context.Background(), &config.Config{}, d, key0); err != nil {
		t.Fatal(err)
	}
	if asked.Get("client_id") != miClientID || !strings.HasPrefix(asked.Get("resource"), keyvaulttest.Resource) {
		t.Errorf("the identity endpoint was asked %v", asked)
	}
}

// TestAcquirerRetriesAfterRotation: Key Vault renewed the certificate
// after the app loaded it and only the new one is registered: the
// acquirer's first request is refused (invalid_client), Rejected reads the
// new version, and the retry signs in.
func TestAcquirerRetriesAfterRotation(t *testing.T) {
	first := certtest.New(t, certtest.Options{Subject: "first"})
	second := certtest.New(t, certtest.Options{Subject: "second"})
	v := keyvaulttest.New(t)
	store(t, v, "app-cert", first, false)
	s := credentialtest.StandIn(t, devidp.Client{CertificatesPEM: []string{second.CertPEM()}})
	cfg := &config.Config{}
	cfg.AzureAd.Instance = strings.TrimSuffix(s.Authority, credentialtest.TenantID)
	cfg.AzureAd.TenantID = credentialtest.TenantID
	cfg.AzureAd.ClientID = s.Client.ClientID
	cred, err := source(v, nil).Load(context.Background(), cfg, entry(v, "app-cert"), key0)
	if err != nil {
		t.Fatal(err)
	}
	store(t, v, "app-cert", second, false)
	acq, err := tokens.New(cfg.AzureAd, cred, noStore{}, s.HTTPClient())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acq.AppToken(context.Background(), []string{credentialtest.Scope}); err != nil {
		t.Fatalf("AppToken: %v", err)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || !first.Signed(reqs[0].Get("client_assertion")) || !second.Signed(reqs[1].Get("client_assertion")) {
		t.Errorf("%d token requests; want one signed by the old certificate, then one by the new", len(reqs))
	}
}

// noStore is a token cache that keeps nothing (the test needs none).
type noStore struct{}

func (noStore) Load(context.Context, string) ([]byte, error) { return nil, nil }
func (noStore) Save(context.Context, string, []byte) error   { return nil }
func (noStore) Delete(context.Context, string) error         { return nil }
