package profile_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/config/configtest"
	"example.com/certapp/internal/credential"
	"example.com/certapp/internal/devidp"
	"example.com/certapp/internal/downstream"
	"example.com/certapp/internal/graph"
	"example.com/certapp/internal/pages/profile"
	"example.com/certapp/internal/session"
	"example.com/certapp/internal/signin"
	"example.com/certapp/internal/tokens"
	"example.com/certapp/internal/web"
)

const (
	tenant   = "11111111-2222-3333-4444-555555555555"
	clientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	origin   = "http://127.0.0.1:5000" // the app, as requests name it
)

// user is the signed-in user's session.
var user = session.User{HomeAccountID: "6e2b3d8a-1111-4c3a-9d2e-000000000001." + tenant,
	ObjectID: "6e2b3d8a-1111-4c3a-9d2e-000000000001", TenantID: tenant, Name: "Adele Vance", Username: "adele@contoso.example"}

// fakeTokens hands out a token named after the user it is for, or err.
type fakeTokens struct {
	mu     sync.Mutex
	err    error
	users  []string
	scopes []string
}

func (f *fakeTokens) Token(_ context.Context, homeAccountID string, scopes []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users, f.scopes = append(f.users, homeAccountID), scopes
	if f.err != nil {
		return "", f.err
	}
	return "token-for-" + homeAccountID, nil
}

func (f *fakeTokens) AppToken(context.Context, []string) (string, error) {
	return "", fmt.Errorf("the profile page asked for an app token")
}

// graphAnswer is how the Graph stand-in answers GET /me.
type graphAnswer struct {
	status int
	header map[string]string
	body   string
}

// env is the profile page over the real Graph client and API caller,
// against a Graph stand-in that answers what a test says, with sign-in
// against the identity provider stand-in.
type env struct {
	handler http.Handler
	cookies session.Cookies
	idpURL  string
	tokens  *fakeTokens

	mu     sync.Mutex
	answer graphAnswer
	auth   []string // the Authorization headers /me got
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

	graphSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		a := e.answer
		if r.Method == http.MethodGet && r.URL.Path == "/v1.0/me" {
			e.auth = append(e.auth, r.Header.Get("Authorization"))
		} else {
			a = graphAnswer{status: http.StatusNotFound, body: `{"error":{"code":"BadRequest","message":"unexpected ` + r.Method + " " + r.URL.Path + `"}}`}
		}
		e.mu.Unlock()
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(graphSrv.Close)

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
		"MicrosoftGraph": {"BaseUrl": "` + graphSrv.URL + `/v1.0", "Scopes": ["User.Read"]}}`
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
	graphAPI, err := downstream.New(cfg, graph.Section, e.tokens, graphSrv.Client())
	if err != nil {
		t.Fatal(err)
	}
	app := web.New("Contoso", e.cookies, signin.New(cfg.AzureAd, graphAPI.Scopes(), acq, e.cookies, idpSrv.Client(), log), cfg.AzureAd.SignedOutCallbackPath, log)
	profile.Register(app, graph.New(graphAPI))
	e.handler = app.Handler()
	return e
}

// noStore is a token cache that keeps nothing: these tests never redeem a
// code.
type noStore struct{}

func (noStore) Load(context.Context, string) ([]byte, error) { return nil, nil }
func (noStore) Save(context.Context, string, []byte) error   { return nil }
func (noStore) Delete(context.Context, string) error         { return nil }

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

func (e *env) graphCalls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.auth)
}

// signInQuery returns the authorize request resp redirects to, failing
// the test unless it is one.
func (e *env) signInQuery(t *testing.T, resp *http.Response, body string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302 to sign-in\n%s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if want := e.idpURL + "/" + tenant + "/oauth2/v2.0/authorize"; loc.Scheme+"://"+loc.Host+loc.Path != want {
		t.Fatalf("redirect to %s, want %s", resp.Header.Get("Location"), want)
	}
	return loc.Query()
}

func TestProfileShowsTheUsersGraphProfile(t *testing.T) {
	e := newEnv(t)
	e.answer = graphAnswer{status: 200, body: `{"id":"6e2b3d8a-1111-4c3a-9d2e-000000000001","displayName":"Adele <b>Vance</b>",
		"userPrincipalName":"adele@contoso.example","mail":"adele&co@contoso.example","jobTitle":"Retail \"Manager\"","officeLocation":"18/2111"}`}
	resp, body := e.get(t, profile.Path, &user)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<td id="displayName">Adele &lt;b&gt;Vance&lt;/b&gt;</td>`,
		`<td id="userPrincipalName">adele@contoso.example</td>`,
		`<td id="mail">adele&amp;co@contoso.example</td>`,
		`<td id="jobTitle">Retail &#34;Manager&#34;</td>`,
		`<td id="officeLocation">18/2111</td>`,
		`<td id="id">6e2b3d8a-1111-4c3a-9d2e-000000000001</td>`,
		`<a href="/profile">My profile (Microsoft Graph)</a>`, // the header's link
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<b>") {
		t.Errorf("Graph's markup is not escaped:\n%s", body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	// The token was for the session's user and Graph's scopes, and /me got it.
	if want := []string{user.HomeAccountID}; !slices.Equal(e.tokens.users, want) || !slices.Equal(e.tokens.scopes, []string{"User.Read"}) {
		t.Errorf("tokens asked for users %v, scopes %v; want %v, [User.Read]", e.tokens.users, e.tokens.scopes, want)
	}
	if got, want := e.graphCalls(), []string{"Bearer token-for-" + user.HomeAccountID}; !slices.Equal(got, want) {
		t.Errorf("/me got Authorization %v, want %v", got, want)
	}
}

func TestProfileIsListedAndNeedsSignIn(t *testing.T) {
	e := newEnv(t)
	_, body := e.get(t, "/", &user)
	if !strings.Contains(body, `<a class="button" href="/profile">My profile (Microsoft Graph)</a>`) {
		t.Errorf("home page of a signed-in user lacks the profile link:\n%s", body)
	}
	_, body = e.get(t, "/", nil)
	if !strings.Contains(body, `href="/signin?returnUrl=%2fprofile"`) {
		t.Errorf("home page of a signed-out visitor does not sign in for the profile:\n%s", body)
	}
	resp, body := e.get(t, profile.Path, nil)
	q := e.signInQuery(t, resp, body)
	if scopes := strings.Fields(q.Get("scope")); !slices.Contains(scopes, "User.Read") {
		t.Errorf("sign-in asks for %v, want Graph's User.Read too", scopes)
	}
	if n := len(e.graphCalls()) + len(e.tokens.users); n != 0 {
		t.Errorf("Graph or the token source was used for a signed-out visitor")
	}
	resp, _ = e.get(t, profile.Path+"/", &user)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /profile/: %d, want 404", resp.StatusCode)
	}
}

// What goes wrong with the token or Graph reaches web.App.Handle, which
// signs the user in again or shows an error page.
func TestProfilePassesErrorsToHandle(t *testing.T) {
	e := newEnv(t)
	const caeHeader = `Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNjA0MTA2NjUxIn19fQ=="`
	for _, tt := range []struct {
		name     string
		tokenErr error
		answer   graphAnswer
		status   int
		scope    string // redirect: asked for
		claims   string // redirect: asked for
		body     string // error page: shown
	}{
		{
			name:     "no token: sign in for Graph's scopes",
			tokenErr: &tokens.InteractionRequiredError{Scopes: []string{"User.Read"}, ConsentRequired: true},
			status:   http.StatusFound, scope: "User.Read",
		},
		{
			name:   "claims challenge: sign in with the claims",
			answer: graphAnswer{status: 401, header: map[string]string{"WWW-Authenticate": caeHeader}},
			status: http.StatusFound, scope: "User.Read", claims: `{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}`,
		},
		{
			name:   "Graph refuses",
			answer: graphAnswer{status: 403, body: `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges"}}`},
			status: http.StatusBadGateway, body: "MicrosoftGraph answered 403 Authorization_RequestDenied.",
		},
		{
			name:   "Graph fails",
			answer: graphAnswer{status: 503, body: `{"error":{"code":"serviceNotAvailable","message":"try later"}}`},
			status: http.StatusBadGateway, body: "MicrosoftGraph did not answer as expected.",
		},
		{
			name:   "Graph answers what is not JSON",
			answer: graphAnswer{status: 200, body: `<html>`},
			status: http.StatusBadGateway, body: "The API could not be reached",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.tokens.err, e.tokens.users, e.answer = tt.tokenErr, nil, tt.answer
			resp, body := e.get(t, profile.Path, &user)
			if !slices.Equal(e.tokens.users, []string{user.HomeAccountID}) {
				t.Errorf("tokens asked for %v, want the session's user", e.tokens.users)
			}
			if tt.status == http.StatusFound {
				q := e.signInQuery(t, resp, body)
				if !slices.Contains(strings.Fields(q.Get("scope")), tt.scope) {
					t.Errorf("sign-in asks for %q, want %s", q.Get("scope"), tt.scope)
				}
				if got := q.Get("claims"); !sameJSON(got, tt.claims) {
					t.Errorf("sign-in claims = %q, want %q", got, tt.claims)
				}
				return
			}
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
				t.Errorf("status %d, want %d with %q\n%s", resp.StatusCode, tt.status, tt.body, body)
			}
		})
	}
}

func sameJSON(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}
