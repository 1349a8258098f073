package devidp

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// pendingAuth is an authorization request waiting for the user to sign in
// and consent. It is referenced from the pages by its random id (the hidden
// "request" field) and bound to the browser that started it by a cookie.
type pendingAuth struct {
	id           string
	browser      string
	tenant       string // path segment the request came in on
	client       *client
	redirectURI  string
	responseMode string
	state        string
	nonce        string
	challenge    string
	scope        string // as requested
	scopes       scopeSet
	claims       claimsRequest // the claims parameter, if any
	forceConsent bool
	user         *User // set once a user is picked; the request then awaits consent
	expires      time.Time
}

// authCode is an issued authorization code, bound to the client, redirect
// URI and PKCE challenge of its request.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	scopes      scopeSet
	claims      claimsRequest // the authorize request's claims parameter: satisfied by the sign-in
	user        User
	expires     time.Time
	redeemed    bool
	family      *tokenFamily // its refresh tokens, revoked if the code is replayed
}

// handleAuthorize validates an authorization request and shows the login page.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cl := s.clients[strings.ToLower(q.Get("client_id"))]
	if cl == nil {
		s.errorPage(w, http.StatusBadRequest, fmt.Sprintf(
			"AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", q.Get("client_id"), s.tenantID),
			"Register the client in devidp.json.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !slices.Contains(cl.RedirectURIs, redirectURI) || len(q["redirect_uri"]) != 1 {
		// Never redirect to an unregistered URI: show the error here.
		s.errorPage(w, http.StatusBadRequest, fmt.Sprintf(
			"AADSTS50011: The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.",
			redirectURI, cl.ClientID),
			"Registered redirect URIs: "+strings.Join(cl.RedirectURIs, ", "))
		return
	}
	mode := q.Get("response_mode")
	switch mode {
	case "":
		mode = "query"
	case "query", "fragment", "form_post":
	default:
		s.errorPage(w, http.StatusBadRequest, fmt.Sprintf(
			"AADSTS900280: The response_mode '%s' is not supported.", mode), "Use query, fragment or form_post.")
		return
	}
	p := &pendingAuth{
		tenant:       r.PathValue("tenant"),
		client:       cl,
		redirectURI:  redirectURI,
		responseMode: mode,
		state:        q.Get("state"),
		nonce:        q.Get("nonce"),
		challenge:    q.Get("code_challenge"),
		scope:        q.Get("scope"),
	}
	// From here on errors go back to the (registered) redirect URI.
	fail := func(code string, aadsts int, desc string) {
		s.log.Info("authorize refused", "client_id", cl.ClientID, "error", code, "aadsts", aadsts)
		s.respond(w, r, p, url.Values{"error": {code}, "error_description": {fmt.Sprintf("AADSTS%d: %s", aadsts, desc)}})
	}
	for _, k := range []string{"client_id", "response_type", "response_mode", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "claims"} {
		if len(q[k]) > 1 {
			fail("invalid_request", 90015, fmt.Sprintf("Requested query string is invalid. The parameter '%s' is duplicated.", k))
			return
		}
		if len(q.Get(k)) > maxParamLength {
			fail("invalid_request", 90015, fmt.Sprintf("The parameter '%s' is too long.", k))
			return
		}
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", 700054, fmt.Sprintf("response_type '%s' is not supported by this stand-in; use 'code'.", rt))
		return
	}
	if strings.TrimSpace(p.scope) == "" {
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	ss, oerr := parseScopes(p.scope)
	if oerr != nil {
		fail(oerr.code, oerr.aadsts, oerr.desc)
		return
	}
	ss, api, unknown := s.resolveScopes(ss)
	if unknown != "" {
		// What Entra answers for a scope the resource does not expose.
		fail("invalid_client", 650053, fmt.Sprintf(
			"The application '%s' asked for scope '%s' that doesn't exist on the resource '%s'. Contact the app vendor. (The %s API in devidp.json defines: %s.)",
			cl.ClientID, unknown[strings.LastIndexByte(unknown, '/')+1:], api.AppIDURI, api.Name, orNone(api.Scopes)))
		return
	}
	p.scopes = ss
	if raw := q.Get("claims"); raw != "" {
		cr, err := parseClaimsRequest(raw)
		if err != nil {
			fail("invalid_request", 90014, "The claims parameter is not valid: "+err.Error())
			return
		}
		p.claims = cr
	}
	method := q.Get("code_challenge_method")
	switch {
	case p.challenge == "" && method != "":
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'code_challenge'.")
		return
	case p.challenge != "" && method != "S256":
		// A missing method means "plain" (RFC 7636), which offers no protection.
		fail("invalid_request", 501491, "Invalid code_challenge_method: only S256 is supported.")
		return
	case p.challenge != "" && !isBase64URL(p.challenge, 43):
		fail("invalid_request", 501491, "Invalid size of code_challenge parameter: an S256 challenge is 43 base64url characters.")
		return
	}
	switch q.Get("prompt") {
	case "none":
		// The stand-in keeps no browser session, so it can never sign in silently.
		fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
		return
	case "consent":
		p.forceConsent = true
	}

	browser := s.browserID(w, r)
	p.browser = browser
	p.id = randomToken(16) // 128 bits: unguessable, so one request cannot be completed with another's id
	s.mu.Lock()
	if !s.hasRoomLocked(func() int { return len(s.pending) }, maxPending) {
		s.mu.Unlock()
		s.errorPage(w, http.StatusServiceUnavailable, "AADSTS90033: Too many pending sign-ins; try again later.", "")
		return
	}
	p.expires = s.now().Add(pendingTTL)
	s.pending[p.id] = p
	s.mu.Unlock()
	s.renderLogin(w, http.StatusOK, p, "")
}

// browserID returns the browser-binding cookie's value, setting it first if
// the browser has none. Pending requests remember it so that a request
// started in one browser cannot be completed from another (login CSRF).
func (s *Server) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && isBase64URL(c.Value, 22) {
		return c.Value
	}
	id := randomToken(16)
	http.SetCookie(w, &http.Cookie{
		Name:     browserCookie,
		Value:    id,
		Path:     "/",
		Secure:   r.TLS != nil,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	return id
}

// handleLogin handles the login and consent forms, which both post here.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "AADSTS90014: The request could not be parsed.", "")
		return
	}
	f := r.PostForm
	id := f.Get("request")

	s.mu.Lock()
	p := s.pending[id]
	if p != nil && s.now().After(p.expires) {
		delete(s.pending, id)
		p = nil
	}
	s.mu.Unlock()
	if p == nil {
		s.errorPage(w, http.StatusBadRequest, "AADSTS50089: This sign-in request has expired or is unknown.",
			"Start the sign-in again from the application.")
		return
	}
	c, err := r.Cookie(browserCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(p.browser)) != 1 {
		s.errorPage(w, http.StatusBadRequest, "AADSTS90100: This sign-in request was started in another browser.",
			"Start the sign-in again from the application, in this browser.")
		return
	}

	if choice := f.Get("consent"); choice != "" {
		s.mu.Lock()
		user := p.user
		s.mu.Unlock()
		switch {
		case user == nil:
			s.errorPage(w, http.StatusBadRequest, "AADSTS90100: Sign in before giving consent.", "Start the sign-in again from the application.")
		case choice == "accept":
			s.grantConsent(user.ID, p.client.ClientID, p.scopes.keys())
			s.complete(w, r, p, user)
		case choice == "cancel":
			if _, ok := s.take(p, user); !ok {
				s.errorPage(w, http.StatusBadRequest, "AADSTS50089: This sign-in request has already been completed.", "")
				return
			}
			s.log.Info("consent declined", "client_id", p.client.ClientID, "user", user.UserPrincipalName)
			s.respond(w, r, p, url.Values{"error": {"access_denied"},
				"error_description": {"AADSTS65004: User declined to consent to access the app."}})
		default:
			s.errorPage(w, http.StatusBadRequest, "AADSTS90100: Invalid consent choice.", "")
		}
		return
	}

	var user User
	switch {
	case f.Get("user") != "":
		u, ok := s.userByID(f.Get("user"))
		if !ok {
			s.renderLogin(w, http.StatusBadRequest, p, "Unknown user.")
			return
		}
		user = u
	case f.Has("name"):
		name, msg := cleanName(f.Get("name"))
		if msg != "" {
			s.renderLogin(w, http.StatusBadRequest, p, msg)
			return
		}
		user = s.userFromName(name)
	default:
		s.renderLogin(w, http.StatusBadRequest, p, "Pick a user or type a name.")
		return
	}
	if s.homeTenant(user) != s.tenantID && !multiTenant(p.tenant) {
		// As Entra: a single-tenant app knows only its tenant's users.
		s.renderLogin(w, http.StatusBadRequest, p, fmt.Sprintf(
			"AADSTS50020: User account '%s' from tenant '%s' does not exist in tenant '%s' and cannot access the application '%s'. Multi-tenant apps sign in at /organizations or /common.",
			user.UserPrincipalName, user.TenantID, s.tenantID, p.client.ClientID))
		return
	}
	s.mu.Lock()
	if s.pending[p.id] != p {
		s.mu.Unlock()
		s.errorPage(w, http.StatusBadRequest, "AADSTS50089: This sign-in request has already been completed.", "Start the sign-in again from the application.")
		return
	}
	picked := &user
	p.user = picked
	needConsent := p.forceConsent || !s.hasConsentLocked(user.ID, p.client.ClientID, p.scopes.keys())
	s.mu.Unlock()
	if needConsent {
		s.renderConsent(w, p, user)
		return
	}
	s.complete(w, r, p, picked)
}

// take removes p from the pending requests and returns the user picked for
// it. It fails if p was already completed (by a concurrent or replayed
// form post) or if another user was picked for it meanwhile (want is the
// pick the caller acted on).
func (s *Server) take(p *pendingAuth, want *User) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[p.id] != p || p.user == nil || p.user != want {
		return User{}, false
	}
	delete(s.pending, p.id)
	return *p.user, true
}

// complete issues an authorization code for p and sends it to the client.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, p *pendingAuth, picked *User) {
	user, ok := s.take(p, picked)
	if !ok {
		s.errorPage(w, http.StatusBadRequest, "AADSTS50089: This sign-in request has already been completed.", "Start the sign-in again from the application.")
		return
	}
	code := randomToken(32)
	s.mu.Lock()
	if !s.hasRoomLocked(func() int { return len(s.codes) }, maxCodes) {
		s.mu.Unlock()
		s.errorPage(w, http.StatusServiceUnavailable, "AADSTS90033: Too many outstanding authorization codes; try again later.", "")
		return
	}
	s.codes[code] = &authCode{
		clientID:    p.client.ClientID,
		redirectURI: p.redirectURI,
		challenge:   p.challenge,
		nonce:       p.nonce,
		scopes:      p.scopes,
		claims:      p.claims,
		user:        user,
		expires:     s.now().Add(codeTTL),
		family:      &tokenFamily{},
	}
	s.mu.Unlock()
	s.log.Info("signed in", "client_id", p.client.ClientID, "user", user.UserPrincipalName, "scope", p.scope, "response_mode", p.responseMode, "claims", p.claims.raw)
	s.respond(w, r, p, url.Values{"code": {code}})
}

// respond sends an authorization response (code or error) to p's redirect
// URI using its response mode. state is added when the request had one.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, p *pendingAuth, params url.Values) {
	if p.state != "" {
		params.Set("state", p.state)
	}
	w.Header().Set("Cache-Control", "no-store")
	switch p.responseMode {
	case "form_post":
		s.renderFormPost(w, p.redirectURI, params)
	case "fragment":
		u := p.redirectURI
		if i := strings.IndexByte(u, '#'); i >= 0 {
			u = u[:i]
		}
		http.Redirect(w, r, u+"#"+params.Encode(), http.StatusFound)
	default:
		m := map[string]string{}
		for k := range params {
			m[k] = params.Get(k)
		}
		http.Redirect(w, r, appendQuery(p.redirectURI, m), http.StatusFound)
	}
}

// --- users and consent ---

func (s *Server) userByID(id string) (User, bool) {
	for _, u := range s.users {
		if strings.EqualFold(u.ID, id) {
			return u, true
		}
	}
	return User{}, false
}

// userFromName returns the configured user whose display name or UPN is
// name, or else a new user with an oid derived from the name, so typing
// the same name again yields the same account.
func (s *Server) userFromName(name string) User {
	for _, u := range s.users {
		if strings.EqualFold(u.DisplayName, name) || strings.EqualFold(u.UserPrincipalName, name) {
			return u
		}
	}
	domain := "contoso.example"
	if at := strings.LastIndexByte(s.users[0].UserPrincipalName, '@'); at >= 0 {
		domain = s.users[0].UserPrincipalName[at+1:]
	}
	var local strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			local.WriteRune(r)
		case r == ' ' || r == '.' || r == '-' || r == '_':
			if local.Len() > 0 && !strings.HasSuffix(local.String(), ".") {
				local.WriteByte('.')
			}
		}
	}
	l := strings.Trim(local.String(), ".")
	if l == "" {
		l = "user." + derivedGUID(name)[:8]
	}
	given, surname, _ := strings.Cut(name, " ")
	upn := l + "@" + domain
	return User{
		ID:                derivedGUID("devidp-user:" + s.tenantID + ":" + strings.ToLower(name)),
		DisplayName:       name,
		GivenName:         given,
		Surname:           strings.TrimSpace(surname),
		UserPrincipalName: upn,
		Mail:              upn,
	}
}

// cleanName trims a typed name and checks it; msg is non-empty when refused.
func cleanName(name string) (string, string) {
	name = strings.Join(strings.Fields(name), " ")
	switch {
	case name == "":
		return "", "Type a name to sign in as a new user."
	case utf8.RuneCountInString(name) > 64:
		return "", "The name is too long (64 characters at most)."
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "", "The name contains invalid characters."
		}
	}
	return name, ""
}

func consentKey(userID, clientID string) string {
	return strings.ToLower(userID + "|" + clientID)
}

// hasConsentLocked reports whether the user consented to all scopes for the client.
func (s *Server) hasConsentLocked(userID, clientID string, scopes []string) bool {
	granted := s.consents[consentKey(userID, clientID)]
	for _, sc := range scopes {
		if !granted[sc] {
			return false
		}
	}
	return true
}

func (s *Server) grantConsent(userID, clientID string, scopes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := consentKey(userID, clientID)
	g := s.consents[k]
	if g == nil {
		if len(s.consents) >= maxConsents {
			// Bound memory: forgetting a consent only means asking again.
			for other := range s.consents {
				delete(s.consents, other)
				break
			}
		}
		g = map[string]bool{}
		s.consents[k] = g
	}
	for _, sc := range scopes {
		g[sc] = true
	}
}

// RevokeConsent forgets every consent the user gave the client, as when
// the user (or an administrator) removes the app's permission grant in
// Entra ID. The user's refresh tokens stay valid but yield no token for any
// resource scope until the user consents again (refresh requests get
// invalid_grant, AADSTS65001, consent_required); the next sign-in shows the
// consent page.
func (s *Server) RevokeConsent(userID, clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.consents, consentKey(userID, clientID))
}

// --- small helpers ---

// isBase64URL reports whether s is n characters of the unpadded base64url alphabet.
func isBase64URL(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
