package graph

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/config/configtest"
	"example.com/certapp/internal/downstream"
	"example.com/certapp/internal/downstream/callertest"
)

func newClient(t *testing.T, tokens downstream.TokenSource, baseURL string, client *http.Client) *Client {
	t.Helper()
	doc := `{"AzureAd": {"TenantId": "11111111-2222-3333-4444-555555555555", "ClientId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"ClientCredentials": [{"SourceType": "ClientSecret"}]},
		"MicrosoftGraph": {"BaseUrl": "` + baseURL + `", "Scopes": ["user.read"]}}`
	cfg := configtest.Load(t, config.Development, doc)
	api, err := downstream.New(cfg, Section, tokens, client)
	if err != nil {
		t.Fatal(err)
	}
	return New(api)
}

func TestContract(t *testing.T) {
	callertest.Run(t, func(ctx context.Context, tokens downstream.TokenSource, baseURL string, client *http.Client) error {
		_, err := newClient(t, tokens, baseURL, client).Me(ctx, "user-1")
		return err
	})
}

func TestMe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/me" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"id":"1","displayName":"Adele Vance","businessPhones":["+1 555"]}`))
	}))
	defer srv.Close()
	tokens := &callertest.Tokens{Value: "t"}
	me, err := newClient(t, tokens, srv.URL+"/v1.0/", srv.Client()).Me(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if me.DisplayName != "Adele Vance" || me.BusinessPhones[0] != "+1 555" {
		t.Errorf("Me = %+v", me)
	}
	if tokens.User != "u1" || len(tokens.Scopes) != 1 || tokens.Scopes[0] != "user.read" {
		t.Errorf("token asked for %q, %v", tokens.User, tokens.Scopes)
	}
}
