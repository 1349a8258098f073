package graphsdk

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/config/configtest"
	"github.com/idweb-init/idweb-init/templates/app/internal/downstream"
	"github.com/idweb-init/idweb-init/templates/app/internal/downstream/callertest"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokens"
)

func newClient(t *testing.T, tokens downstream.TokenSource, baseURL string, client *http.Client) *Client {
	t.Helper()
	doc := `{"AzureAd": {"TenantId": "11111111-2222-3333-4444-555555555555", "ClientId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"ClientCredentials": [{"SourceType": "ClientSecret"}]},
		"MicrosoftGraph": {"BaseUrl": "` + baseURL + `", "Scopes": ["user.read"]}}`
	cfg := configtest.Load(t, config.Development, doc)
	c, err := New(cfg, tokens, client)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestContract(t *testing.T) {
	callertest.Run(t, func(ctx context.Context, tokens downstream.TokenSource, baseURL string, client *http.Client) error {
		_, err := newClient(t, tokens, baseURL, client).Me(ctx, "user-1")
		return err
	})
}

func TestMe(t *testing.T) {
	var auth, query atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/me" {
			http.NotFound(w, r)
			return
		}
		auth.Store(r.Header.Get("Authorization"))
		query.Store(r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users/$entity",
			"id":"1","displayName":"Adele Vance","givenName":"Adele","surname":"Vance",
			"userPrincipalName":"adele@contoso.com","mail":"adele@contoso.com","jobTitle":"Retail Manager",
			"officeLocation":"18/2111","businessPhones":["+1 555"],"mobilePhone":null}`))
	}))
	defer srv.Close()
	tokens := &callertest.Tokens{Value: "t"}
	me, err := newClient(t, tokens, srv.URL+"/v1.0/", srv.Client()).Me(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got := auth.Load(); got != "Bearer t" {
		t.Errorf("Authorization = %v, want Bearer t", got)
	}
	q, _ := query.Load().(string)
	if !strings.HasPrefix(q, "$select=") {
		t.Errorf("query = %q, want $select=...", q)
	}
	for _, f := range meFields {
		if !strings.Contains(q, f) {
			t.Errorf("query %q does not select %s", q, f)
		}
	}
	if me.ID != "1" || me.DisplayName != "Adele Vance" || me.GivenName != "Adele" || me.Surname != "Vance" ||
		me.UserPrincipalName != "adele@contoso.com" || me.Mail != "adele@contoso.com" || me.JobTitle != "Retail Manager" ||
		me.OfficeLocation != "18/2111" || len(me.BusinessPhones) != 1 || me.BusinessPhones[0] != "+1 555" {
		t.Errorf("Me = %+v", me)
	}
	if tokens.User != "u1" || len(tokens.Scopes) != 1 || tokens.Scopes[0] != "user.read" {
		t.Errorf("token asked for %q, %v", tokens.User, tokens.Scopes)
	}
}

// The token source's errors come back wrapped, so pages still find them.
func TestInteractionRequired(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	src := &callertest.Tokens{Err: &tokens.InteractionRequiredError{Scopes: []string{"user.read"}}}
	_, err := newClient(t, src, srv.URL, srv.Client()).Me(context.Background(), "u1")
	var ir *tokens.InteractionRequiredError
	if !errors.As(err, &ir) || !errors.Is(err, tokens.ErrInteractionRequired) {
		t.Fatalf("err = %v, want *tokens.InteractionRequiredError", err)
	}
	if calls.Load() != 0 {
		t.Error("Graph was called without a token")
	}
}

// A claims challenge is answered once: the SDK's retry with the claims
// stops at the token provider.
func TestClaimsChallengeSentOnce(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("WWW-Authenticate", callertest.CAEHeader)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, err := newClient(t, &callertest.Tokens{Value: "t"}, srv.URL, srv.Client()).Me(context.Background(), "u1")
	var cc *downstream.ClaimsChallenge
	if !errors.As(err, &cc) || cc.API != "MicrosoftGraph" || cc.Claims != callertest.CAEClaims {
		t.Fatalf("err = %v, want a claims challenge", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Graph was called %d times, want 1", n)
	}
}

// No retries: a 503 comes back at once, after one call.
func TestNoRetry(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":"serviceNotAvailable","message":"try later"}}`))
	}))
	defer srv.Close()
	_, err := newClient(t, &callertest.Tokens{Value: "t"}, srv.URL, srv.Client()).Me(context.Background(), "u1")
	var de *downstream.Error
	if !errors.As(err, &de) || de.API != "MicrosoftGraph" || de.Status != 503 || de.Message != "try later" {
		t.Fatalf("err = %v, want *downstream.Error 503", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Graph was called %d times, want 1", n)
	}
}

// An error answer that is not Graph's JSON (a proxy's page, OAuth's shape,
// broken JSON) still comes back with its status.
func TestErrorWithoutODataJSON(t *testing.T) {
	for _, tt := range []struct{ contentType, body string }{
		{"text/html", `<html>Bad gateway</html>`},
		{"text/plain", `Bad gateway`},
		{"", `<html>Bad gateway</html>`},
		{"application/json", `{"error":{"code":`},
		{"application/json", `{"error":"invalid_token","error_description":"expired"}`},
		{"application/problem+json", `{"title":"Bad gateway","detail":"upstream"}`},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.contentType != "" {
				w.Header().Set("Content-Type", tt.contentType)
			}
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(tt.body))
		}))
		_, err := newClient(t, &callertest.Tokens{Value: "t"}, srv.URL, srv.Client()).Me(context.Background(), "u1")
		srv.Close()
		var de *downstream.Error
		if !errors.As(err, &de) || de.Status != 502 || de.API != "MicrosoftGraph" {
			t.Errorf("%s %s: err = %v, want *downstream.Error 502", tt.contentType, tt.body, err)
		}
	}
}

// The token goes to the configured host only.
func TestTokenOnlyForGraph(t *testing.T) {
	var asked atomic.Int64
	src := tokenFunc(func() (string, error) { asked.Add(1); return "t", nil })
	// An SDK request to an absolute URL on another host.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request reached another host with Authorization %q", r.Header.Get("Authorization"))
	}))
	defer other.Close()
	c := newClient(t, src, "https://graph.microsoft.com/v1.0", other.Client())
	_, err := c.SDK().Users().WithUrl(other.URL+"/v1.0/users").Get(ForUser(context.Background(), "u1"), nil)
	if err == nil || !strings.Contains(err.Error(), "refusing to send a token") || asked.Load() != 0 {
		t.Errorf("err = %v, tokens asked %d times; want a refusal before any token", err, asked.Load())
	}
}

type tokenFunc func() (string, error)

func (f tokenFunc) Token(context.Context, string, []string) (string, error) { return f() }
func (f tokenFunc) AppToken(context.Context, []string) (string, error)      { return f() }

// Without ForUser there is no user, so no token and no request.
func TestSDKCallNeedsUser(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	c := newClient(t, &callertest.Tokens{Value: "t"}, srv.URL, srv.Client())
	if _, err := c.SDK().Me().Get(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no signed-in user") || calls.Load() != 0 {
		t.Errorf("err = %v, calls = %d; want an error and no call", err, calls.Load())
	}
}

// A challenge the SDK does not see (its CAE handling reads only the first
// WWW-Authenticate header) is still found in the answer's headers.
func TestClaimsChallengeInSecondHeader(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Add("WWW-Authenticate", `PoP realm=""`)
		w.Header().Add("WWW-Authenticate", callertest.CAEHeader)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, err := newClient(t, &callertest.Tokens{Value: "t"}, srv.URL, srv.Client()).Me(context.Background(), "u1")
	var cc *downstream.ClaimsChallenge
	if !errors.As(err, &cc) || cc.Claims != callertest.CAEClaims || len(cc.Scopes) != 1 {
		t.Fatalf("err = %v, want a claims challenge", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Graph was called %d times, want 1", n)
	}
}

// A challenge with an unquoted claims parameter would make the SDK panic;
// it comes back as the 401 it is.
func TestUnquotedClaims(t *testing.T) {
	for _, h := range []string{
		`Bearer error="insufficient_claims", claims=abc`,
		`Bearer claims=abc, error="insufficient_claims"`,
		`Bearer error="invalid_token", error_description="bad, claims missing"`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", h)
			w.WriteHeader(http.StatusUnauthorized)
		}))
		_, err := newClient(t, &callertest.Tokens{Value: "t"}, srv.URL, srv.Client()).Me(context.Background(), "u1")
		srv.Close()
		var de *downstream.Error
		if !errors.As(err, &de) || de.Status != 401 {
			t.Errorf("%s: err = %v, want *downstream.Error 401", h, err)
		}
	}
}
