package generator

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// DefaultAPIName is the section of a single custom API, as in the dotnet
// templates' appsettings.json.
const DefaultAPIName = "DownstreamApi"

// An APISpec is one API the generated app calls, as it is written to
// appsettings.json and wired in main.go.
type APISpec struct {
	Kind string // "graph" or "custom"
	// Name is what the code calls the API by: its section at the top
	// level ("MicrosoftGraph", "DownstreamApi") or its key under
	// DownstreamApis.
	Name string
	// Named is true for an entry of DownstreamApis.
	Named           bool
	BaseURL         string
	Scopes          []string
	RequestAppToken bool
	// AppIDURI is the resource the scopes belong to ("api://<guid>",
	// "https://graph.microsoft.com").
	AppIDURI string
	// ScopeNames are the scopes without the resource ("Orders.Read").
	ScopeNames []string
}

// Page is the path of the app's page that calls the API.
func (a APISpec) Page() string {
	if a.Kind == "graph" {
		return "/profile"
	}
	return "/apis/" + a.Name
}

// Ident is the API's name as a Go identifier fragment ("orders").
func (a APISpec) Ident() string {
	var b strings.Builder
	for i, r := range a.Name {
		switch {
		case r >= 'A' && r <= 'Z' && i == 0:
			b.WriteRune(r + 'a' - 'A')
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9' && i > 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var (
	apiNameRE        = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	reservedAPINames = []string{"azuread", "downstreamapis", "session", "development", "tokencache", "logging", "allowedhosts", "graph", "microsoftgraph"}
)

// ValidateAPIName checks an API's name: a settings key that is also a
// URL path segment and a Go identifier.
func ValidateAPIName(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case !apiNameRE.MatchString(s):
		return fmt.Errorf("%q is not an API name (want a letter, then letters, digits or _)", s)
	case slices.Contains(reservedAPINames, strings.ToLower(s)):
		return fmt.Errorf("%q is a settings section of the app itself; choose another name", s)
	}
	return nil
}

// ValidateAPIURL checks an API's base URL: absolute https, no user info,
// query or fragment.
func ValidateAPIURL(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Opaque != "" || u.Scheme == "" || u.Host == "":
		return fmt.Errorf("%q is not an absolute URL (want e.g. https://orders.contoso.com/api)", s)
	case u.Scheme != "https":
		return fmt.Errorf("%q must use https: the user's token would travel in clear", s)
	case u.User != nil:
		return fmt.Errorf("%q must not contain user info", s)
	case u.RawQuery != "" || u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("%q must not have a query or fragment", s)
	}
	return nil
}

// ValidateScope checks one scope of a custom API: qualified by its
// resource ("api://<app id>/Orders.Read"), since a bare "Orders.Read" is a
// Microsoft Graph scope to Entra ID.
func ValidateScope(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case strings.ContainsAny(s, " \t\"'<>\\"):
		return fmt.Errorf("%q is not one scope (give several separated by spaces)", s)
	}
	res, name, ok := splitScope(s)
	if !ok || name == "" || res == "" {
		return fmt.Errorf("%q is not a scope of an API (want e.g. api://<app id>/access_as_user)", s)
	}
	return nil
}

// splitScope splits "api://x/Orders.Read" into "api://x" and "Orders.Read".
func splitScope(s string) (resource, name string, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", s, false
	}
	resource, name = s[:i], s[i+1:]
	if j := strings.Index(resource, "://"); j < 0 || len(resource) == j+3 {
		return "", "", false
	}
	return resource, name, true
}

// ParseDownstreamAPI parses a --downstream-api value:
//
//	Name=https://base/url|scope1 scope2       called for the signed-in user
//	Name=https://base/url|api://<id>/.default|app   called as the app
func ParseDownstreamAPI(s string) (APISpec, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok {
		return APISpec{}, fmt.Errorf("%q: want Name=https://base/url|scope1 scope2 (and |app to call it as the app)", s)
	}
	if err := ValidateAPIName(name); err != nil {
		return APISpec{}, fmt.Errorf("%q: %w", s, err)
	}
	parts := strings.Split(rest, "|")
	if len(parts) < 2 || len(parts) > 3 {
		return APISpec{}, fmt.Errorf("%q: want Name=https://base/url|scope1 scope2 (and |app to call it as the app)", s)
	}
	spec := APISpec{Kind: "custom", Name: name, Named: true, BaseURL: parts[0], Scopes: strings.Fields(parts[1])}
	if len(parts) == 3 {
		if parts[2] != "app" {
			return APISpec{}, fmt.Errorf("%q: the third part may only be app (call the API as the app), not %q", s, parts[2])
		}
		spec.RequestAppToken = true
	}
	if err := spec.check(); err != nil {
		return APISpec{}, fmt.Errorf("%q: %w", s, err)
	}
	return spec, nil
}

// check validates a custom API and fills AppIDURI and ScopeNames.
func (a *APISpec) check() error {
	if err := ValidateAPIURL(a.BaseURL); err != nil {
		return fmt.Errorf("base URL %w", err)
	}
	if len(a.Scopes) == 0 {
		return errors.New("needs at least one scope, e.g. api://<app id>/access_as_user")
	}
	a.ScopeNames = nil
	for _, s := range a.Scopes {
		if err := ValidateScope(s); err != nil {
			return err
		}
		res, name, _ := splitScope(s)
		if a.AppIDURI != "" && !strings.EqualFold(a.AppIDURI, res) {
			return fmt.Errorf("scopes %s and %s belong to two APIs; one token is for one API", a.Scopes[0], s)
		}
		a.AppIDURI = res
		a.ScopeNames = append(a.ScopeNames, name)
	}
	if a.RequestAppToken && (len(a.Scopes) != 1 || a.ScopeNames[0] != ".default") {
		return fmt.Errorf("is called as the app, so its one scope is %s/.default (app tokens carry the app roles granted to the app)", a.AppIDURI)
	}
	if !a.RequestAppToken && slices.Contains(a.ScopeNames, ".default") {
		return errors.New("is called for the user: name its delegated scopes instead of /.default (or add |app to call it as the app)")
	}
	return nil
}

// graphHosts maps a cloud's sign-in host to its Microsoft Graph host.
var graphHosts = map[string]string{
	"login.microsoftonline.us":         "graph.microsoft.us",
	"login.usgovcloudapi.net":          "graph.microsoft.us",
	"login.chinacloudapi.cn":           "microsoftgraph.chinacloudapi.cn",
	"login.partner.microsoftonline.cn": "microsoftgraph.chinacloudapi.cn",
}

// GraphFor returns the Microsoft Graph API of the cloud of instance: its
// v1.0 base URL and the delegated scope to read the user's profile
// (qualified by Graph's resource outside the global cloud, where the short
// "user.read" would name the global Graph).
func GraphFor(instance string) APISpec {
	host := "graph.microsoft.com"
	if u, err := url.Parse(instance); err == nil {
		if h, ok := graphHosts[strings.ToLower(u.Hostname())]; ok {
			host = h
		}
	}
	spec := APISpec{Kind: "graph", Name: "MicrosoftGraph", BaseURL: "https://" + host + "/v1.0",
		Scopes: []string{"user.read"}, AppIDURI: "https://" + host, ScopeNames: []string{"user.read"}}
	if host != "graph.microsoft.com" {
		spec.Scopes = []string{"https://" + host + "/User.Read"}
		spec.ScopeNames = []string{"User.Read"}
	}
	return spec
}

// APIs returns the APIs the project calls, in order: the first is the one
// whose scopes are asked for at sign-in.
func (o Options) APIs() ([]APISpec, error) {
	o = o.withDefaults()
	var apis []APISpec
	switch o.API {
	case "graph":
		apis = append(apis, GraphFor(o.Instance))
	case "custom":
		if o.CalledAPIURL != "" || len(o.CalledAPIScopes) > 0 {
			spec := APISpec{Kind: "custom", Name: o.APIName, BaseURL: o.CalledAPIURL, Scopes: o.CalledAPIScopes}
			if o.CalledAPIURL == "" {
				return nil, fieldError("called-api-url", errors.New("must be given with --called-api-scopes"))
			}
			if err := spec.check(); err != nil {
				field := "called-api-scopes"
				if ValidateAPIURL(spec.BaseURL) != nil {
					field = "called-api-url"
				}
				return nil, fieldError(field, err)
			}
			apis = append(apis, spec)
		}
	}
	for _, s := range o.DownstreamAPIs {
		spec, err := ParseDownstreamAPI(s)
		if err != nil {
			return nil, fieldError("downstream-api", err)
		}
		for _, prev := range apis {
			if strings.EqualFold(prev.Name, spec.Name) {
				return nil, fieldError("downstream-api", fmt.Errorf("the name %s is given twice", spec.Name))
			}
		}
		apis = append(apis, spec)
	}
	switch {
	case o.API == "custom" && len(apis) == 0:
		return nil, fieldError("called-api-url", errors.New("--api custom needs the API: --called-api-url and --called-api-scopes, or --downstream-api"))
	case o.API == "none" && len(apis) > 0:
		return nil, fieldError("api", errors.New("none (sign-in only) cannot be combined with --called-api-url, --called-api-scopes or --downstream-api"))
	}
	return apis, nil
}
