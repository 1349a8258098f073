package generator

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidators(t *testing.T) {
	tests := []struct {
		name  string
		check func(string) error
		in    string
		want  string // "" = valid
	}{
		{"name", ValidateName, "demo", ""},
		{"name", ValidateName, "my_app-2.v1", ""},
		{"name", ValidateName, "_x", ""},
		{"name", ValidateName, "", "must not be empty"},
		{"name", ValidateName, ".demo", `".demo" is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')`},
		{"name", ValidateName, "-demo", `"-demo" is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')`},
		{"name", ValidateName, "de mo", `"de mo" is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')`},
		{"name", ValidateName, "a/b", `"a/b" is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')`},

		{"module", ValidateModule, "demo", ""},
		{"module", ValidateModule, "example.com/demo", ""},
		{"module", ValidateModule, "github.com/Org/repo/v2", ""},
		{"module", ValidateModule, "", "must not be empty"},
		{"module", ValidateModule, "example.com/de mo", `"example.com/de mo" is not a valid module path: invalid char ' '`},
		{"module", ValidateModule, "example.com/demo/", `"example.com/demo/" is not a valid module path: trailing slash`},
		{"module", ValidateModule, "/demo", `"/demo" is not a valid module path: empty path element`},

		{"guid", ValidateGUID, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", ""},
		{"guid", ValidateGUID, "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE", ""},
		{"guid", ValidateGUID, "abc", `"abc" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`},
		{"guid", ValidateGUID, "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}", `"{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`},
		{"guid", ValidateGUID, "gaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", `"gaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`},

		{"tenant", ValidateTenantID, "11111111-2222-3333-4444-555555555555", ""},
		{"tenant", ValidateTenantID, "contoso.onmicrosoft.com", ""},
		{"tenant", ValidateTenantID, "common", `"common" is for apps that any organization's users sign in to: use --auth multi-org (with --personal-accounts for common) instead of a tenant ID`},
		{"tenant", ValidateTenantID, "Organizations", `"Organizations" is for apps that any organization's users sign in to: use --auth multi-org (with --personal-accounts for common) instead of a tenant ID`},
		{"tenant", ValidateTenantID, "consumers", `"consumers" is for apps that any organization's users sign in to: use --auth multi-org (with --personal-accounts for common) instead of a tenant ID`},
		{"tenant", ValidateTenantID, "contoso", `"contoso" is not a tenant ID (want a GUID or a verified domain such as contoso.onmicrosoft.com)`},
		{"tenant", ValidateTenantID, "10.0.0.1", `"10.0.0.1" is not a tenant ID (want a GUID or a verified domain such as contoso.onmicrosoft.com)`},
		{"tenant", ValidateTenantID, "-x.com", `"-x.com" is not a tenant ID (want a GUID or a verified domain such as contoso.onmicrosoft.com)`},

		{"domain", ValidateDomain, "", ""},
		{"domain", ValidateDomain, "contoso.onmicrosoft.com", ""},
		{"domain", ValidateDomain, "contoso..com", `"contoso..com" is not a domain name (want e.g. contoso.onmicrosoft.com)`},

		{"instance", ValidateInstance, "https://login.microsoftonline.com/", ""},
		{"instance", ValidateInstance, "https://login.microsoftonline.us", ""},
		{"instance", ValidateInstance, "https://127.0.0.1:5443/", ""},
		{"instance", ValidateInstance, "http://login.microsoftonline.com/", `"http://login.microsoftonline.com/" must use https (want e.g. https://login.microsoftonline.com/)`},
		{"instance", ValidateInstance, "http://localhost:5443/", `"http://localhost:5443/" must use https (want e.g. https://login.microsoftonline.com/)`},
		{"instance", ValidateInstance, "login.microsoftonline.com", `"login.microsoftonline.com" is not an absolute URL (want e.g. https://login.microsoftonline.com/)`},
		{"instance", ValidateInstance, "https:///x", `"https:///x" has no host (want e.g. https://login.microsoftonline.com/)`},
		{"instance", ValidateInstance, "https://h/?a=1", `"https://h/?a=1" must not have a query or fragment`},
		{"instance", ValidateInstance, "https://h/?", `"https://h/?" must not have a query or fragment`},
		{"instance", ValidateInstance, "https://h/#x", `"https://h/#x" must not have a query or fragment`},
		{"instance", ValidateInstance, "https://u:p@h/", `"https://u:p@h/" must not contain user info`},
		{"instance", ValidateInstance, "https:h", `"https:h" is not a URL (want e.g. https://login.microsoftonline.com/)`},

		{"callback", ValidateCallbackPath, "/signin-oidc", ""},
		{"callback", ValidateCallbackPath, "/auth/callback", ""},
		{"callback", ValidateCallbackPath, "signin-oidc", `"signin-oidc" must start with '/'`},
		{"callback", ValidateCallbackPath, "/a b", `"/a b" must not contain whitespace`},
		{"callback", ValidateCallbackPath, "/cb?x=1", `"/cb?x=1" must not contain a query or fragment`},
		{"callback", ValidateCallbackPath, "/cb#x", `"/cb#x" must not contain a query or fragment`},
		{"callback", ValidateCallbackPath, "//evil.example/cb", `"//evil.example/cb" is not a clean path (want "/evil.example/cb")`},
		{"callback", ValidateCallbackPath, "/cb/", `"/cb/" is not a clean path (want "/cb")`},
		{"callback", ValidateCallbackPath, "/{x}", `"/{x}" may contain only letters, digits and - . _ ~ /`},
		{"callback", ValidateCallbackPath, "/", `"/" is one of the app's own routes (/, /signin, /signout, /profile, /account, /healthz, /favicon.ico, /signout-callback-oidc, and what is under /apis/ and /static/)`},
		{"callback", ValidateCallbackPath, "/signout-callback-oidc", `"/signout-callback-oidc" is one of the app's own routes (/, /signin, /signout, /profile, /account, /healthz, /favicon.ico, /signout-callback-oidc, and what is under /apis/ and /static/)`},
	}
	for _, tc := range tests {
		err := tc.check(tc.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func validOptions() Options {
	return Options{
		Name:     "demo",
		TenantID: "11111111-2222-3333-4444-555555555555",
		ClientID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := validOptions().Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	const orders = "Orders=https://orders.contoso.example|api://22222222-0000-4000-8000-000000000001/Orders.Read"
	tests := []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.Name = "" }, "name: must not be empty"},
		{func(o *Options) { o.Name = "demo." }, `module: "demo." is not a valid module path: trailing dot in path element`},
		{func(o *Options) { o.TenantID = "" }, "tenant-id: must not be empty"},
		{func(o *Options) { o.ClientID = "x" }, `client-id: "x" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`},
		{func(o *Options) { o.Credentials = []string{"certificate-file"} }, `credential: "certificate-file" is not allowed (want client-secret, certificate, keyvault, workload-identity or managed-identity)`},
		{func(o *Options) { o.Credentials = []string{"certificate", "certificate"} }, `credential: "certificate" is given twice`},
		{func(o *Options) { o.Credentials = []string{"keyvault"} }, `keyvault-url: must not be empty`},
		{func(o *Options) { o.Credentials, o.KeyVaultURL = []string{"keyvault"}, "http://x.vault.azure.net/" }, `keyvault-url: "http://x.vault.azure.net/" must use https`},
		{func(o *Options) {
			o.Credentials, o.KeyVaultURL, o.KeyVaultCertName = []string{"keyvault"}, "https://x.vault.azure.net/", "app_cert"
		}, `keyvault-cert-name: "app_cert" is not a Key Vault certificate name`},
		{func(o *Options) {
			o.Credentials, o.ManagedIdentityClientID = []string{"managed-identity"}, "my-identity"
		}, `managed-identity-client-id: "my-identity" is not a GUID`},
		{func(o *Options) { o.ManagedIdentityClientID = "44444444-0000-4000-8000-000000000001" }, `managed-identity-client-id: applies only with --credential managed-identity or keyvault`},
		{func(o *Options) { o.CertPath = "app.pem" }, `cert-path: applies only with --credential certificate`},
		{func(o *Options) { o.Cache = "memcached" }, `cache: "memcached" is not allowed (want memory, file, redis or postgres)`},
		{func(o *Options) { o.API = "soap" }, `api: "soap" is not allowed (want graph, custom or none)`},
		{func(o *Options) { o.CallbackPath = "/signin" }, `callback-path: "/signin" is one of the app's own routes`},
		{func(o *Options) { o.CallbackPath = "/apis/orders" }, `callback-path: "/apis/orders" is one of the app's own routes`},
		{func(o *Options) { o.API = "custom" }, `called-api-url: --api custom needs the API: --called-api-url and --called-api-scopes, or --downstream-api`},
		{func(o *Options) { o.API, o.CalledAPIURL = "custom", "http://api.contoso.example" }, `called-api-url: "http://api.contoso.example" must use https: the user's token would travel in clear`},
		{func(o *Options) { o.API, o.CalledAPIURL = "custom", "https://api.contoso.example" },
			`called-api-scopes: needs at least one scope, e.g. api://<app id>/access_as_user`},
		{func(o *Options) {
			o.API, o.CalledAPIURL, o.CalledAPIScopes = "custom", "https://api.contoso.example", []string{"Orders.Read"}
		}, `called-api-scopes: "Orders.Read" is not a scope of an API (want e.g. api://<app id>/access_as_user)`},
		{func(o *Options) {
			o.API, o.CalledAPIURL, o.CalledAPIScopes = "custom", "https://api.contoso.example", []string{"api://a/x", "api://b/y"}
		}, `called-api-scopes: scopes api://a/x and api://b/y belong to two APIs; one token is for one API`},
		{func(o *Options) { o.API, o.DownstreamAPIs = "none", []string{orders} }, `api: none (sign-in only) cannot be combined with`},
		{func(o *Options) { o.API, o.GraphClient = "custom", "sdk" }, `graph-client: applies only with --api graph`},
		{func(o *Options) { o.API, o.DownstreamAPIs = "custom", []string{orders, orders} }, `downstream-api: the name Orders is given twice`},
		{func(o *Options) {
			o.API, o.DownstreamAPIs = "custom", []string{"Orders=https://o.example|api://x/.default"}
		},
			`downstream-api: "Orders=https://o.example|api://x/.default": is called for the user: name its delegated scopes instead of /.default (or add |app to call it as the app)`},
		{func(o *Options) {
			o.API, o.DownstreamAPIs = "custom", []string{"Orders=https://o.example|api://x/Orders.Read|app"}
		},
			`downstream-api: "Orders=https://o.example|api://x/Orders.Read|app": is called as the app, so its one scope is api://x/.default`},
		{func(o *Options) { o.API, o.DownstreamAPIs = "custom", []string{"AzureAd=https://o.example|api://x/y"} },
			`downstream-api: "AzureAd=https://o.example|api://x/y": "AzureAd" is a settings section of the app itself; choose another name`},
		{func(o *Options) { o.API, o.DownstreamAPIs = "custom", []string{"Orders https://o.example"} },
			`downstream-api: "Orders https://o.example": want Name=https://base/url|scope1 scope2 (and |app to call it as the app)`},
	}
	for _, tc := range tests {
		o := validOptions()
		tc.edit(&o)
		err := o.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want FieldError %q", err, tc.want)
		}
	}
}

func TestAPIs(t *testing.T) {
	o := validOptions()
	o.API = "custom"
	o.DownstreamAPIs = []string{
		"Orders=https://orders.contoso.example/api|api://o/Orders.Read api://o/Orders.Write",
		"Reports=https://reports.contoso.example|api://r/.default|app",
	}
	apis, err := o.APIs()
	if err != nil {
		t.Fatal(err)
	}
	if len(apis) != 2 || apis[0].Name != "Orders" || !apis[0].Named || apis[0].AppIDURI != "api://o" ||
		strings.Join(apis[0].ScopeNames, " ") != "Orders.Read Orders.Write" || apis[0].RequestAppToken ||
		!apis[1].RequestAppToken || apis[1].AppIDURI != "api://r" {
		t.Errorf("APIs = %+v", apis)
	}
	o = validOptions()
	o.API, o.CalledAPIURL, o.CalledAPIScopes = "custom", "https://api.contoso.example", []string{"api://x/access_as_user"}
	apis, err = o.APIs()
	if err != nil || len(apis) != 1 || apis[0].Name != DefaultAPIName || apis[0].Named {
		t.Errorf("single custom API = %+v, %v", apis, err)
	}
}

func TestGraphFollowsTheCloud(t *testing.T) {
	for instance, want := range map[string]string{
		"https://login.microsoftonline.com/": "https://graph.microsoft.com/v1.0 [user.read]",
		"https://login.microsoftonline.us/":  "https://graph.microsoft.us/v1.0 [https://graph.microsoft.us/User.Read]",
		"https://login.chinacloudapi.cn/":    "https://microsoftgraph.chinacloudapi.cn/v1.0 [https://microsoftgraph.chinacloudapi.cn/User.Read]",
		"https://login.example.test/":        "https://graph.microsoft.com/v1.0 [user.read]",
	} {
		g := GraphFor(instance)
		if got := g.BaseURL + " " + fmt.Sprint(g.Scopes); got != want {
			t.Errorf("GraphFor(%s) = %s, want %s", instance, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	o := validOptions()
	o.Instance = "https://login.microsoftonline.us"
	o.TenantID, o.Auth, o.PersonalAccounts = "", "multi-org", true
	d := NewData(o)
	if d.Module != "demo" || d.Instance != "https://login.microsoftonline.us/" || d.TenantID != "common" ||
		d.CallbackPath != DefaultCallbackPath || len(d.Credentials) != 1 || d.Credentials[0].Name != "client-secret" || d.Credentials[0].Key != "AzureAd:ClientCredentials:0" || d.Cache != "memory" || d.API != "graph" ||
		d.GraphClient != "rest" || d.SignInAudience != "AzureADandPersonalMicrosoftAccount" || !d.MultiTenant {
		t.Errorf("NewData = %+v", d)
	}
	if d.SignInAPI == nil || d.SignInAPI.BaseURL != "https://graph.microsoft.us/v1.0" {
		t.Errorf("the sign-in API = %+v, want Graph in the US government cloud", d.SignInAPI)
	}
	o.PersonalAccounts, o.AllowedTenants = false, []string{"72f988bf-86f1-41af-91ab-2d7cd011db47"}
	if d := NewData(o); d.TenantID != "organizations" || d.SignInAudience != "AzureADMultipleOrgs" || len(d.AllowedTenants) != 1 {
		t.Errorf("multi-org without personal accounts: TenantId %q, audience %q, allowed %v", d.TenantID, d.SignInAudience, d.AllowedTenants)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	o.TenantID = "11111111-2222-3333-4444-555555555555"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "tenant-id: applies only with --auth single-org") {
		t.Errorf("--tenant-id with --auth multi-org: %v", err)
	}
	o.TenantID, o.Auth = "11111111-2222-3333-4444-555555555555", "single-org"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "allowed-tenant: applies only with --auth multi-org") {
		t.Errorf("--allowed-tenant with --auth single-org: %v", err)
	}
	if got := o.withDefaults().Output; got != "demo" {
		t.Errorf("default output = %q, want demo", got)
	}
}

func TestAllowed(t *testing.T) {
	vs := []string{"a", "b", "c"}
	for n, want := range []string{"nothing", "a", "a or b", "a, b or c"} {
		if got := orList(vs[:n]); got != want {
			t.Errorf("orList(%d) = %q, want %q", n, got, want)
		}
	}
}
