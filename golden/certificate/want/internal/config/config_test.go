package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const base = `{
  "AzureAd": {
    "Instance": "https://login.microsoftonline.com/",
    "TenantId": "11111111-2222-3333-4444-555555555555",
    "ClientId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "CallbackPath": "/signin-oidc",
    "ClientCredentials": [ { "SourceType": "ClientSecret" } ]
  },
  "MicrosoftGraph": { "BaseUrl": "https://graph.microsoft.com/v1.0", "Scopes": ["user.read"] }
}`

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadOverlaysAndEnvironment(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"appsettings.json": base,
		"appsettings.Staging.json": `{"azuread": {"instance": "https://login.microsoftonline.us"},
			"MicrosoftGraph": {"Scopes": ["user.read", "mail.read"]}}`,
	})
	cfg, err := Load(dir, "Staging", []string{
		"AzureAd__ClientCredentials__0__ClientSecret=s3cret",
		"AZUREAD__CLIENTID=bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee",
		"MicrosoftGraph__Scopes__2=calendars.read",
		"PATH=/usr/bin",
		// Environment variables are strings; settings take their types.
		"AzureAd__SendX5C=True",
		"TokenCache__L1=false",
		"TokenCache__MaxPartitions=5000",
	})
	if err != nil {
		t.Fatal(err)
	}
	ad := cfg.AzureAd
	if ad.Instance != "https://login.microsoftonline.us/" {
		t.Errorf("Instance = %q: the environment file and a trailing slash should apply", ad.Instance)
	}
	if ad.ClientID != "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee" {
		t.Errorf("ClientId = %q: keys match case-insensitively", ad.ClientID)
	}
	if got := ad.ClientCredentials[0]; got.SourceType != "ClientSecret" || got.ClientSecret != "s3cret" {
		t.Errorf("ClientCredentials[0] = %+v: the environment overrides one key and keeps the rest", got)
	}
	graph, err := cfg.DownstreamAPI("MicrosoftGraph")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(graph.Scopes, ","); got != "user.read,mail.read,calendars.read" {
		t.Errorf("Scopes = %s", got)
	}
	if ad.SignedOutCallbackPath != "/signout-callback-oidc" {
		t.Errorf("SignedOutCallbackPath default = %q", ad.SignedOutCallbackPath)
	}
	if !ad.SendX5C || cfg.TokenCache.L1 == nil || *cfg.TokenCache.L1 || cfg.TokenCache.MaxPartitions != 5000 {
		t.Errorf("SendX5C %v, TokenCache:L1 %v, TokenCache:MaxPartitions %d: want true, false and 5000 from the environment's strings",
			ad.SendX5C, cfg.TokenCache.L1, cfg.TokenCache.MaxPartitions)
	}
	if cfg.Environment != "Staging" {
		t.Errorf("Environment = %q", cfg.Environment)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name    string
		overlay string
		env     []string
		appEnv  string
		want    string
	}{
		{"scopes as a string", `{"MicrosoftGraph": {"Scopes": "user.read"}}`, nil, "",
			`MicrosoftGraph:Scopes must be an array of strings`},
		{"scopes as a string from the environment", `{}`, []string{"MicrosoftGraph__Scopes=user.read"}, "",
			`MicrosoftGraph:Scopes must be an array of strings`},
		{"empty scopes", `{"MicrosoftGraph": {"Scopes": null}}`, nil, "",
			`MicrosoftGraph:Scopes is empty`},
		{"scope with a space", `{"MicrosoftGraph": {"Scopes": ["user.read mail.read"]}}`, nil, "",
			`MicrosoftGraph:Scopes:0 "user.read mail.read" must be one scope`},
		{"known proxy not an address", `{"ForwardedHeaders": {"KnownProxies": ["10.0.0.0/33"]}}`, nil, "",
			`ForwardedHeaders:KnownProxies:0 "10.0.0.0/33" is not an IP address or a network`},
		{"known proxies as a string from the environment", `{}`, []string{"ForwardedHeaders__KnownProxies=10.0.0.4"}, "",
			`set ForwardedHeaders__KnownProxies__0`},
		{"missing client id", `{"AzureAd": {"ClientId": ""}}`, nil, "",
			`AzureAd:ClientId is empty`},
		{"client id not a GUID", `{"AzureAd": {"ClientId": "my-app"}}`, nil, "",
			`AzureAd:ClientId "my-app" is not a GUID`},
		{"missing tenant", `{"AzureAd": {"TenantId": ""}}`, nil, "",
			`AzureAd:TenantId is empty`},
		{"bad tenant", `{"AzureAd": {"TenantId": "not a tenant"}}`, nil, "",
			`AzureAd:TenantId "not a tenant" is not a GUID, a verified domain`},
		{"http instance", `{"AzureAd": {"Instance": "http://login.example.com/"}}`, nil, "",
			`AzureAd:Instance "http://login.example.com/" must use https`},
		{"http loopback instance", `{"AzureAd": {"Instance": "http://127.0.0.1:5443/"}}`, nil, "",
			`AzureAd:Instance "http://127.0.0.1:5443/" must use https`},
		{"legacy secret with ClientCredentials", `{"AzureAd": {"ClientSecret": "x"}}`, nil, "",
			`AzureAd:ClientSecret cannot be combined with AzureAd:ClientCredentials`},
		{"legacy secret from the environment with ClientCredentials", `{}`, []string{"AzureAd__ClientSecret=x"}, "",
			`AzureAd:ClientSecret cannot be combined with AzureAd:ClientCredentials`},
		{"no credentials", `{"AzureAd": {"ClientCredentials": null}}`, nil, "",
			`AzureAd:ClientCredentials is empty`},
		{"allowed tenant not a GUID", `{"AzureAd": {"TenantId": "organizations", "AllowedTenants": ["72f988bf-86f1-41af-91ab-2d7cd011db47", "contoso.com"]}}`, nil, "",
			`AzureAd:AllowedTenants:1 "contoso.com" is not a tenant (directory) id`},
		{"allowed tenants as a string from the environment", `{}`, []string{"AzureAd__AllowedTenants=72f988bf-86f1-41af-91ab-2d7cd011db47"}, "",
			`set AzureAd__AllowedTenants__0`},
		{"credential without a source type", `{"AzureAd": {"ClientCredentials": [{"SourceType": ""}]}}`, nil, "",
			`AzureAd:ClientCredentials:0:SourceType is empty`},
		{"http base url", `{"MicrosoftGraph": {"BaseUrl": "http://graph.example.com/v1.0"}}`, nil, "",
			`MicrosoftGraph:BaseUrl "http://graph.example.com/v1.0" must use https`},
		{"http base url on loopback outside Development", `{"MicrosoftGraph": {"BaseUrl": "http://127.0.0.1:8080/v1.0"}}`, nil, "",
			`MicrosoftGraph:BaseUrl "http://127.0.0.1:8080/v1.0" must use https (plain http is allowed only for localhost in Development)`},
		{"callback path without slash", `{"AzureAd": {"CallbackPath": "signin-oidc"}}`, nil, "",
			`AzureAd:CallbackPath "signin-oidc" must be a path starting with /`},
		{"http redirect uri", `{"AzureAd": {"RedirectUri": "http://app.example.com/signin-oidc"}}`, nil, "",
			`AzureAd:RedirectUri "http://app.example.com/signin-oidc" must be an absolute https URL`},
		{"trusting a certificate in production", `{"Development": {"TrustCertificateFile": ".devidp/cert.pem"}}`, nil, "",
			`Development:TrustCertificateFile is set but APP_ENV is "Production"`},
		{"a secret file in staging", `{}`, []string{"Development__ClientSecretFile=.devidp/client-secret"}, "Staging",
			`Development:ClientSecretFile is set but APP_ENV is "Staging"`},
		{"wrong type", `{"AzureAd": {"SendX5C": "maybe"}}`, nil, "",
			`AzureAd:SendX5C: expected bool`},
		{"not a bool from the environment", `{}`, []string{"TokenCache__L1=off"}, "",
			`TokenCache:L1: expected bool, got a JSON string`},
		{"not a number from the environment", `{}`, []string{"TokenCache__MaxPartitions=lots"}, "",
			`TokenCache:MaxPartitions: expected int, got a JSON string`},
		{"scopes as a string in DownstreamApis", `{"DownstreamApis": {"Orders": {"BaseUrl": "https://orders.example.com", "Scopes": "api://x/Orders.Read"}}}`, nil, "",
			`DownstreamApis:Orders:Scopes must be an array of strings`},
		{"empty scopes in DownstreamApis", `{"DownstreamApis": {"Orders": {"BaseUrl": "https://orders.example.com", "Scopes": []}}}`, nil, "",
			`DownstreamApis:Orders:Scopes is empty`},
		{"http base url in DownstreamApis", `{"DownstreamApis": {"Orders": {"BaseUrl": "http://orders.example.com", "Scopes": ["api://x/Orders.Read"]}}}`, nil, "",
			`DownstreamApis:Orders:BaseUrl "http://orders.example.com" must use https`},
		{"app token without .default", `{"DownstreamApis": {"Orders": {"BaseUrl": "https://orders.example.com", "Scopes": ["api://x/Orders.Read"], "RequestAppToken": true}}}`, nil, "",
			`DownstreamApis:Orders:Scopes must be one scope ending in /.default`},
		{"unknown method", `{"DownstreamApis": {"Orders": {"BaseUrl": "https://orders.example.com", "Scopes": ["api://x/Orders.Read"], "HttpMethod": "FETCH"}}}`, nil, "",
			`DownstreamApis:Orders:HttpMethod "FETCH" is not one of`},
		{"DownstreamApis not an object", `{"DownstreamApis": ["Orders"]}`, nil, "",
			`DownstreamApis must be an object of named APIs`},
		{"invalid JSON names line and column", "{\n  \"AzureAd\": {\n    \"TenantId\": \"x\",,\n  }\n}", nil, "",
			`appsettings.Production.json:3:21: invalid character ','`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"appsettings.json": base}
			env := tt.appEnv
			if env == "" {
				env = "Production"
			}
			files["appsettings."+env+".json"] = tt.overlay
			cfg, err := Load(writeDir(t, files), tt.appEnv, tt.env)
			if err == nil {
				// API sections are checked when the app asks for them.
				_, err = cfg.DownstreamAPI("MicrosoftGraph")
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestDevelopmentSettingsAllowedInDevelopment(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"appsettings.json":             base,
		"appsettings.Development.json": `{"Development": {"TrustCertificateFile": "c.pem", "ClientSecretFile": "s"}}`,
	})
	cfg, err := Load(dir, Development, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Development.TrustCertificateFile != "c.pem" {
		t.Errorf("TrustCertificateFile = %q", cfg.Development.TrustCertificateFile)
	}
}

func TestReverseProxySettings(t *testing.T) {
	dir := writeDir(t, map[string]string{"appsettings.json": base})
	cfg, err := Load(dir, Production, []string{
		"AllowedHosts=app.example.com",
		"PATH=/bin", // not a key of ours
		"ForwardedHeaders__KnownProxies__0=10.0.0.4",
		"ForwardedHeaders__KnownProxies__1=fd00::/8",
		"ForwardedHeaders__KnownNetworks__0=10.1.0.0/16",
	})
	if err != nil {
		t.Fatal(err)
	}
	fh := cfg.ForwardedHeaders
	if cfg.AllowedHosts != "app.example.com" {
		t.Errorf("AllowedHosts = %q from the environment", cfg.AllowedHosts)
	}
	if _, ok := cfg.raw["PATH"]; ok {
		t.Errorf("PATH read as a setting")
	}
	if fmt.Sprint(fh.KnownProxies, fh.KnownNetworks) != "[10.0.0.4 fd00::/8] [10.1.0.0/16]" {
		t.Errorf("ForwardedHeaders = %+v", fh)
	}
	dir = writeDir(t, map[string]string{"appsettings.json": base, "appsettings.Production.json": `{"AllowedHosts": "app.example.com;*.contoso.example"}`})
	if cfg, err = Load(dir, Production, nil); err != nil || cfg.AllowedHosts != "app.example.com;*.contoso.example" {
		t.Errorf("AllowedHosts = %q, %v", cfg.AllowedHosts, err)
	}
	for _, s := range []string{"10.0.0.4", "::ffff:10.0.0.4", "10.0.0.0/8", "fd00::/8"} {
		if _, err := ParsePrefix(s); err != nil {
			t.Errorf("ParsePrefix(%q): %v", s, err)
		}
	}
}

func TestDownstreamAPI(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"appsettings.json": base,
		"appsettings.Production.json": `{"DownstreamApis": {
			"Orders": {"BaseUrl": "https://orders.example.com/api", "Scopes": ["api://orders/Orders.Read"], "RelativePath": "orders", "HttpMethod": "Post"},
			"Reports": {"BaseUrl": "https://reports.example.com", "Scopes": ["api://reports/.default"], "RequestAppToken": "true"}}}`,
	})
	cfg, err := Load(dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.DownstreamAPINames(), ","); got != "Orders,Reports" {
		t.Errorf("DownstreamAPINames = %s", got)
	}
	orders, err := cfg.DownstreamAPI("orders") // names match case-insensitively
	if err != nil {
		t.Fatal(err)
	}
	want := DownstreamAPI{Section: "DownstreamApis:Orders", BaseURL: "https://orders.example.com/api",
		Scopes: []string{"api://orders/Orders.Read"}, RelativePath: "orders", HTTPMethod: "Post"}
	if fmt.Sprint(orders) != fmt.Sprint(want) {
		t.Errorf("Orders = %+v, want %+v", orders, want)
	}
	reports, err := cfg.DownstreamAPI("Reports")
	if err != nil || !reports.RequestAppToken {
		t.Errorf("Reports = %+v, %v: RequestAppToken from a string, as the environment gives it", reports, err)
	}
	if _, err := cfg.DownstreamAPI("Stock"); err == nil || !strings.Contains(err.Error(), `the app calls the API "Stock", but there is no section DownstreamApis:Stock or Stock`) {
		t.Errorf("missing section: %v", err)
	}
}

func TestEnvironmentNameIsCaseInsensitive(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"appsettings.json":             base,
		"appsettings.Development.json": `{"Development": {"TrustCertificateFile": "c.pem"}}`,
	})
	for _, env := range []string{"development", "DEVELOPMENT", "Development"} {
		cfg, err := Load(dir, env, nil)
		if err != nil {
			t.Fatalf("APP_ENV=%s: %v", env, err)
		}
		if cfg.Environment != Development || cfg.Development.TrustCertificateFile != "c.pem" {
			t.Errorf("APP_ENV=%s: environment %q, overlay read: %v", env, cfg.Environment, cfg.Development.TrustCertificateFile != "")
		}
	}
}

func TestMissingBaseFile(t *testing.T) {
	if _, err := Load(t.TempDir(), "", nil); err == nil || !strings.Contains(err.Error(), "appsettings.json") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadDotEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	os.WriteFile(path, []byte("# local\nIDWEB_TEST_A=\"one\"\nexport IDWEB_TEST_B=two\nIDWEB_TEST_SET=file\n"), 0o600)
	t.Setenv("IDWEB_TEST_SET", "env")
	t.Setenv("IDWEB_TEST_A", "")
	os.Unsetenv("IDWEB_TEST_A")
	t.Setenv("IDWEB_TEST_B", "")
	os.Unsetenv("IDWEB_TEST_B")
	if err := LoadDotEnv(path); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"IDWEB_TEST_A": "one", "IDWEB_TEST_B": "two", "IDWEB_TEST_SET": "env"} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if err := LoadDotEnv(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing .env: %v", err)
	}
}

func TestTenantAllowed(t *testing.T) {
	const a, b = "72f988bf-86f1-41af-91ab-2d7cd011db47", "9188040d-6c67-4c5b-b112-36a304b66dad"
	tests := []struct {
		allowed []string
		tid     string
		want    bool
	}{
		{nil, a, true},
		{[]string{a}, a, true},
		{[]string{a}, strings.ToUpper(a), true},
		{[]string{a}, b, false},
		{[]string{a}, "", false},
		{[]string{b, a}, a, true},
	}
	for _, tt := range tests {
		if got := (AzureAd{AllowedTenants: tt.allowed}).TenantAllowed(tt.tid); got != tt.want {
			t.Errorf("AllowedTenants %v: TenantAllowed(%q) = %v, want %v", tt.allowed, tt.tid, got, tt.want)
		}
	}
}
