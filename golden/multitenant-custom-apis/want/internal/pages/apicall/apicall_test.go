package apicall_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/acme/my-app/internal/config"
	"github.com/acme/my-app/internal/config/configtest"
	"github.com/acme/my-app/internal/credential"
	"github.com/acme/my-app/internal/devidp"
	"github.com/acme/my-app/internal/downstream"
	"github.com/acme/my-app/internal/pages/apicall"
	"github.com/acme/my-app/internal/session"
	"github.com/acme/my-app/internal/signin"
	"github.com/acme/my-app/internal/tokens"
	"github.com/acme/my-app/internal/web"
)

const (
	tenant      = "11111111-2222-3333-4444-555555555555"
	clientID    = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	origin      = "http://127.0.0.1:5000" // the app, as requests name it
	ordersScope = "api://orders/Orders.Read"
	appToken    = "token-for-the-app"
)

// user is the signed-in user's session.
var user = session.User{HomeAccountID: "6e2b3d8a-1111-4c3a-9d2e-000000000001." + tenant,
	ObjectID: "6e2b3d8a-1111-4c3a-9d2e-000000000001", TenantID: tenant, Name: "Adele Vance", Username: "adele@contoso.example"}

// fakeTokens hands out a token named after the user it is for (or the
// app's), or err, and records what it was asked.
type fakeTokens struct {
	mu        sync.Mutex
	err       error
	users     []string // Token's home account ids
	appScopes [][]string
}

func (f *fakeTokens) Token(_ context.Context, homeAccountID string, _ []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = append(f.users, homeAccountID)
	if f.err != nil {
		return "", f.err
	}
	return "token-for-" + homeAccountID, nil
}

func (f *fakeTokens) AppToken(_ context.Context, scopes []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appScopes = append(f.appScopes, scopes)
	if f.err != nil {
		return "", f.err
	}
	return appToken, nil
}

// answer is how the API stand-in answers.
type answer struct {
	status int
	header map[string]string
	body   string
}

// call is a request the API stand-in got.
type call struct{ method, path, auth string }

// env is an app with the pages of three APIs, over the real API caller:
// Orders, called for the user; Reports, called as the app; Down, whose
// server is gone.
type env struct {
	handler http.Handler
	cookies session.Cookies
	idpURL  string
	apiURL  string
	tokens  *fakeTokens

	mu     sync.Mutex
	answer answer
	calls  []call
}

// signingKey is the stand-in's key, made once for all of the package's
// tests (an RSA key takes a while to make).
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newEnv(t *testing.T) *env {
	t.Helper()
	t.Setenv("MSAL_FORCE_REGION", "")
	os.Unsetenv("MSAL_FORCE_REGION")
	e := &env{tokens: &fakeTokens{}}

	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		a := e.answer
		e.calls = append(e.calls, call{r.Method, r.URL.Path, r.Header.Get("Authorization")})
		e.mu.Unlock()
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(apiSrv.Close)
	e.apiURL = apiSrv.URL
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	idp, err := devidp.New(devidp.Config{
		TenantID:   tenant,
		SigningKey: signingKey(),
		Users:      []devidp.User{{ID: user.ObjectID, DisplayName: user.Name, UserPrincipalName: user.Username}},
		Clients:    []devidp.Client{{ClientID: clientID, ClientSecret: "s", RedirectURIs: []string{origin + "/signin-oidc"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	idpSrv := httptest.NewTLSServer(idp)
	t.Cleanup(idpSrv.Close)
	e.idpURL = idpSrv.URL

	settings := `{"AzureAd": {"Instance": "` + idpSrv.URL + `/", "TenantId": "` + tenant + `", "ClientId": "` + clientID + `",
		"ClientCredentials": [{"SourceType": "ClientSecret"}]},
		"DownstreamApis": {
			"Orders": {"BaseUrl": "` + apiSrv.URL + `/api/", "Scopes": ["` + ordersScope + `"], "RelativePath": "/orders"},
			"Reports": {"BaseUrl": "` + apiSrv.URL + `/reports", "Scopes": ["api://reports/.default"], "RelativePath": "summary",
				"HttpMethod": "Post", "RequestAppToken": true},
			"Down": {"BaseUrl": "` + gone.URL + `", "Scopes": ["api://down/Down.Read"]}}}`
	cfg := configtest.Load(t, config.Development, settings)
	cred, err := confidential.NewCredFromSecret("s")
	if err != nil {
		t.Fatal(err)
	}
	acq, err := tokens.New(cfg.AzureAd, credential.Credential{MSAL: cred}, noStore{}, idpSrv.Client())
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
	e.cookies = session.Cookies{Codec: codec}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app := web.New("Contoso", e.cookies, signin.New(cfg.AzureAd, []string{ordersScope}, acq, e.cookies, idpSrv.Client(), log), cfg.AzureAd.SignedOutCallbackPath, log)
	for _, name := range []string{"Orders", "Reports", "Down"} {
		api, err := downstream.New(cfg, name, e.tokens, apiSrv.Client())
		if err != nil {
			t.Fatal(err)
		}
		apicall.Register(app, api)
	}
	e.handler = app.Handler()
	return e
}

// noStore is a token cache that keeps nothing: these tests never redeem a
// code.
type noStore struct{}

func (noStore) Load(context.Context, string) ([]byte, error) { return nil, nil }
func (noStore) Save(context.Context, string, []byte) error   { return nil }
func (noStore) Delete(context.Context, string) error         { return nil }

// reset forgets what the API and the token source saw.
func (e *env) reset(a answer, tokenErr error) {
	e.mu.Lock()
	e.answer, e.calls = a, nil
	e.mu.Unlock()
	e.tokens.mu.Lock()
	e.tokens.err, e.tokens.users, e.tokens.appScopes = tokenErr, nil, nil
	e.tokens.mu.Unlock()
}

func (e *env) apiCalls() []call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// get serves GET path, for u when u is not nil.
func (e *env) get(t *testing.T, path string, u *session.User) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", origin+path, nil)
	if u != nil {
		rec := httptest.NewRecorder()
		if err := e.cookies.SetUser(rec, req, *u); err != nil {
			t.Fatal(err)
		}
		for _, c := range rec.Result().Cookies() {
			req.AddCookie(c)
		}
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var answerRE = regexp.MustCompile(`(?s)<pre id="answer">(.*?)</pre>`)

func TestAPICallShowsTheAnswer(t *testing.T) {
	e := newEnv(t)
	const compact = `{"orders":[{"id":1,"item":"<script>alert(1)</script>","note":"a & b"}],"total":1}`
	const pretty = `{
  "orders": [
    {
      "id": 1,
      "item": "<script>alert(1)</script>",
      "note": "a & b"
    }
  ],
  "total": 1
}`
	for _, tt := range []struct {
		name      string
		path      string
		answer    answer
		wantCall  call
		wantText  []string // on the page, as HTML
		hidden    []string
		pretty    string // the answer shown, unescaped
		forUser   bool   // a token for the session's user, not the app's
		appScopes []string
	}{
		{
			name:     "for the user: the pretty-printed JSON answer",
			path:     "/apis/Orders",
			answer:   answer{status: 200, body: compact},
			wantCall: call{"GET", "/api/orders", "Bearer token-for-" + user.HomeAccountID},
			wantText: []string{"<h1>Orders</h1>", "Called on your behalf, with a token for <code>" + ordersScope + "</code>",
				"<code>GET " + e.apiURL + "/api/orders</code> answered:"},
			hidden:  []string{"<script>", "Called as the app"},
			pretty:  pretty,
			forUser: true,
		},
		{
			name:      "as the app: an app token, the section's method and path",
			path:      "/apis/Reports",
			answer:    answer{status: 200, body: `[1, 2,3]`},
			wantCall:  call{"POST", "/reports/summary", "Bearer " + appToken},
			wantText:  []string{"<h1>Reports</h1>", "Called as the app itself", "<code>POST " + e.apiURL + "/reports/summary</code>"},
			hidden:    []string{"Called on your behalf", "token-for-"},
			pretty:    "[\n  1,\n  2,\n  3\n]",
			appScopes: []string{"api://reports/.default"},
		},
		{
			name:     "no content: an empty answer",
			path:     "/apis/Orders",
			answer:   answer{status: 204},
			wantCall: call{"GET", "/api/orders", "Bearer token-for-" + user.HomeAccountID},
			wantText: []string{"<h1>Orders</h1>"},
			pretty:   "",
			forUser:  true,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.reset(tt.answer, nil)
			resp, body := e.get(t, tt.path, &user)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d\n%s", resp.StatusCode, body)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %s:\n%s", s, body)
				}
			}
			for _, s := range tt.hidden {
				if strings.Contains(body, s) {
					t.Errorf("page shows %s:\n%s", s, body)
				}
			}
			m := answerRE.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no answer on the page:\n%s", body)
			}
			if got := html.UnescapeString(m[1]); got != tt.pretty {
				t.Errorf("answer shown:\n%s\nwant:\n%s", got, tt.pretty)
			}
			if got := e.apiCalls(); !slices.Equal(got, []call{tt.wantCall}) {
				t.Errorf("the API got %+v, want %+v", got, tt.wantCall)
			}
			var wantUsers []string
			if tt.forUser {
				wantUsers = []string{user.HomeAccountID}
			}
			if !slices.Equal(e.tokens.users, wantUsers) {
				t.Errorf("user tokens asked for %v, want %v", e.tokens.users, wantUsers)
			}
			if (tt.appScopes == nil) != (len(e.tokens.appScopes) == 0) || (tt.appScopes != nil && !slices.Equal(e.tokens.appScopes[0], tt.appScopes)) {
				t.Errorf("app tokens asked for %v, want %v", e.tokens.appScopes, tt.appScopes)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

func TestAPICallPagesAreListedAndNeedSignIn(t *testing.T) {
	e := newEnv(t)
	_, body := e.get(t, "/", &user)
	for _, name := range []string{"Orders", "Reports", "Down"} {
		if want := fmt.Sprintf(`<a class="button" href="/apis/%s">Call %s</a>`, name, name); !strings.Contains(body, want) {
			t.Errorf("home page lacks %s:\n%s", want, body)
		}
	}
	resp, body := e.get(t, "/apis/Orders", nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("signed out: status %d, want 302\n%s", resp.StatusCode, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || !strings.HasPrefix(loc.String(), e.idpURL+"/"+tenant+"/oauth2/v2.0/authorize?") {
		t.Fatalf("signed out: redirect to %s, want the authorize endpoint", resp.Header.Get("Location"))
	}
	if n := len(e.apiCalls()) + len(e.tokens.users) + len(e.tokens.appScopes); n != 0 {
		t.Error("the API or the token source was used for a signed-out visitor")
	}
	if resp, _ := e.get(t, "/apis/Nope", &user); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /apis/Nope: %d, want 404", resp.StatusCode)
	}
	if got := apicall.Path(mustAPI(t, "Orders")); got != "/apis/Orders" {
		t.Errorf("Path = %q, want /apis/Orders", got)
	}
}

func mustAPI(t *testing.T, name string) *downstream.API {
	t.Helper()
	doc := `{"AzureAd": {"TenantId": "` + tenant + `", "ClientId": "` + clientID + `", "ClientCredentials": [{"SourceType": "ClientSecret"}]},
		"DownstreamApis": {"` + name + `": {"BaseUrl": "https://api.contoso.example", "Scopes": ["api://x/y"]}}}`
	cfg := configtest.Load(t, config.Production, doc)
	api, err := downstream.New(cfg, name, &fakeTokens{}, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// What goes wrong with the token or the API reaches web.App.Handle, which
// signs the user in again or shows an error page naming the API.
func TestAPICallPassesErrorsToHandle(t *testing.T) {
	e := newEnv(t)
	const caeHeader = `Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNjA0MTA2NjUxIn19fQ=="`
	for _, tt := range []struct {
		name     string
		path     string
		tokenErr error
		answer   answer
		status   int
		scope    string // redirect: asked for
		claims   bool   // redirect: with the claims challenge's claims
		body     string // error page: shown
	}{
		{
			name: "no token: sign in for the API's scopes", path: "/apis/Orders",
			tokenErr: &tokens.InteractionRequiredError{Scopes: []string{ordersScope}, ConsentRequired: true},
			status:   http.StatusFound, scope: ordersScope,
		},
		{
			name: "claims challenge: sign in with the claims", path: "/apis/Orders",
			answer: answer{status: 401, header: map[string]string{"WWW-Authenticate": caeHeader}},
			status: http.StatusFound, scope: ordersScope, claims: true,
		},
		{
			name: "the API refuses", path: "/apis/Orders",
			answer: answer{status: 403, body: `{"error":{"code":"Forbidden","message":"secret detail"}}`},
			status: http.StatusBadGateway, body: "Orders answered 403 Forbidden.",
		},
		{
			name: "the API refuses the app", path: "/apis/Reports",
			answer: answer{status: 403, body: `{"error":"insufficient_role","error_description":"secret detail"}`},
			status: http.StatusBadGateway, body: "Reports answered 403 insufficient_role.",
		},
		{
			name: "the API fails", path: "/apis/Orders",
			answer: answer{status: 500, body: `{"title":"Internal","detail":"secret detail"}`},
			status: http.StatusBadGateway, body: "Orders did not answer as expected.",
		},
		{
			name: "the API cannot be reached", path: "/apis/Down",
			status: http.StatusBadGateway, body: "The API could not be reached",
		},
		{
			name: "no app token", path: "/apis/Reports",
			tokenErr: errors.New("AADSTS7000215: invalid client secret"),
			status:   http.StatusBadGateway, body: "The API could not be reached",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.reset(tt.answer, tt.tokenErr)
			resp, body := e.get(t, tt.path, &user)
			if tt.status == http.StatusFound {
				if resp.StatusCode != http.StatusFound {
					t.Fatalf("status %d, want 302\n%s", resp.StatusCode, body)
				}
				loc, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != e.idpURL+"/"+tenant+"/oauth2/v2.0/authorize" {
					t.Fatalf("redirect to %s, want the authorize endpoint", resp.Header.Get("Location"))
				}
				q := loc.Query()
				if !slices.Contains(strings.Fields(q.Get("scope")), tt.scope) {
					t.Errorf("sign-in asks for %q, want %s", q.Get("scope"), tt.scope)
				}
				if got := q.Get("claims"); tt.claims != strings.Contains(got, `"nbf"`) {
					t.Errorf("sign-in claims = %q, want claims %v", got, tt.claims)
				}
				return
			}
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
				t.Errorf("status %d, want %d with %q\n%s", resp.StatusCode, tt.status, tt.body, body)
			}
			if strings.Contains(body, "secret detail") || strings.Contains(body, "AADSTS") {
				t.Errorf("the error page shows what the API or identity provider said:\n%s", body)
			}
		})
	}
}
