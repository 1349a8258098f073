package devidp

// Federated identity credentials: a client may authenticate with a JWT
// that another issuer minted (a Kubernetes service-account token, a
// managed identity's token), as Entra's "federated identity credentials"
// allow. The stand-in is that other issuer too, so that tests and make dev
// need nothing beyond it:
//
//   - <base>/kubernetes issues Kubernetes-style service-account tokens
//     (ServiceAccountToken; its discovery document and keys are served as
//     a cluster's are), the tokens the AKS workload identity webhook
//     projects into AZURE_FEDERATED_TOKEN_FILE;
//   - <base>/<tenant>/v2.0, the tenant's own issuer, issues the managed
//     identities' tokens (managedidentity.go), as Entra does for a managed
//     identity used as a federated credential.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// TokenExchangeAudience is the audience Entra expects in federated
	// credentials' tokens (public cloud), and the default of a
	// FederatedCredential's audiences.
	TokenExchangeAudience = "api://AzureADTokenExchange"
	// KubernetesIssuerPath is where, below its base URL, the stand-in
	// issues Kubernetes service-account tokens.
	KubernetesIssuerPath = "/kubernetes"
	// serviceAccountTTL is the lifetime of a service-account token, the
	// kubelet's default for projected tokens.
	serviceAccountTTL     = time.Hour
	maxFederatedPerClient = 20 // Entra's limit per application
)

// FederatedCredential is a federated identity credential of a client
// (App registrations > Certificates & secrets > Federated credentials):
// the client accepts, as its client assertion, a JWT whose iss, sub and
// aud are these, signed by the issuer's keys.
type FederatedCredential struct {
	// Issuer is the token's iss, compared exactly. An absolute https URL,
	// or, since the stand-in's own address varies, a path naming one of
	// its own issuers: "/kubernetes" (service-account tokens) or
	// "/<tenantId>/v2.0" (managed identities' tokens).
	Issuer string `json:"issuer"`
	// Subject is the token's sub, compared exactly:
	// "system:serviceaccount:<namespace>:<name>", or a managed identity's
	// object (principal) id.
	Subject string `json:"subject"`
	// Audiences holds the one audience the token must have; empty means
	// ["api://AzureADTokenExchange"].
	Audiences []string `json:"audiences,omitempty"`
}

var serviceAccountSubjectRE = regexp.MustCompile(`^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$`)

// validateFederatedCredentials checks a client's federated credentials
// (key is "clients[i]") with Entra's rules: https issuer, subject and one
// audience, unique issuer and subject pairs, at most 20.
func validateFederatedCredentials(key, tenantID string, fcs []FederatedCredential) error {
	if len(fcs) > maxFederatedPerClient {
		return fmt.Errorf("%s.federatedCredentials: at most %d per client (Entra's limit)", key, maxFederatedPerClient)
	}
	seen := map[string]bool{}
	for i, fc := range fcs {
		k := fmt.Sprintf("%s.federatedCredentials[%d]", key, i)
		if err := checkFederatedIssuer(fc.Issuer, tenantID); err != nil {
			return fmt.Errorf("%s.issuer: %w", k, err)
		}
		switch {
		case strings.TrimSpace(fc.Subject) == "" || len(fc.Subject) > 600 || strings.ContainsAny(fc.Subject, "\r\n\t"):
			return fmt.Errorf("%s.subject: required, up to 600 characters, e.g. \"system:serviceaccount:default:app\" or a managed identity's object id", k)
		case fc.Issuer == KubernetesIssuerPath && !serviceAccountSubjectRE.MatchString(fc.Subject):
			return fmt.Errorf("%s.subject: %q is not a service account: use \"system:serviceaccount:<namespace>:<name>\"", k, fc.Subject)
		case len(fc.Audiences) > 1:
			return fmt.Errorf("%s.audiences: at most one audience (Entra's limit), e.g. [%q]", k, TokenExchangeAudience)
		case len(fc.Audiences) == 1 && strings.TrimSpace(fc.Audiences[0]) == "":
			return fmt.Errorf("%s.audiences[0]: empty; leave audiences out for %q", k, TokenExchangeAudience)
		}
		pair := fc.Issuer + "\x00" + fc.Subject
		if seen[pair] {
			return fmt.Errorf("%s: another federated credential of the client has the same issuer and subject", k)
		}
		seen[pair] = true
	}
	return nil
}

// checkFederatedIssuer accepts an absolute https URL, or the path of one
// of the stand-in's own issuers.
func checkFederatedIssuer(iss, tenantID string) error {
	if strings.HasPrefix(iss, "/") {
		if iss == KubernetesIssuerPath || strings.EqualFold(iss, "/"+tenantID+"/v2.0") {
			return nil
		}
		return fmt.Errorf("%q: a path must name one of the stand-in's own issuers: %q (Kubernetes service-account tokens) or %q (managed identities)",
			iss, KubernetesIssuerPath, "/"+tenantID+"/v2.0")
	}
	u, err := url.Parse(iss)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: must be an https URL (the issuer's iss), or %q or %q for the stand-in's own issuers",
			iss, KubernetesIssuerPath, "/"+tenantID+"/v2.0")
	}
	return nil
}

// audiences returns fc's audiences with the default filled in.
func (fc FederatedCredential) audiences() []string {
	if len(fc.Audiences) == 0 {
		return []string{TokenExchangeAudience}
	}
	return fc.Audiences
}

// resolvedIssuer is fc's issuer as a token served at base carries it.
func (fc FederatedCredential) resolvedIssuer(base string) string {
	if strings.HasPrefix(fc.Issuer, "/") {
		return base + fc.Issuer
	}
	return fc.Issuer
}

// federation holds the Kubernetes issuer's signing key, made on first use
// (RSA key generation is slow, and most servers never need it), and the
// managed identities.
type federation struct {
	once   sync.Once
	k8sKey *rsa.PrivateKey
	k8sKid string
	k8sErr error

	identityHeader string

	mu         sync.Mutex
	identities map[string]ManagedIdentity // user-assigned, by lower-case client id
}

func (f *federation) kubernetesKey() (*rsa.PrivateKey, string, error) {
	f.once.Do(func() {
		f.k8sKey, f.k8sErr = rsa.GenerateKey(rand.Reader, 2048)
		if f.k8sErr != nil {
			return
		}
		tp, err := (&jose.JSONWebKey{Key: &f.k8sKey.PublicKey}).Thumbprint(crypto.SHA256)
		f.k8sKid, f.k8sErr = base64.RawURLEncoding.EncodeToString(tp), err
	})
	return f.k8sKey, f.k8sKid, f.k8sErr
}

// ServiceAccountToken returns a token such as the kubelet projects for the
// service account namespace/name when the AKS workload identity webhook
// asks for one: iss <base>/kubernetes, sub
// system:serviceaccount:<namespace>:<name>, aud api://AzureADTokenExchange,
// valid for an hour. base is the stand-in's URL as its clients reach it
// ("https://127.0.0.1:5443"), since the issuer a federated credential
// names must be exactly the token's.
func (s *Server) ServiceAccountToken(base, namespace, name string) (string, error) {
	base = strings.TrimSuffix(base, "/")
	sub := "system:serviceaccount:" + namespace + ":" + name
	if !serviceAccountSubjectRE.MatchString(sub) {
		return "", fmt.Errorf("devidp: %q is not a valid service account (namespace and name are DNS labels)", namespace+"/"+name)
	}
	key, kid, err := s.fed.kubernetesKey()
	if err != nil {
		return "", err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := s.now()
	return jwt.Signed(sig).Claims(map[string]any{
		"iss": base + KubernetesIssuerPath,
		"sub": sub,
		"aud": []string{TokenExchangeAudience},
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(serviceAccountTTL).Unix(),
		"jti": randomGUID(),
		"kubernetes.io": map[string]any{
			"namespace":      namespace,
			"serviceaccount": map[string]string{"name": name, "uid": derivedGUID("devidp-sa:" + sub)},
		},
	}).Serialize()
}

// handleKubernetes serves the service-account issuer's discovery document
// and keys, as a cluster with service account issuer discovery does.
func (s *Server) handleKubernetes(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	key, kid, err := s.fed.kubernetesKey()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	iss := baseURL(r) + KubernetesIssuerPath
	switch r.URL.Path {
	case KubernetesIssuerPath + "/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                iss,
			"jwks_uri":                              iss + "/openid/v1/jwks",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case KubernetesIssuerPath + "/openid/v1/jwks":
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}}})
	default:
		http.NotFound(w, r)
	}
}

// ownIssuerKey returns the public key of iss when it is one of the
// stand-in's own issuers for a request to base, or nil.
func (s *Server) ownIssuerKey(r *http.Request, iss string) (*rsa.PublicKey, error) {
	base := baseURL(r)
	switch iss {
	case base + KubernetesIssuerPath:
		key, _, err := s.fed.kubernetesKey()
		if err != nil {
			return nil, err
		}
		return &key.PublicKey, nil
	case s.issuer(r):
		return &s.key.PublicKey, nil
	}
	return nil, nil
}

// verifyFederatedAssertion checks a client assertion that the client did
// not sign itself (its iss is not the client id) against the client's
// federated credentials, in Entra's order: a credential whose issuer,
// subject and audience match (AADSTS70021), the issuer's signature
// (AADSTS700027), then the time range (AADSTS700024).
func (s *Server) verifyFederatedAssertion(r *http.Request, cl *client, tok *jwt.JSONWebToken, claims jwt.Claims) *oauthError {
	base := baseURL(r)
	matched := slices.ContainsFunc(cl.FederatedCredentials, func(fc FederatedCredential) bool {
		return fc.resolvedIssuer(base) == claims.Issuer && fc.Subject == claims.Subject &&
			slices.ContainsFunc(fc.audiences(), func(a string) bool { return slices.Contains(claims.Audience, a) })
	})
	if !matched {
		return invalidClient(70021, fmt.Sprintf(
			"No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'. (The stand-in's client '%s' has %s.)",
			claims.Issuer, claims.Subject, strings.Join(claims.Audience, ","), cl.ClientID, describeFederated(cl.FederatedCredentials, base)))
	}
	key, err := s.ownIssuerKey(r, claims.Issuer)
	if err != nil {
		return serverError(err)
	}
	if key == nil {
		return invalidClient(50166, fmt.Sprintf(
			"Request to External OIDC endpoint failed: the stand-in does not fetch the keys of issuer '%s'; it verifies only its own issuers (%s%s and %s).",
			claims.Issuer, base, KubernetesIssuerPath, s.issuer(r)))
	}
	var verified jwt.Claims
	if err := tok.Claims(key, &verified); err != nil {
		return invalidClient(700027, fmt.Sprintf("Client assertion failed signature validation: it is not signed by a key of issuer '%s'.", claims.Issuer))
	}
	now := s.now()
	if verified.Expiry == nil {
		return invalidClient(700024, "Client assertion is not within its valid time range: it has no exp claim.")
	}
	if err := verified.ValidateWithLeeway(jwt.Expected{Time: now}, time.Minute); err != nil {
		return invalidClient(700024, fmt.Sprintf(
			"Client assertion is not within its valid time range. Current time: %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339), verified.Expiry.Time().UTC().Format(time.RFC3339)))
	}
	s.log.Info("federated credential accepted", "client_id", cl.ClientID, "issuer", claims.Issuer, "subject", claims.Subject)
	return nil
}

// describeFederated lists a client's federated credentials for an error
// message, so a mismatch is visible at a glance.
func describeFederated(fcs []FederatedCredential, base string) string {
	if len(fcs) == 0 {
		return "no federatedCredentials in devidp.json"
	}
	var parts []string
	for _, fc := range fcs {
		parts = append(parts, fmt.Sprintf("issuer '%s' subject '%s' audience '%s'", fc.resolvedIssuer(base), fc.Subject, strings.Join(fc.audiences(), ",")))
	}
	return "federated credentials " + strings.Join(parts, "; ")
}

// unverifiedClaims decodes a JWT's registered claims without checking
// anything (to pick the way to verify it).
func unverifiedClaims(tok *jwt.JSONWebToken) (jwt.Claims, error) {
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return c, errors.New("the JWT's claims cannot be decoded")
	}
	return c, nil
}
