package devidp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestClientAuthentication(t *testing.T) {
	e := newEnv(t)
	ccScope := "https://graph.microsoft.com/.default"
	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "scope": {ccScope}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	endpoint := e.tokenEndpoint()
	tests := []struct {
		name       string
		form       url.Values
		basic      [2]string
		wantStatus int
		wantErr    string
		azpacr     string
	}{
		{name: "secret in body", form: form("client_id", testClient, "client_secret", testSecret), wantStatus: 200, azpacr: "1"},
		{name: "secret via basic", form: form(), basic: [2]string{testClient, testSecret}, wantStatus: 200, azpacr: "1"},
		{name: "wrong secret", form: form("client_id", testClient, "client_secret", "nope"), wantStatus: 401, wantErr: "invalid_client"},
		{name: "wrong basic secret", form: form(), basic: [2]string{testClient, "nope"}, wantStatus: 401, wantErr: "invalid_client"},
		{name: "another client's secret", form: form("client_id", testClient, "client_secret", otherSecret), wantStatus: 401, wantErr: "invalid_client"},
		{name: "no credential", form: form("client_id", testClient), wantStatus: 401, wantErr: "invalid_client"},
		{name: "unknown client", form: form("client_id", "99999999-9999-9999-9999-999999999999", "client_secret", "x"), wantStatus: 400, wantErr: "unauthorized_client"},
		{name: "two methods", form: form("client_id", testClient, "client_secret", testSecret), basic: [2]string{testClient, testSecret}, wantStatus: 400, wantErr: "invalid_request"},
		{name: "assertion RS256", form: form("client_id", testClient, "client_assertion_type", jwtBearerAssertion,
			"client_assertion", assertion(t, clientKey, jose.RS256, testClient, endpoint, time.Now().Add(5*time.Minute))), wantStatus: 200, azpacr: "2"},
		{name: "assertion PS256 without client_id", form: form("client_assertion_type", jwtBearerAssertion,
			"client_assertion", assertion(t, clientKey, jose.PS256, testClient, endpoint, time.Now().Add(5*time.Minute))), wantStatus: 200, azpacr: "2"},
		{name: "assertion signed by another key", form: form("client_id", testClient, "client_assertion_type", jwtBearerAssertion,
			"client_assertion", assertion(t, rogueKey, jose.PS256, testClient, endpoint, time.Now().Add(5*time.Minute))), wantStatus: 401, wantErr: "invalid_client"},
		{name: "assertion wrong audience", form: form("client_id", testClient, "client_assertion_type", jwtBearerAssertion,
			"client_assertion", assertion(t, clientKey, jose.PS256, testClient, "https://login.microsoftonline.com/x/oauth2/v2.0/token", time.Now().Add(5*time.Minute))), wantStatus: 401, wantErr: "invalid_client"},
		{name: "assertion expired", form: form("client_id", testClient, "client_assertion_type", jwtBearerAssertion,
			"client_assertion", assertion(t, clientKey, jose.PS256, testClient, endpoint, time.Now().Add(-time.Hour))), wantStatus: 401, wantErr: "invalid_client"},
		{name: "assertion wrong issuer", form: form("client_id", testClient, "client_assertion_type", jwtBearerAssertion,
			"client_assertion", assertion(t, clientKey, jose.PS256, otherClient, endpoint, time.Now().Add(5*time.Minute))), wantStatus: 401, wantErr: "invalid_client"},
		{name: "assertion for client without certificate", form: form("client_id", otherClient, "client_assertion_type", jwtBearerAssertion,
			"client_assertion", assertion(t, clientKey, jose.PS256, otherClient, endpoint, time.Now().Add(5*time.Minute))), wantStatus: 401, wantErr: "invalid_client"},
		{name: "bad assertion type", form: form("client_id", testClient, "client_assertion_type", "urn:x",
			"client_assertion", assertion(t, clientKey, jose.PS256, testClient, endpoint, time.Now().Add(5*time.Minute))), wantStatus: 401, wantErr: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic[0] != "" {
				req.SetBasicAuth(url.QueryEscape(tt.basic[0]), url.QueryEscape(tt.basic[1]))
			}
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := decodeJSON(t, resp)
			if resp.StatusCode != tt.wantStatus || errorCode(body) != tt.wantErr {
				t.Fatalf("got %d %v, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantErr)
			}
			if tt.wantStatus == 200 {
				if c := e.claims(body["access_token"].(string)); c["azpacr"] != tt.azpacr {
					t.Errorf("azpacr = %v", c["azpacr"])
				}
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	status, body := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {testClient},
		"client_secret": {testSecret}, "scope": {"https://graph.microsoft.com/.default openid profile offline_access"}})
	if status != http.StatusOK {
		t.Fatal(body)
	}
	if _, ok := body["refresh_token"]; ok {
		t.Error("client_credentials must not return a refresh token")
	}
	if _, ok := body["id_token"]; ok {
		t.Error("client_credentials must not return an id token")
	}
	c := e.claims(body["access_token"].(string))
	roles, _ := c["roles"].([]any)
	if len(roles) != 1 || roles[0] != "User.Read.All" || c["aud"] != "https://graph.microsoft.com" || c["azp"] != testClient || c["idtyp"] != "app" {
		t.Errorf("claims %v", c)
	}
	if _, ok := c["scp"]; ok {
		t.Error("app token carries scp")
	}
	if e.srv.TokenRequests("client_credentials") != 1 {
		t.Errorf("counter %d", e.srv.TokenRequests("client_credentials"))
	}

	for _, scope := range []string{"User.Read", "", "api://x/.default User.Read", "https://graph.microsoft.com/User.Read"} {
		t.Run("scope "+scope, func(t *testing.T) {
			status, body := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {testClient},
				"client_secret": {testSecret}, "scope": {scope}})
			if status != http.StatusBadRequest || errorCode(body) != "invalid_scope" {
				t.Errorf("%d %v", status, body)
			}
		})
	}
}

// TestRefreshRotation: refresh tokens rotate; a used one is refused.
func TestRefreshRotation(t *testing.T) {
	e := newEnv(t)
	code, verifier := e.code(nil)
	_, body := e.redeem(code, verifier)
	rt1 := body["refresh_token"].(string)
	refresh := func(rt string, client, secret string, scope string) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "client_id": {client}, "client_secret": {secret}, "refresh_token": {rt}}
		if scope != "" {
			f.Set("scope", scope)
		}
		return e.token(f)
	}
	// Another client cannot use it (and does not burn it).
	if status, b := refresh(rt1, otherClient, otherSecret, ""); status != http.StatusBadRequest || errorCode(b) != "invalid_grant" {
		t.Fatalf("other client: %d %v", status, b)
	}
	status, b := refresh(rt1, testClient, testSecret, "User.Read openid profile offline_access")
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, b)
	}
	rt2 := b["refresh_token"].(string)
	if rt2 == "" || rt2 == rt1 || b["id_token"] == nil || b["client_info"] == nil {
		t.Fatalf("rotated response %v", b)
	}
	if id := e.claims(b["id_token"].(string)); id["nonce"] != nil || id["oid"] != adeleID {
		t.Errorf("refreshed id token %v", id)
	}
	if status, b := refresh(rt1, testClient, testSecret, ""); status != http.StatusBadRequest || errorCode(b) != "invalid_grant" {
		t.Fatalf("old refresh token accepted: %d %v", status, b)
	}
	// Scopes outside the grant and consent are refused.
	if status, b := refresh(rt2, testClient, testSecret, "api://other/x.read openid"); status != http.StatusBadRequest || errorCode(b) != "invalid_grant" {
		t.Fatalf("unconsented scope: %d %v", status, b)
	}
	// Without a scope parameter the grant's scopes are used.
	_, b = e.redeem(mustCode(e))
	status, b = refresh(b["refresh_token"].(string), testClient, testSecret, "")
	if status != http.StatusOK || b["scope"] != "User.Read openid profile offline_access" {
		t.Fatalf("refresh without scope: %d %v", status, b)
	}
	if e.srv.TokenRequests("refresh_token") != 5 {
		t.Errorf("refresh counter %d", e.srv.TokenRequests("refresh_token"))
	}
	// Refresh tokens expire.
	rt := b["refresh_token"].(string)
	e.advance(25 * time.Hour)
	if status, b := refresh(rt, testClient, testSecret, ""); status != http.StatusBadRequest || errorCode(b) != "invalid_grant" {
		t.Fatalf("expired refresh token: %d %v", status, b)
	}
}

func mustCode(e *env) (string, string) { return e.code(nil) }

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"no grant_type", url.Values{"client_id": {testClient}, "client_secret": {testSecret}}, "invalid_request"},
		{"unsupported grant", url.Values{"grant_type": {"password"}, "client_id": {testClient}, "client_secret": {testSecret}}, "unsupported_grant_type"},
		{"duplicate parameter", url.Values{"grant_type": {"client_credentials"}, "client_id": {testClient, testClient}, "client_secret": {testSecret}}, "invalid_request"},
		{"no code", url.Values{"grant_type": {"authorization_code"}, "client_id": {testClient}, "client_secret": {testSecret}, "redirect_uri": {testRedirect}}, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.token(tt.form)
			if status != http.StatusBadRequest || errorCode(body) != tt.want {
				t.Errorf("%d %v, want %s", status, body, tt.want)
			}
		})
	}
	if e.srv.TokenRequests("") != int64(len(tests)) {
		t.Errorf("counter %d", e.srv.TokenRequests(""))
	}
}
