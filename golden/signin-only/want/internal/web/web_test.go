package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"hello/internal/config"
	"hello/internal/credential"
	"hello/internal/devidp"
	"hello/internal/session"
	"hello/internal/signin"
	"hello/internal/tokencache"
	"hello/internal/tokens"
	"hello/internal/web"
)

const (
	tenant   = "11111111-2222-3333-4444-555555555555"
	clientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	secret   = "test-only-secret"

	// ordersScope is a scope of an API the app does not ask for at
	// sign-in: the user consents to it when a page first needs it.
	ordersScope = "api://orders/Orders.Read"
	stylesheet  = `<link rel="stylesheet" href="/static/app.css">`
)

// caeClaims is a continuous access evaluation claims challenge's claims.
const caeClaims = `{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}`

// The errors of API clients that pages act on, as package web reads them:
// package downstream's *Error and *ClaimsChallenge are such errors, and so
// may be any other client's. (The page packages' tests check downstream's.)
type (
	apiError struct {
		api           string
		status        int
		code, message string
	}
	claimsChallenge struct {
		scopes []string
		claims string
	}
)

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s: %s", e.api, e.status, e.code, e.message)
}
func (e *apiError) APIStatus() (api string, status int, code string) { return e.api, e.status, e.code }
func (e *claimsChallenge) Error() string                             { return "claims challenge: " + e.claims }
func (e *claimsChallenge) ClaimsRequest() (scopes []string, claims string) {
	return e.scopes, e.claims
}

// mapStore is a token cache in a map (the app's caches are options of
// their own, with their own tests). Down, it fails as a shared cache that
// cannot be reached does.
type mapStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	down bool
}

// errDown is a shared store's error when it cannot be reached.
var errDown = fmt.Errorf("redis: dial tcp 10.0.0.7:6380: connection refused: %w", tokencache.ErrUnavailable)

func (s *mapStore) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *mapStore) Load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errDown
	}
	return s.m[key], nil
}

func (s *mapStore) Save(_ context.Context, key string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	s.m[key] = slices.Clone(data)
	return nil
}

func (s *mapStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	delete(s.m, key)
	return nil
}

// Check is the store's readiness check (tokencache.Checker).
func (s *mapStore) Check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	return nil
}

// ended is the store of sign-outs: session.NewEnded's, down with the
// token cache, as when both live in one Redis.
type ended struct {
	local *session.Ended
	store *mapStore
}

func (e ended) End(ctx context.Context, sid string, until time.Time) error {
	if err := e.store.Check(ctx); err != nil {
		return err
	}
	return e.local.End(ctx, sid, until)
}

func (e ended) Ended(ctx context.Context, sid string) (bool, error) {
	if err := e.store.Check(ctx); err != nil {
		return false, err
	}
	return e.local.Ended(ctx, sid)
}

// adele signs in through the stand-in; her display name is markup, which
// every page must show as text.
var adele = devidp.User{
	ID: "6e2b3d8a-1111-4c3a-9d2e-000000000001", DisplayName: `Adele <script>alert("x")</script> Vance`,
	UserPrincipalName: "adele@contoso.example",
}

// fixture is the identity provider stand-in over TLS, the token acquirer
// and sign-in over it, and a web.App on plain-http loopback (as in local
// development) with one test page, /orders, whose answer tests choose.
type fixture struct {
	idp     *devidp.Server
	idpSrv  *httptest.Server
	acq     *tokens.Acquirer
	store   *mapStore // the token cache; down, the store of sign-outs is too
	app     *web.App
	cookies session.Cookies
	handler http.Handler
	base    string // the app's origin, http://127.0.0.1:<port>
	tenant  string // AzureAd:TenantId

	// page answers GET /orders for the signed-in user.
	page  web.PageFunc
	calls int
	seen  session.User
}

var ordersPage = web.Template(fstest.MapFS{"orders.html": {Data: []byte(
	`{{define "page"}}{{template "header" .}}<p id="orders">{{.Data}}</p>{{template "footer" .}}{{end}}`)}}, "orders.html")

// signingKey is the stand-in's key, made once for all of the package's
// tests (an RSA key takes a while to make).
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// newFixture starts the fixture; opts may change the stand-in's and the
// app's settings first.
func newFixture(t *testing.T, opts ...func(*devidp.Config, *config.AzureAd)) *fixture {
	t.Helper()
	t.Setenv("MSAL_FORCE_REGION", "")
	os.Unsetenv("MSAL_FORCE_REGION")
	f := &fixture{}
	appSrv := httptest.NewUnstartedServer(nil)
	f.base = "http://" + appSrv.Listener.Addr().String()

	idpCfg := devidp.Config{
		TenantID:   tenant,
		SigningKey: signingKey(),
		Users:      []devidp.User{adele},
		Clients:    []devidp.Client{{ClientID: clientID, ClientSecret: secret, RedirectURIs: []string{f.base + "/signin-oidc"}}},
		APIs:       []devidp.API{{Name: "Orders", AppIDURI: "api://orders", Scopes: []string{"Orders.Read"}}},
	}
	ad := config.AzureAd{TenantID: tenant, ClientID: clientID,
		CallbackPath: "/signin-oidc", SignedOutCallbackPath: "/signout-callback-oidc"}
	for _, o := range opts {
		o(&idpCfg, &ad)
	}
	idp, err := devidp.New(idpCfg)
	if err != nil {
		t.Fatal(err)
	}
	f.idp, f.idpSrv = idp, httptest.NewTLSServer(idp)
	t.Cleanup(f.idpSrv.Close)
	ad.Instance, f.tenant = f.idpSrv.URL+"/", ad.TenantID
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	f.store = &mapStore{m: map[string][]byte{}}
	f.acq, err = tokens.New(ad, credential.Credential{MSAL: cred}, f.store, f.idpSrv.Client())
	if err != nil {
		t.Fatal(err)
	}
	key, err := session.KeyFromBase64("")
	if err != nil {
		t.Fatal(err)
	}
	codec, err := session.NewCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	f.cookies = session.Cookies{Codec: codec, Ended: ended{session.NewEnded(), f.store}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Sign-in asks for no API: /orders's scopes come by incremental consent.
	signIn := signin.New(ad, nil, f.acq, f.cookies, f.idpSrv.Client(), log)
	app := web.New("Contoso <Orders>", f.cookies, signIn, ad.SignedOutCallbackPath, log)
	f.app = app
	app.Handle("GET /orders", "/orders", "Orders & more", func(r *http.Request, u session.User) (web.View, error) {
		f.calls++
		f.seen = u
		return f.page(r, u)
	})
	// A page without a link: served, but not listed.
	app.Handle("GET /hidden", "/hidden", "", func(*http.Request, session.User) (web.View, error) {
		return web.View{Template: ordersPage, Data: "hidden"}, nil
	})
	f.handler = app.Handler()
	appSrv.Config.Handler = f.handler
	appSrv.Start()
	t.Cleanup(appSrv.Close)
	f.page = func(*http.Request, session.User) (web.View, error) {
		return web.View{Template: ordersPage, Data: "no orders"}, nil
	}
	return f
}

// user is the session of a signed-in user, as sign-in makes it.
var user = session.User{HomeAccountID: "oid-1.tid-1", ObjectID: "oid-1", TenantID: "tid-1",
	Name: `Megan <img src=x onerror=alert(1)> Bowen`, Username: "megan@contoso.example"}

// sessionCookie is the session cookie for u.
func (f *fixture) sessionCookie(t *testing.T, u session.User) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := f.cookies.SetUser(rec, httptest.NewRequest("GET", f.base+"/", nil), u); err != nil {
		t.Fatal(err)
	}
	return rec.Result().Cookies()[0]
}

// againCookie is the cookie sign-in sets after a sign-in made because the
// user's tokens could not be had.
func (f *fixture) againCookie(t *testing.T) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := f.cookies.SetAgain(rec, httptest.NewRequest("GET", f.base+"/", nil)); err != nil {
		t.Fatal(err)
	}
	return rec.Result().Cookies()[0]
}

// do serves one request and returns the response and its body.
func (f *fixture) do(t *testing.T, method, path string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, f.base+path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// authorizeEndpoint is where sign-in sends browsers.
func (f *fixture) authorizeEndpoint() string {
	return f.idpSrv.URL + "/" + f.tenant + "/oauth2/v2.0/authorize"
}

// wantSignInRedirect fails the test unless resp sends the browser to the
// stand-in's authorize endpoint, for this app, starting a flow of its own;
// it returns the authorize request's parameters.
func (f *fixture) wantSignInRedirect(t *testing.T, resp *http.Response, body string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302 to sign-in\n%s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != f.authorizeEndpoint() {
		t.Fatalf("redirect to %s, want the authorize endpoint %s", got, f.authorizeEndpoint())
	}
	q := loc.Query()
	for k, want := range map[string]string{
		"client_id": clientID, "response_type": "code", "response_mode": "form_post",
		"redirect_uri": f.base + "/signin-oidc", "code_challenge_method": "S256",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorize %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(k) == "" {
			t.Errorf("authorize request has no %s", k)
		}
	}
	if !slices.ContainsFunc(resp.Cookies(), func(c *http.Cookie) bool { return strings.HasPrefix(c.Name, "idweb.signin.") && c.MaxAge > 0 }) {
		t.Errorf("no sign-in flow cookie set: %v", resp.Header.Values("Set-Cookie"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("sign-in redirect Cache-Control = %q, want no-store", cc)
	}
	return q
}

// wantHTML fails the test unless resp is an HTML page of the app's layout
// with status.
func wantHTML(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d\n%s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
	}
	if !strings.Contains(body, stylesheet) || !strings.Contains(body, "<title>Contoso &lt;Orders&gt;</title>") {
		t.Errorf("not a page of the app's layout (stylesheet, escaped title):\n%s", body)
	}
}

func wantSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy %q lacks %s", csp, d)
		}
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q, want DENY", got)
	}
	if got := h.Get("Referrer-Policy"); got != "same-origin" {
		t.Errorf("Referrer-Policy = %q, want same-origin", got)
	}
}

// cleared reports whether resp deletes the cookie called name.
func cleared(resp *http.Response, name string) bool {
	return slices.ContainsFunc(resp.Cookies(), func(c *http.Cookie) bool { return c.Name == name && c.MaxAge < 0 })
}

func splitScope(q url.Values) []string { return strings.Fields(q.Get("scope")) }

func TestHandle(t *testing.T) {
	f := newFixture(t)
	signedIn := f.sessionCookie(t, user)
	again := f.againCookie(t)
	ordersScopes := []string{ordersScope}

	type want struct {
		status int
		called bool     // the page ran
		scopes []string // redirect: the authorize request asks for (at least) these
		claims string   // redirect: the claims asked for; "" none
		body   []string // page: shown
		hidden []string // page: never shown
	}
	for _, tt := range []struct {
		name    string
		cookies []*http.Cookie
		page    func() (web.View, error)
		want    want
	}{
		{
			name: "signed out: sign in first, for the sign-in scopes only",
			want: want{status: http.StatusFound, scopes: []string{"openid", "profile", "offline_access"}},
		},
		{
			name:    "a session cookie that does not open is signed out",
			cookies: []*http.Cookie{{Name: signedIn.Name, Value: "forged"}},
			want:    want{status: http.StatusFound, scopes: []string{"openid", "profile", "offline_access"}},
		},
		{
			name:    "success: the page, not kept by caches",
			cookies: []*http.Cookie{signedIn},
			page:    func() (web.View, error) { return web.View{Template: ordersPage, Data: "3 orders <pending>"}, nil },
			want:    want{status: http.StatusOK, called: true, body: []string{`<p id="orders">3 orders &lt;pending&gt;</p>`, `action="/signout"`}},
		},
		{
			name:    "interaction required: sign in for the page's scopes (incremental consent)",
			cookies: []*http.Cookie{signedIn},
			page: func() (web.View, error) {
				return web.View{}, &tokens.InteractionRequiredError{Scopes: ordersScopes, ConsentRequired: true}
			},
			want: want{status: http.StatusFound, called: true, scopes: []string{"openid", "offline_access", ordersScope}},
		},
		{
			name:    "interaction required, wrapped by the API caller",
			cookies: []*http.Cookie{signedIn},
			page: func() (web.View, error) {
				return web.View{}, fmt.Errorf("Orders: %w", &tokens.InteractionRequiredError{Scopes: ordersScopes})
			},
			want: want{status: http.StatusFound, called: true, scopes: []string{ordersScope}},
		},
		{
			name:    "interaction required right after signing in for it: an error page, not a loop",
			cookies: []*http.Cookie{signedIn, again},
			page: func() (web.View, error) {
				return web.View{}, &tokens.InteractionRequiredError{Scopes: ordersScopes}
			},
			want: want{status: http.StatusBadGateway, called: true, body: []string{"No token for the API"}},
		},
		{
			name:    "claims challenge: sign in with the claims",
			cookies: []*http.Cookie{signedIn},
			page: func() (web.View, error) {
				return web.View{}, &claimsChallenge{scopes: ordersScopes, claims: caeClaims}
			},
			want: want{status: http.StatusFound, called: true, scopes: []string{ordersScope}, claims: caeClaims},
		},
		{
			name:    "claims challenge right after signing in for it: an error page",
			cookies: []*http.Cookie{signedIn, again},
			page: func() (web.View, error) {
				return web.View{}, &claimsChallenge{scopes: ordersScopes, claims: caeClaims}
			},
			want: want{status: http.StatusBadGateway, called: true, body: []string{"No token for the API"}},
		},
		{
			name:    "the API refuses (4xx): its name and code, not its message",
			cookies: []*http.Cookie{signedIn},
			page: func() (web.View, error) {
				return web.View{}, fmt.Errorf("wrapped: %w", &apiError{api: "Orders", status: 403, code: "Authorization_RequestDenied", message: "internal detail 42"})
			},
			want: want{status: http.StatusBadGateway, called: true,
				body:   []string{"The API refused the request", "Orders answered 403 Authorization_RequestDenied."},
				hidden: []string{"internal detail 42"}},
		},
		{
			name:    "the API refuses without an error code",
			cookies: []*http.Cookie{signedIn},
			page: func() (web.View, error) {
				return web.View{}, &apiError{api: "Orders", status: 404}
			},
			want: want{status: http.StatusBadGateway, called: true,
				body:   []string{"The API refused the request", "Orders answered 404."},
				hidden: []string{"404 ."}},
		},
		{
			name:    "the API fails (5xx): could not be reached",
			cookies: []*http.Cookie{signedIn},
			page: func() (web.View, error) {
				return web.View{}, &apiError{api: "Orders", status: 503, code: "serviceNotAvailable", message: "internal detail 43"}
			},
			want: want{status: http.StatusBadGateway, called: true,
				body:   []string{"The API could not be reached", "Orders did not answer as expected."},
				hidden: []string{"internal detail 43", "serviceNotAvailable", "refused"}},
		},
		{
			name:    "a network error: could not be reached",
			cookies: []*http.Cookie{signedIn},
			page: func() (web.View, error) {
				return web.View{}, errors.New("Orders: GET orders: dial tcp 10.0.0.7:443: connect: connection refused")
			},
			want: want{status: http.StatusBadGateway, called: true,
				body:   []string{"The API could not be reached", "A service this page needs did not answer."},
				hidden: []string{"10.0.0.7", "connection refused"}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.calls, f.seen = 0, session.User{}
			f.page = func(*http.Request, session.User) (web.View, error) {
				if tt.page == nil {
					t.Fatal("the page ran")
				}
				return tt.page()
			}
			resp, body := f.do(t, "GET", "/orders?tab=2", tt.cookies...)
			wantSecurityHeaders(t, resp)
			if got := f.calls == 1; got != tt.want.called {
				t.Errorf("page ran %d times, want called = %v", f.calls, tt.want.called)
			}
			seen := f.seen
			seen.SID = "" // set by SetUser
			if tt.want.called && !reflect.DeepEqual(seen, user) {
				t.Errorf("page ran for %+v, want the session's user %+v", seen, user)
			}
			if tt.want.status == http.StatusFound {
				q := f.wantSignInRedirect(t, resp, body)
				got := splitScope(q)
				for _, s := range tt.want.scopes {
					if !slices.Contains(got, s) {
						t.Errorf("authorize scope %q lacks %s", q.Get("scope"), s)
					}
				}
				if tt.want.claims == "" {
					if q.Has("claims") {
						t.Errorf("authorize request asks for claims %s, want none", q.Get("claims"))
					}
				} else if !sameJSON(q.Get("claims"), tt.want.claims) {
					t.Errorf("authorize claims = %s, want %s", q.Get("claims"), tt.want.claims)
				}
				return
			}
			wantHTML(t, resp, body, tt.want.status)
			for _, s := range tt.want.body {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.want.hidden {
				if strings.Contains(body, s) {
					t.Errorf("page shows %q:\n%s", s, body)
				}
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if tt.want.status == http.StatusOK && !slices.Contains(resp.Header.Values("Vary"), "Cookie") {
				t.Errorf("Vary = %v, want Cookie", resp.Header.Values("Vary"))
			}
			if slices.Contains(tt.cookies, again) && !cleared(resp, again.Name) {
				t.Errorf("the %s cookie was not taken: %v", again.Name, resp.Header.Values("Set-Cookie"))
			}
		})
	}
}

func sameJSON(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

// A page that gets its tokens settles the sign-in made for them: the next
// failure may sign the user in again instead of showing an error.
func TestHandleSuccessTakesTheAgainCookie(t *testing.T) {
	f := newFixture(t)
	again := f.againCookie(t)
	resp, body := f.do(t, "GET", "/orders", f.sessionCookie(t, user), again)
	wantHTML(t, resp, body, http.StatusOK)
	if !cleared(resp, again.Name) {
		t.Errorf("the %s cookie was kept after the page got its tokens: %v", again.Name, resp.Header.Values("Set-Cookie"))
	}
}

func TestHomePage(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name    string
		cookies []*http.Cookie
		want    []string
		hidden  []string
		private bool // Cache-Control: no-store and Vary: Cookie
	}{
		{
			name:    "signed in: the registered links, the user's name escaped",
			cookies: []*http.Cookie{f.sessionCookie(t, user)},
			want: []string{
				`<a class="button" href="/orders">Orders &amp; more</a>`,
				`<a href="/orders">Orders &amp; more</a>`, // the header
				"Hello, Megan &lt;img src=x onerror=alert(1)&gt; Bowen",
				"megan@contoso.example", `id="signout"`,
			},
			hidden:  []string{"<img", `href="/hidden"`, `id="signin-main"`},
			private: true,
		},
		{
			name:   "signed out: sign in for the first page",
			want:   []string{`id="signin-main" href="/signin?returnUrl=%2forders"`, `id="signin"`},
			hidden: []string{`href="/orders"`, `id="signout"`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", "/", tt.cookies...)
			wantSecurityHeaders(t, resp)
			wantHTML(t, resp, body, http.StatusOK)
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("home page lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.hidden {
				if strings.Contains(body, s) {
					t.Errorf("home page shows %q:\n%s", s, body)
				}
			}
			private := resp.Header.Get("Cache-Control") == "no-store" && slices.Contains(resp.Header.Values("Vary"), "Cookie")
			if private != tt.private {
				t.Errorf("Cache-Control %q, Vary %v: private = %v, want %v", resp.Header.Get("Cache-Control"), resp.Header.Values("Vary"), private, tt.private)
			}
		})
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	f := newFixture(t)
	signedIn := f.sessionCookie(t, user)
	for _, tt := range []struct {
		method, path string
		cookies      []*http.Cookie
		status       int
		allow        []string
		want         []string
	}{
		{"GET", "/nope", nil, http.StatusNotFound, nil, []string{"Page not found", "There is no page at /nope."}},
		{"GET", "/nope", []*http.Cookie{signedIn}, http.StatusNotFound, nil, []string{"Page not found"}},
		{"GET", "/%3Cscript%3Ealert(1)%3C/script%3E", nil, http.StatusNotFound, nil, []string{"There is no page at /&lt;script&gt;alert(1)&lt;/script&gt;."}},
		{"POST", "/orders", []*http.Cookie{signedIn}, http.StatusMethodNotAllowed, []string{"GET", "HEAD"}, []string{"Method not allowed", "POST is not allowed here."}},
		{"DELETE", "/", nil, http.StatusMethodNotAllowed, []string{"GET", "HEAD"}, []string{"DELETE is not allowed here."}},
		{"PUT", "/signout", nil, http.StatusMethodNotAllowed, []string{"GET", "HEAD", "POST"}, []string{"Method not allowed"}},
		{"GET", "/signin-oidc", nil, http.StatusMethodNotAllowed, []string{"POST"}, []string{"Method not allowed"}},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			f.calls = 0
			resp, body := f.do(t, tt.method, tt.path, tt.cookies...)
			wantSecurityHeaders(t, resp)
			wantHTML(t, resp, body, tt.status)
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q:\n%s", s, body)
				}
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("the path was not escaped:\n%s", body)
			}
			allow := strings.Split(resp.Header.Get("Allow"), ", ")
			if tt.allow == nil {
				if resp.Header.Get("Allow") != "" {
					t.Errorf("Allow = %q on a 404", resp.Header.Get("Allow"))
				}
			} else {
				for _, m := range tt.allow {
					if !slices.Contains(allow, m) {
						t.Errorf("Allow = %q, want it to list %s", resp.Header.Get("Allow"), m)
					}
				}
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if f.calls != 0 {
				t.Error("the page ran")
			}
		})
	}
}

func TestEveryResponseHasSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/", http.StatusOK},
		{"GET", "/healthz", http.StatusOK},
		{"GET", "/static/app.css", http.StatusOK},
		{"GET", "/favicon.ico", http.StatusNoContent},
		{"GET", "/signout-callback-oidc", http.StatusOK},
		{"GET", "/signin", http.StatusFound},
		{"GET", "/orders", http.StatusFound},
		{"POST", "/signin-oidc", http.StatusBadRequest},
		{"GET", "/nope", http.StatusNotFound},
		{"PATCH", "/", http.StatusMethodNotAllowed},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := f.do(t, tt.method, tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			wantSecurityHeaders(t, resp)
			if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
				t.Errorf("Strict-Transport-Security %q on plain http", hsts)
			}
		})
	}
	t.Run("over TLS: HSTS", func(t *testing.T) {
		srv := httptest.NewTLSServer(f.handler)
		defer srv.Close()
		resp, err := srv.Client().Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wantSecurityHeaders(t, resp)
		if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
			t.Errorf("Strict-Transport-Security = %q over TLS", hsts)
		}
	})
}

func TestStaticStylesheet(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "GET", "/static/app.css")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || body == "" {
		t.Fatalf("GET /static/app.css: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}

// browser is a client with a cookie jar that does not follow redirects,
// trusting the stand-in's certificate.
func (f *fixture) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Transport:     f.idpSrv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, target string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// signIn follows resp (the app's redirect to the stand-in) through the
// stand-in's pages as adele, posts the answer to the app's callback, and
// returns where the app then sends the browser.
func (f *fixture) signIn(t *testing.T, c *http.Client, resp *http.Response, body string) string {
	t.Helper()
	back, b := f.signInAs(t, c, resp, body, adele.ID)
	if back.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %s\n%s", back.Status, b)
	}
	return back.Header.Get("Location")
}

// signInAs is signIn as the stand-in's user userID; it returns the app's
// answer to the callback, whatever it is.
func (f *fixture) signInAs(t *testing.T, c *http.Client, resp *http.Response, body, userID string) (*http.Response, string) {
	t.Helper()
	q := f.wantSignInRedirect(t, resp, body)
	callback, form, err := devidp.SignIn(context.Background(), c, resp.Header.Get("Location"), userID)
	if err != nil {
		t.Fatalf("sign in for scope %q: %v", q.Get("scope"), err)
	}
	if callback != f.base+"/signin-oidc" {
		t.Fatalf("the stand-in answered to %s", callback)
	}
	back, err := c.PostForm(callback, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(back.Body)
	back.Body.Close()
	return back, string(b)
}

// The whole flow through the stand-in: a signed-out visitor signs in and
// comes back to the page and query asked for; the page sees the user the
// ID token names, and shows their name as text.
func TestSignInComesBackToThePage(t *testing.T) {
	f := newFixture(t)
	c := f.browser(t)
	resp, body := get(t, c, f.base+"/orders?tab=2&sort=date")
	if back := f.signIn(t, c, resp, body); back != "/orders?tab=2&sort=date" {
		t.Fatalf("after sign-in the app sends the browser to %q, want /orders?tab=2&sort=date", back)
	}
	var query string
	f.page = func(r *http.Request, u session.User) (web.View, error) {
		query = r.URL.RawQuery
		return web.View{Template: ordersPage, Data: "orders of " + u.Username}, nil
	}
	resp, body = get(t, c, f.base+"/orders?tab=2&sort=date")
	wantHTML(t, resp, body, http.StatusOK)
	if want := adele.ID + "." + tenant; f.seen.HomeAccountID != want || f.seen.ObjectID != adele.ID || f.seen.Name != adele.DisplayName {
		t.Errorf("the page ran for %+v, want adele (home account %s)", f.seen, want)
	}
	if query != "tab=2&sort=date" {
		t.Errorf("the page got query %q", query)
	}
	if !strings.Contains(body, "orders of adele@contoso.example") || strings.Contains(body, "<script>") ||
		!strings.Contains(body, `Adele &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Vance`) {
		t.Errorf("page:\n%s", body)
	}
}

// Incremental consent for real: the user signed in without the Orders
// API's scope, so the refresh token cannot get an Orders token (consent
// required); the page signs the user in for it, the user consents, and the
// page then gets its token.
func TestIncrementalConsent(t *testing.T) {
	f := newFixture(t)
	c := f.browser(t)
	resp, body := get(t, c, f.base+"/signin")
	if back := f.signIn(t, c, resp, body); back != "/" {
		t.Fatalf("after sign-in: %q, want /", back)
	}
	f.page = func(r *http.Request, u session.User) (web.View, error) {
		tok, err := f.acq.Token(r.Context(), u.HomeAccountID, []string{ordersScope})
		if err != nil {
			return web.View{}, fmt.Errorf("Orders: %w", err)
		}
		return web.View{Template: ordersPage, Data: fmt.Sprintf("a token of %d bytes", len(tok))}, nil
	}
	resp, body = get(t, c, f.base+"/orders")
	if scope := splitScope(f.wantSignInRedirect(t, resp, body)); !slices.Contains(scope, ordersScope) {
		t.Fatalf("incremental consent asks for %v, want %s", scope, ordersScope)
	}
	if back := f.signIn(t, c, resp, body); back != "/orders" {
		t.Fatalf("after consent: %q, want /orders", back)
	}
	resp, body = get(t, c, f.base+"/orders")
	wantHTML(t, resp, body, http.StatusOK)
	if !strings.Contains(body, "a token of ") {
		t.Errorf("page:\n%s", body)
	}
}

// A page whose tokens cannot be had even right after signing in for them
// shows an error instead of sending the user round in circles; a later
// visit may try signing in again.
func TestReauthenticationDoesNotLoop(t *testing.T) {
	f := newFixture(t)
	c := f.browser(t)
	f.page = func(*http.Request, session.User) (web.View, error) {
		return web.View{}, &tokens.InteractionRequiredError{Scopes: []string{ordersScope}}
	}
	resp, body := get(t, c, f.base+"/orders")
	if back := f.signIn(t, c, resp, body); back != "/orders" { // signed out: sign in
		t.Fatalf("after sign-in: %q", back)
	}
	resp, body = get(t, c, f.base+"/orders")
	if back := f.signIn(t, c, resp, body); back != "/orders" { // no token: sign in for it
		t.Fatalf("after signing in again: %q", back)
	}
	resp, body = get(t, c, f.base+"/orders")
	wantHTML(t, resp, body, http.StatusBadGateway)
	if !strings.Contains(body, "No token for the API") {
		t.Errorf("page:\n%s", body)
	}
	resp, body = get(t, c, f.base+"/orders")
	f.wantSignInRedirect(t, resp, body)
}

// A claims challenge signs the user in with the claims (the stand-in
// checks the claims parameter) and back to the page.
func TestClaimsChallengeSignsInWithTheClaims(t *testing.T) {
	f := newFixture(t)
	c := f.browser(t)
	resp, body := get(t, c, f.base+"/")
	wantHTML(t, resp, body, http.StatusOK)
	resp, body = get(t, c, f.base+"/signin?returnUrl=/")
	f.signIn(t, c, resp, body)
	challenged := false
	f.page = func(*http.Request, session.User) (web.View, error) {
		if !challenged {
			challenged = true
			return web.View{}, &claimsChallenge{scopes: []string{ordersScope}, claims: caeClaims}
		}
		return web.View{Template: ordersPage, Data: "after the challenge"}, nil
	}
	resp, body = get(t, c, f.base+"/orders")
	if q := f.wantSignInRedirect(t, resp, body); !sameJSON(q.Get("claims"), caeClaims) {
		t.Fatalf("claims = %q", q.Get("claims"))
	}
	if back := f.signIn(t, c, resp, body); back != "/orders" {
		t.Fatalf("after the claims sign-in: %q", back)
	}
	resp, body = get(t, c, f.base+"/orders")
	wantHTML(t, resp, body, http.StatusOK)
	if !strings.Contains(body, "after the challenge") {
		t.Errorf("page:\n%s", body)
	}
}
