// Package callertest is the contract every downstream API caller keeps
// (the generic caller, the Graph clients): a call always carries the token
// it was given and is never made without one, and the API's refusals come
// back as the errors pages act on.
package callertest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"example.com/certapp/internal/downstream"
)

// CallFunc makes one call for the user "user-1" with a caller built over
// tokens, against the API at baseURL, through client.
type CallFunc func(ctx context.Context, tokens downstream.TokenSource, baseURL string, client *http.Client) error

// Tokens is a TokenSource for tests: Token (and AppToken) return Value or
// Err, and record what they were asked.
type Tokens struct {
	Value string
	Err   error

	User   string
	Scopes []string
}

func (t *Tokens) Token(_ context.Context, homeAccountID string, scopes []string) (string, error) {
	t.User, t.Scopes = homeAccountID, scopes
	return t.Value, t.Err
}

func (t *Tokens) AppToken(_ context.Context, scopes []string) (string, error) {
	t.Scopes = scopes
	return t.Value, t.Err
}

// CAEClaims is a continuous access evaluation claims challenge, and its
// WWW-Authenticate header as Microsoft Graph sends it.
const (
	CAEClaims = `{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}`
	CAEHeader = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", ` +
		`client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", ` +
		`claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNjA0MTA2NjUxIn19fQ=="`
)

// Run runs the contract against call.
func Run(t *testing.T, call CallFunc) {
	t.Helper()
	type answer struct {
		status int
		header map[string]string
		body   string
	}
	serve := func(t *testing.T, a answer) (*httptest.Server, *atomic.Value, *atomic.Int64) {
		var auth atomic.Value
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			auth.Store(r.Header.Get("Authorization"))
			for k, v := range a.header {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.status)
			w.Write([]byte(a.body))
		}))
		t.Cleanup(srv.Close)
		return srv, &auth, &calls
	}
	ctx := context.Background()

	t.Run("the token is attached as a bearer token", func(t *testing.T) {
		srv, auth, _ := serve(t, answer{status: 200, body: `{"id":"1","displayName":"Adele Vance"}`})
		tokens := &Tokens{Value: "token-for-user-1"}
		if err := call(ctx, tokens, srv.URL, srv.Client()); err != nil {
			t.Fatalf("call: %v", err)
		}
		if got := auth.Load(); got != "Bearer token-for-user-1" {
			t.Errorf("Authorization = %v, want Bearer token-for-user-1", got)
		}
		if len(tokens.Scopes) == 0 {
			t.Error("the token was asked for no scopes")
		}
	})

	t.Run("no token, no call", func(t *testing.T) {
		srv, _, calls := serve(t, answer{status: 200, body: `{}`})
		errSignIn := errors.New("interaction required")
		if err := call(ctx, &Tokens{Err: errSignIn}, srv.URL, srv.Client()); !errors.Is(err, errSignIn) {
			t.Errorf("call with a failing token source = %v, want it to wrap the source's error", err)
		}
		if err := call(ctx, &Tokens{Value: ""}, srv.URL, srv.Client()); err == nil {
			t.Error("call with an empty token succeeded")
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("the API was called %d times without a token", n)
		}
	})

	t.Run("a claims challenge comes back as *downstream.ClaimsChallenge", func(t *testing.T) {
		srv, _, _ := serve(t, answer{status: 401, header: map[string]string{"WWW-Authenticate": CAEHeader}})
		err := call(ctx, &Tokens{Value: "t"}, srv.URL, srv.Client())
		var cc *downstream.ClaimsChallenge
		if !errors.As(err, &cc) || cc.Claims != CAEClaims || len(cc.Scopes) == 0 {
			t.Fatalf("err = %v, want a claims challenge for %s with the API's scopes", err, CAEClaims)
		}
	})

	for _, tt := range []struct {
		status int
		body   string
		code   string
	}{
		{403, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges"}}`, "Authorization_RequestDenied"},
		{401, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired"}}`, "InvalidAuthenticationToken"},
		{503, `{"error":{"code":"serviceNotAvailable","message":"try later"}}`, "serviceNotAvailable"},
	} {
		t.Run(http.StatusText(tt.status)+" comes back as *downstream.Error", func(t *testing.T) {
			srv, _, _ := serve(t, answer{status: tt.status, body: tt.body})
			err := call(ctx, &Tokens{Value: "t"}, srv.URL, srv.Client())
			var de *downstream.Error
			if !errors.As(err, &de) || de.Status != tt.status || de.Code != tt.code {
				t.Fatalf("err = %v, want *downstream.Error with status %d and code %s", err, tt.status, tt.code)
			}
		})
	}
}
