package account_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"hello/internal/config"
	"hello/internal/credential"
	"hello/internal/devidp"
	"hello/internal/pages/account"
	"hello/internal/session"
	"hello/internal/signin"
	"hello/internal/tokens"
	"hello/internal/web"
)

const (
	tenant   = "11111111-2222-3333-4444-555555555555"
	clientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	origin   = "http://127.0.0.1:5000" // the app, as requests name it
)

// env is a sign-in-only app: the account page, sign-in against the
// identity provider stand-in, and a count of the token cache's reads (the
// page needs no token).
type env struct {
	handler    http.Handler
	cookies    session.Cookies
	idp        *devidp.Server
	idpURL     string
	cacheReads atomic.Int64
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
	e := &env{}
	idp, err := devidp.New(devidp.Config{
		TenantID:   tenant,
		SigningKey: signingKey(),
		Users:      []devidp.User{{ID: "6e2b3d8a-1111-4c3a-9d2e-000000000001", DisplayName: "Adele Vance", UserPrincipalName: "adele@contoso.example"}},
		Clients:    []devidp.Client{{ClientID: clientID, ClientSecret: "s", RedirectURIs: []string{origin + "/signin-oidc"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	idpSrv := httptest.NewTLSServer(idp)
	t.Cleanup(idpSrv.Close)
	e.idp, e.idpURL = idp, idpSrv.URL

	ad := config.AzureAd{Instance: idpSrv.URL + "/", TenantID: tenant, ClientID: clientID,
		CallbackPath: "/signin-oidc", SignedOutCallbackPath: "/signout-callback-oidc"}
	cred, err := confidential.NewCredFromSecret("s")
	if err != nil {
		t.Fatal(err)
	}
	acq, err := tokens.New(ad, credential.Credential{MSAL: cred}, countingStore{&e.cacheReads}, idpSrv.Client())
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
	app := web.New("Contoso", e.cookies, signin.New(ad, nil, acq, e.cookies, idpSrv.Client(), log), ad.SignedOutCallbackPath, log)
	account.Register(app)
	e.handler = app.Handler()
	return e
}

// countingStore is an empty token cache that counts its reads.
type countingStore struct{ reads *atomic.Int64 }

func (s countingStore) Load(context.Context, string) ([]byte, error) {
	s.reads.Add(1)
	return nil, nil
}
func (countingStore) Save(context.Context, string, []byte) error { return nil }
func (countingStore) Delete(context.Context, string) error       { return nil }

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

func TestAccountShowsTheSignedInUser(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name   string
		user   session.User
		want   []string
		hidden []string
	}{
		{
			name: "from the session",
			user: session.User{HomeAccountID: "oid-1.tid-1", ObjectID: "oid-1", TenantID: "tid-1", Name: "Adele Vance", Username: "adele@contoso.example"},
			want: []string{
				`<td id="name">Adele Vance</td>`, `<td id="username">adele@contoso.example</td>`,
				`<td id="oid">oid-1</td>`, `<td id="tid">tid-1</td>`,
				`<a href="/account">My account</a>`, `<span class="who">Adele Vance</span>`,
			},
		},
		{
			name: "markup in the ID token's claims is text",
			user: session.User{HomeAccountID: "oid-2.tid-1", ObjectID: "oid-2", TenantID: "tid-1",
				Name: `<script>alert("x")</script>`, Username: `a&b@contoso.example"><img src=x>`},
			want: []string{
				`<td id="name">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</td>`,
				`<td id="username">a&amp;b@contoso.example&#34;&gt;&lt;img src=x&gt;</td>`,
			},
			hidden: []string{"<script>", "<img"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.cacheReads.Store(0)
			resp, body := e.get(t, account.Path, &tt.user)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d\n%s", resp.StatusCode, body)
			}
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %s:\n%s", s, body)
				}
			}
			for _, s := range tt.hidden {
				if strings.Contains(body, s) {
					t.Errorf("page shows %s:\n%s", s, body)
				}
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			if n := e.cacheReads.Load(); n != 0 {
				t.Errorf("the page read the token cache %d times; it needs no token", n)
			}
			if n := e.idp.TokenRequests(""); n != 0 {
				t.Errorf("the page asked the identity provider for %d tokens", n)
			}
		})
	}
}

func TestAccountIsListedAndNeedsSignIn(t *testing.T) {
	e := newEnv(t)
	u := session.User{HomeAccountID: "oid-1.tid-1", Name: "Adele Vance"}
	if _, body := e.get(t, "/", &u); !strings.Contains(body, `<a class="button" href="/account">My account</a>`) {
		t.Errorf("home page of a signed-in user lacks the account link:\n%s", body)
	}
	if _, body := e.get(t, "/", nil); !strings.Contains(body, `href="/signin?returnUrl=%2faccount"`) {
		t.Errorf("home page of a signed-out visitor does not sign in for the account page:\n%s", body)
	}
	resp, body := e.get(t, account.Path, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("signed out: status %d, want 302\n%s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != e.idpURL+"/"+tenant+"/oauth2/v2.0/authorize" {
		t.Fatalf("signed out: redirect to %s, want the authorize endpoint", resp.Header.Get("Location"))
	}
	// A sign-in-only app asks for no API's scopes.
	if got := strings.Fields(loc.Query().Get("scope")); len(got) != 3 || !strings.Contains(loc.Query().Get("scope"), "openid") {
		t.Errorf("sign-in asks for %v, want only openid, profile and offline_access", got)
	}
	if resp, _ := e.get(t, account.Path, &session.User{Name: "no home account id"}); resp.StatusCode != http.StatusFound {
		t.Errorf("a session without a home account id: %d, want 302 to sign-in", resp.StatusCode)
	}
}
