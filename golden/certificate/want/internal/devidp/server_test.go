package devidp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		tenant, issuer string
	}{
		{testTenant, e.ts.URL + "/" + testTenant + "/v2.0"},
		{"common", e.ts.URL + "/{tenantid}/v2.0"},
		{"organizations", e.ts.URL + "/{tenantid}/v2.0"},
		{"contoso.example", e.ts.URL + "/" + testTenant + "/v2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			resp, body := e.get(e.ts.URL+"/"+tt.tenant+"/v2.0/.well-known/openid-configuration", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatal(err)
			}
			base := e.ts.URL + "/" + tt.tenant
			want := map[string]string{
				"issuer":                 tt.issuer,
				"authorization_endpoint": base + "/oauth2/v2.0/authorize",
				"token_endpoint":         base + "/oauth2/v2.0/token",
				"end_session_endpoint":   base + "/oauth2/v2.0/logout",
				"jwks_uri":               base + "/discovery/v2.0/keys",
				"tenant_region_scope":    "WW",
			}
			for k, v := range want {
				if doc[k] != v {
					t.Errorf("%s = %v, want %s", k, doc[k], v)
				}
			}
			lists := map[string]string{
				"response_modes_supported":              "query fragment form_post",
				"id_token_signing_alg_values_supported": "RS256",
				"code_challenge_methods_supported":      "S256",
			}
			for k, v := range lists {
				var got []string
				for _, x := range doc[k].([]any) {
					got = append(got, x.(string))
				}
				if strings.Join(got, " ") != v {
					t.Errorf("%s = %v, want %s", k, got, v)
				}
			}
			for _, k := range []string{"scopes_supported", "claims_supported"} {
				if l, _ := doc[k].([]any); len(l) == 0 {
					t.Errorf("%s missing", k)
				}
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	e := newEnv(t)
	resp, body := e.get(e.ts.URL+"/"+testTenant+"/discovery/v2.0/keys", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys", len(set.Keys))
	}
	k := set.Keys[0]
	for name, want := range map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "e": "AQAB"} {
		if k[name] != want {
			t.Errorf("%s = %q, want %q", name, k[name], want)
		}
	}
	if k["kid"] == "" || k["n"] == "" {
		t.Errorf("kid or n missing: %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("private key published")
	}
}

// TestAuthCodeFlow runs the full flow through SignIn and checks the token
// response and the tokens' claims (verified with the published JWKS).
func TestAuthCodeFlow(t *testing.T) {
	e := newEnv(t)
	code, verifier := e.code(nil)
	status, body := e.redeem(code, verifier)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || body["ext_expires_in"] != float64(3600) {
		t.Errorf("token_type/expires_in wrong: %v", body)
	}
	if body["scope"] != "User.Read openid profile offline_access" {
		t.Errorf("scope = %v", body["scope"])
	}
	if rt, _ := body["refresh_token"].(string); len(rt) < 40 {
		t.Errorf("refresh_token = %q", rt)
	}
	ci, err := base64.RawURLEncoding.DecodeString(body["client_info"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]string
	json.Unmarshal(ci, &info)
	if info["uid"] != adeleID || info["utid"] != testTenant {
		t.Errorf("client_info = %s", ci)
	}

	id := e.claims(body["id_token"].(string))
	now := float64(time.Now().Unix())
	want := map[string]any{
		"aud": testClient, "iss": e.issuer(), "oid": adeleID, "tid": testTenant, "name": "Adele Vance",
		"preferred_username": "adele@contoso.example", "nonce": "nonce-456", "ver": "2.0",
	}
	for k, v := range want {
		if id[k] != v {
			t.Errorf("id_token %s = %v, want %v", k, id[k], v)
		}
	}
	if exp := id["exp"].(float64); exp < now+3000 || id["iat"].(float64) > now+5 || id["nbf"] == nil || id["sub"] == "" {
		t.Errorf("id_token times/sub wrong: %v", id)
	}

	at := e.claims(body["access_token"].(string))
	want = map[string]any{
		"aud": "https://graph.microsoft.com", "iss": e.issuer(), "oid": adeleID, "tid": testTenant,
		"azp": testClient, "scp": "User.Read openid profile", "ver": "2.0", "sub": id["sub"],
		"name": "Adele Vance", "preferred_username": "adele@contoso.example",
	}
	for k, v := range want {
		if at[k] != v {
			t.Errorf("access token %s = %v, want %v", k, at[k], v)
		}
	}
	if e.srv.TokenRequests("authorization_code") != 1 || e.srv.TokenRequests("") != 1 {
		t.Errorf("counters: %d %d", e.srv.TokenRequests("authorization_code"), e.srv.TokenRequests(""))
	}
}

func TestAccessTokenAudience(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ scope, aud, scp string }{
		{"openid User.Read", "https://graph.microsoft.com", "User.Read openid"},
		{"https://graph.microsoft.com/Mail.Read offline_access", "https://graph.microsoft.com", "Mail.Read"},
		{"api://demo-api/Orders.Read openid", "api://demo-api", "Orders.Read"},
		{"openid profile", "https://graph.microsoft.com", "openid profile"},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			code, v := e.code(map[string]string{"scope": tt.scope})
			status, body := e.token(url.Values{
				"grant_type": {"authorization_code"}, "client_id": {testClient}, "client_secret": {testSecret},
				"code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {v},
			})
			if status != http.StatusOK {
				t.Fatalf("%d %v", status, body)
			}
			c := e.claims(body["access_token"].(string))
			if c["aud"] != tt.aud || c["scp"] != tt.scp {
				t.Errorf("aud %v scp %v, want %s %s", c["aud"], c["scp"], tt.aud, tt.scp)
			}
			if body["scope"] != tt.scope {
				t.Errorf("scope echo %v", body["scope"])
			}
		})
	}
}

func TestResponseModes(t *testing.T) {
	e := newEnv(t)
	for _, mode := range []string{"query", "fragment", "form_post"} {
		t.Run(mode, func(t *testing.T) {
			cb, form, err := SignIn(context.Background(), e.ts.Client(), e.authorizeURL(map[string]string{"response_mode": mode}), alexID)
			if err != nil {
				t.Fatal(err)
			}
			if form.Get("code") == "" || form.Get("state") != "st-123" {
				t.Fatalf("form = %v", form)
			}
			if !strings.HasPrefix(cb, testRedirect) {
				t.Fatalf("callback %q", cb)
			}
			if mode == "query" && !strings.Contains(cb, "?") || mode == "fragment" && !strings.Contains(cb, "#") || mode == "form_post" && cb != testRedirect {
				t.Errorf("callback %q", cb)
			}
		})
	}
}

func TestCodeRedemptionErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(form url.Values)
		aadsts float64
	}{
		{"wrong verifier", func(f url.Values) { f.Set("code_verifier", randomToken(32)) }, 501481},
		{"missing verifier", func(f url.Values) { f.Del("code_verifier") }, 900144},
		{"wrong redirect_uri", func(f url.Values) { f.Set("redirect_uri", "http://localhost:5000/other") }, 500112},
		{"unknown code", func(f url.Values) { f.Set("code", randomToken(32)) }, 9002313},
		{"other client", func(f url.Values) { f.Set("client_id", otherClient); f.Set("client_secret", otherSecret) }, 70000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			code, verifier := e.code(nil)
			form := url.Values{
				"grant_type": {"authorization_code"}, "client_id": {testClient}, "client_secret": {testSecret},
				"code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier},
			}
			tt.modify(form)
			status, body := e.token(form)
			wantErr := "invalid_grant"
			if tt.aadsts == 900144 {
				wantErr = "invalid_request"
			}
			if status != http.StatusBadRequest || errorCode(body) != wantErr {
				t.Fatalf("got %d %v, want 400 %s", status, body, wantErr)
			}
			codes, _ := body["error_codes"].([]any)
			if len(codes) != 1 || codes[0] != tt.aadsts {
				t.Errorf("error_codes = %v, want %v", body["error_codes"], tt.aadsts)
			}
			desc, _ := body["error_description"].(string)
			if !strings.HasPrefix(desc, "AADSTS") || body["trace_id"] == nil || body["correlation_id"] == nil || body["timestamp"] == nil {
				t.Errorf("error shape: %v", body)
			}
			// A failed attempt consumes the code.
			if status, _ := e.redeem(code, verifier); status != http.StatusBadRequest && tt.name != "unknown code" {
				t.Errorf("code usable after failed redemption: %d", status)
			}
		})
	}
}

func TestCodeReplayRevokesRefreshTokens(t *testing.T) {
	e := newEnv(t)
	code, verifier := e.code(nil)
	status, body := e.redeem(code, verifier)
	if status != http.StatusOK {
		t.Fatal(body)
	}
	refresh := func(rt string) (int, map[string]any) {
		return e.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {testClient},
			"client_secret": {testSecret}, "refresh_token": {rt}})
	}
	// Rotate once: the replay must revoke the descendant too.
	status, body = refresh(body["refresh_token"].(string))
	if status != http.StatusOK {
		t.Fatal(body)
	}
	status, replay := e.redeem(code, verifier)
	if status != http.StatusBadRequest || errorCode(replay) != "invalid_grant" {
		t.Fatalf("replay: %d %v", status, replay)
	}
	if codes := replay["error_codes"].([]any); codes[0] != float64(54005) {
		t.Errorf("error_codes %v", codes)
	}
	status, refreshed := refresh(body["refresh_token"].(string))
	if status != http.StatusBadRequest || errorCode(refreshed) != "invalid_grant" {
		t.Errorf("refresh token from a replayed code still works: %d %v", status, refreshed)
	}
}

func TestCodeExpires(t *testing.T) {
	e := newEnv(t)
	code, verifier := e.code(nil)
	e.advance(11 * time.Minute)
	if status, body := e.redeem(code, verifier); status != http.StatusBadRequest || errorCode(body) != "invalid_grant" {
		t.Fatalf("expired code: %d %v", status, body)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	e := newEnv(t)
	pageErrors := []struct {
		name      string
		overrides map[string]string
		want      string
	}{
		{"unregistered redirect_uri", map[string]string{"redirect_uri": "http://localhost:5000/evil"}, "AADSTS50011"},
		{"missing redirect_uri", map[string]string{"redirect_uri": ""}, "AADSTS50011"},
		{"unknown client", map[string]string{"client_id": "99999999-9999-9999-9999-999999999999"}, "AADSTS700016"},
		{"bad response_mode", map[string]string{"response_mode": "web_message"}, "AADSTS900280"},
	}
	for _, tt := range pageErrors {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.get(e.authorizeURL(tt.overrides), nil)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			mustContain(t, body, tt.want, `<p class="error"`)
			if strings.Contains(body, "<form") {
				t.Error("error page must not offer a sign-in form")
			}
		})
	}
	_, challenge := pkce()
	redirectErrors := []struct {
		name      string
		overrides map[string]string
		want      string
	}{
		{"plain PKCE", map[string]string{"code_challenge": challenge, "code_challenge_method": "plain"}, "invalid_request"},
		{"PKCE without method", map[string]string{"code_challenge": challenge}, "invalid_request"},
		{"short challenge", map[string]string{"code_challenge": "abc", "code_challenge_method": "S256"}, "invalid_request"},
		{"implicit", map[string]string{"response_type": "token"}, "unsupported_response_type"},
		{"no scope", map[string]string{"scope": ""}, "invalid_request"},
		{"two resources", map[string]string{"scope": "User.Read api://x/y"}, "invalid_scope"},
		{"prompt none", map[string]string{"prompt": "none"}, "login_required"},
	}
	for _, tt := range redirectErrors {
		t.Run(tt.name, func(t *testing.T) {
			tt.overrides["response_mode"] = "query"
			resp, _ := e.get(e.authorizeURL(tt.overrides), nil)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if !strings.HasPrefix(loc.String(), testRedirect+"?") || loc.Query().Get("error") != tt.want || loc.Query().Get("state") != "st-123" {
				t.Errorf("Location %s, want error %s", loc, tt.want)
			}
		})
	}
}

func TestConsent(t *testing.T) {
	e := newEnv(t)
	c := e.ts.Client()
	// stepToUser opens the authorize URL, picks alex and returns the next page.
	stepToUser := func(scope string, extra ...string) string {
		t.Helper()
		jarClient := *c
		jarClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		jarClient.Jar = newJar()
		o := map[string]string{"scope": scope}
		for i := 0; i+1 < len(extra); i += 2 {
			o[extra[i]] = extra[i+1]
		}
		resp, err := jarClient.Get(e.authorizeURL(o))
		if err != nil {
			t.Fatal(err)
		}
		page := readBody(t, resp)
		f := findForm(parseForms([]byte(page)), func(f htmlForm) bool { return f.hasButtonValue("user", alexID) })
		if f == nil {
			t.Fatalf("no user button for alex in %s", page)
		}
		_, target, vals, _ := f.submit(resp.Request.URL, "user", alexID)
		resp, err = jarClient.PostForm(target, vals)
		if err != nil {
			t.Fatal(err)
		}
		return readBody(t, resp)
	}
	first := stepToUser("openid User.Read")
	mustContain(t, first, `<button name="consent" value="accept">Accept</button>`, `value="cancel"`, "User.Read", "Sign you in")
	// SignIn accepts the consent.
	if _, _, err := SignIn(context.Background(), c, e.authorizeURL(map[string]string{"scope": "openid User.Read"}), alexID); err != nil {
		t.Fatal(err)
	}
	// Same scopes: remembered, straight to the form_post page.
	again := stepToUser("openid User.Read")
	if strings.Contains(again, `name="consent"`) || !strings.Contains(again, `name="code"`) {
		t.Errorf("consent shown again:\n%s", again)
	}
	// A new scope needs consent again.
	more := stepToUser("openid User.Read Mail.Read")
	mustContain(t, more, `name="consent"`, "Mail.Read")
	// prompt=consent forces it.
	forced := stepToUser("openid User.Read", "prompt", "consent")
	mustContain(t, forced, `name="consent"`)
}

func TestConsentCancel(t *testing.T) {
	e := newEnv(t)
	cb, form, err := SignInWith(context.Background(), e.ts.Client(), e.authorizeURL(nil), SignInOptions{UserID: adeleID, DeclineConsent: true})
	var ae *AuthorizationError
	if !errors.As(err, &ae) || ae.Code != "access_denied" {
		t.Fatalf("err = %v", err)
	}
	if cb != testRedirect || form.Get("error") != "access_denied" || form.Get("state") != "st-123" || form.Has("code") {
		t.Errorf("callback %s form %v", cb, form)
	}
	if !strings.HasPrefix(ae.Description, "AADSTS65004") {
		t.Errorf("description %q", ae.Description)
	}
}

func TestTypedName(t *testing.T) {
	e := newEnv(t)
	oid := func() string {
		_, form, err := SignInWith(context.Background(), e.ts.Client(), e.authorizeURL(nil), SignInOptions{Name: "  Lee   Gu "})
		if err != nil {
			t.Fatal(err)
		}
		_, body := e.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {testClient},
			"client_secret": {testSecret}, "code": {form.Get("code")}, "redirect_uri": {testRedirect}})
		c := e.claims(body["id_token"].(string))
		if c["name"] != "Lee Gu" || c["preferred_username"] != "lee.gu@contoso.example" {
			t.Errorf("claims %v", c)
		}
		return c["oid"].(string)
	}
	a, b := oid(), oid()
	if a != b || !guidRE.MatchString(a) {
		t.Errorf("oids %s %s", a, b)
	}
}

func TestLoginRequestBinding(t *testing.T) {
	e := newEnv(t)
	c := *e.ts.Client()
	c.Jar = newJar()
	resp, err := c.Get(e.authorizeURL(nil))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	f := findForm(parseForms([]byte(page)), func(f htmlForm) bool { return f.hasButton("user") })
	_, target, vals, err := f.submit(resp.Request.URL, "user", adeleID)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		client func() *http.Client
		vals   url.Values
		want   string
	}{
		{"another browser", func() *http.Client { o := *e.ts.Client(); o.Jar = newJar(); return &o }, vals, "another browser"},
		{"no cookie", func() *http.Client { return e.ts.Client() }, vals, "another browser"},
		{"unknown request id", func() *http.Client { return &c }, url.Values{"request": {randomToken(16)}, "user": {adeleID}}, "expired or is unknown"},
		{"unknown user", func() *http.Client { return &c }, url.Values{"request": vals["request"], "user": {"nobody"}}, "Unknown user"},
		{"consent before login", func() *http.Client { return &c }, url.Values{"request": vals["request"], "consent": {"accept"}}, "Sign in before giving consent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client().PostForm(target, tt.vals)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d", resp.StatusCode)
			}
			mustContain(t, body, tt.want)
		})
	}
	// The pending request expires.
	e.advance(11 * time.Minute)
	resp, err = c.PostForm(target, vals)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, readBody(t, resp), "expired or is unknown")
}

func TestPagesEscapeInput(t *testing.T) {
	e := newEnv(t)
	evil := `"><script>alert(1)</script>`
	cb, form, err := SignInWith(context.Background(), e.ts.Client(),
		e.authorizeURL(map[string]string{"state": evil, "scope": "openid api://x/a&b"}), SignInOptions{Name: `<img src=x onerror=alert(1)>`})
	if err != nil {
		t.Fatal(err)
	}
	if cb != testRedirect || form.Get("state") != evil {
		t.Errorf("state round trip: %q", form.Get("state"))
	}
	// Render the consent page directly and look for raw markup.
	p := &pendingAuth{id: "x", tenant: "t", client: e.srv.clients[testClient], scope: evil}
	p.scopes, _ = parseScopes("openid")
	p.scopes.raw = append(p.scopes.raw, evil)
	rec := newRecorder()
	e.srv.renderConsent(rec, p, User{DisplayName: evil, UserPrincipalName: evil})
	if strings.Contains(rec.Body.String(), "<script>alert") {
		t.Errorf("unescaped markup:\n%s", rec.Body.String())
	}
	rec = newRecorder()
	e.srv.renderFormPost(rec, testRedirect, url.Values{"state": {evil}, "code": {"c"}})
	body := rec.Body.String()
	if strings.Contains(body, "<script>alert") {
		t.Errorf("unescaped markup:\n%s", body)
	}
	mustContain(t, body, `<form method="post" action="http://localhost:5000/signin-oidc">`, `name="code" value="c"`, `>Continue</button>`, "<script nonce=")
	mustContain(t, rec.Header().Get("Content-Security-Policy"), "script-src 'nonce-", "frame-ancestors 'none'")
}

func TestLoginPage(t *testing.T) {
	e := newEnv(t)
	resp, body := e.get(e.authorizeURL(nil), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	mustContain(t, body,
		"<title>Sign in – Local stand-in for Microsoft Entra ID (development only)</title>",
		`<button name="user" value="`+adeleID+`">Adele Vance (adele@contoso.example)</button>`,
		`<input type="hidden" name="request" value="`,
		`name="name"`, `>Sign in</button>`)
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "Secure") || !strings.Contains(c, "SameSite=Lax") {
		t.Errorf("cookie %q", c)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	base := e.ts.URL + "/" + testTenant + "/oauth2/v2.0/logout"
	tests := []struct {
		name     string
		query    url.Values
		location string
	}{
		{"registered", url.Values{"post_logout_redirect_uri": {testLogout}, "state": {"s1"}}, testLogout + "?state=s1"},
		{"registered for client", url.Values{"post_logout_redirect_uri": {testLogout}, "client_id": {testClient}}, testLogout},
		{"registered for another client", url.Values{"post_logout_redirect_uri": {testLogout}, "client_id": {otherClient}}, ""},
		{"unregistered", url.Values{"post_logout_redirect_uri": {"https://evil.example/"}}, ""},
		{"none", url.Values{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.get(base+"?"+tt.query.Encode(), nil)
			if tt.location != "" {
				if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != tt.location {
					t.Errorf("%d Location %q, want %q", resp.StatusCode, resp.Header.Get("Location"), tt.location)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
				t.Errorf("%d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			mustContain(t, body, "You signed out")
		})
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	if resp, _ := e.get(e.ts.URL+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
}

func TestPruneExpired(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		e.get(e.authorizeURL(nil), nil)
	}
	e.code(nil)
	e.srv.mu.Lock()
	if len(e.srv.pending) != 5 || len(e.srv.codes) != 1 {
		t.Errorf("pending %d codes %d", len(e.srv.pending), len(e.srv.codes))
	}
	e.srv.mu.Unlock()
	e.advance(time.Hour)
	e.get(e.authorizeURL(nil), nil) // triggers pruning
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	if len(e.srv.pending) != 1 || len(e.srv.codes) != 0 {
		t.Errorf("after pruning: pending %d codes %d", len(e.srv.pending), len(e.srv.codes))
	}
}
