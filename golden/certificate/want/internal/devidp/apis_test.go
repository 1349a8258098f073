package devidp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	ordersURI  = "api://0a1b2c3d-0000-4000-8000-000000000001"
	stockURI   = "api://0a1b2c3d-0000-4000-8000-000000000002"
	reportsURI = "https://contoso.example/reports"
)

var testAPIs = []API{
	{Name: "Orders", AppIDURI: ordersURI, Scopes: []string{"Orders.Read", "Orders.Write"}, AppRoles: []string{"Orders.Read.All"}},
	{Name: "Stock", AppIDURI: stockURI, Scopes: []string{"Stock.Read"}},
	{Name: "Reports", AppIDURI: reportsURI, AppRoles: []string{"Reports.Read.All", "Reports.Write.All"}},
}

// newAPIEnv is a stand-in with the test APIs registered.
func newAPIEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, func(c *Config) { c.APIs = testAPIs })
}

// signInFor signs adele in for scope (plus openid offline_access) and
// redeems the code; extra adds authorize parameters (e.g. claims).
func (e *env) signInFor(scope string, extra map[string]string) (accessToken, refreshToken string) {
	e.t.Helper()
	o := map[string]string{"scope": "openid offline_access " + scope}
	for k, v := range extra {
		o[k] = v
	}
	code, verifier := e.code(o)
	status, body := e.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {testClient}, "client_secret": {testSecret},
		"code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		e.t.Fatalf("redeem for %q: %d %v", scope, status, body)
	}
	return body["access_token"].(string), body["refresh_token"].(string)
}

// refreshFor redeems a refresh token for scope; extra adds form fields.
func (e *env) refreshFor(rt, scope string, extra ...string) (int, map[string]any) {
	e.t.Helper()
	f := url.Values{"grant_type": {"refresh_token"}, "client_id": {testClient}, "client_secret": {testSecret},
		"refresh_token": {rt}, "scope": {scope + " openid profile offline_access"}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return e.token(f)
}

// appToken gets a client credentials token for scope.
func (e *env) appToken(clientID, secret, scope string) string {
	e.t.Helper()
	status, body := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID},
		"client_secret": {secret}, "scope": {scope}})
	if status != http.StatusOK {
		e.t.Fatalf("client credentials for %s: %d %v", scope, status, body)
	}
	return body["access_token"].(string)
}

// call sends a request to the stand-in with an optional bearer token.
func (e *env) call(method, path, token string, body string, header ...string) (*http.Response, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, readBody(e.t, resp)
}

// forge signs claims with key under the stand-in's kid.
func forge(t *testing.T, key any, kid string, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func with(c map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// TestAPITokenValidation: a registered API accepts only the stand-in's own,
// unexpired tokens for its application ID URI with one of its scopes or app
// roles, and says why in WWW-Authenticate otherwise.
func TestAPITokenValidation(t *testing.T) {
	e := newAPIEnv(t)
	orders, _ := e.signInFor(ordersURI+"/Orders.Read", nil)
	stock, _ := e.signInFor(stockURI+"/Stock.Read", nil)
	graph, _ := e.signInFor("User.Read", nil)
	appOrders := e.appToken(testClient, testSecret, ordersURI+"/.default")
	appStock := e.appToken(testClient, testSecret, stockURI+"/.default")
	appReports := e.appToken(otherClient, otherSecret, reportsURI+"/.default")
	c := e.claims(orders)
	now := time.Now().Unix()
	code, verifier := e.code(map[string]string{"scope": "openid " + ordersURI + "/Orders.Read"})
	_, body := e.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {testClient}, "client_secret": {testSecret},
		"code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}})
	idToken := body["id_token"].(string)

	invalid := func(desc string) string { return `Bearer error="invalid_token", error_description="` + desc }
	tests := []struct {
		name, path, token string
		auth              string // raw Authorization header instead of token
		status            int
		challenge         string // prefix of WWW-Authenticate
		errCode           string
	}{
		{name: "delegated", path: "/apis/Orders/orders/42", token: orders, status: 200},
		{name: "app-only", path: "/apis/Orders/orders", token: appOrders, status: 200},
		{name: "app-only, roles-only API", path: "/apis/Reports/", token: appReports, status: 200},
		{name: "API name case-insensitive", path: "/apis/orders/x", token: orders, status: 200},
		{name: "no token", path: "/apis/Orders/orders", status: 401, challenge: "Bearer", errCode: "unauthorized"},
		{name: "basic scheme", path: "/apis/Orders/orders", auth: "Basic YTpi", status: 401, challenge: "Bearer", errCode: "unauthorized"},
		{name: "empty bearer", path: "/apis/Orders/orders", auth: "Bearer ", status: 401, challenge: "Bearer", errCode: "unauthorized"},
		{name: "malformed", path: "/apis/Orders/orders", token: "not.a.jwt", status: 401, challenge: invalid("The token is malformed"), errCode: "invalid_token"},
		{name: "signed by another key", path: "/apis/Orders/orders", token: forge(t, rogueKey, e.srv.kid, c), status: 401,
			challenge: invalid("The signature is invalid"), errCode: "invalid_token"},
		{name: "wrong audience (another API's token)", path: "/apis/Orders/orders", token: stock, status: 401,
			challenge: invalid("The audience '" + stockURI + "' is invalid"), errCode: "invalid_token"},
		{name: "wrong audience (Graph token)", path: "/apis/Orders/orders", token: graph, status: 401,
			challenge: invalid("The audience 'https://graph.microsoft.com' is invalid"), errCode: "invalid_token"},
		{name: "wrong audience (ID token)", path: "/apis/Orders/orders", token: idToken, status: 401,
			challenge: invalid("The audience '" + testClient + "' is invalid"), errCode: "invalid_token"},
		{name: "audience with trailing slash", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid, with(c, "aud", ordersURI+"/")), status: 401,
			challenge: invalid("The audience"), errCode: "invalid_token"},
		{name: "expired", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid, with(c, "iat", now-7200, "nbf", now-7200, "exp", now-3600)), status: 401,
			challenge: invalid("The token expired at"), errCode: "invalid_token"},
		{name: "no exp", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid, with(c, "exp", nil)), status: 401,
			challenge: invalid("The token has no expiration time"), errCode: "invalid_token"},
		{name: "not yet valid", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid, with(c, "nbf", now+3600)), status: 401,
			challenge: invalid("The token is not yet valid"), errCode: "invalid_token"},
		{name: "another issuer", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid, with(c, "iss", "https://login.microsoftonline.com/"+testTenant+"/v2.0")), status: 401,
			challenge: invalid("The issuer 'https://login.microsoftonline.com/"), errCode: "invalid_token"},
		{name: "v1 issuer", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid, with(c, "iss", e.ts.URL+"/"+testTenant+"/")), status: 401,
			challenge: invalid("The issuer"), errCode: "invalid_token"},
		{name: "another tenant", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid,
			with(c, "iss", e.ts.URL+"/99999999-2222-3333-4444-555555555555/v2.0", "tid", "99999999-2222-3333-4444-555555555555")), status: 401,
			challenge: invalid("The issuer"), errCode: "invalid_token"},
		{name: "same server by localhost", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid,
			with(c, "iss", strings.Replace(e.issuer(), "127.0.0.1", "localhost", 1))), status: 200},
		{name: "missing scope", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid, with(c, "scp", "Stock.Read")), status: 403,
			challenge: `Bearer error="insufficient_scope"`, errCode: "insufficient_scope"},
		{name: "scope as a role does not count", path: "/apis/Orders/orders", token: forge(t, signingKey, e.srv.kid, with(c, "scp", nil, "roles", []string{"Orders.Read"})), status: 403,
			challenge: `Bearer error="insufficient_scope"`, errCode: "insufficient_scope"},
		{name: "app-only without roles", path: "/apis/Stock/items", token: appStock, status: 403,
			challenge: `Bearer error="insufficient_scope"`, errCode: "insufficient_scope"},
		{name: "app-only for another API", path: "/apis/Reports/", token: appOrders, status: 401,
			challenge: invalid("The audience"), errCode: "invalid_token"},
		{name: "unknown API", path: "/apis/Nope/x", token: orders, status: 404, errCode: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var body string
			if tt.auth != "" {
				resp, body = e.call(http.MethodGet, tt.path, "", "", "Authorization", tt.auth)
			} else {
				resp, body = e.call(http.MethodGet, tt.path, tt.token, "")
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s %s", resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"), body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			ch := resp.Header.Get("WWW-Authenticate")
			if tt.status == 200 {
				if ch != "" || m["api"] == nil {
					t.Errorf("challenge %q body %v", ch, m)
				}
				return
			}
			if tt.challenge == "Bearer" && ch != "Bearer" {
				t.Errorf("WWW-Authenticate %q, want a plain Bearer challenge", ch)
			}
			if !strings.HasPrefix(ch, tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want prefix %q", ch, tt.challenge)
			}
			if strings.Count(ch, `"`)%2 != 0 {
				t.Errorf("unbalanced quotes in %q", ch)
			}
			if m["error"] != tt.errCode || m["error_description"] == "" {
				t.Errorf("body %v, want error %q", m, tt.errCode)
			}
		})
	}
	if n := e.srv.APIRequests("Orders"); n != 21 {
		t.Errorf("APIRequests(Orders) = %d", n)
	}
	if n := e.srv.APIRequests("reports"); n != 2 {
		t.Errorf("APIRequests(reports) = %d", n)
	}
	if n := e.srv.APIRequests("Nope"); n != 0 {
		t.Errorf("APIRequests(Nope) = %d", n)
	}
}

// TestAPICall: what an accepted call answers, for every method, and how
// request bodies are handled.
func TestAPICall(t *testing.T) {
	e := newAPIEnv(t)
	user, _ := e.signInFor(ordersURI+"/Orders.Read "+ordersURI+"/orders.write", nil)
	app := e.appToken(testClient, testSecret, ordersURI+"/.default")
	spID := e.claims(app)["oid"].(string)
	big := `{"pad":"` + strings.Repeat("x", maxAPIBody) + `"}`
	tests := []struct {
		name, method, path, token, body, contentType string
		status                                       int
		want                                         APICall
	}{
		{name: "GET with query", method: "GET", path: "/apis/Orders/orders/42?expand=lines&top=5", token: user, status: 200,
			want: APICall{API: "Orders", Method: "GET", Path: "/orders/42", Query: "expand=lines&top=5", Subject: adeleID, ClientID: testClient,
				Name: "Adele Vance", PreferredUsername: "adele@contoso.example", Scopes: []string{"Orders.Read", "Orders.Write"}, Roles: []string{}, Acrs: []string{}, Body: json.RawMessage("null")}},
		{name: "API root without slash", method: "GET", path: "/apis/Orders", token: user, status: 200,
			want: APICall{API: "Orders", Method: "GET", Path: "/"}},
		{name: "API root", method: "GET", path: "/apis/Orders/", token: user, status: 200,
			want: APICall{API: "Orders", Method: "GET", Path: "/"}},
		{name: "POST JSON", method: "POST", path: "/apis/Orders/orders", token: user, body: `{"item": "pen", "qty": 2}`, contentType: "application/json; charset=utf-8", status: 200,
			want: APICall{API: "Orders", Method: "POST", Path: "/orders", Body: json.RawMessage(`{"item":"pen","qty":2}`)}},
		{name: "PUT problem+json", method: "PUT", path: "/apis/Orders/orders/1", token: user, body: `[1,2]`, contentType: "application/merge-patch+json", status: 200,
			want: APICall{API: "Orders", Method: "PUT", Path: "/orders/1", Body: json.RawMessage(`[1,2]`)}},
		{name: "PATCH without content type", method: "PATCH", path: "/apis/Orders/orders/1", token: user, body: `{"qty":3}`, status: 200,
			want: APICall{API: "Orders", Method: "PATCH", Path: "/orders/1", Body: json.RawMessage(`{"qty":3}`)}},
		{name: "DELETE app-only", method: "DELETE", path: "/apis/Orders/orders/1", token: app, status: 200,
			want: APICall{API: "Orders", Method: "DELETE", Path: "/orders/1", AppOnly: true, Subject: spID, ClientID: testClient,
				Scopes: []string{}, Roles: []string{"Orders.Read.All"}, Acrs: []string{}, Body: json.RawMessage("null")}},
		{name: "not JSON", method: "POST", path: "/apis/Orders/orders", token: user, body: `{"item":`, contentType: "application/json", status: 400},
		{name: "form body", method: "POST", path: "/apis/Orders/orders", token: user, body: `a=b`, contentType: "application/x-www-form-urlencoded", status: 415},
		{name: "too large", method: "POST", path: "/apis/Orders/orders", token: user, body: big, contentType: "application/json", status: 413},
		{name: "OPTIONS", method: "OPTIONS", path: "/apis/Orders/orders", token: user, status: 405},
		{name: "refused before the body is read", method: "POST", path: "/apis/Orders/orders", body: big, contentType: "application/json", status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h []string
			if tt.contentType != "" {
				h = []string{"Content-Type", tt.contentType}
			}
			resp, body := e.call(tt.method, tt.path, tt.token, tt.body, h...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.status != 200 {
				if tt.status == 405 && resp.Header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
				return
			}
			var got APICall
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if got.API != w.API || got.Method != w.Method || got.Path != w.Path || got.Query != w.Query {
				t.Errorf("got %+v", got)
			}
			if w.Body != nil && string(got.Body) != string(w.Body) {
				t.Errorf("body %s, want %s", got.Body, w.Body)
			}
			if w.Subject != "" && (got.Subject != w.Subject || got.ClientID != w.ClientID || got.AppOnly != w.AppOnly ||
				got.Name != w.Name || got.PreferredUsername != w.PreferredUsername ||
				!slices.Equal(got.Scopes, w.Scopes) || !slices.Equal(got.Roles, w.Roles) || got.Acrs == nil) {
				t.Errorf("got %+v\nwant %+v", got, w)
			}
			// Empty lists are [] and a missing body null, not absent.
			for _, key := range []string{`"scopes":[`, `"roles":[`, `"acrs":[`, `"body":`} {
				if !strings.Contains(body, key) {
					t.Errorf("%s missing from %s", key, body)
				}
			}
		})
	}
}

// TestAPITokens: what the token endpoint issues for registered APIs.
func TestAPITokens(t *testing.T) {
	e := newAPIEnv(t)
	t.Run("delegated scopes", func(t *testing.T) {
		tests := []struct{ scope, aud, scp string }{
			{ordersURI + "/Orders.Read", ordersURI, "Orders.Read"},
			{ordersURI + "/orders.read " + ordersURI + "/ORDERS.WRITE", ordersURI, "Orders.Read Orders.Write"},
			{strings.ToUpper(ordersURI[:6]) + ordersURI[6:] + "/Orders.Read", ordersURI, "Orders.Read"},
			{ordersURI + "//Orders.Read", ordersURI, "Orders.Read"},
			{stockURI + "/Stock.Read", stockURI, "Stock.Read"},
			// Graph and unregistered resources are unchanged.
			{"User.Read", "https://graph.microsoft.com", "User.Read openid"},
			{"api://unregistered/Anything", "api://unregistered", "Anything"},
		}
		for _, tt := range tests {
			t.Run(tt.scope, func(t *testing.T) {
				at, rt := e.signInFor(tt.scope, nil)
				c := e.claims(at)
				if c["aud"] != tt.aud || c["scp"] != tt.scp || c["idtyp"] != "user" || c["oid"] != adeleID || c["roles"] != nil {
					t.Errorf("aud %v scp %v claims %v; want %s %s", c["aud"], c["scp"], c, tt.aud, tt.scp)
				}
				status, b := e.refreshFor(rt, tt.scope)
				if status != 200 {
					t.Fatalf("refresh %d %v", status, b)
				}
				if c := e.claims(b["access_token"].(string)); c["aud"] != tt.aud || !strings.HasPrefix(c["scp"].(string), tt.scp) {
					t.Errorf("refreshed aud %v scp %v", c["aud"], c["scp"])
				}
			})
		}
	})
	t.Run(".default delegated", func(t *testing.T) {
		e := newAPIEnv(t)
		at, rt := e.signInFor(ordersURI+"/Orders.Read", nil)
		if c := e.claims(at); c["scp"] != "Orders.Read" {
			t.Fatalf("scp %v", c["scp"])
		}
		// .default stands for what the user consented to on the resource ...
		status, b := e.refreshFor(rt, ordersURI+"/.default")
		if status != 200 {
			t.Fatalf("%d %v", status, b)
		}
		if c := e.claims(b["access_token"].(string)); c["aud"] != ordersURI || c["scp"] != "Orders.Read" {
			t.Errorf("aud %v scp %v", c["aud"], c["scp"])
		}
		// ... and needs consent to something there.
		if status, b := e.refreshFor(b["refresh_token"].(string), stockURI+"/.default"); status != 400 || b["suberror"] != "consent_required" {
			t.Errorf("stock .default: %d %v", status, b)
		}
		// Consenting to .default grants all the API's scopes.
		at, _ = e.signInFor(ordersURI+"/.default", nil)
		if c := e.claims(at); c["scp"] != "Orders.Read Orders.Write" {
			t.Errorf(".default scp %v", c["scp"])
		}
	})
	t.Run("unknown scope at the token endpoint", func(t *testing.T) {
		_, rt := e.signInFor(ordersURI+"/Orders.Read", nil)
		for _, scope := range []string{ordersURI + "/Orders.Delete", ordersURI + "/Orders.Read " + ordersURI + "/Nope", ordersURI + "/Orders.Read.All"} {
			status, b := e.refreshFor(rt, scope)
			desc, _ := b["error_description"].(string)
			if status != 400 || b["error"] != "invalid_scope" || !strings.HasPrefix(desc, "AADSTS70011: ") ||
				!strings.Contains(desc, "does not exist on the resource '"+ordersURI+"'") || !strings.Contains(desc, "Orders.Read, Orders.Write") {
				t.Errorf("%s: %d %v", scope, status, b)
			}
			if codes, _ := b["error_codes"].([]any); len(codes) != 1 || codes[0] != float64(70011) {
				t.Errorf("error_codes %v", b["error_codes"])
			}
		}
		// The refused requests did not use the refresh token up.
		if status, b := e.refreshFor(rt, ordersURI+"/Orders.Read"); status != 200 {
			t.Errorf("refresh after refusals: %d %v", status, b)
		}
	})
	t.Run("unknown scope at the authorize endpoint", func(t *testing.T) {
		_, form, err := SignIn(context.Background(), e.ts.Client(), e.authorizeURL(map[string]string{"scope": "openid " + ordersURI + "/Orders.Delete"}), adeleID)
		var ae *AuthorizationError
		if !errors.As(err, &ae) || ae.Code != "invalid_client" || !strings.HasPrefix(ae.Description,
			"AADSTS650053: The application '"+testClient+"' asked for scope 'Orders.Delete' that doesn't exist on the resource '"+ordersURI+"'.") {
			t.Errorf("err %v form %v", err, form)
		}
		if form.Get("state") != "st-123" {
			t.Errorf("state %q", form.Get("state"))
		}
	})
	t.Run("client credentials", func(t *testing.T) {
		tests := []struct {
			client, secret, scope, aud string
			roles                      []string
		}{
			{testClient, testSecret, ordersURI + "/.default", ordersURI, []string{"Orders.Read.All"}},
			{otherClient, otherSecret, ordersURI + "/.default openid profile offline_access", ordersURI, []string{"Orders.Read.All"}},
			{testClient, testSecret, reportsURI + "/.default", reportsURI, []string{"Reports.Read.All", "Reports.Write.All"}},
			{testClient, testSecret, stockURI + "/.default", stockURI, nil},
			{testClient, testSecret, "api://unregistered/.default", "api://unregistered", []string{"User.Read.All"}},
		}
		for _, tt := range tests {
			t.Run(tt.scope, func(t *testing.T) {
				status, b := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {tt.client},
					"client_secret": {tt.secret}, "scope": {tt.scope}})
				if status != 200 || b["scope"] != tt.aud+"/.default" {
					t.Fatalf("%d %v", status, b)
				}
				c := e.claims(b["access_token"].(string))
				var roles []string
				for _, r := range asSlice(c["roles"]) {
					roles = append(roles, r.(string))
				}
				_, hasScp := c["scp"]
				if c["aud"] != tt.aud || !slices.Equal(roles, tt.roles) || hasScp || c["idtyp"] != "app" || c["azp"] != tt.client ||
					c["oid"] != c["sub"] || !guidRE.MatchString(c["oid"].(string)) || c["iss"] != e.issuer() {
					t.Errorf("claims %v", c)
				}
				if _, has := c["roles"]; tt.roles == nil && has {
					t.Errorf("roles claim present: %v", c["roles"])
				}
				// The service principal id is stable per client.
				again := e.claims(e.appToken(tt.client, tt.secret, tt.scope))
				if again["oid"] != c["oid"] {
					t.Errorf("oid %v then %v", c["oid"], again["oid"])
				}
			})
		}
		a := e.claims(e.appToken(testClient, testSecret, ordersURI+"/.default"))
		b := e.claims(e.appToken(otherClient, otherSecret, ordersURI+"/.default"))
		if a["oid"] == b["oid"] {
			t.Error("two clients share a service principal id")
		}
		status, body := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {testClient},
			"client_secret": {testSecret}, "scope": {ordersURI + "/Orders.Read"}})
		if status != 400 || body["error"] != "invalid_scope" {
			t.Errorf("named scope: %d %v", status, body)
		}
	})
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// TestIncrementalConsent: a refresh token only yields tokens for scopes the
// user consented to; another API's scopes need an interactive request first.
func TestIncrementalConsent(t *testing.T) {
	e := newAPIEnv(t)
	_, rt := e.signInFor(ordersURI+"/Orders.Read", nil)

	consentBody := regexp.MustCompile(`^AADSTS65001: The user or administrator has not consented to use the application with ID '` + testClient +
		`' named '` + testClient + `'\. Send an interactive authorization request for this user and resource\. Trace ID: [0-9a-f-]{36} Correlation ID: [0-9a-f-]{36} Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)
	refused := func(what string, status int, b map[string]any) {
		t.Helper()
		desc, _ := b["error_description"].(string)
		codes, _ := b["error_codes"].([]any)
		if status != 400 || b["error"] != "invalid_grant" || b["suberror"] != "consent_required" || !consentBody.MatchString(desc) ||
			len(codes) != 1 || codes[0] != float64(65001) || b["trace_id"] == nil || b["correlation_id"] == nil || b["timestamp"] == nil {
			t.Fatalf("%s: %d %v", what, status, b)
		}
	}
	tests := []struct{ name, scope string }{
		{"another API", stockURI + "/Stock.Read"},
		{"another scope of the same API", ordersURI + "/Orders.Write"},
		{"Graph", "User.Read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, b := e.refreshFor(rt, tt.scope)
			refused(tt.scope, status, b)
		})
	}
	// The refusals left the refresh token valid.
	status, b := e.refreshFor(rt, ordersURI+"/Orders.Read")
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, b)
	}
	rt = b["refresh_token"].(string)

	// The user consents to Stock.Read through the authorize endpoint ...
	page := e.userPage("openid offline_access " + stockURI + "/Stock.Read")
	mustContain(t, page, `name="consent"`, "Stock.Read", "Access the Stock API (Stock.Read)")
	e.signInFor(stockURI+"/Stock.Read", nil)
	// ... and from then on the earlier refresh token works for it too.
	status, b = e.refreshFor(rt, stockURI+"/Stock.Read")
	if status != 200 {
		t.Fatalf("refresh after consent: %d %v", status, b)
	}
	if c := e.claims(b["access_token"].(string)); c["aud"] != stockURI || c["scp"] != "Stock.Read" {
		t.Errorf("claims %v", c)
	}
	rt = b["refresh_token"].(string)

	// Revoking consent refuses everything again, until the user consents again.
	e.srv.RevokeConsent(adeleID, testClient)
	status, b = e.refreshFor(rt, ordersURI+"/Orders.Read")
	refused("after RevokeConsent", status, b)
	mustContain(t, e.userPage("openid offline_access "+ordersURI+"/Orders.Read"), `name="consent"`)
	e.signInFor(ordersURI+"/Orders.Read", nil)
	if status, b := e.refreshFor(rt, ordersURI+"/Orders.Read"); status != 200 {
		t.Fatalf("refresh after consenting again: %d %v", status, b)
	}
	// Other users' and clients' consents are their own.
	e.srv.RevokeConsent(alexID, testClient)
	e.srv.RevokeConsent(adeleID, otherClient)
	if page := e.userPage("openid offline_access " + ordersURI + "/Orders.Read"); strings.Contains(page, `name="consent"`) {
		t.Error("consent asked again after revoking another user's consent")
	}
}

// userPage opens an authorize URL for scope, picks adele and returns the
// page that follows (consent, or the form_post page).
func (e *env) userPage(scope string) string {
	e.t.Helper()
	c := *e.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Jar = newJar()
	_, challenge := pkce()
	resp, err := c.Get(e.authorizeURL(map[string]string{"scope": scope, "code_challenge": challenge, "code_challenge_method": "S256"}))
	if err != nil {
		e.t.Fatal(err)
	}
	page := readBody(e.t, resp)
	f := findForm(parseForms([]byte(page)), func(f htmlForm) bool { return f.hasButtonValue("user", adeleID) })
	if f == nil {
		e.t.Fatalf("no user button in %s", page)
	}
	_, target, vals, _ := f.submit(resp.Request.URL, "user", adeleID)
	resp, err = c.PostForm(target, vals)
	if err != nil {
		e.t.Fatal(err)
	}
	return readBody(e.t, resp)
}

var challengeRE = regexp.MustCompile(`^Bearer realm="", authorization_uri="([^"]+)"(, client_id="([^"]+)")?, error="insufficient_claims", claims="([A-Za-z0-9+/=]+)"$`)

// parseChallenge checks a claims challenge's shape and returns its decoded
// claims and client_id.
func (e *env) parseChallenge(resp *http.Response) (claims, clientID string) {
	e.t.Helper()
	if resp.StatusCode != http.StatusUnauthorized {
		e.t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	h := resp.Header.Get("WWW-Authenticate")
	m := challengeRE.FindStringSubmatch(h)
	if m == nil {
		e.t.Fatalf("WWW-Authenticate %q is not a claims challenge", h)
	}
	if m[1] != e.ts.URL+"/"+testTenant+"/oauth2/v2.0/authorize" {
		e.t.Errorf("authorization_uri %s", m[1])
	}
	b, err := base64.StdEncoding.DecodeString(m[4])
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b), m[3]
}

// TestClaimsChallenge: RequireClaims makes an API (or Graph) answer with a
// claims challenge until the user signs in again with those claims.
func TestClaimsChallenge(t *testing.T) {
	const acrs = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	tests := []struct {
		name, api, scope, path string
		claims                 func(e *env) string
		// refreshSatisfies: a plain refresh (new iat) satisfies nbf but not acrs.
		refreshSatisfies bool
		clientID         string
	}{
		{name: "API acrs", api: "Orders", scope: ordersURI + "/Orders.Read", path: "/apis/Orders/orders",
			claims: func(*env) string { return acrs }},
		{name: "API nbf", api: "Orders", scope: ordersURI + "/Orders.Read", path: "/apis/Orders/orders",
			claims: func(e *env) string {
				return `{"access_token":{"nbf":{"essential":true,"value":"` + itoa(e.now().Unix()+1) + `"}}}`
			}, refreshSatisfies: true},
		{name: "Graph acrs", api: MicrosoftGraph, scope: "User.Read", path: "/graph/v1.0/me",
			claims: func(*env) string { return acrs }, clientID: graphAppID},
		{name: "Graph nbf", api: "graph", scope: "User.Read", path: "/graph/v1.0/me",
			claims: func(e *env) string {
				return `{"access_token":{"nbf":{"essential":true,"value":"` + itoa(e.now().Unix()+1) + `"}}}`
			}, refreshSatisfies: true, clientID: graphAppID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAPIEnv(t)
			at, rt := e.signInFor(tt.scope, nil)
			if resp, body := e.call("GET", tt.path, at, ""); resp.StatusCode != 200 {
				t.Fatalf("before: %d %s", resp.StatusCode, body)
			}
			claims := tt.claims(e)
			if err := e.srv.RequireClaims(tt.api, claims); err != nil {
				t.Fatal(err)
			}
			e.advance(2 * time.Second) // the revocation time is now in the past
			resp, body := e.call("GET", tt.path, at, "")
			got, clientID := e.parseChallenge(resp)
			if got != claims || clientID != tt.clientID {
				t.Errorf("challenge claims %s client_id %q", got, clientID)
			}
			if tt.clientID != "" {
				mustContain(t, body, `"InvalidAuthenticationToken"`, "Continuous access evaluation resulted in challenge with result: InteractionRequired")
			} else {
				mustContain(t, body, `"error":"insufficient_claims"`)
			}

			// A silent refresh without claims.
			status, b := e.refreshFor(rt, tt.scope)
			if status != 200 {
				t.Fatalf("refresh %d %v", status, b)
			}
			resp, _ = e.call("GET", tt.path, b["access_token"].(string), "")
			if tt.refreshSatisfies != (resp.StatusCode == 200) {
				t.Errorf("after a plain refresh: %d (acrs %v)", resp.StatusCode, e.claims(b["access_token"].(string))["acrs"])
			}
			// A refresh token from a sign-in without the claims cannot
			// satisfy an authentication context.
			if !tt.refreshSatisfies {
				status, b = e.refreshFor(b["refresh_token"].(string), tt.scope, "claims", claims)
				if status != 400 || b["error"] != "invalid_grant" || b["suberror"] != "basic_action" || b["claims"] != claims ||
					!strings.HasPrefix(b["error_description"].(string), "AADSTS50076: ") {
					t.Errorf("refresh with claims: %d %v", status, b)
				}
			}

			// Sign in again with the claims: the new token satisfies them.
			at2, rt2 := e.signInFor(tt.scope, map[string]string{"claims": got})
			c := e.claims(at2)
			if !tt.refreshSatisfies && !slices.Equal(asSlice(c["acrs"]), []any{"c1"}) {
				t.Errorf("acrs %v", c["acrs"])
			}
			if resp, body := e.call("GET", tt.path, at2, ""); resp.StatusCode != 200 {
				t.Fatalf("after sign-in with claims: %d %s %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
			if !tt.refreshSatisfies {
				// Silent refreshes drop acrs again unless they ask for it.
				status, b := e.refreshFor(rt2, tt.scope)
				if status != 200 || e.claims(b["access_token"].(string))["acrs"] != nil {
					t.Fatalf("refresh: %d %v", status, b)
				}
				if resp, _ := e.call("GET", tt.path, b["access_token"].(string), ""); resp.StatusCode != 401 {
					t.Errorf("refreshed token without acrs: %d", resp.StatusCode)
				}
				status, b = e.refreshFor(b["refresh_token"].(string), tt.scope, "claims", claims)
				if status != 200 {
					t.Fatalf("refresh with claims: %d %v", status, b)
				}
				if resp, _ := e.call("GET", tt.path, b["access_token"].(string), ""); resp.StatusCode != 200 {
					t.Errorf("refreshed token with acrs: %d", resp.StatusCode)
				}
			}
			// Lifting the demand.
			if err := e.srv.RequireClaims(tt.api, ""); err != nil {
				t.Fatal(err)
			}
			if resp, _ := e.call("GET", tt.path, at, ""); resp.StatusCode != 200 {
				t.Errorf("after lifting: %d", resp.StatusCode)
			}
		})
	}
}

func TestIndexListsAPIs(t *testing.T) {
	e := newAPIEnv(t)
	_, page := e.get(e.ts.URL+"/", nil)
	mustContain(t, page, "<code>"+e.ts.URL+"/apis/Orders/</code> for <code>"+ordersURI+"</code>", "/apis/Reports/")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestRequireClaimsErrors(t *testing.T) {
	e := newAPIEnv(t)
	for _, tt := range []struct{ api, claims, want string }{
		{"Nope", `{"access_token":{"acrs":{"value":"c1"}}}`, "no API named"},
		{"Orders", `{"access_token":`, "not valid JSON"},
		{"Orders", `[1]`, "not a JSON object"},
		{"Orders", `{"id_token":{"acrs":null}}`, "no access_token claims"},
		{"Orders", `{"access_token":{"acrs":{"value":{"x":1}}}}`, "values must be"},
	} {
		if err := e.srv.RequireClaims(tt.api, tt.claims); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("RequireClaims(%s, %s) = %v, want %q", tt.api, tt.claims, err, tt.want)
		}
	}
	// Values, a list of values, and a bare claim name.
	at, _ := e.signInFor(ordersURI+"/Orders.Read", map[string]string{"claims": `{"access_token":{"acrs":{"essential":true,"values":["c2","c3"]},"xms_cc":{"values":["cp1"]}}}`})
	for _, tt := range []struct {
		claims string
		ok     bool
	}{
		{`{"access_token":{"acrs":{"essential":true,"values":["c1","c3"]}}}`, true},
		{`{"access_token":{"acrs":{"essential":true,"value":"c2"}}}`, true},
		{`{"access_token":{"acrs":null}}`, true},
		{`{"access_token":{"xms_cc":{"values":["cp1"]}}}`, true},
		{`{"access_token":{"acrs":{"essential":true,"value":"c9"}}}`, false},
		{`{"access_token":{"nbf":{"essential":true,"value":"` + itoa(e.now().Unix()+3600) + `"}}}`, false},
		{`{"access_token":{"nbf":{"essential":true,"value":` + itoa(e.now().Unix()-3600) + `}}}`, true},
		{`{"access_token":{"foo":{"essential":true}}}`, false},
	} {
		if err := e.srv.RequireClaims("Orders", tt.claims); err != nil {
			t.Fatal(err)
		}
		if resp, _ := e.call("GET", "/apis/Orders/", at, ""); (resp.StatusCode == 200) != tt.ok {
			t.Errorf("%s: %d", tt.claims, resp.StatusCode)
		}
	}
	// An invalid claims parameter at the authorize endpoint goes back to the app.
	_, form, err := SignIn(context.Background(), e.ts.Client(), e.authorizeURL(map[string]string{"claims": "{nope"}), adeleID)
	if err == nil || form.Get("error") != "invalid_request" {
		t.Errorf("bad claims: %v %v", err, form)
	}
}
