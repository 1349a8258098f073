package devidp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// msalApp is an MSAL Go confidential client for the test client, and
// signIn runs the interactive part the way the generated app does.
type msalApp struct {
	e   *env
	app confidential.Client
}

func newMSALApp(t *testing.T, e *env) *msalApp {
	t.Helper()
	t.Setenv("MSAL_FORCE_REGION", "")
	os.Unsetenv("MSAL_FORCE_REGION")
	cred, err := confidential.NewCredFromSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(e.ts.URL+"/"+testTenant, testClient, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(e.ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return &msalApp{e: e, app: app}
}

func (m *msalApp) signIn(t *testing.T, scopes []string, claims string) confidential.AuthResult {
	t.Helper()
	ctx := context.Background()
	var urlOpts []confidential.AuthCodeURLOption
	var redeemOpts []confidential.AcquireByAuthCodeOption
	if claims != "" {
		urlOpts = append(urlOpts, confidential.WithClaims(claims))
		redeemOpts = append(redeemOpts, confidential.WithClaims(claims))
	}
	raw, err := m.app.AuthCodeURL(ctx, testClient, testRedirect, scopes, urlOpts...)
	if err != nil {
		t.Fatal(err)
	}
	_, form, err := SignIn(ctx, m.e.ts.Client(), raw+"&response_mode=form_post&state=st-123", adeleID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.app.AcquireTokenByAuthCode(ctx, form.Get("code"), testRedirect, scopes, redeemOpts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestMSALIncrementalConsent: MSAL Go's silent call for a second API's
// scopes fails with a CallErr carrying Entra's consent_required body; after
// an interactive sign-in for those scopes, silent calls work for both APIs.
func TestMSALIncrementalConsent(t *testing.T) {
	e := newAPIEnv(t)
	m := newMSALApp(t, e)
	ctx := context.Background()
	orders := []string{ordersURI + "/Orders.Read"}
	stock := []string{stockURI + "/Stock.Read"}
	res := m.signIn(t, orders, "")
	if c := e.claims(res.AccessToken); c["aud"] != ordersURI || c["scp"] != "Orders.Read" {
		t.Fatalf("claims %v", c)
	}

	_, err := m.app.AcquireTokenSilent(ctx, stock, confidential.WithSilentAccount(res.Account))
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil || ce.Resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("silent call for Stock: %v", err)
	}
	for _, want := range []string{`"error":"invalid_grant"`, "AADSTS65001: The user or administrator has not consented to use the application with ID '" + testClient + "'",
		`"suberror":"consent_required"`, `"error_codes":[65001]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	// Incremental consent: sign in for Stock; then both APIs work silently.
	m.signIn(t, stock, "")
	for _, scopes := range [][]string{orders, stock} {
		r, err := m.app.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account))
		if err != nil {
			t.Fatalf("silent %v: %v", scopes, err)
		}
		api := "Orders"
		if scopes[0] == stock[0] {
			api = "Stock"
		}
		if resp, body := e.call("GET", "/apis/"+api+"/", r.AccessToken, ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", api, resp.StatusCode, body)
		}
	}
}

// TestMSALClaimsChallenge: the round trip the generated app makes when an
// API demands an authentication context: 401 with claims, sign-in again
// with AuthCodeURL(WithClaims), and the API accepts the new token, which
// MSAL then serves silently from its cache.
func TestMSALClaimsChallenge(t *testing.T) {
	e := newAPIEnv(t)
	m := newMSALApp(t, e)
	ctx := context.Background()
	scopes := []string{ordersURI + "/Orders.Read"}
	res := m.signIn(t, scopes, "")
	if err := e.srv.RequireClaims("Orders", `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`); err != nil {
		t.Fatal(err)
	}
	resp, _ := e.call("POST", "/apis/Orders/orders", res.AccessToken, `{"item":"pen"}`, "Content-Type", "application/json")
	claims, _ := e.parseChallenge(resp)

	res = m.signIn(t, scopes, claims)
	resp, body := e.call("POST", "/apis/Orders/orders", res.AccessToken, `{"item":"pen"}`, "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	var call APICall
	if err := json.Unmarshal([]byte(body), &call); err != nil {
		t.Fatal(err)
	}
	if len(call.Acrs) != 1 || call.Acrs[0] != "c1" || string(call.Body) != `{"item":"pen"}` || call.Subject != adeleID {
		t.Errorf("call %+v", call)
	}
	silent, err := m.app.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account))
	if err != nil || silent.AccessToken != res.AccessToken {
		t.Errorf("silent: %v (same token: %v)", err, silent.AccessToken == res.AccessToken)
	}
	if n := e.srv.APIRequests("Orders"); n != 2 {
		t.Errorf("APIRequests = %d", n)
	}
}

// TestMSALAppOnlyAPI: MSAL Go's client credentials call for an API's
// .default gets a token the API accepts as app-only.
func TestMSALAppOnlyAPI(t *testing.T) {
	e := newAPIEnv(t)
	m := newMSALApp(t, e)
	res, err := m.app.AcquireTokenByCredential(context.Background(), []string{ordersURI + "/.default"})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.call("GET", "/apis/Orders/orders", res.AccessToken, "")
	var call APICall
	json.Unmarshal([]byte(body), &call)
	if resp.StatusCode != 200 || !call.AppOnly || len(call.Roles) != 1 || call.Roles[0] != "Orders.Read.All" || call.ClientID != testClient {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}
