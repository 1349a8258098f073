package managedidentity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential/credentialtest"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential/workloadidentity"
	"github.com/idweb-init/idweb-init/templates/app/internal/devidp"
)

// MSAL Go caches managed identity tokens process-wide, by identity and
// resource; the stand-in of one test issues tokens another does not
// accept. So every test asks for a resource of its own (an audience its
// client's federated credential names), or uses an identity of its own.

func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func uniqueAudience() string { return devidp.TokenExchangeAudience + "/" + newGUID() }

// clearEnv leaves MSAL nothing to detect but IMDS.
func clearEnv(t *testing.T) {
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"} {
		t.Setenv(k, "")
	}
}

var tenantIssuer = "/" + credentialtest.TenantID + "/v2.0"

// trusting is a client whose federated credential trusts identity
// objectID's tokens for audience.
func trusting(objectID, audience string) devidp.Client {
	fc := devidp.FederatedCredential{Issuer: tenantIssuer, Subject: objectID}
	if audience != "" {
		fc.Audiences = []string{audience}
	}
	return devidp.Client{FederatedCredentials: []devidp.FederatedCredential{fc}}
}

var system = devidp.SystemAssignedIdentity(credentialtest.TenantID)

// imdsTransport sends requests for IMDS's fixed address to the stand-in;
// with no stand-in it fails them as a network without IMDS does. Tests
// never reach 169.254.169.254 itself.
type imdsTransport struct {
	p *credentialtest.Provider // nil: no IMDS here
}

var errUnreachable = errors.New("dial tcp 169.254.169.254:80: connect: network is unreachable")

func (t imdsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "169.254.169.254" {
		if t.p == nil {
			return nil, errUnreachable
		}
		host := strings.TrimPrefix(strings.TrimSuffix(t.p.Authority, "/"+credentialtest.TenantID), "https://")
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = "https", host, host
	}
	if t.p == nil {
		return http.DefaultTransport.RoundTrip(r)
	}
	return t.p.HTTPClient().Transport.RoundTrip(r)
}

func imds(p *credentialtest.Provider) *http.Client { return &http.Client{Transport: imdsTransport{p}} }

// appService points MSAL at p's App Service–style endpoint.
func appService(t *testing.T, p *credentialtest.Provider) {
	t.Setenv("IDENTITY_ENDPOINT", strings.TrimSuffix(p.Authority, "/"+credentialtest.TenantID)+devidp.AppServiceIdentityPath)
	t.Setenv("IDENTITY_HEADER", p.Server.IdentityHeader())
}

// claims decodes a JWT's payload (the stand-in verified it already).
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestContract(t *testing.T) {
	clearEnv(t)
	aud := uniqueAudience()
	p := credentialtest.StandIn(t, trusting(system.ObjectID, aud))
	credentialtest.Run(t, credentialtest.Fixture{
		Source: Source{HTTPClient: imds(p)},
		Valid: func(t *testing.T) (*config.Config, config.CredentialDescription) {
			return &config.Config{}, config.CredentialDescription{TokenExchangeURL: aud}
		},
		Broken: func(t *testing.T) (*config.Config, config.CredentialDescription, string) {
			return &config.Config{}, config.CredentialDescription{ManagedIdentityClientID: newGUID(), TokenExchangeURL: aud}, "ManagedIdentityClientId"
		},
	})
}

// The managed identity's token, from either kind of endpoint, for either
// kind of identity, is the client assertion the token endpoint receives,
// and the stand-in accepts it through the client's federated credential.
func TestManagedIdentityAssertion(t *testing.T) {
	tests := []struct {
		name       string
		appService bool
		user       bool
		exchange   string // TokenExchangeUrl; "" the default
	}{
		{name: "App Service, system-assigned", appService: true},
		{name: "App Service, user-assigned", appService: true, user: true},
		{name: "IMDS, system-assigned", appService: false},
		{name: "IMDS, user-assigned, TokenExchangeUrl as a scope", user: true, exchange: devidp.TokenExchangeAudience + "/.default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			// A fresh user-assigned identity may use the default resource
			// (no cached token has its client id); the system-assigned one
			// asks for a resource of its own.
			mi, aud := system, uniqueAudience()
			d := config.CredentialDescription{SourceType: "SignedAssertionFromManagedIdentity", TokenExchangeURL: aud}
			if tt.user {
				mi, aud = devidp.ManagedIdentity{ClientID: newGUID(), ObjectID: newGUID()}, devidp.TokenExchangeAudience
				d = config.CredentialDescription{SourceType: "SignedAssertionFromManagedIdentity", ManagedIdentityClientID: mi.ClientID, TokenExchangeURL: tt.exchange}
			}
			p := credentialtest.StandIn(t, trusting(mi.ObjectID, aud))
			if tt.user {
				if err := p.Server.AddManagedIdentity(mi); err != nil {
					t.Fatal(err)
				}
			}
			src := Source{HTTPClient: imds(p)}
			if tt.appService {
				appService(t, p)
				src.HTTPClient = p.HTTPClient()
			}
			cfg := &config.Config{}
			cfg.AzureAd.ClientCredentials = []config.CredentialDescription{d}
			ctx := context.Background()
			cred, err := credential.Load(ctx, cfg, src)
			if err != nil {
				t.Fatal(err)
			}
			if cred.Entry != "AzureAd:ClientCredentials:0 (SignedAssertionFromManagedIdentity)" {
				t.Errorf("Entry = %q", cred.Entry)
			}
			if _, err := p.AppToken(ctx, cred.MSAL); err != nil {
				t.Fatalf("app token with the managed identity's assertion: %v", err)
			}
			f := p.LastRequest()
			if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
				t.Errorf("form %v", f)
			}
			c := claims(t, f.Get("client_assertion"))
			if c["sub"] != mi.ObjectID || c["aud"] != aud || c["iss"] != p.Authority+"/v2.0" || c["azp"] != mi.ClientID {
				t.Errorf("client assertion claims %v; want sub %s aud %s", c, mi.ObjectID, aud)
			}
		})
	}
}

// Start-up errors: one line, naming the entry and what to fix.
func TestLoadErrors(t *testing.T) {
	unknown := newGUID()
	tests := []struct {
		name    string
		setup   func(t *testing.T) Source
		d       config.CredentialDescription
		want    []string
		maxTime time.Duration
	}{
		{name: "client id not a GUID", setup: func(t *testing.T) Source { return Source{HTTPClient: imds(nil)} },
			d:    config.CredentialDescription{ManagedIdentityClientID: "my-identity"},
			want: []string{`AzureAd:ClientCredentials:3:ManagedIdentityClientId: "my-identity" is not a GUID`}},
		{name: "no managed identity endpoint", setup: func(t *testing.T) Source { return Source{HTTPClient: imds(nil), Timeout: 5 * time.Second} },
			want:    []string{"AzureAd:ClientCredentials:3 (SignedAssertionFromManagedIdentity): the system-assigned managed identity got no token for api://AzureADTokenExchange from IMDS at 169.254.169.254", "network is unreachable"},
			maxTime: 4 * time.Second}, // MSAL tries three times, a second apart
		{name: "an endpoint that does not answer", setup: func(t *testing.T) Source {
			return Source{HTTPClient: &http.Client{Transport: hang{}}, Timeout: 300 * time.Millisecond}
		}, want: []string{"AzureAd:ClientCredentials:3 (SignedAssertionFromManagedIdentity)", "no answer within 300ms"}, maxTime: 2 * time.Second},
		{name: "unknown user-assigned identity, IMDS", setup: func(t *testing.T) Source {
			return Source{HTTPClient: imds(credentialtest.StandIn(t, devidp.Client{}))}
		}, d: config.CredentialDescription{ManagedIdentityClientID: unknown},
			want: []string{"AzureAd:ClientCredentials:3 (SignedAssertionFromManagedIdentity): the user-assigned managed identity AzureAd:ClientCredentials:3:ManagedIdentityClientId " + unknown, "400 invalid_request: Identity not found"}},
		{name: "unknown user-assigned identity, App Service", setup: func(t *testing.T) Source {
			p := credentialtest.StandIn(t, devidp.Client{})
			appService(t, p)
			return Source{HTTPClient: p.HTTPClient()}
		}, d: config.CredentialDescription{ManagedIdentityClientID: unknown},
			want: []string{"AzureAd:ClientCredentials:3:ManagedIdentityClientId " + unknown, "from the App Service managed identity endpoint IDENTITY_ENDPOINT=https://127.0.0.1:", "400 Unable to load the proper Managed Identity."}},
		{name: "App Service endpoint with a wrong IDENTITY_HEADER", setup: func(t *testing.T) Source {
			p := credentialtest.StandIn(t, devidp.Client{})
			appService(t, p)
			t.Setenv("IDENTITY_HEADER", "stale")
			return Source{HTTPClient: p.HTTPClient()}
		}, want: []string{"AzureAd:ClientCredentials:3 (SignedAssertionFromManagedIdentity)", "401", "X-IDENTITY-HEADER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			src := tt.setup(t)
			start := time.Now()
			d := tt.d
			d.SourceType = "SignedAssertionFromManagedIdentity"
			_, err := src.Load(context.Background(), &config.Config{}, d, "AzureAd:ClientCredentials:3")
			if err == nil {
				t.Fatal("Load succeeded")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if tt.maxTime > 0 && time.Since(start) > tt.maxTime {
				t.Errorf("Load took %s", time.Since(start))
			}
		})
	}
}

// hang is an endpoint that never answers.
type hang struct{}

func (hang) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// A token for an identity the client does not trust: the managed identity
// endpoint gives it, and the stand-in refuses it as Entra does.
func TestUntrustedIdentity(t *testing.T) {
	clearEnv(t)
	aud := uniqueAudience()
	p := credentialtest.StandIn(t, trusting(newGUID(), aud)) // some other identity
	cfg := &config.Config{}
	cfg.AzureAd.ClientCredentials = []config.CredentialDescription{{SourceType: "SignedAssertionFromManagedIdentity", TokenExchangeURL: aud}}
	ctx := context.Background()
	cred, err := credential.Load(ctx, cfg, Source{HTTPClient: imds(p)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.AppToken(ctx, cred.MSAL)
	if err == nil || !strings.Contains(err.Error(), "AADSTS70021") || !strings.Contains(err.Error(), "Assertion Subject: '"+system.ObjectID+"'") {
		t.Errorf("AppToken = %v, want AADSTS70021 naming the subject", err)
	}
}

// "A managed identity, then a federated token file": on a machine without
// a managed identity endpoint the chain moves on quickly; when every
// entry fails the error lists each.
func TestChain(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Dir: dir}
	cfg.AzureAd.ClientCredentials = []config.CredentialDescription{
		{SourceType: "SignedAssertionFromManagedIdentity"},
		{SourceType: "SignedAssertionFilePath", SignedAssertionFileDiskPath: tokenFile},
	}
	sources := []credential.Source{Source{HTTPClient: imds(nil)}, workloadidentity.Source{Getenv: func(string) string { return "" }}}
	start := time.Now()
	cred, err := credential.Load(context.Background(), cfg, sources...)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Entry != "AzureAd:ClientCredentials:1 (SignedAssertionFilePath)" {
		t.Errorf("Entry = %q", cred.Entry)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("falling through took %s", d)
	}

	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	_, err = credential.Load(context.Background(), cfg, sources...)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, w := range []string{
		"config: no client credential could be loaded: ",
		"AzureAd:ClientCredentials:0 (SignedAssertionFromManagedIdentity): the system-assigned managed identity got no token",
		"AzureAd:ClientCredentials:1:SignedAssertionFileDiskPath: the federated token file " + tokenFile + " does not exist",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
}
