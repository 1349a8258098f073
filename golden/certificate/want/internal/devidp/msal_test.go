package devidp

import (
	"context"
	"crypto/x509"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// TestMSALConfidentialClient drives the stand-in with MSAL Go the way the
// generated app does: AuthCodeURL (plus the PKCE, state, nonce and
// response_mode parameters MSAL does not add), the browser step,
// AcquireTokenByAuthCode, then AcquireTokenSilent from MSAL's cache.
func TestMSALConfidentialClient(t *testing.T) {
	// MSAL_FORCE_REGION would rewrite the authority host.
	t.Setenv("MSAL_FORCE_REGION", "")
	os.Unsetenv("MSAL_FORCE_REGION")

	e := newEnv(t)
	secretCred, err := confidential.NewCredFromSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	certCred, err := confidential.NewCredFromCert([]*x509.Certificate{clientCert}, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		tenant string
		cred   confidential.Credential
	}{
		{"secret", testTenant, secretCred},
		{"certificate", testTenant, certCred},
		{"common authority", "common", secretCred},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			host := strings.TrimPrefix(e.ts.URL, "https://")
			app, err := confidential.New("https://"+host+"/"+tt.tenant, testClient, tt.cred,
				confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(e.ts.Client()))
			if err != nil {
				t.Fatal(err)
			}
			scopes := []string{"User.Read"}
			raw, err := app.AuthCodeURL(ctx, testClient, testRedirect, scopes)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			verifier, challenge := pkce()
			q := u.Query()
			q.Set("code_challenge", challenge)
			q.Set("code_challenge_method", "S256")
			q.Set("state", "st-123")
			q.Set("nonce", "n-1")
			q.Set("response_mode", "form_post")
			u.RawQuery = q.Encode()

			cb, form, err := SignIn(ctx, e.ts.Client(), u.String(), adeleID)
			if err != nil {
				t.Fatal(err)
			}
			if cb != testRedirect || form.Get("state") != "st-123" {
				t.Fatalf("callback %s %v", cb, form)
			}
			res, err := app.AcquireTokenByAuthCode(ctx, form.Get("code"), testRedirect, scopes, confidential.WithChallenge(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if res.Account.HomeAccountID != adeleID+"."+testTenant || res.Account.PreferredUsername != "adele@contoso.example" {
				t.Errorf("account %+v", res.Account)
			}
			if res.IDToken.Oid != adeleID || res.IDToken.TenantID != testTenant {
				t.Errorf("id token %+v", res.IDToken)
			}
			if c := e.claims(res.IDToken.RawToken); c["nonce"] != "n-1" {
				t.Errorf("nonce %v", c["nonce"])
			}

			before := e.srv.TokenRequests("")
			silent, err := app.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account))
			if err != nil {
				t.Fatal(err)
			}
			if silent.AccessToken != res.AccessToken {
				t.Error("silent call returned a different access token")
			}
			if after := e.srv.TokenRequests(""); after != before {
				t.Errorf("silent call made %d token requests", after-before)
			}
			acct, err := app.Account(ctx, res.Account.HomeAccountID)
			if err != nil || acct.IsZero() {
				t.Errorf("Account(%s) = %+v, %v", res.Account.HomeAccountID, acct, err)
			}
		})
	}
}

// TestMSALClientCredentials checks the app-only flow through MSAL.
func TestMSALClientCredentials(t *testing.T) {
	t.Setenv("MSAL_FORCE_REGION", "")
	os.Unsetenv("MSAL_FORCE_REGION")
	e := newEnv(t)
	cred, err := confidential.NewCredFromSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(e.ts.URL+"/"+testTenant, testClient, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(e.ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByCredential(context.Background(), []string{"https://graph.microsoft.com/.default"})
	if err != nil {
		t.Fatal(err)
	}
	if c := e.claims(res.AccessToken); c["roles"] == nil || c["idtyp"] != "app" {
		t.Errorf("claims %v", c)
	}
}

// TestMSALSilentRefresh: with access tokens too short-lived for MSAL's cache
// (it refreshes five minutes before expiry), AcquireTokenSilent redeems the
// refresh token, and keeps working with the rotated one.
func TestMSALSilentRefresh(t *testing.T) {
	t.Setenv("MSAL_FORCE_REGION", "")
	os.Unsetenv("MSAL_FORCE_REGION")
	e := newEnvWith(t, func(c *Config) { c.AccessTokenLifetime = 4 * time.Minute })
	ctx := context.Background()
	cred, _ := confidential.NewCredFromSecret(testSecret)
	app, err := confidential.New(e.ts.URL+"/"+testTenant, testClient, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(e.ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	scopes := []string{"User.Read"}
	raw, _ := app.AuthCodeURL(ctx, testClient, testRedirect, scopes)
	_, form, err := SignIn(ctx, e.ts.Client(), raw+"&response_mode=form_post&state=st-123", adeleID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByAuthCode(ctx, form.Get("code"), testRedirect, scopes)
	if err != nil {
		t.Fatal(err)
	}
	last := res.AccessToken
	for i := 1; i <= 2; i++ {
		silent, err := app.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account))
		if err != nil {
			t.Fatalf("silent call %d: %v", i, err)
		}
		if silent.AccessToken == last {
			t.Errorf("silent call %d returned the cached token", i)
		}
		last = silent.AccessToken
		if n := e.srv.TokenRequests("refresh_token"); n != int64(i) {
			t.Errorf("after silent call %d: %d refresh requests", i, n)
		}
	}
}
