package graph

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"example.com/demo/internal/config"
)

type tokenFunc func(ctx context.Context, id string, scopes []string) (string, error)

func (f tokenFunc) Token(ctx context.Context, id string, scopes []string) (string, error) {
	return f(ctx, id, scopes)
}

func TestMe(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		if r.URL.Path != "/v1.0/me" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"id":"1","displayName":"Adele Vance","businessPhones":["+1 555"]}`))
	}))
	defer srv.Close()
	var gotScopes []string
	c := New(config.DownstreamAPI{BaseURL: srv.URL + "/v1.0/", Scopes: []string{"user.read"}},
		tokenFunc(func(_ context.Context, id string, scopes []string) (string, error) {
			gotScopes = scopes
			return "tok-" + id, nil
		}), srv.Client())
	me, err := c.Me(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if me.DisplayName != "Adele Vance" || me.BusinessPhones[0] != "+1 555" {
		t.Errorf("Me = %+v", me)
	}
	if gotAuth != "Bearer tok-u1" || len(gotScopes) != 1 || gotScopes[0] != "user.read" {
		t.Errorf("Authorization %q, scopes %v", gotAuth, gotScopes)
	}
}

func TestMeNeverCallsAnonymously(t *testing.T) {
	called := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	defer srv.Close()
	errNoToken := errors.New("no token")
	for _, src := range []tokenFunc{
		func(context.Context, string, []string) (string, error) { return "", errNoToken },
		func(context.Context, string, []string) (string, error) { return "", nil },
	} {
		c := New(config.DownstreamAPI{BaseURL: srv.URL, Scopes: []string{"user.read"}}, src, srv.Client())
		if _, err := c.Me(context.Background(), "u1"); err == nil {
			t.Error("Me succeeded without a token")
		}
	}
	if called {
		t.Error("Graph was called without a token")
	}
}

func TestMeError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges"}}`))
	}))
	defer srv.Close()
	c := New(config.DownstreamAPI{BaseURL: srv.URL, Scopes: []string{"user.read"}},
		tokenFunc(func(context.Context, string, []string) (string, error) { return "t", nil }), srv.Client())
	_, err := c.Me(context.Background(), "u1")
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != 403 || ge.Code != "Authorization_RequestDenied" {
		t.Fatalf("err = %v", err)
	}
}

// A claims challenge from Graph (continuous access evaluation) comes back
// as *ClaimsChallenge with the decoded claims, so the app can sign in again.
func TestMeClaimsChallenge(t *testing.T) {
	const claims = `{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", `+
			`client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", `+
			`claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNjA0MTA2NjUxIn19fQ=="`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	c := New(config.DownstreamAPI{BaseURL: srv.URL, Scopes: []string{"user.read"}},
		tokenFunc(func(context.Context, string, []string) (string, error) { return "t", nil }), srv.Client())
	_, err := c.Me(context.Background(), "u1")
	var cc *ClaimsChallenge
	if !errors.As(err, &cc) || cc.Claims != claims {
		t.Fatalf("err = %v, want a claims challenge for %s", err, claims)
	}
}
