package devidp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MicrosoftGraph names the stand-in's Microsoft Graph (/graph/v1.0) in
// RequireClaims and APIRequests. No registered API may have this name.
const MicrosoftGraph = "graph"

// maxAPIBody is the largest request body a registered API accepts.
const maxAPIBody = 64 << 10

// apiReg is a registered API with its lookup tables and test switches.
type apiReg struct {
	API
	scopes map[string]string // lower-case scope -> registered spelling
	roles  map[string]string // lower-case app role -> registered spelling

	// guarded by Server.mu
	reqs   int64
	claims *claimsRequest // demanded by RequireClaims; nil: none
}

func newAPIReg(a API) *apiReg {
	reg := &apiReg{API: a, scopes: map[string]string{}, roles: map[string]string{}}
	reg.Scopes = slices.Clone(a.Scopes)
	reg.AppRoles = slices.Clone(a.AppRoles)
	for _, sc := range a.Scopes {
		reg.scopes[strings.ToLower(sc)] = sc
	}
	for _, r := range a.AppRoles {
		reg.roles[strings.ToLower(r)] = r
	}
	return reg
}

// apiForResource returns the registered API whose application ID URI is
// resource (canonical form, see canonicalResource), or nil.
func (s *Server) apiForResource(resource string) *apiReg {
	return s.apiByURI[strings.ToLower(resource)]
}

// APICall is the JSON a registered API answers a successful call with: what
// it was asked and who asked, from the validated access token.
type APICall struct {
	API               string          `json:"api"`               // the API's name
	Method            string          `json:"method"`            // HTTP method
	Path              string          `json:"path"`              // path below /apis/<name>, "/" at least
	Query             string          `json:"query"`             // raw query string, without "?"
	AppOnly           bool            `json:"appOnly"`           // an app-only (client credentials) token
	Subject           string          `json:"subject"`           // oid: the user's, or the client's service principal's
	ClientID          string          `json:"clientId"`          // azp: the calling application
	Name              string          `json:"name"`              // the user's display name; "" for app-only calls
	PreferredUsername string          `json:"preferredUsername"` // the user's UPN; "" for app-only calls
	Scopes            []string        `json:"scopes"`            // scp, split; [] for app-only calls
	Roles             []string        `json:"roles"`             // roles; [] for delegated calls
	Acrs              []string        `json:"acrs"`              // authentication contexts satisfied
	Body              json.RawMessage `json:"body"`              // the JSON request body, or null
}

// APIRequests reports how many requests reached the API registered as name
// (case-insensitive), accepted or not; MicrosoftGraph counts Graph's, like
// GraphRequests. Unknown names count 0.
func (s *Server) APIRequests(name string) int64 {
	if strings.EqualFold(name, MicrosoftGraph) {
		return s.GraphRequests()
	}
	api := s.apiByName[strings.ToLower(name)]
	if api == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return api.reqs
}

// RequireClaims makes the API registered as name (or Microsoft Graph, with
// MicrosoftGraph) answer calls whose access token does not satisfy claims
// with a 401 claims challenge, as Entra's continuous access evaluation and
// Conditional Access authentication contexts do. claims is the JSON of a
// claims request, e.g. {"access_token":{"acrs":{"essential":true,"value":"c1"}}}
// (a sign-in with this claims parameter yields tokens carrying acrs c1) or
// {"access_token":{"nbf":{"essential":true,"value":"1700000000"}}} (tokens
// issued at or after that Unix time). An empty claims lifts the demand.
func (s *Server) RequireClaims(name, claims string) error {
	var req *claimsRequest
	if claims != "" {
		cr, err := parseClaimsRequest(claims)
		if err != nil {
			return fmt.Errorf("devidp: RequireClaims(%q): claims %w", name, err)
		}
		if len(cr.access) == 0 {
			return fmt.Errorf("devidp: RequireClaims(%q): claims has no access_token claims", name)
		}
		req = &cr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.EqualFold(name, MicrosoftGraph) {
		s.graphClaims = req
		return nil
	}
	api := s.apiByName[strings.ToLower(name)]
	if api == nil {
		return fmt.Errorf("devidp: RequireClaims: no API named %q is registered", name)
	}
	api.claims = req
	return nil
}

// handleAPI serves the registered APIs under /apis/<name>/.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	name, sub, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/apis/"), "/")
	api := s.apiByName[strings.ToLower(name)]
	if api == nil {
		s.apiError(w, http.StatusNotFound, "", "not_found", fmt.Sprintf(
			"No API named %q is registered in devidp.json (apis); the registered APIs are served at /apis/<name>/.", name))
		return
	}
	s.mu.Lock()
	api.reqs++
	required := api.claims
	s.mu.Unlock()

	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE")
		s.apiError(w, http.StatusMethodNotAllowed, "", "method_not_allowed", "The method "+r.Method+" is not allowed.")
		return
	}

	tok, v := s.verifyAPIToken(r, api)
	if v != nil {
		s.apiError(w, v.status, v.challenge, v.code, v.desc)
		return
	}
	if required != nil {
		if missing := required.unmet(tok.raw); len(missing) > 0 {
			s.apiError(w, http.StatusUnauthorized, claimsChallenge(s.authorizeEndpoint(r), "", required.raw), "insufficient_claims",
				fmt.Sprintf("The access token does not satisfy the claims the API demands (%s); sign the user in again with the claims in the challenge.", strings.Join(missing, ", ")))
			return
		}
	}
	call := APICall{
		API:               api.Name,
		Method:            r.Method,
		Path:              "/" + sub,
		Query:             r.URL.RawQuery,
		Subject:           tok.OID,
		ClientID:          tok.Azp,
		Name:              tok.Name,
		PreferredUsername: tok.UPN,
		Scopes:            []string{},
		Roles:             []string{},
		Acrs:              []string{},
	}
	call.Acrs = append(call.Acrs, tok.Acrs...)
	if tok.Scp != "" {
		call.Scopes = strings.Fields(tok.Scp)
		if !slices.ContainsFunc(call.Scopes, func(sc string) bool { _, ok := api.scopes[strings.ToLower(sc)]; return ok }) {
			desc := fmt.Sprintf("The access token's scp claim (%s) grants none of the scopes of the %s API (%s).", tok.Scp, api.Name, orNone(api.Scopes))
			s.apiError(w, http.StatusForbidden, insufficientScope(desc), "insufficient_scope", desc)
			return
		}
	} else {
		call.AppOnly = true
		call.Roles = append(call.Roles, tok.Roles...)
		if !slices.ContainsFunc(tok.Roles, func(r string) bool { _, ok := api.roles[strings.ToLower(r)]; return ok }) {
			desc := fmt.Sprintf("The app-only access token's roles claim (%s) grants none of the app roles of the %s API (%s).",
				orNone(tok.Roles), api.Name, orNone(api.AppRoles))
			if len(api.AppRoles) == 0 {
				desc = fmt.Sprintf("The %s API has no app roles (appRoles in devidp.json): it accepts only delegated tokens, with one of its scopes.", api.Name)
			}
			s.apiError(w, http.StatusForbidden, insufficientScope(desc), "insufficient_scope", desc)
			return
		}
	}

	body, status, msg := readJSONBody(w, r)
	if status != 0 {
		code := "invalid_request"
		switch status {
		case http.StatusRequestEntityTooLarge:
			code = "request_too_large"
		case http.StatusUnsupportedMediaType:
			code = "unsupported_media_type"
		}
		s.apiError(w, status, "", code, msg)
		return
	}
	call.Body = body
	s.log.Info("api call", "api", api.Name, "method", r.Method, "path", call.Path, "subject", call.Subject, "app_only", call.AppOnly)
	writeJSON(w, http.StatusOK, call)
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

func insufficientScope(desc string) string {
	return `Bearer error="insufficient_scope", error_description="` + headerQuote(desc) + `"`
}

// headerQuote makes s safe inside a quoted WWW-Authenticate parameter.
func headerQuote(s string) string {
	return strings.NewReplacer(`"`, `'`, `\`, `/`, "\r", " ", "\n", " ").Replace(s)
}

// readJSONBody reads a request body of at most maxAPIBody bytes that is
// empty (nil) or JSON. status is non-zero when it is refused: 413 too
// large, 415 declared as something other than JSON, 400 not valid JSON.
func readJSONBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, int, string) {
	if r.ContentLength > maxAPIBody {
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes.", maxAPIBody)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes.", maxAPIBody)
	case err != nil:
		return nil, http.StatusBadRequest, "The request body could not be read: " + err.Error()
	case len(strings.TrimSpace(string(data))) == 0:
		return nil, 0, ""
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, http.StatusUnsupportedMediaType, fmt.Sprintf("The request body's Content-Type %q is not supported; send application/json.", ct)
		}
	}
	if !json.Valid(data) {
		return nil, http.StatusBadRequest, "The request body is not valid JSON."
	}
	return json.RawMessage(data), 0, ""
}

// apiError answers a refused API call: the status, the WWW-Authenticate
// challenge when there is one, and {"error", "error_description"}.
func (s *Server) apiError(w http.ResponseWriter, status int, challenge, code, desc string) {
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	s.log.Info("api request refused", "status", status, "error", code, "description", desc)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// tokenClaims are the access token claims the APIs look at.
type tokenClaims struct {
	Scp   string   `json:"scp"`
	Roles []string `json:"roles"`
	Acrs  []string `json:"acrs"`
	OID   string   `json:"oid"`
	TID   string   `json:"tid"`
	Azp   string   `json:"azp"`
	Name  string   `json:"name"`
	UPN   string   `json:"preferred_username"`
	raw   map[string]any
}

// refusal is why a bearer token was not accepted.
type refusal struct {
	status    int
	challenge string // WWW-Authenticate
	code      string
	desc      string
}

func invalidToken(desc string) *refusal {
	return &refusal{http.StatusUnauthorized, `Bearer error="invalid_token", error_description="` + headerQuote(desc) + `"`, "invalid_token", desc}
}

// verifyAPIToken validates the bearer token of a call to api the way an
// API protected by Microsoft.Identity.Web does: signed by the stand-in's
// key, unexpired, aud the API's application ID URI, iss the stand-in's
// v2.0 issuer for its tenant.
func (s *Server) verifyAPIToken(r *http.Request, api *apiReg) (tokenClaims, *refusal) {
	var c tokenClaims
	scheme, raw, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return c, &refusal{http.StatusUnauthorized, "Bearer", "unauthorized",
			"The request has no bearer token: send Authorization: Bearer <access token for " + api.AppIDURI + ">."}
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return c, invalidToken("The token is malformed: it is not an RS256-signed JWT.")
	}
	var std jwt.Claims
	if err := tok.Claims(&s.key.PublicKey, &std, &c, &c.raw); err != nil {
		return c, invalidToken("The signature is invalid: the token is not signed by this stand-in's key.")
	}
	now := s.now()
	if std.Expiry == nil {
		return c, invalidToken("The token has no expiration time.")
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Time: now}, time.Minute); err != nil {
		if errors.Is(err, jwt.ErrExpired) {
			return c, invalidToken(fmt.Sprintf("The token expired at '%s'.", std.Expiry.Time().UTC().Format(time.RFC3339)))
		}
		return c, invalidToken("The token is not yet valid (nbf or iat is in the future).")
	}
	if !slices.ContainsFunc(std.Audience, func(a string) bool { return strings.EqualFold(a, api.AppIDURI) }) {
		return c, invalidToken(fmt.Sprintf("The audience '%s' is invalid: the %s API accepts tokens for '%s'.",
			strings.Join(std.Audience, " "), api.Name, api.AppIDURI))
	}
	if !s.knownTenant(c.TID) || !s.ownIssuer(r, std.Issuer, c.TID) {
		return c, invalidToken(fmt.Sprintf("The issuer '%s' is invalid: the API accepts tokens from '%s'.", std.Issuer, s.issuer(r)))
	}
	return c, nil
}

// ownIssuer reports whether iss is this stand-in's issuer: the one for the
// request's host, or for another loopback name of the same port (a token
// fetched from localhost may be sent to 127.0.0.1).
//
// The issuer names the tenant of the token's user, tid.
func (s *Server) ownIssuer(r *http.Request, iss, tid string) bool {
	if iss == s.tenantIssuer(r, strings.ToLower(tid)) {
		return true
	}
	u, err := url.Parse(iss)
	want, _ := url.Parse(s.tenantIssuer(r, strings.ToLower(tid)))
	if err != nil || u.Scheme != want.Scheme || u.Path != want.Path || u.RawQuery != "" || u.User != nil {
		return false
	}
	h1, p1, err1 := net.SplitHostPort(u.Host)
	h2, p2, err2 := net.SplitHostPort(r.Host)
	return err1 == nil && err2 == nil && p1 == p2 && isLoopbackHost(h1) && isLoopbackHost(h2)
}

// authorizeEndpoint is the authorization_uri of claims challenges.
func (s *Server) authorizeEndpoint(r *http.Request) string {
	return baseURL(r) + "/" + s.tenantID + "/oauth2/v2.0/authorize"
}
