package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"hello/internal/config"
	"hello/internal/devidp"
)

const (
	testTenant = "11111111-2222-3333-4444-555555555555"
	sessionKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	// firstPage is the page a signed-out visitor signs in for.
	firstPage = "/account"
)

var testUsers = []devidp.User{
	{ID: "6e2b3d8a-1111-4c3a-9d2e-000000000001", DisplayName: "Adele Vance", GivenName: "Adele", Surname: "Vance",
		UserPrincipalName: "adele@contoso.example", Mail: "adele@contoso.example", JobTitle: "Retail Manager", OfficeLocation: "18/2111"},
	{ID: "6e2b3d8a-1111-4c3a-9d2e-000000000002", DisplayName: "Alex Wilber", UserPrincipalName: "alex@contoso.example"},
}

// env is one test's world: the identity provider stand-in (also serving
// the APIs the app calls) over TLS, and the app on plain-http loopback, as
// in local development.
type env struct {
	t      testing.TB
	idp    *devidp.Server
	idpSrv *httptest.Server
	app    *httptest.Server
	appURL string
	dir    string
	tenant string
	// certFile is the stand-in's certificate, trusted in Development.
	certFile string
	// callback and signedOut are the project's CallbackPath and
	// SignedOutCallbackPath.
	callback, signedOut string
	// credEnv gives the app its credential (see credential_test.go).
	credEnv []string
	// cache is the app's token cache, opened as the app opens it; tests
	// lose tokens through it.
	cache stores
	// cacheEnv points the cache's settings at the test's own store.
	cacheEnv []string
	// apis are the APIs the stand-in serves, from the project's devidp.json.
	apis []devidp.API
}

// newEnv starts the stand-in and the app; opts adjust the stand-in.
func newEnv(t testing.TB, users []devidp.User, opts ...func(*devidp.Config)) *env {
	t.Helper()
	t.Setenv("MSAL_FORCE_REGION", "")
	os.Unsetenv("MSAL_FORCE_REGION")
	e := &env{t: t, dir: t.TempDir()}
	e.app = httptest.NewUnstartedServer(nil)
	e.appURL = "http://" + e.app.Listener.Addr().String()

	// The project's own appsettings.json, with a Development overlay that
	// points it at the stand-in, as appsettings.Development.json does.
	base, err := os.ReadFile("appsettings.json")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.dir, "appsettings.json"), string(base))
	ad := e.settings(nil).AzureAd
	e.callback, e.signedOut = ad.CallbackPath, ad.SignedOutCallbackPath

	// The stand-in serves the APIs the project registers with it.
	project, err := devidp.LoadConfig("devidp.json")
	if err != nil {
		t.Fatal(err)
	}
	e.apis = project.APIs
	client := devidp.Client{
		ClientID:               ad.ClientID,
		RedirectURIs:           []string{e.appURL + e.callback},
		PostLogoutRedirectURIs: []string{e.appURL + e.signedOut},
	}
	idpCfg := devidp.Config{TenantID: testTenant, Users: users, Clients: []devidp.Client{client}, APIs: e.apis}
	// The app's credential (credential_test.go): registered with the
	// stand-in's client now, finished once the stand-in runs.
	credEnv, credReady := testCredential(t, e.dir, &idpCfg)
	e.credEnv = credEnv
	for _, opt := range opts {
		opt(&idpCfg)
	}
	idp, err := devidp.New(idpCfg)
	if err != nil {
		t.Fatal(err)
	}
	e.idp = idp
	e.idpSrv = httptest.NewTLSServer(idp)
	t.Cleanup(e.idpSrv.Close)
	e.tenant = ad.TenantID
	if credReady != nil {
		credReady(e)
	}

	// The app trusts the stand-in's certificate only through the
	// Development setting, exactly as in local development.
	e.certFile = filepath.Join(e.dir, "idp.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.idpSrv.Certificate().Raw})
	writeFile(t, e.certFile, string(pemBytes))
	writeFile(t, filepath.Join(e.dir, "appsettings.Development.json"), e.devSettings(""))

	// The token cache (cache_test.go): the project's store, the test's own.
	e.cacheEnv = testCache(t)
	e.cache, err = openCache(context.Background(), e.settings(e.cacheEnv), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.app.Config.Handler = e.newHandler()
	e.app.Start()
	t.Cleanup(e.app.Close)
	return e
}

// newHandler wires a fresh app, as a process start would, with the same
// settings and token cache.
func (e *env) newHandler() http.Handler {
	e.t.Helper()
	h, err := newApp(context.Background(), e.appSettings(), e.cache, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// setDevelopment rewrites appsettings.Development.json with extra settings
// (a JSON object's members) and restarts the app with them.
func (e *env) setDevelopment(t testing.TB, extra string) {
	t.Helper()
	writeFile(t, filepath.Join(e.dir, "appsettings.Development.json"), e.devSettings(extra))
	e.app.Config.Handler = e.newHandler()
}

// devSettings is the project's appsettings.Development.json pointed at
// this test's stand-in (its URL, its certificate) instead of make dev's,
// plus extra members (merged into the file's sections).
func (e *env) devSettings(extra string) string {
	e.t.Helper()
	b, err := os.ReadFile("appsettings.Development.json")
	if err != nil {
		e.t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "https://127.0.0.1:5443", e.idpSrv.URL)
	var dev map[string]any
	if err := json.Unmarshal([]byte(text), &dev); err != nil {
		e.t.Fatal(err)
	}
	dev["Development"] = map[string]any{"TrustCertificateFile": e.certFile}
	if extra != "" {
		var more map[string]any
		if err := json.Unmarshal([]byte("{"+extra+"}"), &more); err != nil {
			e.t.Fatal(err)
		}
		for k, v := range more {
			// A section given in extra is merged into the file's.
			section, ok1 := dev[k].(map[string]any)
			add, ok2 := v.(map[string]any)
			if !ok1 || !ok2 {
				dev[k] = v
				continue
			}
			for kk, vv := range add {
				section[kk] = vv
			}
		}
	}
	out, err := json.Marshal(dev)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(out)
}

// apiRequests counts the calls the stand-in's APIs (Graph included) got.
func (e *env) apiRequests() int64 {
	n := e.idp.GraphRequests()
	for _, api := range e.apis {
		n += e.idp.APIRequests(api.Name)
	}
	return n
}

// homeAccountID is the token cache partition of the user with id userID:
// MSAL's "<oid>.<tid>".
func homeAccountID(userID string) string { return userID + "." + testTenant }

// wantPage fails the test unless GET path is a page for the signed-in
// user called name.
func (e *env) wantPage(c *http.Client, path, name string) string {
	e.t.Helper()
	resp, body := get(e.t, c, e.appURL+path)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, name) {
		e.t.Fatalf("GET %s: %s %s, want the page of %s\n%s", path, resp.Status, resp.Header.Get("Location"), name, body)
	}
	return body
}

// appSettings are the settings the test's app runs with (appEnviron).
func (e *env) appSettings(environ ...string) *config.Config {
	e.t.Helper()
	return e.settings(e.appEnviron(environ...))
}

// appEnviron is the environment the test's app runs with: the test's
// session key, credential and token cache, then environ.
func (e *env) appEnviron(environ ...string) []string {
	return slices.Concat([]string{"Session__EncryptionKey=" + sessionKey}, e.credEnv, e.cacheEnv, environ)
}

// settings loads the test's settings in the Development environment.
func (e *env) settings(environ []string) *config.Config {
	e.t.Helper()
	cfg, err := config.Load(e.dir, config.Development, environ)
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// browser is a cookie-keeping client that trusts the stand-in and does not
// follow redirects, so each step can be checked.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:       jar,
		Transport: e.idpSrv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn follows the app to the stand-in, signs in as user there and posts
// the response back to the app, returning where the app sends the browser.
func (e *env) signIn(c *http.Client, startPath, userID string) string {
	e.t.Helper()
	resp, body, err := e.trySignIn(c, startPath, userID)
	if err != nil {
		e.t.Fatalf("sign in at the stand-in: %v", err)
	}
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("POST %s: %s, want 303\n%s", e.callback, resp.Status, body)
	}
	return resp.Header.Get("Location")
}

// trySignIn is signIn that returns the app's answer to the sign-in
// response, whatever it is, or the stand-in's refusal.
func (e *env) trySignIn(c *http.Client, startPath, userID string) (*http.Response, string, error) {
	e.t.Helper()
	resp, _ := get(e.t, c, e.appURL+startPath)
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("GET %s: %s, want a redirect to the identity provider", startPath, resp.Status)
	}
	action, form, err := devidp.SignIn(context.Background(), c, resp.Header.Get("Location"), userID)
	if err != nil {
		return nil, "", err
	}
	resp, err = c.PostForm(action, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// signOutToken is the anti-forgery token of the sign-out form on the home
// page of the browser c's session.
func (e *env) signOutToken(c *http.Client) string {
	e.t.Helper()
	_, body := get(e.t, c, e.appURL+"/")
	m := regexp.MustCompile(`<form class="signout" method="post" action="/signout"><input type="hidden" name="csrf" value="([^"]+)">`).FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("the home page has no sign-out form:\n%s", body)
	}
	return m[1]
}

// postSignOut posts the sign-out form with the headers a browser adds
// (Origin, Sec-Fetch-Site).
func (e *env) postSignOut(c *http.Client, form url.Values, headers map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.appURL+"/signout", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// sameOrigin are the headers of a form posted from the app's own page.
func (e *env) sameOrigin() map[string]string {
	return map[string]string{"Origin": e.appURL, "Sec-Fetch-Site": "same-origin"}
}

func TestSignOut(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	e.signIn(c, firstPage, testUsers[0].ID)
	before := e.idp.TokenRequests("")
	appURL, _ := url.Parse(e.appURL)
	stolen := c.Jar.Cookies(appURL)

	resp := e.postSignOut(c, url.Values{"csrf": {e.signOutToken(c)}}, e.sameOrigin())
	end, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(end.String(), e.idpSrv.URL+"/"+e.tenant+"/oauth2/v2.0/logout") ||
		end.Query().Get("post_logout_redirect_uri") != e.appURL+e.signedOut {
		t.Fatalf("sign-out: %s, redirects to %s", resp.Status, end)
	}
	resp, _ = get(t, c, end.String())
	if got := resp.Header.Get("Location"); got != e.appURL+e.signedOut {
		t.Fatalf("the stand-in's logout redirects to %q", got)
	}
	resp, body := get(t, c, e.appURL+e.signedOut)
	if resp.StatusCode != 200 || !strings.Contains(body, "You have signed out") {
		t.Fatalf("signed-out page: %s\n%s", resp.Status, body)
	}
	// Signed out: the first page starts a new sign-in, and no token is used.
	resp, _ = get(t, c, e.appURL+firstPage)
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/oauth2/v2.0/authorize") {
		t.Fatalf("after sign-out %s: %s %s", firstPage, resp.Status, resp.Header.Get("Location"))
	}
	// A session cookie copied before sign-out gets no data: the user's
	// tokens left the cache with the sign-out.
	replay := e.browser()
	replay.Jar.SetCookies(appURL, stolen)
	resp, _ = get(t, replay, e.appURL+firstPage)
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/oauth2/v2.0/authorize") {
		t.Fatalf("replayed session after sign-out: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	if _, body := get(t, replay, e.appURL+"/"); strings.Contains(body, "Hello,") {
		t.Error("a session cookie copied before sign-out still names the user")
	}
	if e.idp.TokenRequests("") != before || e.apiRequests() != 0 {
		t.Error("tokens were used after sign-out")
	}
}

// Another site cannot sign the user out: not with a link or an image (GET),
// not with a form posted from its page, and not without the form's
// anti-forgery token.
func TestSignOutRefusesForgedRequests(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	e.signIn(c, firstPage, testUsers[0].ID)
	token := e.signOutToken(c)
	other := e.browser()
	e.signIn(other, firstPage, testUsers[1].ID)
	otherToken := e.signOutToken(other)
	if otherToken == token {
		t.Fatal("two sessions have the same anti-forgery token")
	}

	crossSite := map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
	for _, tt := range []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"a cross-site form with the token", url.Values{"csrf": {token}}, crossSite},
		{"a cross-site form without the token", nil, crossSite},
		{"another origin, without Sec-Fetch-Site", url.Values{"csrf": {token}}, map[string]string{"Origin": "https://evil.example"}},
		{"a same-site sibling", url.Values{"csrf": {token}}, map[string]string{"Origin": "http://evil.localhost", "Sec-Fetch-Site": "same-site"}},
		{"no token", nil, e.sameOrigin()},
		{"an empty token", url.Values{"csrf": {""}}, e.sameOrigin()},
		{"another session's token", url.Values{"csrf": {otherToken}}, e.sameOrigin()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.postSignOut(c, tt.form, tt.headers)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST /signout: %s %s, want 403", resp.Status, resp.Header.Get("Location"))
			}
			e.wantPage(c, firstPage, testUsers[0].DisplayName)
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, body := get(t, c, e.appURL+"/signout")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/signout"`) {
			t.Errorf("GET /signout: %s, want a page with the sign-out form\n%s", resp.Status, body)
		}
		e.wantPage(c, firstPage, testUsers[0].DisplayName)
	})
	// The user's own form signs out.
	if resp := e.postSignOut(c, url.Values{"csrf": {token}}, e.sameOrigin()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out from the app's page: %s", resp.Status)
	}
	if _, body := get(t, c, e.appURL+"/"); strings.Contains(body, "Hello,") {
		t.Error("still signed in after sign-out")
	}
	e.wantPage(other, firstPage, testUsers[1].DisplayName)
}

// A code the identity provider refuses (here: replayed in a fresh sign-in)
// asks the user to sign in again, with 400: the provider is not down.
func TestRefusedCodeAsksToSignInAgain(t *testing.T) {
	e := newEnv(t, testUsers)
	first := e.browser()
	resp, _ := get(t, first, e.appURL+firstPage)
	action, form, err := devidp.SignIn(context.Background(), first, resp.Header.Get("Location"), testUsers[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := first.PostForm(action, form); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use of the code: %v %v", resp, err)
	}

	// The same code, with the state of a sign-in this browser started.
	c := e.browser()
	resp, _ = get(t, c, e.appURL+firstPage)
	authorize, _ := url.Parse(resp.Header.Get("Location"))
	replayed := url.Values{"code": {form.Get("code")}, "state": {authorize.Query().Get("state")}}
	resp, err = c.PostForm(action, replayed)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "Sign-in expired") || !strings.Contains(string(b), `href="/signin"`) {
		t.Fatalf("replayed code: %s, want 400 and a page to sign in again\n%s", resp.Status, b)
	}
	if _, body := get(t, c, e.appURL+"/"); strings.Contains(body, "Hello,") {
		t.Error("a refused code signed the user in")
	}
	// And it can: the link starts a sign-in that completes.
	if next := e.signIn(c, "/signin", testUsers[0].ID); next != "/" {
		t.Errorf("signing in again lands on %q", next)
	}
}

// An identity provider that cannot be reached when the code is redeemed
// is the provider's failure: 502.
func TestUnreachableProviderIsBadGateway(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	resp, _ := get(t, c, e.appURL+firstPage)
	action, form, err := devidp.SignIn(context.Background(), c, resp.Header.Get("Location"), testUsers[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	e.idpSrv.Close()
	resp, err = c.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("callback with the provider down: %s, want 502", resp.Status)
	}
}

// cookieHeader is the Cookie header the browser c sends to the app.
func (e *env) cookieHeader(c *http.Client) string {
	appURL, _ := url.Parse(e.appURL)
	var parts []string
	for _, ck := range c.Jar.Cookies(appURL) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// A browser that starts sign-in after sign-in and never finishes does not
// collect cookies until its requests are too large for the app or a proxy
// (8 KB of headers is a common limit): the newest sign-ins are kept, and
// the newest completes.
func TestManyPendingSignIns(t *testing.T) {
	for _, tt := range []struct{ name, returnURL string }{
		{"short return paths", "/?n="},
		{"long return paths", "/?pad=" + strings.Repeat("p", 1900) + "&n="},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testUsers)
			c := e.browser()
			var oldest, newest string
			for i := range 100 {
				resp, _ := get(t, c, e.appURL+"/signin?returnUrl="+url.QueryEscape(fmt.Sprint(tt.returnURL, i)))
				if resp.StatusCode != http.StatusFound {
					t.Fatalf("sign-in %d: %s", i+1, resp.Status)
				}
				if n := len(e.cookieHeader(c)); n >= 8<<10 {
					t.Fatalf("after %d sign-ins the Cookie header is %d bytes", i+1, n)
				}
				if i == 0 {
					oldest = resp.Header.Get("Location")
				}
				newest = resp.Header.Get("Location")
			}
			action, form, err := devidp.SignIn(context.Background(), c, newest, testUsers[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.PostForm(action, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := fmt.Sprint(tt.returnURL, 99); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
				t.Fatalf("the newest sign-in: %s to %.40q, want 303 to %.40q", resp.Status, resp.Header.Get("Location"), want)
			}
			if n := len(e.cookieHeader(c)); n >= 8<<10 {
				t.Errorf("signed in, the Cookie header is %d bytes", n)
			}
			e.wantPage(c, firstPage, testUsers[0].DisplayName)
			// The oldest was forgotten: finishing it asks to sign in again.
			action, form, err = devidp.SignIn(context.Background(), c, oldest, testUsers[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			resp, err = c.PostForm(action, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("the oldest of 100 sign-ins: %s, want 400", resp.Status)
			}
		})
	}
}

// A return path too long to keep is dropped, not the sign-in.
func TestLongReturnURLSignsIn(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	long := firstPage + "?x=" + strings.Repeat("a", 3000)
	if next := e.signIn(c, "/signin?returnUrl="+url.QueryEscape(long), testUsers[0].ID); next != "/" {
		t.Fatalf("a %d-byte returnUrl: the app redirects to %.40q, want /", len(long), next)
	}
	e.wantPage(c, "/", testUsers[0].DisplayName)
	// One that fits is kept.
	fits := firstPage + "?x=" + strings.Repeat("a", 1900)
	if next := e.signIn(e.browser(), "/signin?returnUrl="+url.QueryEscape(fits), testUsers[0].ID); next != fits {
		t.Fatalf("a %d-byte returnUrl: the app redirects to %.40q", len(fits), next)
	}
}

// The settings the app ships with for production never point at the
// stand-in, and carry none of the development-only settings.
func TestProductionSettingsUseEntraID(t *testing.T) {
	cfg, err := config.Load(".", config.Production, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(cfg.AzureAd.Instance)
	if config.IsLoopback(u.Hostname()) || u.Scheme != "https" {
		t.Errorf("AzureAd:Instance = %s in production", cfg.AzureAd.Instance)
	}
	for _, name := range append([]string{}, cfg.DownstreamAPINames()...) {
		api, err := cfg.DownstreamAPI(name)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := url.Parse(api.BaseURL); config.IsLoopback(b.Hostname()) || b.Scheme != "https" {
			t.Errorf("%s:BaseUrl = %s in production", api.Section, api.BaseURL)
		}
	}
	if cfg.Development != (config.DevelopmentSettings{}) {
		t.Errorf("development settings in production: %+v", cfg.Development)
	}
	// And the Development file does point at the stand-in.
	dev, err := config.Load(".", config.Development, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := url.Parse(dev.AzureAd.Instance); !config.IsLoopback(d.Hostname()) {
		t.Errorf("AzureAd:Instance = %s in Development, want the local stand-in", dev.AzureAd.Instance)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, testUsers)
	resp, _ := get(t, e.browser(), e.appURL+"/")
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	} {
		if !strings.Contains(resp.Header.Get(h), want) {
			t.Errorf("%s = %q, want %q", h, resp.Header.Get(h), want)
		}
	}
}

// Unknown paths and methods get the app's own pages, with the right status.
func TestNotFoundAndMethodNotAllowedPages(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	resp, body := get(t, c, e.appURL+"/no/such/page")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Page not found") || !strings.Contains(body, "/static/app.css") {
		t.Errorf("unknown path: %s\n%s", resp.Status, body)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.appURL+"/", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(b), "Method not allowed") || resp.Header.Get("Allow") == "" {
		t.Errorf("DELETE /: %s, Allow %q\n%s", resp.Status, resp.Header.Get("Allow"), b)
	}
}

// A page with the user's data is not kept by caches.
func TestSignedInPagesAreNotCached(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	e.signIn(c, firstPage, testUsers[0].ID)
	for _, path := range []string{"/", firstPage} {
		resp, body := get(t, c, e.appURL+path)
		if resp.StatusCode != 200 || !strings.Contains(body, "Adele Vance") {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(resp.Header.Get("Vary"), "Cookie") {
			t.Errorf("GET %s: Cache-Control %q, Vary %q; want no-store and Vary: Cookie", path, resp.Header.Get("Cache-Control"), resp.Header.Get("Vary"))
		}
	}
}

// Each attack on the callback fails and leaves no session behind.
func TestCallbackRefusesForgedResponses(t *testing.T) {
	e := newEnv(t, testUsers)

	// The attacker starts a sign-in in their own browser and gets a valid
	// code and state for their account.
	attacker := e.browser()
	resp, _ := get(t, attacker, e.appURL+firstPage)
	action, form, err := devidp.SignIn(context.Background(), attacker, resp.Header.Get("Location"), testUsers[1].ID)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		form url.Values
		// started: the victim's browser has started its own sign-in.
		started bool
	}{
		{"login CSRF: another browser's response", form, false},
		{"login CSRF while the victim signs in", form, true},
		{"no state", url.Values{"code": {form.Get("code")}}, true},
		{"error without state", url.Values{"error": {"access_denied"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			victim := e.browser()
			if tt.started {
				get(t, victim, e.appURL+firstPage)
			}
			resp, err := victim.PostForm(action, tt.form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("forged callback: %s, want 400", resp.Status)
			}
			resp, body := get(t, victim, e.appURL+"/")
			if resp.StatusCode != 200 || strings.Contains(body, "Hello,") {
				t.Error("a forged response signed the victim in")
			}
		})
	}

	// The attacker's own response works once, and only once.
	resp, err = attacker.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("legitimate callback: %s", resp.Status)
	}
	resp, err = attacker.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed callback: %s, want 400", resp.Status)
	}
}

// A display name is data from the identity provider: it is escaped on every
// page, never run as script.
func TestUserNameIsEscaped(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	const name = `<script>alert(1)</script>`
	resp, _ := get(t, c, e.appURL+firstPage)
	action, form, err := devidp.SignInWith(context.Background(), c, resp.Header.Get("Location"), devidp.SignInOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = c.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, path := range []string{"/", firstPage} {
		resp, body := get(t, c, e.appURL+path)
		if resp.StatusCode != 200 || strings.Contains(body, name) || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("GET %s: %s; the name is not escaped:\n%s", path, resp.Status, body)
		}
	}
}

// A user who cancels at the identity provider gets a page that says so,
// and no session.
func TestCancelledSignIn(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	resp, _ := get(t, c, e.appURL+firstPage)
	action, form, err := devidp.SignInWith(context.Background(), c, resp.Header.Get("Location"),
		devidp.SignInOptions{UserID: testUsers[0].ID, DeclineConsent: true})
	var authErr *devidp.AuthorizationError
	if !errors.As(err, &authErr) || authErr.Code != "access_denied" {
		t.Fatalf("declined consent: %v", err)
	}
	resp, err = c.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Sign-in was cancelled") {
		t.Fatalf("cancelled sign-in: %s\n%s", resp.Status, body)
	}
	if _, body := get(t, c, e.appURL+"/"); strings.Contains(body, "Hello,") {
		t.Error("a cancelled sign-in left a session")
	}
}

func TestSignInNeverRedirectsOffSite(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	if next := e.signIn(c, "/signin?returnUrl="+url.QueryEscape("//evil.example/steal"), testUsers[0].ID); next != "/" {
		t.Fatalf("returnUrl to another site: the app redirects to %q, want /", next)
	}
}

// MSAL Go's confidential client shares one in-memory store across users;
// with a partitioned cache that loses tokens under concurrency (measured: a
// third of silent calls failed). Twenty users, 2000 concurrent requests:
// every one must succeed from the cache, with no call to the token endpoint.
func TestConcurrentUsersUseCachedTokens(t *testing.T) {
	const nUsers, nRequests = 20, 2000
	users := make([]devidp.User, nUsers)
	for i := range users {
		users[i] = devidp.User{
			ID:                fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1),
			DisplayName:       fmt.Sprintf("User %02d", i),
			UserPrincipalName: fmt.Sprintf("user%02d@contoso.example", i),
		}
	}
	e := newEnv(t, users)
	browsers := make([]*http.Client, nUsers)
	for i := range users {
		browsers[i] = e.browser()
		e.signIn(browsers[i], firstPage, users[i].ID)
	}
	userTokenCalls := e.idp.TokenRequests("refresh_token") + e.idp.TokenRequests("authorization_code")
	appTokenCalls := e.idp.TokenRequests("client_credentials")

	// One shared transport with a bounded number of connections, like a
	// load balancer in front of the app; each user keeps their cookies.
	transport := &http.Transport{MaxConnsPerHost: 128, MaxIdleConnsPerHost: 128}
	defer transport.CloseIdleConnections()
	var failures atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range nRequests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := i % nUsers
			c := &http.Client{Transport: transport, Jar: browsers[user].Jar,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			<-start
			resp, err := c.Get(e.appURL + firstPage)
			if err != nil {
				failures.Add(1)
				firstErr.Do(func() { t.Errorf("request: %v", err) })
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b), users[user].DisplayName) {
				failures.Add(1)
				firstErr.Do(func() { t.Errorf("user %d: %s %s", user, resp.Status, resp.Header.Get("Location")) })
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d concurrent %s requests failed", n, nRequests, firstPage)
	}
	if n := e.idp.TokenRequests("refresh_token") + e.idp.TokenRequests("authorization_code") - userTokenCalls; n != 0 {
		t.Errorf("%d token endpoint calls for users after sign-in, want 0", n)
	}
	if n := e.idp.TokenRequests("client_credentials") - appTokenCalls; n > 1 {
		t.Errorf("%d app token requests, want at most 1", n)
	}
}
