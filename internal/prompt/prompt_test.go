package prompt_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/idweb-init/idweb-init/generator"
	"github.com/idweb-init/idweb-init/internal/prompt"
	"github.com/idweb-init/idweb-init/internal/prompt/prompttest"
)

// update is defined so that "go test ./... -run Golden -update" works;
// cmd/idweb-init uses it.
var _ = flag.Bool("update", false, "rewrite golden files (used by cmd/idweb-init)")

const (
	tenantID = "11111111-2222-3333-4444-555555555555"
	clientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	apiID    = "bbbbbbbb-0000-4000-8000-000000000001"
)

func given(names ...string) func(string) bool {
	return func(n string) bool { return slices.Contains(names, n) }
}

func TestAskEverything(t *testing.T) {
	out := filepath.Join(t.TempDir(), "my-app")
	s := prompttest.New(t, map[string][]string{
		"Project name:":            {"bad name", "my-app"},
		"Go module path:":          {""}, // take the default: the name
		"Who signs in:":            {""}, // the default: single-org
		"Tenant ID:":               {"contoso", "contoso.onmicrosoft.com"},
		"Application (client) ID:": {"abc", clientID},
		"Credential:":              {"managed-identity"},
		"Add another credential, tried when this one cannot be used?": {"y", "n"},
		"Next credential in the chain:":                               {"certificate"},
		"Certificate file:":                                           {filepath.Dir(out), ""},
		"Managed identity client ID:":                                 {"abc", ""},
		"Token cache:":                                                {"redis"},
		"API to call:":                                                {""}, // the default: graph
		"Output directory:":                                           {out},
	})
	var o generator.Options
	asked, err := prompt.Ask(s, &o, given())
	if err != nil {
		t.Fatal(err)
	}
	// Not asked: the advanced options (instance, domain, callback path,
	// Graph client) and those with one value (credential, cache).
	wantAsked := []string{"name", "module", "auth", "tenant-id", "client-id", "credential", "cert-path", "managed-identity-client-id", "cache", "api", "output"}
	if !slices.Equal(asked, wantAsked) {
		t.Errorf("asked %v, want %v", asked, wantAsked)
	}
	want := generator.Options{Name: "my-app", Module: "my-app", Output: out, Auth: "single-org",
		TenantID: "contoso.onmicrosoft.com", ClientID: clientID, API: "graph", Cache: "redis",
		Credentials: []string{"managed-identity", "certificate"}}
	if !equalOptions(o, want) {
		t.Errorf("options = %+v\nwant      %+v", o, want)
	}
	if s.Defaults["Output directory:"] != "my-app" || s.Defaults["Go module path:"] != "my-app" || s.Defaults["API to call:"] != "graph" {
		t.Errorf("defaults offered = %v, want the name for module and output, graph for the API", s.Defaults)
	}
	if got := s.Options["API to call:"]; !slices.Equal(got, []string{"graph", "custom", "none"}) {
		t.Errorf("API choices %v", got)
	}
	// The prompt rejects with the generator's own validators.
	wantRejected := []string{
		`"bad name" is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')`,
		`"contoso" is not a tenant ID (want a GUID or a verified domain such as contoso.onmicrosoft.com)`,
		`"abc" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`,
		fmt.Sprintf("%q is a directory, not a certificate file", filepath.Dir(out)),
		`"abc" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`,
	}
	if got := s.Options["Next credential in the chain:"]; slices.Contains(got, "managed-identity") || len(got) != 4 {
		t.Errorf("the chain's next credential is chosen from %v, want the four not chosen yet", got)
	}
	if !slices.Equal(s.Rejected, wantRejected) {
		t.Errorf("rejected:\n%s\nwant:\n%s", strings.Join(s.Rejected, "\n"), strings.Join(wantRejected, "\n"))
	}
}

func TestAskCustomAPI(t *testing.T) {
	s := prompttest.New(t, map[string][]string{
		"API to call:":                        {"custom"},
		"Name of the API's settings section:": {""},
		"The API's base URL:":                 {"http://orders.contoso.com", "https://orders.contoso.com/api"},
		"The API's scopes (space-separated):": {
			"",
			"Orders.Read",
			"api://" + apiID + "/Orders.Read api://other/Orders.Write",
			"api://" + apiID + "/Orders.Read api://" + apiID + "/Orders.Write",
		},
		"Add another API?": {"n"},
	})
	o := generator.Options{Name: "demo", TenantID: tenantID, ClientID: clientID}
	asked, err := prompt.Ask(s, &o, given("name", "module", "tenant-id", "client-id", "credential", "cache", "output"))
	if err != nil {
		t.Fatal(err)
	}
	wantAsked := []string{"api", "api-name", "called-api-url", "called-api-scopes", "downstream-api"}
	if !slices.Equal(asked, wantAsked) {
		t.Errorf("asked %v, want %v", asked, wantAsked)
	}
	want := generator.Options{Name: "demo", Auth: "single-org", TenantID: tenantID, ClientID: clientID, API: "custom",
		APIName: generator.DefaultAPIName, CalledAPIURL: "https://orders.contoso.com/api",
		CalledAPIScopes: []string{"api://" + apiID + "/Orders.Read", "api://" + apiID + "/Orders.Write"}}
	if !equalOptions(o, want) {
		t.Errorf("options = %+v\nwant      %+v", o, want)
	}
	wantRejected := []string{
		`"http://orders.contoso.com" must use https: the user's token would travel in clear`,
		`needs at least one scope, e.g. api://<app id>/access_as_user`,
		`"Orders.Read" is not a scope of an API (want e.g. api://<app id>/access_as_user)`,
		`scopes api://` + apiID + `/Orders.Read and api://other/Orders.Write belong to two APIs; one token is for one API`,
	}
	if !slices.Equal(s.Rejected, wantRejected) {
		t.Errorf("rejected:\n%s\nwant:\n%s", strings.Join(s.Rejected, "\n"), strings.Join(wantRejected, "\n"))
	}
	if err := o.Validate(); err != nil {
		t.Error(err)
	}
}

// TestAskMoreAPIs adds two APIs after the first: all three become named
// APIs, the first under its section name.
func TestAskMoreAPIs(t *testing.T) {
	s := prompttest.New(t, map[string][]string{
		"Name of the API's settings section:": {"Orders"},
		"The API's base URL:":                 {"https://orders.contoso.com/api", "https://stock.contoso.com", "https://admin.contoso.com"},
		"The API's scopes (space-separated):": {"api://" + apiID + "/Orders.Read", "api://stock/Stock.Read"},
		"Add another API?":                    {"y", "yes", "n"},
		"Name of the API:":                    {"orders", "Stock", "Admin"},
		"Call it as the app (with the app's own token, not the user's)?": {"n", "y"},
		"The API's scope (api://<app id>/.default):":                     {"api://admin/Admin.Read", "api://admin/.default"},
	})
	o := generator.Options{Name: "demo", TenantID: tenantID, ClientID: clientID, API: "custom"}
	if _, err := prompt.Ask(s, &o, given("name", "module", "tenant-id", "client-id", "credential", "cache", "api", "output")); err != nil {
		t.Fatal(err)
	}
	wantAPIs := []string{
		"Orders=https://orders.contoso.com/api|api://" + apiID + "/Orders.Read",
		"Stock=https://stock.contoso.com|api://stock/Stock.Read",
		"Admin=https://admin.contoso.com|api://admin/.default|app",
	}
	if !slices.Equal(o.DownstreamAPIs, wantAPIs) || o.APIName != "" || o.CalledAPIURL != "" || o.CalledAPIScopes != nil {
		t.Errorf("options = %+v\nwant downstream APIs %q and no single API", o, wantAPIs)
	}
	apis, err := o.APIs()
	if err != nil || len(apis) != 3 || !apis[0].Named || !apis[2].RequestAppToken {
		t.Errorf("APIs() = %+v, %v", apis, err)
	}
	wantRejected := []string{
		`"orders" is taken (the APIs so far: Orders)`,
		`is called as the app, so its one scope is api://admin/.default (app tokens carry the app roles granted to the app)`,
	}
	if !slices.Equal(s.Rejected, wantRejected) {
		t.Errorf("rejected:\n%s\nwant:\n%s", strings.Join(s.Rejected, "\n"), strings.Join(wantRejected, "\n"))
	}
}

func TestAskOnlyWhatIsMissing(t *testing.T) {
	tests := []struct {
		name  string
		o     generator.Options
		given []string
		want  []string
	}{
		{"module only", generator.Options{Name: "demo", TenantID: "contoso.onmicrosoft.com", ClientID: clientID, Output: "x"},
			[]string{"name", "tenant-id", "client-id", "credential", "cache", "api", "output"}, []string{"module"}},
		// Advanced options given are not asked again, nor are they asked
		// when not given.
		{"graph given", generator.Options{Name: "demo", Module: "demo", TenantID: "contoso.onmicrosoft.com", ClientID: clientID, API: "graph", Output: "x"},
			[]string{"name", "module", "tenant-id", "client-id", "credential", "cache", "api", "output", "instance"}, nil},
		// No API: nothing about APIs.
		{"none", generator.Options{Name: "demo", Module: "demo", TenantID: "contoso.onmicrosoft.com", ClientID: clientID, API: "none", Output: "x"},
			[]string{"name", "module", "tenant-id", "client-id", "credential", "cache", "api", "output"}, nil},
		// Named APIs given: no single API to ask about, no more to add.
		{"named APIs given", generator.Options{Name: "demo", Module: "demo", TenantID: "contoso.onmicrosoft.com", ClientID: clientID, API: "custom", Output: "x",
			DownstreamAPIs: []string{"A=https://a.example.com|api://a/x"}},
			[]string{"name", "module", "tenant-id", "client-id", "credential", "cache", "api", "output", "downstream-api"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := prompttest.New(t, map[string][]string{"Go module path:": {"example.com/demo"}})
			o := tc.o
			asked, err := prompt.Ask(s, &o, given(tc.given...))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(asked, tc.want) {
				t.Errorf("asked %v (%q), want %v", asked, s.Asked, tc.want)
			}
		})
	}
}

func TestAskOutput(t *testing.T) {
	full := t.TempDir()
	file := filepath.Join(full, "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := prompttest.New(t, map[string][]string{"Output directory:": {full, file, filepath.Join(full, "sub")}})
	o := generator.Options{Name: "demo"}
	if _, err := prompt.Ask(s, &o, given("name", "module", "tenant-id", "client-id", "credential", "cache", "api")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`"` + full + `" is not empty (choose another directory, or run again with --force)`,
		`"` + file + `" is a file; want a directory to create`,
	}
	if !slices.Equal(s.Rejected, want) || o.Output != filepath.Join(full, "sub") {
		t.Errorf("rejected %q, output %q", s.Rejected, o.Output)
	}
}

func TestAskInterrupted(t *testing.T) {
	for _, question := range []string{"Project name:", "API to call:", "Add another API?"} {
		s := prompttest.New(t, map[string][]string{
			question:                              {prompttest.Interrupt},
			"Project name:":                       {"demo"},
			"API to call:":                        {"custom"},
			"The API's base URL:":                 {"https://a.example.com"},
			"The API's scopes (space-separated):": {"api://a/x"},
		})
		s.Answers[question] = []string{prompttest.Interrupt}
		o := generator.Options{TenantID: tenantID, ClientID: clientID}
		if _, err := prompt.Ask(s, &o, given("module", "tenant-id", "client-id")); !errors.Is(err, prompt.ErrInterrupted) {
			t.Errorf("%s: Ask = %v, want ErrInterrupted", question, err)
		}
	}
}

// equalOptions compares options field by field.
func equalOptions(a, b generator.Options) bool { return reflect.DeepEqual(a, b) }

// A multi-org app has no tenant ID to ask for; it asks about personal
// accounts and which organizations may sign in instead.
func TestAskMultiOrg(t *testing.T) {
	out := filepath.Join(t.TempDir(), "my-app")
	s := prompttest.New(t, map[string][]string{
		"Who signs in:":                      {"multi-org"},
		"Also personal Microsoft accounts?":  {"n"},
		"Allowed tenants (space-separated):": {"contoso", "72f988bf-86f1-41af-91ab-2d7cd011db47"},
		"Output directory:":                  {out},
	})
	o := generator.Options{Name: "my-app", Module: "my-app", ClientID: clientID, API: "graph"}
	asked, err := prompt.Ask(s, &o, given("name", "module", "client-id", "credential", "cache", "api"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"auth", "personal-accounts", "allowed-tenant", "output"}; !slices.Equal(asked, want) {
		t.Errorf("asked %v, want %v", asked, want)
	}
	if o.Auth != "multi-org" || o.TenantID != "" || o.PersonalAccounts || !slices.Equal(o.AllowedTenants, []string{"72f988bf-86f1-41af-91ab-2d7cd011db47"}) {
		t.Errorf("options = %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Error(err)
	}
}
