package credentialtest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"example.com/certapp/internal/devidp"
)

// Defaults StandIn fills into a Client (and the tenant) it is given
// without them.
const (
	TenantID    = "11111111-2222-3333-4444-555555555555"
	ClientID    = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	RedirectURI = "https://localhost:5001/signin-oidc"
	// Scope is an app-only scope the stand-in grants every client.
	Scope = "https://graph.microsoft.com/.default"
)

// A Provider is the local Entra ID stand-in (package devidp) served over
// TLS on a loopback port, with one client registered. It records the form
// of every token-endpoint request, so a credential's test can check what
// the token endpoint received (client_secret, client_assertion, ...), not
// only that a token came back.
type Provider struct {
	t *testing.T
	// Server is the stand-in itself; Client the registered client (with
	// the defaults filled in).
	Server *devidp.Server
	Client devidp.Client
	// Authority is https://127.0.0.1:<port>/<tenant>, as MSAL Go takes it.
	Authority string
	// TokenEndpoint is the URL client assertions must name as aud.
	TokenEndpoint string

	ts       *httptest.Server
	mu       sync.Mutex
	requests []url.Values
}

// StandIn starts a stand-in with client registered and stops it when the
// test ends. Empty ClientID and RedirectURIs take the package defaults.
// The client may authenticate with its ClientSecret or, with assertions,
// with the private key of any certificate in CertificatesPEM.
func StandIn(t *testing.T, client devidp.Client) *Provider {
	t.Helper()
	// MSAL_FORCE_REGION would rewrite the authority's host.
	t.Setenv("MSAL_FORCE_REGION", "")
	os.Unsetenv("MSAL_FORCE_REGION")
	if client.ClientID == "" {
		client.ClientID = ClientID
	}
	if len(client.RedirectURIs) == 0 {
		client.RedirectURIs = []string{RedirectURI}
	}
	srv, err := devidp.New(devidp.Config{
		TenantID: TenantID,
		Users: []devidp.User{{ID: "6e7b768e-07e2-4810-8459-485f84f8f204", DisplayName: "Adele Vance",
			UserPrincipalName: "adele@contoso.example"}},
		Clients: []devidp.Client{client},
	})
	if err != nil {
		t.Fatalf("credentialtest.StandIn: %v", err)
	}
	s := &Provider{t: t, Server: srv, Client: client}
	s.ts = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.ts.Close)
	s.Authority = s.ts.URL + "/" + TenantID
	s.TokenEndpoint = s.Authority + "/oauth2/v2.0/token"
	return s
}

// serve records token-endpoint forms and hands every request on.
func (s *Provider) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			s.mu.Lock()
			s.requests = append(s.requests, form)
			s.mu.Unlock()
		}
	}
	s.Server.ServeHTTP(w, r)
}

// HTTPClient returns an HTTP client that trusts the stand-in's certificate.
func (s *Provider) HTTPClient() *http.Client { return s.ts.Client() }

// Requests returns the forms of the token-endpoint requests so far, oldest
// first.
func (s *Provider) Requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.requests...)
}

// LastRequest returns the form of the latest token-endpoint request; the
// test fails if there was none.
func (s *Provider) LastRequest() url.Values {
	s.t.Helper()
	reqs := s.Requests()
	if len(reqs) == 0 {
		s.t.Fatal("the token endpoint received no request")
	}
	return reqs[len(reqs)-1]
}

// Confidential returns an MSAL confidential client of the registered
// client that presents cred and talks to the stand-in; opts are added
// (e.g. confidential.WithX5C()).
func (s *Provider) Confidential(cred confidential.Credential, opts ...confidential.Option) (confidential.Client, error) {
	opts = append([]confidential.Option{
		confidential.WithInstanceDiscovery(false),
		confidential.WithHTTPClient(s.HTTPClient()),
	}, opts...)
	return confidential.New(s.Authority, s.Client.ClientID, cred, opts...)
}

// AppToken acquires an app-only token (client credentials grant) for
// Scope with a new client presenting cred, so every call reaches the token
// endpoint. It returns the access token or the token endpoint's error.
func (s *Provider) AppToken(ctx context.Context, cred confidential.Credential, opts ...confidential.Option) (string, error) {
	app, err := s.Confidential(cred, opts...)
	if err != nil {
		return "", err
	}
	res, err := app.AcquireTokenByCredential(ctx, []string{Scope})
	if err != nil {
		return "", err
	}
	return res.AccessToken, nil
}
