package devidp

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// meScopes are the delegated permissions that allow GET /me.
var meScopes = map[string]bool{
	"user.read": true, "user.readwrite": true, "user.readbasic.all": true, "user.read.all": true,
	"user.readwrite.all": true, "directory.read.all": true, "directory.readwrite.all": true,
}

// accessClaims are the access token claims the Graph stand-in looks at.
type accessClaims struct {
	Scp   string   `json:"scp"`
	Roles []string `json:"roles"`
	OID   string   `json:"oid"`
	TID   string   `json:"tid"`
	Name  string   `json:"name"`
	UPN   string   `json:"preferred_username"`
	raw   map[string]any
}

// handleGraph serves the small part of Microsoft Graph the app needs, under
// /graph/v1.0 (Graph's base URL is configurable in the app).
func (s *Server) handleGraph(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.graphReqs++
	required := s.graphClaims
	s.mu.Unlock()
	if r.URL.Path != "/graph/v1.0/me" {
		s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
			"Resource not found: the stand-in only implements GET /graph/v1.0/me.")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.graphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "Only GET is supported on /me.")
		return
	}
	c, msg := s.verifyGraphToken(r)
	if msg != "" {
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return
	}
	if required != nil {
		if missing := required.unmet(c.raw); len(missing) > 0 {
			// Continuous access evaluation: Graph names itself in client_id.
			w.Header().Set("WWW-Authenticate", claimsChallenge(s.authorizeEndpoint(r), graphAppID, required.raw))
			code := "InsufficientClaims"
			if slices.Contains(missing, "nbf") {
				code = "TokenIssuedBeforeRevocationTimestamp"
			}
			s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken",
				"Continuous access evaluation resulted in challenge with result: InteractionRequired and code: "+code)
			return
		}
	}
	if c.Scp == "" {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
		return
	}
	allowed := false
	for _, sc := range strings.Fields(c.Scp) {
		allowed = allowed || meScopes[strings.ToLower(sc)]
	}
	if !allowed {
		s.graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	u, ok := s.userByID(c.OID)
	if !ok {
		// A user made up on the login page: rebuild it from the token.
		u = User{ID: c.OID, DisplayName: c.Name, UserPrincipalName: c.UPN, Mail: c.UPN}
		u.GivenName, u.Surname, _ = strings.Cut(c.Name, " ")
	}
	opt := func(s string) any {
		if s == "" {
			return nil // Graph returns null for unset properties
		}
		return s
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context":    baseURL(r) + "/graph/v1.0/$metadata#users/$entity",
		"businessPhones":    []string{},
		"displayName":       opt(u.DisplayName),
		"givenName":         opt(u.GivenName),
		"jobTitle":          opt(u.JobTitle),
		"mail":              opt(u.Mail),
		"mobilePhone":       nil,
		"officeLocation":    opt(u.OfficeLocation),
		"preferredLanguage": nil,
		"surname":           opt(u.Surname),
		"userPrincipalName": u.UserPrincipalName,
		"id":                u.ID,
	})
}

// verifyGraphToken checks the bearer token: signed by us, unexpired, for
// Graph, issued for our tenant. msg is non-empty when it is not valid.
func (s *Server) verifyGraphToken(r *http.Request) (accessClaims, string) {
	var c accessClaims
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return c, "Access token is empty."
	}
	var std jwt.Claims
	if err := s.verifyOwnJWT(token, &std, &c, &c.raw); err != nil {
		return c, "Access token validation failure. Invalid signature or malformed token."
	}
	if std.Expiry == nil {
		return c, "Access token has no expiry."
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Time: s.now()}, time.Minute); err != nil {
		return c, "Lifetime validation failed, the token is expired."
	}
	if !std.Audience.Contains(graphResource) && !std.Audience.Contains(graphAppID) && !std.Audience.Contains(graphResource+"/") {
		return c, "Invalid audience."
	}
	if iss, err := url.Parse(std.Issuer); err != nil || !s.knownTenant(c.TID) || !strings.EqualFold(iss.Path, "/"+c.TID+"/v2.0") {
		return c, "Invalid issuer or tenant."
	}
	return c, ""
}

// graphError writes Graph's error shape; 401s carry a Bearer challenge.
func (s *Server) graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	reqID := randomGUID()
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(msg, `"`, `'`)+`"`)
	}
	s.log.Info("graph request refused", "status", status, "code", code, "message", msg)
	inner := map[string]any{
		"date":       s.now().UTC().Format("2006-01-02T15:04:05"),
		"request-id": reqID,
	}
	if cr := r.Header.Get("client-request-id"); guidRE.MatchString(cr) {
		inner["client-request-id"] = cr
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": inner}})
}
