package downstream_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/config/configtest"
	"example.com/certapp/internal/downstream"
	"example.com/certapp/internal/downstream/callertest"
)

// settings loads a configuration with the given DownstreamApis.
func settings(t *testing.T, apis string) *config.Config {
	t.Helper()
	doc := `{"AzureAd": {"TenantId": "11111111-2222-3333-4444-555555555555", "ClientId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"ClientCredentials": [{"SourceType": "ClientSecret"}]}, "DownstreamApis": ` + apis + `}`
	cfg := configtest.Load(t, config.Development, doc)
	return cfg
}

func TestContract(t *testing.T) {
	callertest.Run(t, func(ctx context.Context, tokens downstream.TokenSource, baseURL string, client *http.Client) error {
		cfg := settings(t, `{"Orders": {"BaseUrl": "`+baseURL+`", "Scopes": ["api://orders/Orders.Read"]}}`)
		api, err := downstream.New(cfg, "Orders", tokens, client)
		if err != nil {
			return err
		}
		var out json.RawMessage
		return api.Call(ctx, "user-1", downstream.Request{Path: "me"}, &out)
	})
}

func TestCallUsesTheSectionAndTheRequest(t *testing.T) {
	type seen struct {
		method, path, query, contentType, body string
	}
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	cfg := settings(t, `{
		"Orders": {"BaseUrl": "`+srv.URL+`/api/", "Scopes": ["api://orders/Orders.Read"], "RelativePath": "/orders", "HttpMethod": "Post"},
		"Reports": {"BaseUrl": "`+srv.URL+`/reports", "Scopes": ["api://reports/.default"], "RequestAppToken": true}}`)
	tokens := &callertest.Tokens{Value: "t"}

	orders, err := downstream.New(cfg, "Orders", tokens, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ OK bool }
	if err := orders.Call(context.Background(), "user-1", downstream.Request{Body: map[string]int{"qty": 2}}, &out); err != nil || !out.OK {
		t.Fatalf("Call = %v, %+v", err, out)
	}
	want := seen{"POST", "/api/orders", "", "application/json", `{"qty":2}`}
	if got != want || tokens.User != "user-1" {
		t.Errorf("request = %+v for %q, want %+v for user-1", got, tokens.User, want)
	}

	if err := orders.Call(context.Background(), "user-1", downstream.Request{Method: "get", Path: "orders/42", Query: map[string][]string{"expand": {"lines"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if want := (seen{"GET", "/api/orders/42", "expand=lines", "", ""}); got != want {
		t.Errorf("request = %+v, want %+v", got, want)
	}

	reports, err := downstream.New(cfg, "Reports", tokens, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	tokens.User = ""
	if err := reports.Call(context.Background(), "user-1", downstream.Request{}, nil); err != nil {
		t.Fatal(err)
	}
	if got.path != "/reports" || tokens.User != "" || tokens.Scopes[0] != "api://reports/.default" || !reports.AppOnly() {
		t.Errorf("an API with RequestAppToken must be called with an app token: path %s, user %q, scopes %v", got.path, tokens.User, tokens.Scopes)
	}
}

func TestNewRefusesAMissingSection(t *testing.T) {
	cfg := settings(t, `{}`)
	if _, err := downstream.New(cfg, "Stock", &callertest.Tokens{}, http.DefaultClient); err == nil {
		t.Fatal("New of an API without settings succeeded")
	}
}

func TestJoin(t *testing.T) {
	for _, tt := range []struct{ base, path, want string }{
		{"https://api.example.com/v1", "orders", "https://api.example.com/v1/orders"},
		{"https://api.example.com/v1/", "/orders", "https://api.example.com/v1/orders"},
		{"https://api.example.com/v1", "", "https://api.example.com/v1"},
	} {
		if got, err := downstream.Join(tt.base, tt.path); err != nil || got != tt.want {
			t.Errorf("downstream.Join(%q, %q) = %q, %v; want %q", tt.base, tt.path, got, err, tt.want)
		}
	}
	for _, bad := range []string{"https://evil.example/x", "//evil.example/x", "\\\\evil.example"} {
		if _, err := downstream.Join("https://api.example.com", bad); err == nil {
			t.Errorf("Join accepted %q", bad)
		}
	}
}
