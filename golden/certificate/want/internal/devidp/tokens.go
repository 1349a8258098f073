package devidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const jwtBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// oauthError is a token or authorization endpoint error, written in Entra's
// shape: {"error", "error_description": "AADSTSnnnn: ...", "error_codes", ...}.
type oauthError struct {
	status   int
	code     string
	aadsts   int
	desc     string
	suberror string // e.g. consent_required; "" for none
	claims   string // a claims challenge for the client, e.g. with interaction_required
}

func invalidRequest(aadsts int, desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", aadsts: aadsts, desc: desc}
}

func invalidGrant(aadsts int, desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", aadsts: aadsts, desc: desc}
}

func invalidClient(aadsts int, desc string) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: aadsts, desc: desc}
}

func missingParam(name string) *oauthError {
	return invalidRequest(900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", name))
}

func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	traceID := randomGUID()
	corrID := r.Header.Get("client-request-id")
	if !guidRE.MatchString(corrID) {
		corrID = randomGUID()
	}
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	s.log.Info("token request refused", "error", e.code, "aadsts", e.aadsts, "description", e.desc, "trace_id", traceID)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	body := map[string]any{
		"error": e.code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			e.aadsts, e.desc, traceID, corrID, ts),
		"error_codes":    []int{e.aadsts},
		"timestamp":      ts,
		"trace_id":       traceID,
		"correlation_id": corrID,
	}
	if e.suberror != "" {
		body["suberror"] = e.suberror
	}
	if e.claims != "" {
		body["claims"] = e.claims
	}
	writeJSON(w, e.status, body)
}

// consentRequired is Entra's answer to a token request for scopes the user
// has not consented to for the client.
func consentRequired(clientID string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", aadsts: 65001, suberror: "consent_required", desc: fmt.Sprintf(
		"The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.",
		clientID, clientID)}
}

// contextNotSatisfied answers a token request whose claims parameter asks
// for authentication contexts (acrs) the user's sign-in did not satisfy.
func contextNotSatisfied(resource string, acrs []string, claims string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", aadsts: 50076, suberror: "basic_action", claims: claims, desc: fmt.Sprintf(
		"Due to a configuration change made by your administrator, or because you moved to a new location, you must sign in again to access '%s' (authentication context %s was not satisfied by this sign-in; send an interactive authorization request with the claims parameter).",
		resource, strings.Join(acrs, ", "))}
}

// tokenFamily links an authorization code with the refresh tokens
// descending from it, so that replaying the code revokes them all.
type tokenFamily struct{ revoked bool }

// refreshGrant is what an (opaque) refresh token stands for.
type refreshGrant struct {
	clientID string
	user     User
	scope    string          // scope of the request that created it, for refreshes without one
	keys     map[string]bool // normalised scopes granted
	acrs     []string        // authentication contexts the sign-in satisfied
	family   *tokenFamily    // shared with the code it descends from
	expires  time.Time
}

// handleToken is the token endpoint.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	err := r.ParseForm()
	f := r.PostForm
	grant := f.Get("grant_type")
	s.countToken(grant)
	if err != nil {
		s.writeOAuthError(w, r, invalidRequest(90014, "The request body could not be parsed as application/x-www-form-urlencoded."))
		return
	}
	for k, v := range f {
		if len(v) > 1 {
			s.writeOAuthError(w, r, invalidRequest(90015, fmt.Sprintf("The parameter '%s' is duplicated.", k)))
			return
		}
	}
	if grant == "" {
		s.writeOAuthError(w, r, missingParam("grant_type"))
		return
	}
	cl, azpacr, e := s.authenticateClient(r, f)
	if e != nil {
		s.writeOAuthError(w, r, e)
		return
	}
	var resp map[string]any
	switch grant {
	case "authorization_code":
		resp, e = s.authorizationCodeGrant(r, cl, azpacr, f)
	case "refresh_token":
		resp, e = s.refreshTokenGrant(r, cl, azpacr, f)
	case "client_credentials":
		resp, e = s.clientCredentialsGrant(r, cl, azpacr, f)
	default:
		e = &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", aadsts: 70003, desc: fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant)}
	}
	if e != nil {
		s.writeOAuthError(w, r, e)
		return
	}
	s.log.Info("token issued", "grant_type", grant, "client_id", cl.ClientID, "scope", resp["scope"])
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) countToken(grant string) {
	switch grant {
	case "authorization_code", "refresh_token", "client_credentials":
	default:
		grant = "other" // keep the counter map small whatever clients send
	}
	s.mu.Lock()
	s.tokenReqs[grant]++
	s.mu.Unlock()
}

// authenticateClient checks the client's credential: a secret (form field
// or HTTP Basic) or a certificate-signed client assertion. azpacr is "1"
// for a secret and "2" for a certificate, as in Entra's tokens.
func (s *Server) authenticateClient(r *http.Request, f url.Values) (cl *client, azpacr string, e *oauthError) {
	clientID := f.Get("client_id")
	secret := f.Get("client_secret")
	assertionType, assertion := f.Get("client_assertion_type"), f.Get("client_assertion")
	basicUser, basicPass, hasBasic := r.BasicAuth()
	if hasBasic {
		// RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
		u, err1 := url.QueryUnescape(basicUser)
		p, err2 := url.QueryUnescape(basicPass)
		if err1 != nil || err2 != nil {
			return nil, "", invalidClient(7000215, "The Authorization header could not be decoded.")
		}
		if clientID != "" && !strings.EqualFold(clientID, u) {
			return nil, "", invalidClient(700021, "The client_id parameter does not match the Authorization header.")
		}
		clientID, basicPass = u, p
	}
	methods := 0
	for _, used := range []bool{hasBasic, secret != "", assertion != "" || assertionType != ""} {
		if used {
			methods++
		}
	}
	if methods > 1 {
		return nil, "", invalidRequest(7000219, "More than one client authentication method was used; use exactly one.")
	}
	if clientID == "" && assertion != "" {
		// RFC 7523 makes client_id optional with an assertion: take it from iss
		// (the signature is checked against that client's certificates below).
		var c jwt.Claims
		if tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256, jose.PS256}); err == nil {
			if tok.UnsafeClaimsWithoutVerification(&c) == nil {
				clientID = c.Issuer
			}
		}
	}
	if clientID == "" {
		return nil, "", missingParam("client_id")
	}
	cl = s.clients[strings.ToLower(clientID)]
	if cl == nil {
		return nil, "", &oauthError{status: http.StatusBadRequest, code: "unauthorized_client", aadsts: 700016, desc: fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, s.tenantID)}
	}
	switch {
	case hasBasic || secret != "":
		if hasBasic {
			secret = basicPass
		}
		if cl.ClientSecret == "" || !secretEqual(secret, cl.ClientSecret) {
			return nil, "", invalidClient(7000215, fmt.Sprintf(
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value for app '%s'.", cl.ClientID))
		}
		return cl, "1", nil
	case assertionType != "" || assertion != "":
		if assertionType != jwtBearerAssertion {
			return nil, "", invalidClient(700023, fmt.Sprintf("client_assertion_type must be '%s'.", jwtBearerAssertion))
		}
		if assertion == "" {
			return nil, "", missingParam("client_assertion")
		}
		if e := s.verifyAssertion(r, cl, assertion); e != nil {
			return nil, "", e
		}
		return cl, "2", nil
	}
	return nil, "", invalidClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
}

// secretEqual compares secrets in constant time (hashing first so that the
// length does not leak either).
func secretEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// verifyAssertion checks a private_key_jwt client assertion: RS256/PS256,
// signed by one of the client's registered (currently valid) certificates,
// iss = sub = client id, aud = this token endpoint, unexpired. Another
// issuer's token goes to the client's federated credentials instead.
func (s *Server) verifyAssertion(r *http.Request, cl *client, assertion string) *oauthError {
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256, jose.PS256})
	if err != nil {
		return invalidClient(50027, "JWT token is invalid or malformed: "+err.Error())
	}
	// An assertion the client did not sign itself (iss is not its id) is
	// another issuer's token: a federated identity credential's.
	if c, err := unverifiedClaims(tok); err != nil {
		return invalidClient(50027, "JWT token is invalid or malformed: "+err.Error())
	} else if !strings.EqualFold(c.Issuer, cl.ClientID) {
		return s.verifyFederatedAssertion(r, cl, tok, c)
	}
	if len(cl.certs) == 0 {
		return invalidClient(700027, fmt.Sprintf(
			"Client assertion failed signature validation: no certificate is registered for application '%s' (certificatesPem in devidp.json).", cl.ClientID))
	}
	now := s.now()
	var claims jwt.Claims
	verified := false
	for _, c := range cl.certs {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			continue
		}
		if tok.Claims(c.PublicKey, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return invalidClient(700027, "Client assertion failed signature validation: it is not signed by a registered, currently valid certificate.")
	}
	if !strings.EqualFold(claims.Issuer, cl.ClientID) || !strings.EqualFold(claims.Subject, cl.ClientID) {
		return invalidClient(700021, "Client assertion application identifier doesn't match 'client_id' parameter (iss and sub must be the client id).")
	}
	endpoint := baseURL(r) + r.URL.Path
	okAud := false
	for _, a := range claims.Audience {
		if strings.EqualFold(a, endpoint) || strings.EqualFold(a, baseURL(r)+"/"+s.tenantID+"/oauth2/v2.0/token") {
			okAud = true
		}
	}
	if !okAud {
		return invalidClient(50027, fmt.Sprintf("Invalid JWT token: the audience of the client assertion must be '%s'.", endpoint))
	}
	if claims.Expiry == nil {
		return invalidClient(700024, "Client assertion is missing the exp claim.")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: now}, time.Minute); err != nil {
		return invalidClient(700024, "Client assertion is not within its valid time range: "+err.Error())
	}
	return nil
}

// authorizationCodeGrant redeems a code. A code is consumed by its first
// redemption attempt, successful or not; replaying it also revokes the
// refresh tokens issued from it (RFC 6749 section 4.1.2).
func (s *Server) authorizationCodeGrant(r *http.Request, cl *client, azpacr string, f url.Values) (map[string]any, *oauthError) {
	code := f.Get("code")
	if code == "" {
		return nil, missingParam("code")
	}
	redirectURI := f.Get("redirect_uri")
	if redirectURI == "" {
		return nil, missingParam("redirect_uri")
	}
	s.mu.Lock()
	ac := s.codes[code]
	var e *oauthError
	switch {
	case ac == nil:
		e = invalidGrant(9002313, "Invalid request. The authorization code is malformed or invalid.")
	case s.now().After(ac.expires):
		delete(s.codes, code)
		e = invalidGrant(70008, "The provided authorization code or refresh token has expired due to inactivity.")
	case ac.redeemed:
		ac.family.revoked = true
		e = invalidGrant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	default:
		ac.redeemed = true
	}
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	if !strings.EqualFold(ac.clientID, cl.ClientID) {
		return nil, invalidGrant(70000, "The provided authorization code was issued to a different client.")
	}
	if redirectURI != ac.redirectURI {
		return nil, invalidGrant(500112, "The reply address does not match the reply address provided when requesting the authorization code.")
	}
	verifier := f.Get("code_verifier")
	switch {
	case ac.challenge == "" && verifier != "":
		return nil, invalidGrant(501481, "A code_verifier was sent but the authorization request had no code_challenge.")
	case ac.challenge != "" && verifier == "":
		return nil, missingParam("code_verifier")
	case ac.challenge != "":
		sum := sha256.Sum256([]byte(verifier))
		got := base64.RawURLEncoding.EncodeToString(sum[:])
		if len(verifier) < 43 || len(verifier) > 128 || subtle.ConstantTimeCompare([]byte(got), []byte(ac.challenge)) != 1 {
			return nil, invalidGrant(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
	}
	req := ac.scopes
	if sc := f.Get("scope"); strings.TrimSpace(sc) != "" {
		var e *oauthError
		if req, e = s.requestedScopes(sc); e != nil {
			return nil, e
		}
	}
	if e := s.checkConsent(cl, ac.user, req); e != nil {
		return nil, e
	}
	// The sign-in satisfied the claims of the authorize request; the token
	// request may repeat them (MSAL does) but not ask for more contexts.
	signedIn := ac.claims.values("acrs")
	tokenReq, e := tokenClaimsParam(f)
	if e != nil {
		return nil, e
	}
	if missing := notIn(tokenReq.values("acrs"), signedIn); len(missing) > 0 {
		aud, _ := s.delegatedScopes(cl, ac.user, req)
		return nil, contextNotSatisfied(aud, missing, tokenReq.raw)
	}
	extra := issuedClaims{
		acrs:  union(signedIn, tokenReq.values("acrs")),
		xmsCC: union(ac.claims.values("xms_cc"), tokenReq.values("xms_cc")),
	}
	keys := toSet(req.keys())
	for _, k := range ac.scopes.keys() {
		keys[k] = true
	}
	resp, err := s.userTokens(r, cl, azpacr, ac.user, req, extra, ac.nonce, req.oidc["openid"] || ac.scopes.oidc["openid"])
	if err != nil {
		return nil, serverError(err)
	}
	if req.oidc["offline_access"] || ac.scopes.oidc["offline_access"] {
		rt, e := s.newRefreshToken(cl, ac.user, strings.Join(req.raw, " "), keys, signedIn, ac.family)
		if e != nil {
			return nil, e
		}
		resp["refresh_token"] = rt
	}
	return resp, nil
}

// requestedScopes parses a token request's scope parameter and checks it
// against the registered APIs.
func (s *Server) requestedScopes(param string) (scopeSet, *oauthError) {
	ss, e := parseScopes(param)
	if e != nil {
		return ss, e
	}
	ss, api, unknown := s.resolveScopes(ss)
	if unknown != "" {
		return ss, unknownScopeError(api, unknown)
	}
	return ss, nil
}

// tokenClaimsParam parses the token request's claims parameter, if any.
func tokenClaimsParam(f url.Values) (claimsRequest, *oauthError) {
	raw := f.Get("claims")
	if raw == "" {
		return claimsRequest{}, nil
	}
	cr, err := parseClaimsRequest(raw)
	if err != nil {
		return cr, invalidRequest(90014, "The claims parameter is not valid: "+err.Error())
	}
	return cr, nil
}

// notIn returns the values of want missing from have.
func notIn(want, have []string) []string {
	var missing []string
	for _, v := range want {
		if !slices.Contains(have, v) {
			missing = append(missing, v)
		}
	}
	return missing
}

// refreshTokenGrant redeems a refresh token. Refresh tokens rotate: the
// presented one is invalidated and a new one returned.
func (s *Server) refreshTokenGrant(r *http.Request, cl *client, azpacr string, f url.Values) (map[string]any, *oauthError) {
	rt := f.Get("refresh_token")
	if rt == "" {
		return nil, missingParam("refresh_token")
	}
	s.mu.Lock()
	g := s.refresh[rt]
	var e *oauthError
	switch {
	case g == nil || g.family.revoked:
		delete(s.refresh, rt)
		e = invalidGrant(9002313, "Invalid request. The refresh token is malformed, revoked or already used (the stand-in rotates refresh tokens; it also forgets them on restart).")
	case s.now().After(g.expires):
		delete(s.refresh, rt)
		e = invalidGrant(70008, "The provided authorization code or refresh token has expired due to inactivity.")
	case !strings.EqualFold(g.clientID, cl.ClientID):
		e = invalidGrant(70000, "Provided grant is invalid or malformed: the refresh token was issued to a different client.")
	}
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	// Refused requests (bad or unconsented scopes, unmet claims) leave the
	// refresh token valid, as with Entra; only a successful one uses it up.
	scope := g.scope
	if sc := f.Get("scope"); strings.TrimSpace(sc) != "" {
		scope = sc
	}
	req, e := s.requestedScopes(scope)
	if e != nil {
		return nil, e
	}
	if e := s.checkConsent(cl, g.user, req); e != nil {
		return nil, e
	}
	tokenReq, e := tokenClaimsParam(f)
	if e != nil {
		return nil, e
	}
	if missing := notIn(tokenReq.values("acrs"), g.acrs); len(missing) > 0 {
		aud, _ := s.delegatedScopes(cl, g.user, req)
		return nil, contextNotSatisfied(aud, missing, tokenReq.raw)
	}
	// Only a claims request puts acrs in a refreshed token.
	extra := issuedClaims{acrs: tokenReq.values("acrs"), xmsCC: tokenReq.values("xms_cc")}
	s.mu.Lock()
	if s.refresh[rt] != g {
		s.mu.Unlock()
		return nil, invalidGrant(9002313, "Invalid request. The refresh token is malformed, revoked or already used (the stand-in rotates refresh tokens; it also forgets them on restart).")
	}
	delete(s.refresh, rt)
	s.mu.Unlock()
	keys := toSet(req.keys())
	for k := range g.keys {
		keys[k] = true
	}
	resp, err := s.userTokens(r, cl, azpacr, g.user, req, extra, "", req.oidc["openid"] || g.keys["openid"])
	if err != nil {
		return nil, serverError(err)
	}
	newRT, e := s.newRefreshToken(cl, g.user, strings.Join(req.raw, " "), keys, g.acrs, g.family)
	if e != nil {
		return nil, e
	}
	resp["refresh_token"] = newRT
	return resp, nil
}

// checkConsent refuses resource scopes the user has not consented to for
// the client (consent is per user, client and scope, recorded by the
// consent page). "<resource>/.default" stands for what the user consented
// to on that resource, so it needs consent to at least one of its scopes.
func (s *Server) checkConsent(cl *client, u User, req scopeSet) *oauthError {
	s.mu.Lock()
	defer s.mu.Unlock()
	consented := s.consents[consentKey(u.ID, cl.ClientID)]
	for _, k := range req.resourceKeys() {
		if consented[k] {
			continue
		}
		if strings.HasSuffix(k, "/.default") && hasKeyWithPrefix(consented, strings.TrimSuffix(k, ".default")) {
			continue
		}
		s.log.Info("consent required", "client_id", cl.ClientID, "user", u.UserPrincipalName, "scope", k)
		return consentRequired(cl.ClientID)
	}
	return nil
}

func hasKeyWithPrefix(m map[string]bool, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// delegatedScopes returns the aud and scp of a delegated access token for
// req. For a registered API: its AppIDURI and the scopes asked for, or for
// .default the API's scopes the user consented to (all of them once the
// user consented to .default). Otherwise see scopeSet.accessTokenScopes.
func (s *Server) delegatedScopes(cl *client, u User, req scopeSet) (aud string, scp []string) {
	api := s.apiForResource(req.resource)
	if api == nil {
		return req.accessTokenScopes()
	}
	if !req.isDefault {
		return api.AppIDURI, slices.Clone(req.names)
	}
	prefix := strings.ToLower(req.resource) + "/"
	s.mu.Lock()
	consented := s.consents[consentKey(u.ID, cl.ClientID)]
	all := consented[prefix+".default"]
	for _, sc := range api.Scopes {
		if all || consented[prefix+strings.ToLower(sc)] {
			scp = append(scp, sc)
		}
	}
	s.mu.Unlock()
	return api.AppIDURI, scp
}

// clientCredentialsGrant issues an app-only access token. The scope must be
// "<resource>/.default"; OIDC scopes (MSAL appends them) are ignored.
func (s *Server) clientCredentialsGrant(r *http.Request, cl *client, azpacr string, f url.Values) (map[string]any, *oauthError) {
	ss, e := parseScopes(f.Get("scope"))
	if e == nil && (!ss.isDefault || ss.resource == "") {
		e = &oauthError{status: http.StatusBadRequest, code: "invalid_scope", aadsts: 1002012, desc: fmt.Sprintf(
			"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
			f.Get("scope"))}
	}
	if e != nil {
		return nil, e
	}
	aud := ss.resource
	roles := cl.Roles
	if len(roles) == 0 {
		roles = []string{"User.Read.All"}
	}
	if api := s.apiForResource(ss.resource); api != nil {
		// A registered API: every client is granted all its app roles.
		aud, roles = api.AppIDURI, api.AppRoles
	}
	now := s.now()
	spID := s.servicePrincipalID(cl)
	claims := map[string]any{
		"aud":    aud,
		"iss":    s.issuer(r),
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(s.atTTL).Unix(),
		"oid":    spID,
		"sub":    spID,
		"tid":    s.tenantID,
		"azp":    cl.ClientID,
		"azpacr": azpacr,
		"idtyp":  "app",
		"uti":    randomToken(16),
		"ver":    "2.0",
	}
	if len(roles) > 0 {
		claims["roles"] = roles // Entra omits the claim when no role is granted
	}
	at, err := s.sign(claims)
	if err != nil {
		return nil, serverError(err)
	}
	return map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int64(s.atTTL / time.Second),
		"ext_expires_in": int64(s.atTTL / time.Second),
		"scope":          aud + "/.default",
		"access_token":   at,
	}, nil
}

// userTokens builds the response for a delegated grant (without the
// refresh token): access token, optional ID token and client_info.
func (s *Server) userTokens(r *http.Request, cl *client, azpacr string, u User, req scopeSet, extra issuedClaims, nonce string, withIDToken bool) (map[string]any, error) {
	now := s.now()
	tid := s.homeTenant(u)
	iss := s.tenantIssuer(r, tid)
	sub := pairwiseSubject(u.ID, cl.ClientID)
	aud, scp := s.delegatedScopes(cl, u, req)
	atClaims := map[string]any{
		"aud":                aud,
		"iss":                iss,
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(s.atTTL).Unix(),
		"scp":                strings.Join(scp, " "),
		"oid":                u.ID,
		"tid":                tid,
		"sub":                sub,
		"azp":                cl.ClientID,
		"azpacr":             azpacr,
		"name":               u.DisplayName,
		"preferred_username": u.UserPrincipalName,
		"idtyp":              "user",
		"uti":                randomToken(16),
		"ver":                "2.0",
	}
	extra.addTo(atClaims)
	at, err := s.sign(atClaims)
	if err != nil {
		return nil, err
	}
	clientInfo, err := json.Marshal(map[string]string{"uid": u.ID, "utid": tid})
	if err != nil {
		return nil, err
	}
	resp := map[string]any{
		"token_type":     "Bearer",
		"scope":          strings.Join(req.raw, " "),
		"expires_in":     int64(s.atTTL / time.Second),
		"ext_expires_in": int64(s.atTTL / time.Second),
		"access_token":   at,
		"client_info":    base64.RawURLEncoding.EncodeToString(clientInfo),
	}
	if withIDToken {
		claims := map[string]any{
			"aud":                cl.ClientID,
			"iss":                iss,
			"iat":                now.Unix(),
			"nbf":                now.Unix(),
			"exp":                now.Add(idTokenTTL).Unix(),
			"sub":                sub,
			"oid":                u.ID,
			"tid":                tid,
			"name":               u.DisplayName,
			"preferred_username": u.UserPrincipalName,
			"uti":                randomToken(16),
			"ver":                "2.0",
		}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		if req.oidc["email"] && u.Mail != "" {
			claims["email"] = u.Mail
		}
		for k, v := range s.authorizationClaims(r, u) {
			claims[k] = v
		}
		idt, err := s.sign(claims)
		if err != nil {
			return nil, err
		}
		resp["id_token"] = idt
	}
	return resp, nil
}

func (s *Server) newRefreshToken(cl *client, u User, scope string, keys map[string]bool, acrs []string, family *tokenFamily) (string, *oauthError) {
	rt := randomToken(32)
	s.mu.Lock()
	defer s.mu.Unlock()
	if family.revoked {
		return "", invalidGrant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	}
	if !s.hasRoomLocked(func() int { return len(s.refresh) }, maxRefresh) {
		return "", &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", aadsts: 90033, desc: "Too many refresh tokens outstanding."}
	}
	s.refresh[rt] = &refreshGrant{clientID: cl.ClientID, user: u, scope: scope, keys: keys, acrs: acrs, family: family, expires: s.now().Add(refreshTTL)}
	return rt, nil
}

// sign signs claims as an RS256 JWT with the server's key (kid in the header).
func (s *Server) sign(claims map[string]any) (string, error) {
	return jwt.Signed(s.signer).Claims(claims).Serialize()
}

// verifyOwnJWT checks that token is signed by this server and decodes its
// claims into dest. It checks nothing else.
func (s *Server) verifyOwnJWT(token string, dest ...any) error {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return err
	}
	return tok.Claims(&s.key.PublicKey, dest...)
}

// pairwiseSubject mimics Entra's sub claim: stable per user and application,
// different across applications.
func pairwiseSubject(oid, clientID string) string {
	h := sha256.Sum256([]byte(strings.ToLower(oid + ":" + clientID)))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// servicePrincipalID is the stable object id of a client's service principal.
func (s *Server) servicePrincipalID(cl *client) string {
	return derivedGUID("devidp-sp:" + s.tenantID + ":" + strings.ToLower(cl.ClientID))
}

func serverError(err error) *oauthError {
	return &oauthError{status: http.StatusInternalServerError, code: "server_error", aadsts: 90033, desc: "Internal error: " + err.Error()}
}

func toSet(keys []string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}
