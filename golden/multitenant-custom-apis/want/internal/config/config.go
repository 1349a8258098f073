package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// Config is the app's settings, in Microsoft.Identity.Web's shape.
type Config struct {
	AzureAd     AzureAd
	Session     Session
	TokenCache  TokenCache
	Development DevelopmentSettings
	// AllowedHosts lists the Host headers the app answers outside
	// Development, separated by ';' as in ASP.NET Core: "app.example.com",
	// "*.example.com", or "*" for any. Empty: the host of
	// AzureAd:RedirectUri when set, otherwise any (with a warning).
	AllowedHosts     string
	ForwardedHeaders ForwardedHeaders

	// Environment is APP_ENV ("Production" when unset).
	Environment string `json:"-"`
	// Dir is the directory the settings files were read from; relative
	// paths in the settings are relative to it.
	Dir string `json:"-"`

	raw tree
}

// TokenCache is where the app keeps tokens (section TokenCache). Each
// store reads its own keys; secrets (a Redis password, a database URL with
// its password, encryption keys) come from the environment.
type TokenCache struct {
	// MaxPartitions bounds the users an in-memory cache (or an L1) keeps;
	// the least recently used are dropped. 0: the store's default.
	MaxPartitions int
	// Directory is the file cache's directory (one file per partition).
	Directory string
	// RedisURL is redis://[user:password@]host:port/db, or rediss:// for
	// TLS (Azure Cache for Redis). Set it from the environment
	// (TokenCache__RedisUrl) when it holds a password.
	RedisURL string `json:"RedisUrl"`
	// PostgresURL is postgres://user:password@host/db?sslmode=verify-full
	// (Azure Database for PostgreSQL); from the environment
	// (TokenCache__PostgresUrl) when it holds a password.
	PostgresURL string `json:"PostgresUrl"`
	// L1 keeps an in-memory copy in front of Redis or PostgreSQL, dropped
	// when another instance changes the partition; nil: on.
	L1 *bool
	// AbsoluteExpiration and SlidingExpiration bound a partition's life
	// from when it was written and from when it was last read (Go
	// durations, "720h"); empty: the store's defaults.
	AbsoluteExpiration string
	SlidingExpiration  string
	// Timeout bounds every call to the store ("2s" when empty), so an
	// unreachable store never hangs a request.
	Timeout string
	// EncryptionKeys encrypt partitions at rest (file, Redis, PostgreSQL):
	// "<key id>:<32 bytes, base64>", from the environment
	// (TokenCache__EncryptionKeys__0). The first encrypts; every one
	// decrypts, so keys rotate by adding a new one first.
	EncryptionKeys []string
}

// AzureAd is the app registration and how the app proves its identity.
type AzureAd struct {
	Instance              string
	TenantID              string `json:"TenantId"`
	ClientID              string `json:"ClientId"`
	Domain                string
	CallbackPath          string
	SignedOutCallbackPath string
	// RedirectURI overrides the redirect URI computed from the request, for
	// apps behind a TLS-terminating proxy (otherwise AADSTS50011).
	RedirectURI string `json:"RedirectUri"`
	// ClientSecret is the legacy single-secret property; it must not be
	// combined with ClientCredentials.
	ClientSecret       string
	ClientCredentials  []CredentialDescription
	ClientCapabilities []string
	SendX5C            bool
	// AllowedTenants, when not empty, lists the tenants (directory ids)
	// whose users may sign in to a multi-tenant app (TenantId common or
	// organizations); users of any other organization are refused.
	AllowedTenants []string
}

// TenantAllowed reports whether users of tenant tid may sign in.
func (ad AzureAd) TenantAllowed(tid string) bool {
	if len(ad.AllowedTenants) == 0 {
		return true
	}
	for _, t := range ad.AllowedTenants {
		if strings.EqualFold(t, tid) {
			return true
		}
	}
	return false
}

// CredentialDescription is one entry of AzureAd:ClientCredentials. The first
// entry that loads is used.
// The fields each SourceType reads are those of Microsoft.Identity.Web's
// CredentialDescription; secrets and passwords come from the environment.
type CredentialDescription struct {
	SourceType string
	// Skip leaves the entry out (e.g. a local-only entry in Production).
	Skip bool

	// ClientSecret: the secret.
	ClientSecret string

	// Path: a PEM or PFX file, and the PFX's password.
	CertificateDiskPath string
	CertificatePassword string
	// Base64Encoded: a PFX (or PEM) file's bytes, base64-encoded.
	Base64EncodedValue string

	// KeyVault: the vault (https://<name>.vault.azure.net/) and the name of
	// the certificate in it.
	KeyVaultURL             string `json:"KeyVaultUrl"`
	KeyVaultCertificateName string

	// SignedAssertionFilePath: the federated token file (Kubernetes workload
	// identity); empty means $AZURE_FEDERATED_TOKEN_FILE.
	SignedAssertionFileDiskPath string

	// SignedAssertionFromManagedIdentity and KeyVault: a user-assigned
	// managed identity's client id; empty means the system-assigned one.
	ManagedIdentityClientID string `json:"ManagedIdentityClientId"`
	// SignedAssertionFromManagedIdentity: the audience of the managed
	// identity's token; empty means api://AzureADTokenExchange.
	TokenExchangeURL string `json:"TokenExchangeUrl"`
}

// DownstreamAPI describes a web API the app calls, in the shape of
// Microsoft.Identity.Web's DownstreamApiOptions: a section of its own
// ("MicrosoftGraph": {...}) or one entry of "DownstreamApis".
type DownstreamAPI struct {
	// Section is where the settings were read from, for messages:
	// "DownstreamApis:Orders" or "MicrosoftGraph".
	Section string `json:"-"`

	BaseURL string `json:"BaseUrl"`
	// Scopes are asked for when the API is called for the signed-in user;
	// for an app token (RequestAppToken) the one scope is "<app id URI>/.default".
	Scopes []string
	// RelativePath is joined to BaseUrl with exactly one '/' when a call
	// gives no path of its own.
	RelativePath string
	// HttpMethod is the method of a call that gives none (default GET).
	HTTPMethod string `json:"HttpMethod"`
	// RequestAppToken calls the API as the app itself (client credentials)
	// instead of on behalf of the signed-in user.
	RequestAppToken bool
}

// validate checks the API section called section.
func (api DownstreamAPI) validate(section, env string) error {
	b, err := url.Parse(api.BaseURL)
	if api.BaseURL == "" || err != nil || b.Host == "" || (b.Scheme != "https" && b.Scheme != "http") {
		return fmt.Errorf("config: %s:BaseUrl %q must be an absolute https URL", section, api.BaseURL)
	}
	// Plain http sends the user's token in clear: only to this machine,
	// and only in Development.
	if b.Scheme == "http" && (env != Development || !IsLoopback(b.Hostname())) {
		return fmt.Errorf("config: %s:BaseUrl %q must use https (plain http is allowed only for localhost in Development)", section, api.BaseURL)
	}
	if len(api.Scopes) == 0 {
		return fmt.Errorf("config: %s:Scopes is empty: list at least one scope, e.g. [\"user.read\"] (an API must never be called without a token)", section)
	}
	for i, s := range api.Scopes {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t") {
			return fmt.Errorf("config: %s:Scopes:%d %q must be one scope, without spaces", section, i, s)
		}
	}
	if api.RequestAppToken && (len(api.Scopes) != 1 || !strings.HasSuffix(api.Scopes[0], "/.default")) {
		return fmt.Errorf("config: %s:Scopes must be one scope ending in /.default (e.g. [\"api://<app id>/.default\"]) when %s:RequestAppToken is true: app tokens carry the app roles granted to the app", section, section)
	}
	switch strings.ToUpper(api.HTTPMethod) {
	case "", "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		return fmt.Errorf("config: %s:HttpMethod %q is not one of Get, Post, Put, Patch or Delete", section, api.HTTPMethod)
	}
	if strings.Contains(api.RelativePath, "://") || strings.HasPrefix(api.RelativePath, "//") {
		return fmt.Errorf("config: %s:RelativePath %q must be a path relative to BaseUrl", section, api.RelativePath)
	}
	return nil
}

// Session configures the sign-in session cookie. Every instance behind a
// load balancer needs the same keys; outside Development the app refuses
// to start without one (see session.NewCodecFromConfig), since a random key
// per process would sign every user out at each restart and on every
// other instance. Make a key with: openssl rand -base64 32.
//
// Set one of the two:
//
//   - EncryptionKey: the one key (base64 of 32 random bytes).
//   - EncryptionKeys: a key ring for rotation. The first key encrypts new
//     cookies; every key opens cookies sealed with it. To rotate without
//     signing anyone out, list [new, old] (with several instances, first
//     deploy [old, new] everywhere, then [new, old]), and drop old once a
//     session lifetime (8 hours) has passed.
//
// A cookie names its key by an id derived from the key itself (a hash),
// so keys need no names: unlike TokenCache:EncryptionKeys, an entry is just
// the base64 key.
type Session struct {
	EncryptionKey  string
	EncryptionKeys []string
}

// sessionKeyHint is how to make a session key, for error messages.
const sessionKeyHint = "32 random bytes, base64-encoded (make one with: openssl rand -base64 32)"

// Keys decodes the session keys, the one that encrypts first; none when
// neither setting is set. Errors name the setting at fault on one line.
func (s Session) Keys() ([][]byte, error) {
	if s.EncryptionKey != "" && len(s.EncryptionKeys) > 0 {
		return nil, fmt.Errorf("config: Session:EncryptionKey and Session:EncryptionKeys are both set: keep one (EncryptionKeys, whose first key encrypts, to rotate keys)")
	}
	if s.EncryptionKey != "" {
		k, err := decodeSessionKey(s.EncryptionKey)
		if err != nil {
			return nil, fmt.Errorf("config: Session:EncryptionKey must be %s", sessionKeyHint)
		}
		return [][]byte{k}, nil
	}
	var keys [][]byte
	for i, e := range s.EncryptionKeys {
		k, err := decodeSessionKey(e)
		if err != nil {
			return nil, fmt.Errorf("config: Session:EncryptionKeys:%d must be %s", i, sessionKeyHint)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func decodeSessionKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, err
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("%d bytes", len(k))
	}
	return k, nil
}

// ForwardedHeaders names the reverse proxies whose X-Forwarded-Proto,
// X-Forwarded-Host and X-Forwarded-For the app believes, as ASP.NET Core's
// ForwardedHeadersOptions does. From anyone else these headers are ignored.
type ForwardedHeaders struct {
	// KnownProxies are IP addresses ("10.0.0.4") or networks
	// ("10.0.0.0/16") of the proxies in front of the app.
	KnownProxies []string
	// KnownNetworks are networks ("10.0.0.0/16"), as in ASP.NET Core.
	KnownNetworks []string
}

// DevelopmentSettings weaken security for local development against the
// identity provider stand-in. They are refused unless APP_ENV is Development.
type DevelopmentSettings struct {
	// TrustCertificateFile is a PEM certificate trusted in addition to the
	// system roots (the stand-in's self-signed certificate).
	TrustCertificateFile string
	// ClientSecretFile is read when the client secret is not set in the
	// environment (the stand-in writes one on first run).
	ClientSecretFile string
}

// Authority is the URL MSAL and sign-in use: Instance + TenantId.
func (a AzureAd) Authority() string {
	return strings.TrimSuffix(a.Instance, "/") + "/" + a.TenantID
}

var (
	guidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	domainRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$`)
)

// checkShapes refuses values whose JSON type would silently change meaning.
// The classic one: "Scopes": "user.read" instead of ["user.read"] leaves the
// scope list empty in Microsoft.Identity.Web, and the API is then called
// without a token. Here it is an error at start-up.
func checkShapes(root tree) error {
	var walk func(path []string, v any) error
	walk = func(path []string, v any) error {
		switch n := v.(type) {
		case tree:
			for k, c := range n {
				if err := walk(append(path, k), c); err != nil {
					return err
				}
			}
		case []any:
			for i, c := range n {
				if err := walk(append(path, fmt.Sprint(i)), c); err != nil {
					return err
				}
			}
		default:
			if len(path) == 0 {
				return nil
			}
			key := path[len(path)-1]
			for _, arrayKey := range []string{"Scopes", "ClientCapabilities", "ClientCredentials", "AllowedTenants", "EncryptionKeys", "KnownProxies", "KnownNetworks"} {
				if strings.EqualFold(key, arrayKey) && n != nil {
					name := strings.Join(path, ":")
					return fmt.Errorf("config: %s must be an array of strings (e.g. %s: [\"user.read\"]), not %s; as an environment variable set %s__0",
						name, key, describe(n), strings.Join(path, "__"))
				}
			}
		}
		return nil
	}
	return walk(nil, root)
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func (c *Config) validate() error {
	ad := &c.AzureAd
	if ad.Instance == "" {
		ad.Instance = "https://login.microsoftonline.com/"
	}
	if !strings.HasSuffix(ad.Instance, "/") {
		ad.Instance += "/"
	}
	if ad.CallbackPath == "" {
		ad.CallbackPath = "/signin-oidc"
	}
	if ad.SignedOutCallbackPath == "" {
		ad.SignedOutCallbackPath = "/signout-callback-oidc"
	}

	u, err := url.Parse(ad.Instance)
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("config: AzureAd:Instance %q is not an absolute URL like https://login.microsoftonline.com/", ad.Instance)
	case u.Scheme != "https":
		return fmt.Errorf("config: AzureAd:Instance %q must use https (MSAL refuses plain-http authorities; the local stand-in serves https)", ad.Instance)
	}
	switch {
	case ad.TenantID == "":
		return fmt.Errorf("config: AzureAd:TenantId is empty: set the directory (tenant) id, a verified domain, common, organizations or consumers")
	case !validTenant(ad.TenantID):
		return fmt.Errorf("config: AzureAd:TenantId %q is not a GUID, a verified domain, common, organizations or consumers", ad.TenantID)
	}
	switch {
	case ad.ClientID == "":
		return fmt.Errorf("config: AzureAd:ClientId is empty: set the application (client) id of the app registration")
	case !guidRE.MatchString(ad.ClientID):
		return fmt.Errorf("config: AzureAd:ClientId %q is not a GUID", ad.ClientID)
	}
	for key, p := range map[string]string{"CallbackPath": ad.CallbackPath, "SignedOutCallbackPath": ad.SignedOutCallbackPath} {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") {
			return fmt.Errorf("config: AzureAd:%s %q must be a path starting with /", key, p)
		}
	}
	if ad.RedirectURI != "" {
		r, err := url.Parse(ad.RedirectURI)
		if err != nil || r.Host == "" || (r.Scheme != "https" && !(r.Scheme == "http" && IsLoopback(r.Hostname()))) {
			return fmt.Errorf("config: AzureAd:RedirectUri %q must be an absolute https URL (http only for localhost)", ad.RedirectURI)
		}
	}
	if ad.ClientSecret != "" && len(ad.ClientCredentials) > 0 {
		return fmt.Errorf("config: AzureAd:ClientSecret cannot be combined with AzureAd:ClientCredentials: keep one (ClientCredentials is preferred)")
	}
	if ad.ClientSecret == "" && len(ad.ClientCredentials) == 0 {
		return fmt.Errorf("config: AzureAd:ClientCredentials is empty: the app needs a credential to redeem authorization codes")
	}
	for i, cd := range ad.ClientCredentials {
		if cd.SourceType == "" {
			return fmt.Errorf("config: AzureAd:ClientCredentials:%d:SourceType is empty", i)
		}
	}
	for i, t := range ad.AllowedTenants {
		if !guidRE.MatchString(t) {
			return fmt.Errorf("config: AzureAd:AllowedTenants:%d %q is not a tenant (directory) id, a GUID", i, t)
		}
	}

	for i, p := range append(append([]string{}, c.ForwardedHeaders.KnownProxies...), c.ForwardedHeaders.KnownNetworks...) {
		if _, err := ParsePrefix(p); err != nil {
			key := "KnownProxies:" + fmt.Sprint(i)
			if i >= len(c.ForwardedHeaders.KnownProxies) {
				key = "KnownNetworks:" + fmt.Sprint(i-len(c.ForwardedHeaders.KnownProxies))
			}
			return fmt.Errorf("config: ForwardedHeaders:%s %q is not an IP address or a network like 10.0.0.0/16", key, p)
		}
	}

	if err := c.validateAPIs(); err != nil {
		return err
	}
	if _, err := c.Session.Keys(); err != nil {
		return err
	}

	if c.Environment != Development {
		dev := c.Development
		for key, v := range map[string]string{"TrustCertificateFile": dev.TrustCertificateFile, "ClientSecretFile": dev.ClientSecretFile} {
			if v != "" {
				return fmt.Errorf("config: Development:%s is set but APP_ENV is %q: development-only settings are refused outside Development", key, c.Environment)
			}
		}
	}
	return nil
}

func validTenant(t string) bool {
	switch strings.ToLower(t) {
	case "common", "organizations", "consumers":
		return true
	}
	return guidRE.MatchString(t) || domainRE.MatchString(t)
}

// MultiTenant reports whether the tenant is one of the multi-tenant aliases,
// whose ID tokens are issued by each user's own tenant.
func (a AzureAd) MultiTenant() bool {
	switch strings.ToLower(a.TenantID) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

// IsLoopback reports whether host (without port) names this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParsePrefix parses an IP address ("10.0.0.4", a network of one) or a
// network ("10.0.0.0/16").
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
