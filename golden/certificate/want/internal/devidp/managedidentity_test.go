package devidp

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
)

var userAssigned = ManagedIdentity{ClientID: "0b7c6f9e-2a1d-4c3b-9e8f-7a6b5c4d3e2f", ObjectID: "1c8d7e0f-3b2e-4d4c-8f9a-8b7c6d5e4f3a"}

func newIdentityEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, func(c *Config) {
		c.ManagedIdentities = []ManagedIdentity{userAssigned}
		c.IdentityHeader = "the-identity-header"
		c.Clients[0].FederatedCredentials = []FederatedCredential{
			{Issuer: "/" + testTenant + "/v2.0", Subject: SystemAssignedIdentity(testTenant).ObjectID},
			{Issuer: "/" + testTenant + "/v2.0", Subject: userAssigned.ObjectID},
		}
	})
}

// The IMDS endpoint answers as Azure's: strings for every field, 400s
// with {"error", "error_description"} for a missing header or an unknown
// identity.
func TestIMDSEndpoint(t *testing.T) {
	e := newIdentityEnv(t)
	sys := SystemAssignedIdentity(testTenant)
	meta := http.Header{"Metadata": {"true"}}
	query := func(kv ...string) string {
		q := url.Values{"api-version": {"2018-02-01"}, "resource": {TokenExchangeAudience}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				q.Del(kv[i])
			} else {
				q.Set(kv[i], kv[i+1])
			}
		}
		return e.ts.URL + IMDSTokenPath + "?" + q.Encode()
	}
	tests := []struct {
		name   string
		url    string
		header http.Header
		want   ManagedIdentity
		err    string
	}{
		{name: "system-assigned", url: query(), header: meta, want: sys},
		{name: "user-assigned by client_id", url: query("client_id", userAssigned.ClientID), header: meta, want: userAssigned},
		{name: "user-assigned by object_id", url: query("object_id", strings.ToUpper(userAssigned.ObjectID)), header: meta, want: userAssigned},
		{name: "no Metadata header", url: query(), err: "Required metadata header not specified"},
		{name: "Metadata: false", url: query(), header: http.Header{"Metadata": {"false"}}, err: "Required metadata header not specified"},
		{name: "unknown identity", url: query("client_id", "99999999-9999-9999-9999-999999999999"), header: meta, err: "Identity not found"},
		{name: "no resource", url: query("resource", ""), header: meta, err: "Required query variable 'resource' is missing"},
		{name: "no api-version", url: query("api-version", ""), header: meta, err: "Required query variable 'api-version' is missing"},
		{name: "a scope, not a resource", url: query("resource", TokenExchangeAudience+"/.default"), header: meta, err: "AADSTS500011"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := decodeJSON(t, resp)
			if tt.err != "" {
				if resp.StatusCode != 400 || !strings.Contains(body["error_description"].(string), tt.err) {
					t.Fatalf("got %d %v, want 400 %q", resp.StatusCode, body, tt.err)
				}
				return
			}
			if resp.StatusCode != 200 {
				t.Fatalf("got %d %v", resp.StatusCode, body)
			}
			for _, k := range []string{"access_token", "client_id", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type"} {
				if _, ok := body[k].(string); !ok {
					t.Errorf("%s = %#v, want a string", k, body[k])
				}
			}
			if body["client_id"] != tt.want.ClientID || body["resource"] != TokenExchangeAudience || body["token_type"] != "Bearer" {
				t.Errorf("response %v", body)
			}
			if in, _ := strconv.Atoi(body["expires_in"].(string)); in < 86000 {
				t.Errorf("expires_in %v", body["expires_in"])
			}
			c := e.claims(body["access_token"].(string))
			if c["iss"] != e.issuer() || c["sub"] != tt.want.ObjectID || c["oid"] != tt.want.ObjectID || c["aud"] != TokenExchangeAudience || c["idtyp"] != "app" {
				t.Errorf("token claims %v", c)
			}
		})
	}
}

// The App Service–style endpoint requires X-IDENTITY-HEADER and answers
// expires_on (no expires_in), errors as {"statusCode", "message"}.
func TestAppServiceIdentityEndpoint(t *testing.T) {
	e := newIdentityEnv(t)
	if e.srv.IdentityHeader() != "the-identity-header" {
		t.Fatalf("IdentityHeader() = %q", e.srv.IdentityHeader())
	}
	hdr := http.Header{"X-Identity-Header": {"the-identity-header"}}
	query := func(kv ...string) string {
		q := url.Values{"api-version": {"2019-08-01"}, "resource": {TokenExchangeAudience}}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return e.ts.URL + AppServiceIdentityPath + "?" + q.Encode()
	}
	tests := []struct {
		name   string
		url    string
		header http.Header
		status int
		want   ManagedIdentity
		err    string
	}{
		{name: "system-assigned", url: query(), header: hdr, status: 200, want: SystemAssignedIdentity(testTenant)},
		{name: "user-assigned by client_id", url: query("client_id", userAssigned.ClientID), header: hdr, status: 200, want: userAssigned},
		{name: "user-assigned by principal_id", url: query("principal_id", userAssigned.ObjectID), header: hdr, status: 200, want: userAssigned},
		{name: "no X-IDENTITY-HEADER", url: query(), status: 401, err: "X-IDENTITY-HEADER"},
		{name: "wrong X-IDENTITY-HEADER", url: query(), header: http.Header{"X-Identity-Header": {"guess"}}, status: 401, err: "X-IDENTITY-HEADER"},
		{name: "old api-version", url: query("api-version", "2017-09-01"), header: hdr, status: 400, err: "api-version"},
		{name: "unknown identity", url: query("client_id", "99999999-9999-9999-9999-999999999999"), header: hdr, status: 400, err: "Unable to load the proper Managed Identity."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := decodeJSON(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d %v, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.err != "" {
				if msg, _ := body["message"].(string); !strings.Contains(msg, tt.err) || body["statusCode"] != float64(tt.status) {
					t.Errorf("body %v, want a message with %q", body, tt.err)
				}
				return
			}
			if _, ok := body["expires_in"]; ok {
				t.Errorf("expires_in in an App Service answer: %v", body)
			}
			on, _ := strconv.ParseInt(body["expires_on"].(string), 10, 64)
			if time.Until(time.Unix(on, 0)) < 23*time.Hour || body["client_id"] != tt.want.ClientID || body["resource"] != TokenExchangeAudience {
				t.Errorf("response %v", body)
			}
			if c := e.claims(body["access_token"].(string)); c["sub"] != tt.want.ObjectID {
				t.Errorf("token claims %v", c)
			}
		})
	}
}

// imdsTransport sends requests for IMDS's fixed address to the stand-in
// (tests never reach 169.254.169.254 itself).
type imdsTransport struct {
	target string // host:port
	base   http.RoundTripper
}

func (t imdsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "169.254.169.254" {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = "https", t.target, t.target
	}
	return t.base.RoundTrip(r)
}

// MSAL Go's managed identity client works against both endpoints
// unchanged, and its token is a client assertion the client's federated
// credential trusts (a managed identity as a federated credential).
func TestMSALManagedIdentity(t *testing.T) {
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "MSAL_FORCE_REGION"} {
		t.Setenv(k, "")
	}
	tests := []struct {
		name   string
		appSvc bool
		id     func(ManagedIdentity) managedidentity.ID
		system bool
		suffix string // added to the resource asked for
	}{
		{"App Service, system-assigned", true, nil, true, ""},
		{"App Service, user-assigned by client id", true, func(m ManagedIdentity) managedidentity.ID { return managedidentity.UserAssignedClientID(m.ClientID) }, false, ""},
		{"IMDS, system-assigned, resource as a scope", false, nil, true, "/.default"},
		{"IMDS, user-assigned by object id", false, func(m ManagedIdentity) managedidentity.ID { return managedidentity.UserAssignedObjectID(m.ObjectID) }, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// MSAL caches managed identity tokens process-wide, by identity
			// and resource: each case asks for a resource of its own so
			// that its token comes from this case's stand-in.
			resource := TokenExchangeAudience + "/" + randomGUID()
			want := ManagedIdentity{ClientID: randomGUID(), ObjectID: randomGUID()}
			if tt.system {
				want = SystemAssignedIdentity(testTenant)
			}
			e := newEnvWith(t, func(c *Config) {
				c.ManagedIdentities = []ManagedIdentity{{ClientID: randomGUID(), ObjectID: randomGUID()}}
				if !tt.system {
					c.ManagedIdentities = append(c.ManagedIdentities, want)
				}
				c.Clients[0].FederatedCredentials = []FederatedCredential{
					{Issuer: "/" + testTenant + "/v2.0", Subject: want.ObjectID, Audiences: []string{resource}}}
			})
			ctx := context.Background()
			hc := &http.Client{Transport: imdsTransport{target: strings.TrimPrefix(e.ts.URL, "https://"), base: e.ts.Client().Transport}}
			if tt.appSvc {
				t.Setenv("IDENTITY_ENDPOINT", e.ts.URL+AppServiceIdentityPath)
				t.Setenv("IDENTITY_HEADER", e.srv.IdentityHeader())
				hc = e.ts.Client()
			}
			id := managedidentity.SystemAssigned()
			if tt.id != nil {
				id = tt.id(want)
			}
			mi, err := managedidentity.New(id, managedidentity.WithHTTPClient(hc), managedidentity.WithRetryPolicyDisabled())
			if err != nil {
				t.Fatal(err)
			}
			if wantSrc := map[bool]managedidentity.Source{true: managedidentity.AppService, false: managedidentity.DefaultToIMDS}[tt.appSvc]; mustSource(t) != wantSrc {
				t.Fatalf("MSAL detected %s, want %s", mustSource(t), wantSrc)
			}
			res, err := mi.AcquireToken(ctx, resource+tt.suffix)
			if err != nil {
				t.Fatal(err)
			}
			if c := e.claims(res.AccessToken); c["sub"] != want.ObjectID || c["iss"] != e.issuer() || c["aud"] != resource {
				t.Fatalf("claims %v", c)
			}
			if time.Until(res.ExpiresOn) < 23*time.Hour {
				t.Errorf("ExpiresOn %v", res.ExpiresOn)
			}
			cred := confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
				r, err := mi.AcquireToken(ctx, resource)
				return r.AccessToken, err
			})
			app, err := confidential.New(e.ts.URL+"/"+testTenant, testClient, cred,
				confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(e.ts.Client()))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := app.AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/.default"}); err != nil {
				t.Fatalf("the managed identity's token as a client assertion: %v", err)
			}
		})
	}
}

func mustSource(t *testing.T) managedidentity.Source {
	t.Helper()
	s, err := managedidentity.GetSource()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
