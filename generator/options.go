package generator

import (
	"fmt"
	"slices"
	"strings"
)

// Options describe the project to generate. Empty fields take their
// defaults (see Model); Name, TenantID and ClientID are required.
type Options struct {
	Name   string // project name; required
	Module string // Go module path; default Name
	Output string // directory to create; default Name (relative to the working directory)

	Instance string // default DefaultInstance; normalised to end with '/'
	// Auth is who may sign in: single-org (the users of TenantID) or
	// multi-org (any organization's, or only AllowedTenants'; with
	// PersonalAccounts also personal Microsoft accounts).
	Auth             string
	TenantID         string // GUID or verified domain; required with single-org
	PersonalAccounts bool   // multi-org: TenantId common instead of organizations
	AllowedTenants   []string
	ClientID         string // application (client) ID, a GUID; required
	Domain           string // optional, e.g. contoso.onmicrosoft.com
	CallbackPath     string // default DefaultCallbackPath

	// Credentials are the values of the credential option, in the order
	// the app tries them (AzureAd:ClientCredentials); default client-secret.
	Credentials []string
	// The credentials' settings: a certificate file (certificate), the
	// vault and certificate name (keyvault), a user-assigned managed
	// identity (managed-identity, and keyvault's access to the vault),
	// and whether to send the certificate chain (AzureAd:SendX5C).
	CertPath                string
	KeyVaultURL             string
	KeyVaultCertName        string
	ManagedIdentityClientID string
	SendX5C                 bool
	Cache                   string // a value of the cache option
	API                     string // graph, custom or none
	GraphClient             string // rest or sdk; only with API graph

	// The custom API: one section named APIName (default "DownstreamApi")
	// from CalledAPIURL and CalledAPIScopes, or several named APIs under
	// DownstreamApis, each "Name=https://base|scope1 scope2[|app]".
	APIName         string
	CalledAPIURL    string
	CalledAPIScopes []string
	DownstreamAPIs  []string

	// TemplatesDir is a forked app tree on disk (see Export); empty means
	// the tree embedded in package templates.
	TemplatesDir string
	// Force lets Generate write into a non-empty directory: files in the
	// plan are replaced, every other file is left as it is.
	Force bool
	// DryRun plans and renders but writes nothing.
	DryRun bool
}

// Kind is how an option's answer is given.
type Kind string

const (
	OneOf  Kind = "one-of"  // one of Values
	Bool   Kind = "boolean" // true or false
	String Kind = "string"  // free text, checked by Check
	List   Kind = "list"    // repeated; each item checked by Check
	// Choices is one or more of Values, in the order given (repeated).
	Choices Kind = "choices"
)

// A Value is one allowed value of a one-of option, and what choosing it
// adds to the project.
type Value struct {
	Name  string
	Title string // short human name, for prompts and completion
	Help  string // one or two sentences, for '?' at the prompt and the README
	// Packages are the app tree's package directories the value selects
	// ("internal/tokencache/memory"); the packages they import come with
	// them.
	Packages []string
	// Dir is the value's directory in the app tree ("_cache/memory"): its
	// _partials.tmpl fills the named blocks of the shared templates, and
	// its other files are added to the project's root (".tmpl" dropped).
	// Empty: none.
	Dir string
}

// A Condition holds when option Option has one of Values.
type Condition struct {
	Option string
	Values []string
}

// An Option is one question of idweb-init: a flag, a prompt, a key of the
// answers file and a row of the README's flag table.
type Option struct {
	Name    string // flag name and answers-file key
	Kind    Kind
	Title   string // the question ("Token cache")
	Help    string // the flag's usage and the prompt's help
	Default string // "" for none; "true" or "false" for Bool; lists have none
	Values  []Value
	// Required options have no default: without a terminal they must be
	// given.
	Required bool
	// When lists the conditions under which the option applies; it is not
	// asked (and may not be given) otherwise.
	When []Condition
	// Check validates a String value or a List item; nil accepts anything.
	Check func(string) error
	// Advanced options are not asked for interactively unless given; they
	// keep their defaults.
	Advanced bool

	get func(*Options) []string
	set func(*Options, []string)
}

// Get returns o's answer to the option (one element for all but List).
func (opt *Option) Get(o *Options) []string { return opt.get(o) }

// Set sets o's answer to the option.
func (opt *Option) Set(o *Options, v []string) { opt.set(o, v) }

// Value returns the value called name, or an error listing the allowed ones.
func (opt *Option) Value(name string) (Value, error) {
	for _, v := range opt.Values {
		if v.Name == name {
			return v, nil
		}
	}
	return Value{}, fmt.Errorf("%q is not allowed (want %s)", name, opt.Allowed())
}

// ValueNames returns the allowed values in order.
func (opt *Option) ValueNames() []string {
	names := make([]string, len(opt.Values))
	for i, v := range opt.Values {
		names[i] = v.Name
	}
	return names
}

// Allowed formats the allowed values for a message: "a", "a or b", "a, b or c".
func (opt *Option) Allowed() string { return orList(opt.ValueNames()) }

func orList(vs []string) string {
	switch len(vs) {
	case 0:
		return "nothing"
	case 1:
		return vs[0]
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " or " + vs[len(vs)-1]
}

// Applies reports whether the option applies to o (its When conditions hold).
func (opt *Option) Applies(o *Options) bool {
	for _, c := range opt.When {
		other := Lookup(c.Option)
		got := other.Get(o)
		if len(got) == 0 && other.Default != "" {
			got = []string{other.Default}
		}
		// One of the answers (a chain of credentials has several) is
		// one of the condition's values.
		if !slices.ContainsFunc(got, func(v string) bool { return slices.Contains(c.Values, v) }) {
			return false
		}
	}
	return true
}

// Lookup returns the option called name; it panics for an unknown name,
// which is a bug.
func Lookup(name string) *Option {
	for i := range Model {
		if Model[i].Name == name {
			return &Model[i]
		}
	}
	panic("generator: no option " + name)
}

func str(f func(*Options) *string) (func(*Options) []string, func(*Options, []string)) {
	return func(o *Options) []string {
			if s := *f(o); s != "" {
				return []string{s}
			}
			return nil
		}, func(o *Options, v []string) {
			*f(o) = strings.Join(v, " ")
		}
}

// boolean binds a Bool option: unset (false) reads as no answer, so the
// option's default applies and an option that does not apply is not given.
func boolean(f func(*Options) *bool) (func(*Options) []string, func(*Options, []string)) {
	return func(o *Options) []string {
			if *f(o) {
				return []string{"true"}
			}
			return nil
		}, func(o *Options, v []string) {
			*f(o) = len(v) > 0 && v[0] == "true"
		}
}

func list(f func(*Options) *[]string) (func(*Options) []string, func(*Options, []string)) {
	return func(o *Options) []string { return *f(o) },
		func(o *Options, v []string) { *f(o) = slices.Clone(v) }
}

// BasePackages are the app tree's packages every project has: the wiring
// imports them whatever the options.
var BasePackages = []string{
	"cmd/devidp",
	"internal/config",
	"internal/credential",
	"internal/devidp",
	"internal/session",
	"internal/signin",
	"internal/tokencache",
	"internal/tokens",
	"internal/transport",
	"internal/web",
}

// Model describes every option, in the order they are asked: it drives
// the flags, the prompts, validation, completion, the equivalent command,
// the answers file and the README's flag table.
var Model []Option

func init() {
	Model = []Option{
		option("name", String, "Project name", "project name; also the default module path and output directory", "", true, ValidateName),
		option("module", String, "Go module path", "Go module path of the generated project (default: the name)", "", false, ValidateModule),
		{
			Name: "auth", Kind: OneOf, Title: "Who signs in", Help: "who may sign in (dotnet new's --auth): one organization's accounts, or any organization's",
			Default: "single-org",
			Values: []Value{
				{Name: "single-org", Title: "Accounts in one organization", Help: "Users of your directory (tenant) only: TenantId is its ID or domain."},
				{Name: "multi-org", Title: "Accounts in any organization", Help: "Users of any Entra ID directory (TenantId organizations, or common with personal accounts); AllowedTenants may narrow it to some."},
			},
		},
		withWhen(option("tenant-id", String, "Tenant ID", "directory (tenant) ID: a GUID or a verified domain", "", true, ValidateTenantID), "auth", "single-org"),
		withWhen(option("personal-accounts", Bool, "Also personal Microsoft accounts", "also let personal Microsoft accounts (outlook.com, ...) sign in: TenantId common instead of organizations", "false", false, nil), "auth", "multi-org"),
		withWhen(option("allowed-tenant", List, "Allowed tenants", "a tenant (directory) ID whose users may sign in, repeatable; none: any organization's users", "", false, ValidateGUID), "auth", "multi-org"),
		option("client-id", String, "Application (client) ID", "application (client) ID of the app registration, a GUID", "", true, ValidateGUID),
		withAdvanced(option("instance", String, "Entra ID instance", "Entra ID instance (the cloud's sign-in authority), an https URL", DefaultInstance, false, ValidateInstance)),
		withAdvanced(option("domain", String, "Domain", "domain of the directory, e.g. contoso.onmicrosoft.com (optional)", "", false, ValidateDomain)),
		withAdvanced(option("callback-path", String, "Callback path", "path of the redirect URI Entra ID sends users back to", DefaultCallbackPath, false, ValidateCallbackPath)),
		{
			Name: "credential", Kind: Choices, Title: "Credential", Help: "how the app proves its identity to Entra ID; repeat it for a chain tried in order (e.g. managed-identity, then certificate for local runs)",
			Default: "client-secret",
			Values: []Value{{
				Name: "client-secret", Title: "Client secret",
				Help:     "A client secret of the app registration (Certificates & secrets), from the environment, never from a committed file.",
				Packages: []string{"internal/credential/clientsecret"},
				Dir:      "_credential/client-secret",
			}, {
				Name: "certificate", Title: "Certificate file",
				Help:     "A certificate and its private key in a PEM or PFX file (a mounted secret in production), reloaded when it is replaced on disk.",
				Packages: []string{"internal/credential/certificate"},
				Dir:      "_credential/certificate",
			}, {
				Name: "keyvault", Title: "Certificate in Azure Key Vault",
				Help:     "A certificate kept in Azure Key Vault, read with the app's managed identity (or your az login locally) and read again after a rotation.",
				Packages: []string{"internal/credential/keyvault"},
				Dir:      "_credential/keyvault",
			}, {
				Name: "workload-identity", Title: "Workload identity (Kubernetes)",
				Help:     "No secret: the federated token AKS workload identity mounts in the pod (AZURE_FEDERATED_TOKEN_FILE), read again for each assertion.",
				Packages: []string{"internal/credential/workloadidentity"},
				Dir:      "_credential/workload-identity",
			}, {
				Name: "managed-identity", Title: "Managed identity (App Service, Container Apps, VMs)",
				Help:     "No secret: a managed identity's token is the app registration's federated credential.",
				Packages: []string{"internal/credential/managedidentity"},
				Dir:      "_credential/managed-identity",
			}},
		},
		withWhen(option("cert-path", String, "Certificate file", "the certificate's PEM or PFX file as the app will find it (checked now when it exists here; default /var/run/secrets/app/cert.pem)", "", false, ValidateCertPath), "credential", "certificate"),
		withWhen(option("keyvault-url", String, "Key Vault URL", "the vault holding the certificate, e.g. https://contoso.vault.azure.net/", "", true, ValidateKeyVaultURL), "credential", "keyvault"),
		withWhen(option("keyvault-cert-name", String, "Certificate name in Key Vault", "the certificate's name in the vault", "", true, ValidateKeyVaultCertName), "credential", "keyvault"),
		withWhen(option("managed-identity-client-id", String, "Managed identity client ID", "a user-assigned managed identity's client ID, a GUID (default: the system-assigned identity)", "", false, ValidateOptionalGUID), "credential", "managed-identity", "keyvault"),
		withAdvanced(withWhen(option("send-x5c", Bool, "Send the certificate chain (x5c)", "send the certificate chain with each assertion (AzureAd:SendX5C), for subject-name/issuer authentication", "false", false, nil), "credential", "certificate", "keyvault")),
		{
			Name: "cache", Kind: OneOf, Title: "Token cache", Help: "where the app keeps tokens",
			Default: "memory",
			Values: []Value{{
				Name: "memory", Title: "In memory",
				Help:     "Tokens are kept in the process's memory: simple and fast; lost on restart (users sign in again) and not shared between instances.",
				Packages: []string{"internal/tokencache/memory"},
				Dir:      "_cache/memory",
			}, {
				Name: "file", Title: "Files",
				Help:     "One encrypted file per user in a directory: survives restarts, for one instance.",
				Packages: []string{"internal/tokencache/file", "internal/tokencache/sealed"},
				Dir:      "_cache/file",
			}, {
				Name: "redis", Title: "Redis",
				Help:     "Redis (Azure Cache for Redis), encrypted, shared by every instance, with a coherent in-memory copy in front.",
				Packages: []string{"internal/tokencache/redis", "internal/tokencache/layered", "internal/tokencache/sealed"},
				Dir:      "_cache/redis",
			}, {
				Name: "postgres", Title: "PostgreSQL",
				Help:     "PostgreSQL (Azure Database for PostgreSQL), encrypted, shared by every instance, with a coherent in-memory copy in front.",
				Packages: []string{"internal/tokencache/postgres", "internal/tokencache/layered", "internal/tokencache/sealed"},
				Dir:      "_cache/postgres",
			}},
		},
		{
			Name: "api", Kind: OneOf, Title: "API to call", Help: "the web API the app calls on the signed-in user's behalf",
			Default: "graph",
			Values: []Value{
				{Name: "graph", Title: "Microsoft Graph", Help: "Call Microsoft Graph (/me) with the user's token; the base URL follows the cloud of --instance.",
					Packages: []string{"internal/pages/profile"}, Dir: "_api/graph"},
				{Name: "custom", Title: "Another web API", Help: "Call your own API (BaseUrl and Scopes, as Microsoft.Identity.Web's DownstreamApi), for the user or as the app.",
					Packages: []string{"internal/downstream", "internal/pages/apicall"}, Dir: "_api/custom"},
				{Name: "none", Title: "None (sign-in only)", Help: "Only sign users in: no API section and no API calls.",
					Packages: []string{"internal/pages/account"}, Dir: "_api/none"},
			},
		},
		{
			Name: "graph-client", Kind: OneOf, Title: "Graph client", Help: "how the app calls Microsoft Graph",
			Default: "rest", Advanced: true,
			When: []Condition{{Option: "api", Values: []string{"graph"}}},
			Values: []Value{
				{Name: "rest", Title: "REST (net/http)", Help: "A small typed client over net/http: builds in seconds.",
					Packages: []string{"internal/graph"}, Dir: "_graphclient/rest"},
				{Name: "sdk", Title: "Microsoft Graph SDK", Help: "github.com/microsoftgraph/msgraph-sdk-go: the whole typed Graph model; its first build takes minutes and gigabytes.",
					Packages: []string{"internal/graph", "internal/graphsdk"}, Dir: "_graphclient/sdk"},
			},
		},
		withWhen(option("api-name", String, "Name of the API's settings section", "name of the custom API's settings section", DefaultAPIName, false, ValidateAPIName), "api", "custom"),
		withWhen(option("called-api-url", String, "The API's base URL", "base URL of the custom API (https)", "", false, ValidateAPIURL), "api", "custom"),
		withWhen(option("called-api-scopes", List, "The API's scopes", "scopes of the custom API, space-separated, e.g. \"api://<app id>/access_as_user\"", "", false, ValidateScope), "api", "custom"),
		option("downstream-api", List, "Named APIs", "a named API, repeatable: 'Name=https://base/url|scope1 scope2' ('|app' at the end: call it as the app, with scope api://<app id>/.default)", "", false, nil),
	}
	bind := map[string]func(*Options) *string{
		"name": func(o *Options) *string { return &o.Name }, "module": func(o *Options) *string { return &o.Module },
		"auth": func(o *Options) *string { return &o.Auth }, "tenant-id": func(o *Options) *string { return &o.TenantID }, "client-id": func(o *Options) *string { return &o.ClientID },
		"instance": func(o *Options) *string { return &o.Instance }, "domain": func(o *Options) *string { return &o.Domain },
		"callback-path": func(o *Options) *string { return &o.CallbackPath },
		"cache":         func(o *Options) *string { return &o.Cache },
		"cert-path":     func(o *Options) *string { return &o.CertPath }, "keyvault-url": func(o *Options) *string { return &o.KeyVaultURL },
		"keyvault-cert-name":         func(o *Options) *string { return &o.KeyVaultCertName },
		"managed-identity-client-id": func(o *Options) *string { return &o.ManagedIdentityClientID },
		"api":                        func(o *Options) *string { return &o.API }, "graph-client": func(o *Options) *string { return &o.GraphClient },
		"api-name": func(o *Options) *string { return &o.APIName }, "called-api-url": func(o *Options) *string { return &o.CalledAPIURL },
	}
	lists := map[string]func(*Options) *[]string{
		"called-api-scopes": func(o *Options) *[]string { return &o.CalledAPIScopes },
		"downstream-api":    func(o *Options) *[]string { return &o.DownstreamAPIs },
		"allowed-tenant":    func(o *Options) *[]string { return &o.AllowedTenants },
		"credential":        func(o *Options) *[]string { return &o.Credentials },
	}
	bools := map[string]func(*Options) *bool{
		"personal-accounts": func(o *Options) *bool { return &o.PersonalAccounts },
		"send-x5c":          func(o *Options) *bool { return &o.SendX5C },
	}
	for i := range Model {
		opt := &Model[i]
		if f, ok := bind[opt.Name]; ok {
			opt.get, opt.set = str(f)
		} else if f, ok := lists[opt.Name]; ok {
			opt.get, opt.set = list(f)
		} else if f, ok := bools[opt.Name]; ok {
			opt.get, opt.set = boolean(f)
		} else {
			panic("generator: option " + opt.Name + " is bound to no field")
		}
	}
}

func option(name string, kind Kind, title, help, def string, required bool, check func(string) error) Option {
	return Option{Name: name, Kind: kind, Title: title, Help: help, Default: def, Required: required, Check: check}
}

func withAdvanced(o Option) Option { o.Advanced = true; return o }

func withWhen(o Option, option string, values ...string) Option {
	o.When = append(o.When, Condition{Option: option, Values: values})
	return o
}

// Selected returns the values o selects, one per one-of option that
// applies, in Model order.
func (o Options) Selected() []Value {
	o = o.withDefaults()
	var vs []Value
	for i := range Model {
		opt := &Model[i]
		if (opt.Kind != OneOf && opt.Kind != Choices) || !opt.Applies(&o) {
			continue
		}
		names := opt.Get(&o)
		if len(names) == 0 {
			names = []string{opt.Default}
		}
		for _, name := range names {
			if v, err := opt.Value(name); err == nil {
				vs = append(vs, v)
			}
		}
	}
	// Named APIs next to Graph bring the generic caller and its page.
	if o.API == "graph" && len(o.DownstreamAPIs) > 0 {
		custom, _ := Lookup("api").Value("custom")
		vs = append(vs, custom)
	}
	return vs
}

// Imply sets the one-of options that the given options' conditions pin
// down and that were not given themselves, and returns their names:
// --tenant-id applies only with --auth single-org, so giving it answers
// --auth; --allowed-tenant answers --auth multi-org. given reports whether
// an option was given (a flag or the answers file).
func Imply(o *Options, given func(name string) bool) []string {
	var implied []string
	for i := range Model {
		opt := &Model[i]
		if !given(opt.Name) || len(opt.Get(o)) == 0 {
			continue
		}
		for _, c := range opt.When {
			target := Lookup(c.Option)
			if len(c.Values) != 1 || (target.Kind != OneOf && target.Kind != Choices) || given(c.Option) || slices.Contains(implied, c.Option) {
				continue
			}
			target.Set(o, c.Values)
			implied = append(implied, c.Option)
		}
	}
	return implied
}
