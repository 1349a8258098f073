package devidp

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// User is a test user offered on the stand-in's sign-in page.
type User struct {
	ID                string `json:"id"` // object id (oid), a GUID
	DisplayName       string `json:"displayName"`
	GivenName         string `json:"givenName,omitempty"`
	Surname           string `json:"surname,omitempty"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail,omitempty"`
	JobTitle          string `json:"jobTitle,omitempty"`
	OfficeLocation    string `json:"officeLocation,omitempty"`
	// TenantID is the user's home tenant when it is not the stand-in's
	// own: a user of another organization, who can sign in to
	// multi-tenant apps (common, organizations) only, with that tenant's
	// tid and issuer in their tokens.
	TenantID string `json:"tenantId,omitempty"`
	// Roles are the app roles assigned to the user (Enterprise
	// applications > Users and groups): the ID token's roles claim.
	Roles []string `json:"roles,omitempty"`
	// Groups are the object ids of the user's groups: the ID token's
	// groups claim, or, beyond 200, the overage claims (_claim_names) as
	// Entra sends them.
	Groups []string `json:"groups,omitempty"`
}

// Client is an application registration.
type Client struct {
	ClientID string `json:"clientId"`
	// ClientSecret is the client's secret. Empty: the client can only
	// authenticate with a certificate (cmd/devidp fills it from the state
	// directory's client-secret file).
	ClientSecret           string   `json:"clientSecret,omitempty"`
	RedirectURIs           []string `json:"redirectUris"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris,omitempty"`
	// CertificatesPEM are PEM-encoded certificates whose RSA keys may sign
	// client assertions (private_key_jwt).
	CertificatesPEM []string `json:"certificatesPem,omitempty"`
	// Roles are the application permissions put in the roles claim of
	// client-credentials tokens. Empty: ["User.Read.All"].
	// (Extension to the contract: Entra takes these from app role assignments.)
	Roles []string `json:"roles,omitempty"`
	// FederatedCredentials are the tokens of other issuers the client
	// accepts as client assertions (Kubernetes workload identity, a managed
	// identity); see FederatedCredential.
	FederatedCredentials []FederatedCredential `json:"federatedCredentials,omitempty"`
}

// API is a protected web API ("downstream API") registered in the tenant,
// like an app registration that exposes an API in Entra ID. The stand-in
// serves it at <base URL>/apis/<Name>/ (and every path below), accepting
// the access tokens it issues for AppIDURI.
type API struct {
	// Name is the API's name, also its URL path segment: letters, digits,
	// '.', '_', '~' and '-' (e.g. "Orders"). Unique, case-insensitively.
	Name string `json:"name"`
	// AppIDURI is the Application ID URI, the resource part of the API's
	// scopes and the aud of its access tokens, e.g. "api://<guid>" (no
	// trailing slash).
	AppIDURI string `json:"appIdUri"`
	// Scopes are the delegated permissions the API exposes, e.g.
	// "Orders.Read"; clients ask for them as "<AppIDURI>/Orders.Read".
	Scopes []string `json:"scopes,omitempty"`
	// AppRoles are the application permissions, e.g. "Orders.Read.All".
	// Every registered client is granted all of them (a development
	// convenience: Entra takes them from app role assignments).
	AppRoles []string `json:"appRoles,omitempty"`
}

// Config configures a Server. TenantID, Users, Clients and APIs come from
// devidp.json; the rest is set in code.
type Config struct {
	TenantID string   `json:"tenantId"`
	Users    []User   `json:"users"`
	Clients  []Client `json:"clients"`
	APIs     []API    `json:"apis,omitempty"`
	// ManagedIdentities are the user-assigned managed identities the
	// managed identity endpoints serve, besides the system-assigned one.
	ManagedIdentities []ManagedIdentity `json:"managedIdentities,omitempty"`

	SigningKey          *rsa.PrivateKey  `json:"-"` // nil: generate (tokens then do not survive a restart)
	AccessTokenLifetime time.Duration    `json:"-"` // 0: 1h
	Now                 func() time.Time `json:"-"` // nil: time.Now
	Logger              *slog.Logger     `json:"-"` // nil: discard
	// IdentityHeader is the secret the App Service–style managed identity
	// endpoint requires (IDENTITY_HEADER). Empty: a random one.
	IdentityHeader string `json:"-"`
}

// LoadConfig reads and validates a devidp.json registration file. Unknown
// keys are refused so that typos do not silently fall back to defaults.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			return Config{}, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("%s: unexpected data after the JSON object", path)
	}
	if err := cfg.validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validate checks the registration; errors name the offending key the way
// it is spelled in devidp.json (e.g. clients[0].redirectUris[1]).
func (c *Config) validate() error {
	if !guidRE.MatchString(c.TenantID) {
		return fmt.Errorf("tenantId: %q is not a GUID", c.TenantID)
	}
	if len(c.Clients) == 0 {
		return errors.New("clients: at least one client is required")
	}
	seenClients := map[string]bool{}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		if !guidRE.MatchString(cl.ClientID) {
			return fmt.Errorf("%s.clientId: %q is not a GUID", key, cl.ClientID)
		}
		id := strings.ToLower(cl.ClientID)
		if seenClients[id] {
			return fmt.Errorf("%s.clientId: duplicate client %s", key, cl.ClientID)
		}
		seenClients[id] = true
		if len(cl.RedirectURIs) == 0 {
			return fmt.Errorf("%s.redirectUris: at least one redirect URI is required", key)
		}
		for j, u := range cl.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				return fmt.Errorf("%s.redirectUris[%d]: %w", key, j, err)
			}
		}
		for j, u := range cl.PostLogoutRedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				return fmt.Errorf("%s.postLogoutRedirectUris[%d]: %w", key, j, err)
			}
		}
		for j, p := range cl.CertificatesPEM {
			if _, err := parseClientCertificates(p); err != nil {
				return fmt.Errorf("%s.certificatesPem[%d]: %w", key, j, err)
			}
		}
		for j, r := range cl.Roles {
			if r == "" || strings.ContainsAny(r, " \t\r\n") {
				return fmt.Errorf("%s.roles[%d]: %q is not a valid role name", key, j, r)
			}
		}
		if err := validateFederatedCredentials(key, c.TenantID, cl.FederatedCredentials); err != nil {
			return err
		}
	}
	if len(c.Users) == 0 {
		return errors.New("users: at least one test user is required")
	}
	seenIDs, seenUPNs := map[string]bool{}, map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		if !guidRE.MatchString(u.ID) {
			return fmt.Errorf("%s.id: %q is not a GUID", key, u.ID)
		}
		if seenIDs[strings.ToLower(u.ID)] {
			return fmt.Errorf("%s.id: duplicate user id %s", key, u.ID)
		}
		seenIDs[strings.ToLower(u.ID)] = true
		if strings.TrimSpace(u.DisplayName) == "" {
			return fmt.Errorf("%s.displayName: required", key)
		}
		if at := strings.IndexByte(u.UserPrincipalName, '@'); at <= 0 || at == len(u.UserPrincipalName)-1 || strings.ContainsAny(u.UserPrincipalName, " \t\r\n") {
			return fmt.Errorf("%s.userPrincipalName: %q is not of the form name@domain", key, u.UserPrincipalName)
		}
		if seenUPNs[strings.ToLower(u.UserPrincipalName)] {
			return fmt.Errorf("%s.userPrincipalName: duplicate %s", key, u.UserPrincipalName)
		}
		seenUPNs[strings.ToLower(u.UserPrincipalName)] = true
		if u.TenantID != "" && !guidRE.MatchString(u.TenantID) {
			return fmt.Errorf("%s.tenantId: %q is not a GUID", key, u.TenantID)
		}
		for j, r := range u.Roles {
			if !permissionRE.MatchString(r) {
				return fmt.Errorf("%s.roles[%d]: %q is not a role value (letters, digits, '.', '_', ':', '~', '-')", key, j, r)
			}
		}
		for j, g := range u.Groups {
			if !guidRE.MatchString(g) {
				return fmt.Errorf("%s.groups[%d]: %q is not a group object id (a GUID)", key, j, g)
			}
		}
	}
	if err := validateAPIs(c.APIs); err != nil {
		return err
	}
	if err := validateManagedIdentities(c.TenantID, c.ManagedIdentities); err != nil {
		return err
	}
	if c.AccessTokenLifetime < 0 {
		return errors.New("AccessTokenLifetime: must not be negative")
	}
	return nil
}

var (
	apiNameRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$`)
	permissionRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._:~-]{0,119}$`)
	appIDURISchemes = map[string]bool{"api": true, "https": true}
)

// validateAPIs checks the API registrations (keys apis[i].name, ...).
func validateAPIs(apis []API) error {
	seenNames, seenURIs := map[string]bool{}, map[string]bool{}
	for i, a := range apis {
		key := fmt.Sprintf("apis[%d]", i)
		switch {
		case a.Name == "":
			return fmt.Errorf("%s.name: required (e.g. \"Orders\"; the API is served at /apis/<name>/)", key)
		case !apiNameRE.MatchString(a.Name):
			return fmt.Errorf("%s.name: %q is not URL-path-safe: use up to 64 letters, digits, '.', '_', '~' or '-', starting with a letter or digit (the API is served at /apis/<name>/)", key, a.Name)
		case strings.EqualFold(a.Name, "graph"):
			return fmt.Errorf("%s.name: %q is reserved for Microsoft Graph, which the stand-in serves at /graph/v1.0", key, a.Name)
		case seenNames[strings.ToLower(a.Name)]:
			return fmt.Errorf("%s.name: duplicate API name %q (names are compared case-insensitively)", key, a.Name)
		}
		seenNames[strings.ToLower(a.Name)] = true
		if err := checkAppIDURI(a.AppIDURI); err != nil {
			return fmt.Errorf("%s.appIdUri: %w", key, err)
		}
		if seenURIs[strings.ToLower(a.AppIDURI)] {
			return fmt.Errorf("%s.appIdUri: duplicate %q: another API has the same application ID URI", key, a.AppIDURI)
		}
		seenURIs[strings.ToLower(a.AppIDURI)] = true
		if len(a.Scopes) == 0 && len(a.AppRoles) == 0 {
			return fmt.Errorf("%s: at least one of scopes (delegated permissions, e.g. \"Orders.Read\") or appRoles (application permissions, e.g. \"Orders.Read.All\") is required", key)
		}
		for _, perms := range []struct {
			field string
			list  []string
		}{{"scopes", a.Scopes}, {"appRoles", a.AppRoles}} {
			field, seen := perms.field, map[string]bool{}
			for j, p := range perms.list {
				switch {
				case !permissionRE.MatchString(p):
					return fmt.Errorf("%s.%s[%d]: %q is not a valid permission name: use letters, digits, '.', '_', ':', '~' or '-', without spaces or '/' (e.g. \"Orders.Read\")", key, field, j, p)
				case strings.EqualFold(p, ".default") || oidcScopes[strings.ToLower(p)]:
					return fmt.Errorf("%s.%s[%d]: %q is reserved", key, field, j, p)
				case seen[strings.ToLower(p)]:
					return fmt.Errorf("%s.%s[%d]: duplicate %q", key, field, j, p)
				}
				seen[strings.ToLower(p)] = true
			}
		}
	}
	return nil
}

// checkAppIDURI accepts the application ID URIs Entra accepts for an API
// of one's own: api://<guid or name>[/path] or https://<host>[/path], with
// no query, fragment or trailing slash, and not Microsoft Graph's.
func checkAppIDURI(raw string) error {
	if raw == "" {
		return errors.New("required, e.g. \"api://0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d\"")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%q: %w", raw, err)
	case !appIDURISchemes[u.Scheme]:
		return fmt.Errorf("%q: must start with api:// or https:// (e.g. \"api://<guid>\")", raw)
	case u.Host == "":
		return fmt.Errorf("%q: has no host part after %s://", raw, u.Scheme)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "?#\"<>\\ \t\r\n"):
		return fmt.Errorf("%q: must not contain user info, a query, a fragment, quotes or spaces", raw)
	case strings.HasSuffix(raw, "/"):
		return fmt.Errorf("%q: must not end with '/' (scopes are <appIdUri>/<scope>)", raw)
	case canonicalResource(raw) == graphResource:
		return fmt.Errorf("%q: is Microsoft Graph's, which the stand-in already serves at /graph/v1.0", raw)
	}
	return nil
}

// checkRedirectURI applies Entra's rules: absolute http(s) URL, no
// fragment, plain http only for loopback hosts.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q: scheme must be https (or http for localhost)", raw)
	case u.Host == "":
		return fmt.Errorf("%q: not an absolute URL", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q: must not contain a fragment", raw)
	case u.User != nil:
		return fmt.Errorf("%q: must not contain user info", raw)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return fmt.Errorf("%q: http is only allowed for localhost; use https", raw)
	}
	return nil
}

// isLoopbackHost reports whether host (without port) is localhost or a
// loopback IP address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseClientCertificates returns the certificates of a PEM text; each must
// hold an RSA public key since client assertions are RS256/PS256.
func parseClientCertificates(pemText string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(pemText)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue // tolerate a key or chain bundled in the same text
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("certificate %q: only RSA keys are supported", cert.Subject.CommonName)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block found")
	}
	return certs, nil
}
