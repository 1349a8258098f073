// Package keyvaulttest is a fake Azure Key Vault for tests, served over TLS
// on a loopback port. It speaks the part of the protocol the azsecrets
// client uses to read a secret, as Key Vault does:
//
//   - GET /secrets/{name}/{version}?api-version=... (an empty version is
//     the latest), answered with the secret bundle's JSON;
//   - a request without a bearer token gets 401 and the challenge
//     WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net",
//     from which the client learns which token to get before it asks again;
//   - errors are Key Vault's JSON {"error":{"code","message","innererror"}},
//     multi-line messages included.
//
// A certificate in Key Vault is readable with its private key as the
// secret of the same name (content type application/x-pkcs12: base64 of a
// PFX without password; or application/x-pem-file), which is what
// SetSecret stores. Each SetSecret adds a version, as a rotation does.
package keyvaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Tenant is the tenant the vault's challenge names.
const Tenant = "11111111-2222-3333-4444-555555555555"

// Resource is the resource the vault's challenge names; clients ask for a
// token of Resource + "/.default".
const Resource = "https://vault.azure.net"

// A Vault is a fake Key Vault.
type Vault struct {
	// URL is the vault URL, https://127.0.0.1:<port>/.
	URL string

	srv   *httptest.Server
	token string

	mu       sync.Mutex
	secrets  map[string][]secret // by name, oldest version first
	denied   bool
	gets     int // authorized GETs of a secret
	tokenFor []policy.TokenRequestOptions
}

type secret struct {
	version, contentType, value string
	created                     time.Time
}

// New starts a fake vault that stops when the test ends.
func New(t testing.TB) *Vault {
	t.Helper()
	v := &Vault{secrets: map[string][]secret{}, token: "kv-token-" + randomHex(8)}
	v.srv = httptest.NewTLSServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	v.URL = v.srv.URL + "/"
	return v
}

// SetSecret stores a new version of the secret name and returns the
// version's id.
func (v *Vault) SetSecret(name, contentType, value string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := secret{version: randomHex(16), contentType: contentType, value: value, created: time.Now()}
	v.secrets[name] = append(v.secrets[name], s)
	return s.version
}

// Deny makes the vault refuse (403) every read from now on, as when the
// app's identity has no role on it; Deny(false) grants access again.
func (v *Vault) Deny(deny bool) {
	v.mu.Lock()
	v.denied = deny
	v.mu.Unlock()
}

// Gets reports how many authorized reads of a secret the vault received.
func (v *Vault) Gets() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gets
}

// TokenRequests returns what clients asked the Credential for.
func (v *Vault) TokenRequests() []policy.TokenRequestOptions {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]policy.TokenRequestOptions(nil), v.tokenFor...)
}

// AcceptedToken is the bearer token the vault accepts (for a test's own
// token endpoint, such as a managed identity's).
func (v *Vault) AcceptedToken() string { return v.token }

// Credential returns a token credential whose tokens the vault accepts.
func (v *Vault) Credential() azcore.TokenCredential { return tokenCredential{v} }

// ClientOptions returns azsecrets options that trust the vault's TLS
// certificate. The challenge's resource (vault.azure.net) is not a parent
// domain of 127.0.0.1, so its check is turned off.
func (v *Vault) ClientOptions() *azsecrets.ClientOptions {
	return &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: v.srv.Client()},
		DisableChallengeResourceVerification: true,
	}
}

type tokenCredential struct{ v *Vault }

func (c tokenCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.v.mu.Lock()
	c.v.tokenFor = append(c.v.tokenFor, o)
	c.v.mu.Unlock()
	return azcore.AccessToken{Token: c.v.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (v *Vault) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("api-version") == "" {
		kvError(w, http.StatusBadRequest, "BadParameter", "The 'api-version' query parameter is missing.", "")
		return
	}
	if auth := r.Header.Get("Authorization"); auth != "Bearer "+v.token {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="https://login.microsoftonline.com/%s", resource="%s"`, Tenant, Resource))
		msg := "AKV10000: Request is missing a Bearer or PoP token."
		if auth != "" {
			msg = "AKV10032: Invalid issuer."
		}
		kvError(w, http.StatusUnauthorized, "Unauthorized", msg, "")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method != http.MethodGet || len(parts) < 2 || len(parts) > 3 || parts[0] != "secrets" || parts[1] == "" {
		kvError(w, http.StatusBadRequest, "BadParameter", "Method or path not supported by the fake vault.", "")
		return
	}
	name, version := parts[1], ""
	if len(parts) == 3 {
		version = parts[2]
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.denied {
		kvError(w, http.StatusForbidden, "Forbidden",
			"Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n"+
				"Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nAssignment: (not found)\r\n", "ForbiddenByRbac")
		return
	}
	v.gets++
	versions := v.secrets[name]
	var found *secret
	for i := range versions {
		if version == "" || versions[i].version == version {
			found = &versions[i] // the last one when no version is asked for
		}
	}
	if found == nil {
		kvError(w, http.StatusNotFound, "SecretNotFound",
			fmt.Sprintf("A secret with (name/id) %s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.", name), "")
		return
	}
	id := v.URL + "secrets/" + name + "/" + found.version
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{
		"value":       found.value,
		"contentType": found.contentType,
		"id":          id,
		"kid":         v.URL + "keys/" + name + "/" + found.version,
		"managed":     true,
		"attributes": map[string]any{
			"enabled": true, "created": found.created.Unix(), "updated": found.created.Unix(),
			"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90,
		},
	})
}

func kvError(w http.ResponseWriter, status int, code, message, inner string) {
	e := map[string]any{"code": code, "message": message}
	if inner != "" {
		e["innererror"] = map[string]any{"code": inner}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
