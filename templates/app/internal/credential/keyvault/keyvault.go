// Package keyvault loads ClientCredentials entries of SourceType KeyVault:
// the app's certificate, with its private key, from Azure Key Vault.
//
// Key Vault serves a certificate's private key only through the secret of
// the same name (a base64 PFX without password, or PEM, depending on the
// certificate's content type), so the certificate is read with the
// secrets client, which needs the "Key Vault Secrets User" role (or, with
// access policies, Get on secrets). The app authenticates to the vault as
// its managed identity (ManagedIdentityClientId for a user-assigned one)
// or, without it, with DefaultAzureCredential: workload identity, managed
// identity, then developer sign-ins such as `az login`.
//
// The certificate is read once and cached. When Key Vault renews it (a new
// version), Entra ID eventually refuses the old one: Credential.Rejected
// then reads the latest version and the refused request is tried once
// more with it.
package keyvault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential/certificate"
)

// RecheckInterval is how long the outcome of a Key Vault read made for a
// rejected credential is reused: many requests refused at once share one
// read instead of each reading the vault.
const RecheckInterval = 5 * time.Second

// Source loads KeyVault entries; it implements credential.Source.
type Source struct {
	// Logger receives expiry warnings and reloads; nil means slog.Default().
	Logger *slog.Logger
	// Credential authenticates to Key Vault. Nil: a managed identity when
	// the entry has ManagedIdentityClientId, otherwise
	// DefaultAzureCredential. Tests set it.
	Credential azcore.TokenCredential
	// ClientOptions configure the secrets client (transport, retries);
	// nil means the defaults.
	ClientOptions *azsecrets.ClientOptions
}

// SourceType implements credential.Source.
func (Source) SourceType() string { return "KeyVault" }

// nameRE is Key Vault's rule for object names.
var nameRE = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

// Load implements credential.Source.
func (s Source) Load(ctx context.Context, cfg *config.Config, d config.CredentialDescription, key string) (credential.Credential, error) {
	u, err := url.Parse(d.KeyVaultURL)
	switch {
	case d.KeyVaultURL == "":
		return credential.Credential{}, fmt.Errorf("%s:KeyVaultUrl is empty: set it to the vault's URL, https://<vault-name>.vault.azure.net/", key)
	case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "":
		return credential.Credential{}, fmt.Errorf("%s:KeyVaultUrl: %q is not an https URL such as https://<vault-name>.vault.azure.net/", key, d.KeyVaultURL)
	case !nameRE.MatchString(d.KeyVaultCertificateName):
		return credential.Credential{}, fmt.Errorf("%s:KeyVaultCertificateName: %q is not a Key Vault certificate name (1 to 127 letters, digits and '-')", key, d.KeyVaultCertificateName)
	}
	v := &vaultCert{
		where: fmt.Sprintf("%s (KeyVault %s certificate %q)", key, d.KeyVaultURL, d.KeyVaultCertificateName),
		name:  d.KeyVaultCertificateName,
		log:   s.Logger,
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	cred := s.Credential
	if cred == nil {
		if cred, err = azureCredential(d.ManagedIdentityClientID); err != nil {
			return credential.Credential{}, fmt.Errorf("%s: %s", v.where, oneLine(err))
		}
	}
	if v.client, err = azsecrets.NewClient(d.KeyVaultURL, markedCredential{cred}, s.ClientOptions); err != nil {
		return credential.Credential{}, fmt.Errorf("%s: %s", v.where, oneLine(err))
	}
	cert, version, err := v.read(ctx)
	if err != nil {
		return credential.Credential{}, err
	}
	if err := cert.Check(time.Now(), v.log, v.where); err != nil {
		return credential.Credential{}, err
	}
	v.cert, v.version = cert, version
	return credential.Credential{
		MSAL:     certificate.AssertionCredential(v.current, cfg.AzureAd.ClientID, cfg.AzureAd.SendX5C),
		Rejected: v.rejected,
	}, nil
}

// azureCredential is how the app signs in to Key Vault: the user-assigned
// managed identity clientID, or every usual way when it is empty.
func azureCredential(clientID string) (azcore.TokenCredential, error) {
	if clientID != "" {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(clientID)})
	}
	return azidentity.NewDefaultAzureCredential(nil)
}

// markedCredential marks the errors of getting a token, which the secrets
// client returns like any other, so that messages can tell them apart.
type markedCredential struct{ azcore.TokenCredential }

func (c markedCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, o)
	if err != nil {
		return tok, &tokenError{err}
	}
	return tok, nil
}

type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// vaultCert is a certificate read from Key Vault and cached.
type vaultCert struct {
	where, name string
	client      *azsecrets.Client
	log         *slog.Logger

	mu      sync.Mutex
	cert    *certificate.Certificate
	version string

	recheck     sync.Mutex // one vault read at a time for rejected
	lastCheck   time.Time
	lastChanged bool
}

func (v *vaultCert) current(context.Context) (*certificate.Certificate, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cert, nil
}

// rejected reads the latest version of the certificate after the token
// endpoint refused the cached one, and reports whether it changed (a retry
// may then succeed). Calls within RecheckInterval of a read share its
// outcome, so a burst of refusals reads the vault once.
func (v *vaultCert) rejected(ctx context.Context) bool {
	v.recheck.Lock()
	defer v.recheck.Unlock()
	if time.Since(v.lastCheck) < RecheckInterval {
		return v.lastChanged
	}
	v.lastCheck, v.lastChanged = time.Now(), false
	cert, version, err := v.read(ctx)
	if err == nil {
		err = cert.Check(time.Now(), v.log, v.where)
	}
	if err != nil {
		v.log.Error("the token endpoint refused the client certificate and reading it again from Key Vault failed", "error", err.Error())
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if version == v.version {
		v.log.Warn("the token endpoint refused the client certificate, and Key Vault has no newer version: is this certificate registered with the app?",
			"entry", v.where, "version", version, "certificate", cert.Name())
		return false
	}
	v.log.Info("the token endpoint refused the client certificate: loaded the latest version from Key Vault",
		"entry", v.where, "version", version, "previous", v.version, "certificate", cert.Name())
	v.cert, v.version, v.lastChanged = cert, version, true
	return true
}

// read gets the latest version of the certificate's secret and parses it.
func (v *vaultCert) read(ctx context.Context) (*certificate.Certificate, string, error) {
	res, err := v.client.GetSecret(ctx, v.name, "", nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %s", v.where, describe(err))
	}
	if res.Value == nil {
		return nil, "", fmt.Errorf("%s: the secret has no value", v.where)
	}
	var version string
	if res.ID != nil {
		version = res.ID.Version()
	}
	contentType := ""
	if res.ContentType != nil {
		contentType = *res.ContentType
	}
	var data []byte
	switch {
	case contentType == "application/x-pem-file" || (contentType == "" && strings.Contains(*res.Value, "-----BEGIN")):
		data = []byte(*res.Value)
	case contentType == "application/x-pkcs12" || contentType == "":
		if data, err = base64.StdEncoding.DecodeString(*res.Value); err != nil {
			return nil, "", fmt.Errorf("%s: the secret is not a base64 PFX: %v", v.where, err)
		}
	default:
		return nil, "", fmt.Errorf("%s: the secret's content type is %q, not a certificate's (application/x-pkcs12 or application/x-pem-file): is %q a certificate, not a plain secret?",
			v.where, contentType, v.name)
	}
	cert, err := certificate.Parse(data, "")
	if err != nil {
		return nil, "", fmt.Errorf("%s: version %s: %v", v.where, version, err)
	}
	return cert, version, nil
}

// describe turns a failed vault read into one line that says what to do.
func describe(err error) string {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		var te *tokenError
		if errors.As(err, &te) {
			return "cannot get a token for Key Vault: " + oneLine(te.err)
		}
		return "cannot read the certificate: " + oneLine(err)
	}
	code := re.ErrorCode
	if re.RawResponse != nil {
		if body, e := runtime.Payload(re.RawResponse); e == nil {
			var kv struct {
				Error struct {
					Code       string
					Innererror struct{ Code string }
				}
			}
			if json.Unmarshal(body, &kv) == nil && kv.Error.Innererror.Code != "" {
				code = kv.Error.Code + ", " + kv.Error.Innererror.Code
			}
		}
	}
	status := fmt.Sprintf("%d %s", re.StatusCode, http.StatusText(re.StatusCode))
	if code != "" && code != strings.ReplaceAll(http.StatusText(re.StatusCode), " ", "") {
		status += ", " + code
	}
	switch re.StatusCode {
	case http.StatusForbidden:
		return fmt.Sprintf(`access denied (%s): grant the app's identity the "Key Vault Secrets User" role on the vault (or, with access policies, Get on secrets)`, status)
	case http.StatusUnauthorized:
		return fmt.Sprintf("the vault refused the app's token (%s): check the identity's tenant", status)
	case http.StatusNotFound:
		return fmt.Sprintf("not found (%s): no certificate of this name in the vault", status)
	}
	return fmt.Sprintf("the vault answered %s", status)
}

// oneLine joins the lines of an error message (azidentity's list each
// credential it tried on a line of its own).
func oneLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && strings.Trim(l, "-") != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
