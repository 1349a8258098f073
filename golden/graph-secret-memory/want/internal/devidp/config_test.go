package devidp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The project's devidp.json registers the app as its appsettings.json
// describes it: same client id, redirect URIs on the development origin
// with the app's callback paths.
func TestLoadConfigProjectFile(t *testing.T) {
	cfg, err := LoadConfig("../../devidp.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Users) == 0 || len(cfg.Clients) != 1 {
		t.Fatalf("config %+v", cfg)
	}
	data, err := os.ReadFile("../../appsettings.json")
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		AzureAd struct{ ClientId, CallbackPath, SignedOutCallbackPath string }
	}
	if err := json.Unmarshal(data, &app); err != nil {
		t.Fatal(err)
	}
	c := cfg.Clients[0]
	if c.ClientID != app.AzureAd.ClientId ||
		!slices.Contains(c.RedirectURIs, "http://localhost:5000"+app.AzureAd.CallbackPath) ||
		!slices.Contains(c.PostLogoutRedirectURIs, "http://localhost:5000"+app.AzureAd.SignedOutCallbackPath) {
		t.Errorf("client %+v does not match appsettings.json %+v", c, app.AzureAd)
	}
	for _, u := range cfg.Users {
		if u.DisplayName == "" || !strings.Contains(u.UserPrincipalName, "@") {
			t.Errorf("user %+v", u)
		}
	}
}

func TestLoadConfigErrors(t *testing.T) {
	const user = `{"id":"6e7b768e-07e2-4810-8459-485f84f8f204","displayName":"A","userPrincipalName":"a@x.example"}`
	const client = `{"clientId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","redirectUris":["http://localhost:5000/cb"]}`
	tests := []struct {
		name, json, want string
	}{
		{"unknown key", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[` + client + `],"users":[` + user + `],"user":[]}`, `unknown field "user"`},
		{"bad tenant", `{"tenantId":"contoso","clients":[` + client + `],"users":[` + user + `]}`, "tenantId"},
		{"no clients", `{"tenantId":"11111111-2222-3333-4444-555555555555","users":[` + user + `]}`, "clients"},
		{"no users", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[` + client + `]}`, "users"},
		{"http redirect not loopback", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[{"clientId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","redirectUris":["http://app.example/cb"]}],"users":[` + user + `]}`, "clients[0].redirectUris[0]"},
		{"fragment", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[{"clientId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","redirectUris":["https://app.example/cb#x"]}],"users":[` + user + `]}`, "clients[0].redirectUris[0]"},
		{"bad logout uri", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[{"clientId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","redirectUris":["https://app.example/cb"],"postLogoutRedirectUris":["javascript:alert(1)"]}],"users":[` + user + `]}`, "clients[0].postLogoutRedirectUris[0]"},
		{"bad certificate", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[{"clientId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","redirectUris":["https://app.example/cb"],"certificatesPem":["nope"]}],"users":[` + user + `]}`, "clients[0].certificatesPem[0]"},
		{"duplicate client", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[` + client + `,` + client + `],"users":[` + user + `]}`, "clients[1].clientId"},
		{"duplicate user", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[` + client + `],"users":[` + user + `,` + user + `]}`, "users[1].id"},
		{"bad upn", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[` + client + `],"users":[{"id":"6e7b768e-07e2-4810-8459-485f84f8f204","displayName":"A","userPrincipalName":"a"}]}`, "users[0].userPrincipalName"},
		{"wrong type", `{"tenantId":"11111111-2222-3333-4444-555555555555","clients":[` + client + `],"users":[{"id":1}]}`, "users.id"},
		{"syntax", "{\n\"tenantId\": ,}", "devidp.json:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "devidp.json")
			if err := os.WriteFile(p, []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{TenantID: "x"}); err == nil || !strings.Contains(err.Error(), "tenantId") {
		t.Errorf("err = %v", err)
	}
}
