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
	cfg, err := LoadConfig(projectFile(t, "devidp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Users) == 0 || len(cfg.Clients) != 1 {
		t.Fatalf("config %+v", cfg)
	}
	data, err := os.ReadFile(projectFile(t, "appsettings.json"))
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

// projectFile returns the path of a file at the generated project's root.
// In the template tree the file is still a template (name.tmpl): the test
// is skipped there and runs in every generated project.
func projectFile(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", name)
	if _, err := os.Stat(p); err != nil {
		if _, terr := os.Stat(p + ".tmpl"); terr == nil {
			t.Skipf("%s is a template here (%s.tmpl); this test runs in generated projects", name, name)
		}
		t.Fatal(err)
	}
	return p
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

// The apis list of devidp.json: loaded with its JSON names, validated with
// errors that name the key.
func TestLoadConfigAPIs(t *testing.T) {
	const head = `{"tenantId":"11111111-2222-3333-4444-555555555555",` +
		`"clients":[{"clientId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","redirectUris":["http://localhost:5000/cb"]}],` +
		`"users":[{"id":"6e7b768e-07e2-4810-8459-485f84f8f204","displayName":"A","userPrincipalName":"a@x.example"}],"apis":`
	write := func(t *testing.T, apis string) string {
		p := filepath.Join(t.TempDir(), "devidp.json")
		if err := os.WriteFile(p, []byte(head+apis+"}"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := LoadConfig(write(t, `[
		{"name":"Orders","appIdUri":"api://0a1b2c3d-0000-4000-8000-000000000001","scopes":["Orders.Read","Orders.Write"],"appRoles":["Orders.Read.All"]},
		{"name":"stock-v2","appIdUri":"https://contoso.example/stock","appRoles":["Stock.Read.All"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []API{
		{Name: "Orders", AppIDURI: "api://0a1b2c3d-0000-4000-8000-000000000001", Scopes: []string{"Orders.Read", "Orders.Write"}, AppRoles: []string{"Orders.Read.All"}},
		{Name: "stock-v2", AppIDURI: "https://contoso.example/stock", AppRoles: []string{"Stock.Read.All"}},
	}
	if len(cfg.APIs) != len(want) {
		t.Fatalf("apis %+v", cfg.APIs)
	}
	for i := range want {
		if g := cfg.APIs[i]; g.Name != want[i].Name || g.AppIDURI != want[i].AppIDURI ||
			!slices.Equal(g.Scopes, want[i].Scopes) || !slices.Equal(g.AppRoles, want[i].AppRoles) {
			t.Errorf("apis[%d] = %+v, want %+v", i, g, want[i])
		}
	}

	const uri = `"appIdUri":"api://0a1b2c3d-0000-4000-8000-000000000001"`
	tests := []struct{ name, apis, want string }{
		{"unknown key", `[{"name":"Orders",` + uri + `,"scope":["x"]}]`, `unknown field "scope"`},
		{"no name", `[{` + uri + `,"scopes":["Orders.Read"]}]`, "apis[0].name: required"},
		{"name with slash", `[{"name":"Orders/v1",` + uri + `,"scopes":["Orders.Read"]}]`, "apis[0].name: \"Orders/v1\" is not URL-path-safe"},
		{"name with space", `[{"name":"My Orders",` + uri + `,"scopes":["Orders.Read"]}]`, "apis[0].name: \"My Orders\" is not URL-path-safe"},
		{"name dot-dot", `[{"name":"..",` + uri + `,"scopes":["Orders.Read"]}]`, "apis[0].name"},
		{"name graph", `[{"name":"Graph",` + uri + `,"scopes":["Orders.Read"]}]`, "apis[0].name: \"Graph\" is reserved"},
		{"duplicate name", `[{"name":"Orders",` + uri + `,"scopes":["Orders.Read"]},{"name":"orders","appIdUri":"api://other","scopes":["Orders.Read"]}]`, "apis[1].name: duplicate"},
		{"no app id URI", `[{"name":"Orders","scopes":["Orders.Read"]}]`, "apis[0].appIdUri: required"},
		{"app id URI trailing slash", `[{"name":"Orders","appIdUri":"api://0a1b2c3d-0000-4000-8000-000000000001/","scopes":["Orders.Read"]}]`, "apis[0].appIdUri"},
		{"app id URI scheme", `[{"name":"Orders","appIdUri":"urn:orders","scopes":["Orders.Read"]}]`, "apis[0].appIdUri"},
		{"app id URI query", `[{"name":"Orders","appIdUri":"api://orders?x=1","scopes":["Orders.Read"]}]`, "apis[0].appIdUri"},
		{"app id URI graph", `[{"name":"Orders","appIdUri":"https://graph.microsoft.com","scopes":["Orders.Read"]}]`, "apis[0].appIdUri"},
		{"duplicate app id URI", `[{"name":"Orders",` + uri + `,"scopes":["Orders.Read"]},{"name":"Stock","appIdUri":"API://0A1B2C3D-0000-4000-8000-000000000001","scopes":["Stock.Read"]}]`, "apis[1].appIdUri: duplicate"},
		{"no permissions", `[{"name":"Orders",` + uri + `}]`, "apis[0]: at least one of scopes"},
		{"empty lists", `[{"name":"Orders",` + uri + `,"scopes":[],"appRoles":[]}]`, "apis[0]: at least one of scopes"},
		{"scope with space", `[{"name":"Orders",` + uri + `,"scopes":["Orders Read"]}]`, "apis[0].scopes[0]"},
		{"scope with slash", `[{"name":"Orders",` + uri + `,"scopes":["a/b"]}]`, "apis[0].scopes[0]"},
		{"scope .default", `[{"name":"Orders",` + uri + `,"scopes":[".default"]}]`, "apis[0].scopes[0]"},
		{"scope openid", `[{"name":"Orders",` + uri + `,"scopes":["openid"]}]`, "apis[0].scopes[0]: \"openid\" is reserved"},
		{"duplicate scope", `[{"name":"Orders",` + uri + `,"scopes":["Orders.Read","orders.read"]}]`, "apis[0].scopes[1]: duplicate"},
		{"bad role", `[{"name":"Orders",` + uri + `,"appRoles":[""]}]`, "apis[0].appRoles[0]"},
		{"duplicate role", `[{"name":"Orders",` + uri + `,"appRoles":["A.All","A.All"]}]`, "apis[0].appRoles[1]: duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(write(t, tt.apis))
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
	cfg := Config{TenantID: testTenant, Users: testUsers,
		Clients: []Client{{ClientID: testClient, RedirectURIs: []string{testRedirect}}},
		APIs:    []API{{Name: "Orders", AppIDURI: "api://orders"}}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "apis[0]: at least one of scopes") {
		t.Errorf("API without permissions: err = %v", err)
	}
}
