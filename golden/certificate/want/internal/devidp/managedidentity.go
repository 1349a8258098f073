package devidp

// Managed identity endpoints: the stand-in answers token requests as
// Azure's managed identity endpoints do, so that MSAL Go's
// apps/managedidentity (and the Azure SDKs) work against it unchanged:
//
//   - App Service / Container Apps / Functions style, at <base>/msi/token:
//     the app finds it in IDENTITY_ENDPOINT and proves it runs there with
//     the X-IDENTITY-HEADER header holding IDENTITY_HEADER (api-version
//     2019-08-01; client_id, principal_id or object_id select a
//     user-assigned identity);
//   - the VM's Instance Metadata Service (IMDS), at
//     /metadata/identity/oauth2/token, with the header Metadata: true
//     (api-version 2018-02-01; client_id or object_id). IMDS has a fixed
//     address (169.254.169.254), so only tests reach this one, with a
//     transport that sends IMDS requests to the stand-in.
//
// The tokens are the stand-in tenant's (iss <base>/<tenant>/v2.0, sub and
// oid the identity's object id), so a client's federated credential with
// issuer "/<tenant>/v2.0" and the identity's object id as subject trusts
// the token for api://AzureADTokenExchange, as Entra trusts a managed
// identity configured as a federated credential.

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	// AppServiceIdentityPath is the path of the App Service–style managed
	// identity endpoint: IDENTITY_ENDPOINT is <base>/msi/token.
	AppServiceIdentityPath = "/msi/token"
	// IMDSTokenPath is the path of IMDS's managed identity token endpoint.
	IMDSTokenPath = "/metadata/identity/oauth2/token"
	// managedIdentityTTL is the lifetime of managed identities' tokens
	// (Azure's are valid for about a day).
	managedIdentityTTL   = 24 * time.Hour
	appServiceAPIVersion = "2019-08-01"
)

// ManagedIdentity is a managed identity the stand-in's endpoints give
// tokens for. A system-assigned one always exists (SystemAssignedIdentity);
// devidp.json lists user-assigned ones in "managedIdentities".
type ManagedIdentity struct {
	// ClientID selects the identity in token requests (client_id).
	ClientID string `json:"clientId"`
	// ObjectID is its service principal's object (principal) id: the sub
	// and oid of its tokens, and the subject of a federated credential
	// that trusts it.
	ObjectID string `json:"objectId"`
}

// SystemAssignedIdentity is the system-assigned managed identity of the
// stand-in for tenant tenantID: fixed ids derived from the tenant, so that
// devidp.json (a federated credential's subject) and tests can name it
// before the stand-in runs.
func SystemAssignedIdentity(tenantID string) ManagedIdentity {
	t := strings.ToLower(tenantID)
	return ManagedIdentity{
		ClientID: derivedGUID("devidp-mi-system-client:" + t),
		ObjectID: derivedGUID("devidp-mi-system-object:" + t),
	}
}

// validateManagedIdentities checks "managedIdentities": GUIDs, unique.
func validateManagedIdentities(tenantID string, mis []ManagedIdentity) error {
	sys := SystemAssignedIdentity(tenantID)
	seen := map[string]bool{strings.ToLower(sys.ClientID): true, strings.ToLower(sys.ObjectID): true}
	for i, mi := range mis {
		key := fmt.Sprintf("managedIdentities[%d]", i)
		for _, f := range []struct{ name, v string }{{"clientId", mi.ClientID}, {"objectId", mi.ObjectID}} {
			if !guidRE.MatchString(f.v) {
				return fmt.Errorf("%s.%s: %q is not a GUID", key, f.name, f.v)
			}
			if seen[strings.ToLower(f.v)] {
				return fmt.Errorf("%s.%s: %s is already another managed identity's id", key, f.name, f.v)
			}
			seen[strings.ToLower(f.v)] = true
		}
	}
	return nil
}

// AddManagedIdentity registers a user-assigned managed identity while the
// stand-in runs (as "managedIdentities" in devidp.json does at start).
func (s *Server) AddManagedIdentity(mi ManagedIdentity) error {
	s.fed.mu.Lock()
	defer s.fed.mu.Unlock()
	list := []ManagedIdentity{mi}
	for _, m := range s.fed.identities {
		list = append(list, m)
	}
	if err := validateManagedIdentities(s.tenantID, list); err != nil {
		return fmt.Errorf("devidp: %w", err)
	}
	s.fed.identities[strings.ToLower(mi.ClientID)] = mi
	return nil
}

// IdentityHeader is the secret the App Service–style endpoint requires in
// X-IDENTITY-HEADER: the value of IDENTITY_HEADER for the app.
func (s *Server) IdentityHeader() string { return s.fed.identityHeader }

// findIdentity returns the identity a token request selects: by client id
// or object id, or the system-assigned one when it names none.
func (s *Server) findIdentity(clientID, objectID string) (ManagedIdentity, bool) {
	sys := SystemAssignedIdentity(s.tenantID)
	if clientID == "" && objectID == "" {
		return sys, true
	}
	s.fed.mu.Lock()
	defer s.fed.mu.Unlock()
	for _, mi := range append([]ManagedIdentity{sys}, mapValues(s.fed.identities)...) {
		if (clientID == "" || strings.EqualFold(clientID, mi.ClientID)) && (objectID == "" || strings.EqualFold(objectID, mi.ObjectID)) {
			return mi, true
		}
	}
	return ManagedIdentity{}, false
}

func mapValues(m map[string]ManagedIdentity) []ManagedIdentity {
	out := make([]ManagedIdentity, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

var imdsAPIVersionRE = regexp.MustCompile(`^20[0-9]{2}-[01][0-9]-[0-3][0-9]$`)

// handleIMDS is IMDS's /metadata/identity/oauth2/token. Errors are IMDS's:
// 400 with {"error", "error_description"}.
func (s *Server) handleIMDS(w http.ResponseWriter, r *http.Request) {
	fail := func(code, desc string) {
		s.log.Info("managed identity token refused", "endpoint", "imds", "error", desc)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
	}
	if r.URL.Path != IMDSTokenPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	switch {
	case !strings.EqualFold(r.Header.Get("Metadata"), "true"):
		fail("bad_request_102", "Required metadata header not specified")
	case r.Header.Get("X-Forwarded-For") != "":
		// IMDS refuses proxied requests (a guard against SSRF).
		fail("bad_request_102", "Request containing the X-Forwarded-For header is not allowed")
	case q.Get("api-version") == "":
		fail("invalid_request", "Required query variable 'api-version' is missing")
	case !imdsAPIVersionRE.MatchString(q.Get("api-version")) || q.Get("api-version") < "2018-02-01":
		fail("invalid_request", fmt.Sprintf("Invalid api-version '%s'", q.Get("api-version")))
	case q.Get("resource") == "":
		fail("invalid_request", "Required query variable 'resource' is missing")
	case q.Get("msi_res_id") != "" || q.Get("mi_res_id") != "":
		fail("invalid_request", "Identity not found") // the stand-in's identities have no resource ids
	default:
		mi, ok := s.findIdentity(q.Get("client_id"), q.Get("object_id"))
		if !ok {
			fail("invalid_request", "Identity not found")
			return
		}
		if e := badResource(q.Get("resource")); e != "" {
			fail("invalid_resource", e)
			return
		}
		tok, exp, err := s.managedIdentityToken(r, mi, q.Get("resource"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		now := s.now()
		ttl := strconv.FormatInt(int64(exp.Sub(now)/time.Second), 10)
		writeJSON(w, http.StatusOK, map[string]string{
			"access_token":   tok,
			"client_id":      mi.ClientID,
			"expires_in":     ttl,
			"expires_on":     strconv.FormatInt(exp.Unix(), 10),
			"ext_expires_in": ttl,
			"not_before":     strconv.FormatInt(now.Unix(), 10),
			"resource":       q.Get("resource"),
			"token_type":     "Bearer",
		})
	}
}

// handleAppServiceIdentity is the App Service–style endpoint. Errors are
// App Service's shape: {"statusCode", "message", "correlationId"}.
func (s *Server) handleAppServiceIdentity(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		s.log.Info("managed identity token refused", "endpoint", "app service", "error", msg)
		writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": randomGUID()})
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		fail(http.StatusMethodNotAllowed, "The requested resource does not support http method '"+r.Method+"'.")
		return
	}
	q := r.URL.Query()
	hdr := r.Header.Get("X-IDENTITY-HEADER")
	switch {
	case hdr == "" || !secretEqual(hdr, s.fed.identityHeader):
		fail(http.StatusUnauthorized, "The request must carry the X-IDENTITY-HEADER header with the value of IDENTITY_HEADER.")
	case q.Get("api-version") != appServiceAPIVersion:
		fail(http.StatusBadRequest, fmt.Sprintf("The api-version '%s' is not supported: use %s.", q.Get("api-version"), appServiceAPIVersion))
	case q.Get("resource") == "":
		fail(http.StatusBadRequest, "The query parameter 'resource' is required.")
	case q.Get("mi_res_id") != "":
		fail(http.StatusBadRequest, "Unable to load the proper Managed Identity.")
	default:
		objectID := q.Get("principal_id")
		if objectID == "" {
			objectID = q.Get("object_id") // an alias App Service accepts
		}
		mi, ok := s.findIdentity(q.Get("client_id"), objectID)
		if !ok {
			fail(http.StatusBadRequest, "Unable to load the proper Managed Identity.")
			return
		}
		if e := badResource(q.Get("resource")); e != "" {
			fail(http.StatusBadRequest, e)
			return
		}
		tok, exp, err := s.managedIdentityToken(r, mi, q.Get("resource"))
		if err != nil {
			fail(http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{
			"access_token": tok,
			"expires_on":   strconv.FormatInt(exp.Unix(), 10),
			"resource":     q.Get("resource"),
			"token_type":   "Bearer",
			"client_id":    mi.ClientID,
		})
	}
}

// badResource refuses what Entra refuses as a managed identity's resource:
// a v2.0 scope ("<resource>/.default"; the endpoints take v1.0 resources)
// or something that is not a URI.
func badResource(resource string) string {
	if strings.HasSuffix(resource, "/.default") || !strings.Contains(resource, ":") || strings.ContainsAny(resource, " \t\r\n") {
		return fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant. Managed identity endpoints take a resource URI, e.g. api://AzureADTokenExchange, not a scope.", resource)
	}
	return ""
}

// managedIdentityToken issues mi's access token for resource.
func (s *Server) managedIdentityToken(r *http.Request, mi ManagedIdentity, resource string) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(managedIdentityTTL)
	aud := resource
	if api := s.apiForResource(resource); api != nil {
		aud = api.AppIDURI
	}
	tok, err := s.sign(map[string]any{
		"aud":    aud,
		"iss":    s.issuer(r),
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    exp.Unix(),
		"oid":    mi.ObjectID,
		"sub":    mi.ObjectID,
		"tid":    s.tenantID,
		"azp":    mi.ClientID,
		"appid":  mi.ClientID,
		"azpacr": "2",
		"idtyp":  "app",
		"uti":    randomToken(16),
		"ver":    "2.0",
	})
	if err != nil {
		return "", time.Time{}, err
	}
	s.log.Info("managed identity token issued", "client_id", mi.ClientID, "resource", resource)
	return tok, exp, nil
}
