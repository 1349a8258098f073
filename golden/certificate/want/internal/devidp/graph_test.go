package devidp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestGraphMe(t *testing.T) {
	e := newEnv(t)
	code, verifier := e.code(nil)
	_, body := e.redeem(code, verifier)
	good := body["access_token"].(string)

	// A token with the same claims, signed by a key the stand-in never used.
	claims := e.claims(good)
	rogue, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: rogueKey, KeyID: e.srv.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := jwt.Signed(rogue).Claims(claims).Serialize()

	// A valid token for another resource.
	code, verifier = e.code(map[string]string{"scope": "openid api://demo-api/Orders.Read"})
	_, body = e.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {testClient}, "client_secret": {testSecret},
		"code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}})
	wrongAud := body["access_token"].(string)

	// A Graph token without User.Read.
	code, verifier = e.code(map[string]string{"scope": "openid profile"})
	_, body = e.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {testClient}, "client_secret": {testSecret},
		"code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}})
	noScope := body["access_token"].(string)

	// An app-only token.
	_, body = e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {testClient}, "client_secret": {testSecret},
		"scope": {"https://graph.microsoft.com/.default"}})
	appOnly := body["access_token"].(string)

	me := func(auth string) (*http.Response, map[string]any) {
		t.Helper()
		h := http.Header{}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		resp, b := e.get(e.ts.URL+"/graph/v1.0/me", h)
		var m map[string]any
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return resp, m
	}

	resp, user := me("Bearer " + good)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %v", resp.StatusCode, user)
	}
	want := map[string]any{
		"id": adeleID, "displayName": "Adele Vance", "givenName": "Adele", "surname": "Vance",
		"userPrincipalName": "adele@contoso.example", "mail": "adele@contoso.example",
		"jobTitle": "Retail Manager", "officeLocation": "18/2111",
		"@odata.context": e.ts.URL + "/graph/v1.0/$metadata#users/$entity",
	}
	for k, v := range want {
		if user[k] != v {
			t.Errorf("%s = %v, want %v", k, user[k], v)
		}
	}
	if phones, ok := user["businessPhones"].([]any); !ok || len(phones) != 0 {
		t.Errorf("businessPhones = %v", user["businessPhones"])
	}
	if n := e.srv.GraphRequests(); n != 1 {
		t.Errorf("GraphRequests = %d", n)
	}

	tests := []struct {
		name   string
		auth   string
		status int
		code   string
	}{
		{"no token", "", 401, "InvalidAuthenticationToken"},
		{"not bearer", "Basic " + good, 401, "InvalidAuthenticationToken"},
		{"garbage", "Bearer abc.def.ghi", 401, "InvalidAuthenticationToken"},
		{"foreign signature", "Bearer " + foreign, 401, "InvalidAuthenticationToken"},
		{"wrong audience", "Bearer " + wrongAud, 401, "InvalidAuthenticationToken"},
		{"no User.Read", "Bearer " + noScope, 403, "Authorization_RequestDenied"},
		{"app-only", "Bearer " + appOnly, 400, "BadRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := me(tt.auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tt.status, body)
			}
			ge, _ := body["error"].(map[string]any)
			if ge["code"] != tt.code || ge["message"] == "" || ge["innerError"] == nil {
				t.Errorf("error %v", body)
			}
			if tt.status == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		e.advance(2 * time.Hour)
		defer e.advance(-2 * time.Hour)
		resp, body := me("Bearer " + good)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%d %v", resp.StatusCode, body)
		}
	})

	t.Run("unknown path", func(t *testing.T) {
		resp, _ := e.get(e.ts.URL+"/graph/v1.0/users", http.Header{"Authorization": {"Bearer " + good}})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}
