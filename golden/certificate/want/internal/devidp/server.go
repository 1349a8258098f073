// Package devidp is a local stand-in for Microsoft Entra ID (the Microsoft
// identity platform v2.0 endpoints), for development and tests only.
//
// It implements enough of OpenID Connect and OAuth 2.0 for MSAL Go's
// confidential client and go-oidc: discovery, JWKS, the authorization code
// flow with PKCE (login page with test users, consent page, query /
// fragment / form_post responses, the claims parameter), the token endpoint
// (authorization_code, refresh_token, client_credentials; client secrets,
// certificate client assertions and federated credentials' tokens),
// logout, a tiny Microsoft Graph /v1.0/me, the protected web APIs
// registered in Config.APIs, and the issuers of federated tokens: a
// Kubernetes service-account issuer and managed identity endpoints (App
// Service and IMDS style; see federated.go and managedidentity.go).
//
// # Protected APIs
//
// Each registered API (Config.APIs, "apis" in devidp.json) is served at
// <base URL>/apis/<Name>/ and every path below it, for GET, HEAD, POST,
// PUT, PATCH and DELETE. It accepts only access tokens the stand-in issued
// for it: signature, iss (the v2.0 issuer of the tenant), aud (the API's
// AppIDURI) and expiry are checked, and then either scp must hold one of
// the API's Scopes (delegated) or roles one of its AppRoles (app-only).
// Refusals are 401 with WWW-Authenticate: Bearer (no token) or Bearer
// error="invalid_token", error_description="..."; 403 with
// error="insufficient_scope" for a valid token without the permission. An
// accepted call is answered with an APICall describing it (JSON bodies up
// to 64 KiB are echoed). APIRequests counts the calls; RequireClaims makes
// an API (or Graph) answer with a claims challenge (see claims.go).
//
// Tokens for an API come from the token endpoint like Entra's:
// "<AppIDURI>/<scope>" scopes give delegated tokens with aud AppIDURI and
// scp the scope names; a scope the API does not define is refused
// (invalid_scope, AADSTS70011; at the authorize endpoint invalid_client,
// AADSTS650053). client_credentials with "<AppIDURI>/.default" gives an
// app-only token with all the API's AppRoles in roles (every registered
// client is granted them). Resources that are not registered (api://...
// of an API not in the file) still get tokens, with the scopes asked for.
//
// # Consent
//
// Consent is recorded per user, client and scope when the user accepts the
// consent page. A refresh token only yields tokens for scopes the user has
// consented to for that client; asking for others (typically another API's
// scopes) is refused with invalid_grant, AADSTS65001 and suberror
// consent_required, until the user goes through the authorize endpoint
// with those scopes and consents (incremental consent). RevokeConsent
// forgets a user's consents.
//
// All state (pending sign-ins, codes, refresh tokens, consents) is kept in
// memory; only the token signing key may be persisted by the caller. Refresh
// tokens therefore do not survive a restart, and they rotate: redeeming one
// invalidates it (unlike Entra, which keeps old refresh tokens valid), so a
// client that reuses an old refresh token gets invalid_grant. A refused
// refresh request (unknown or unconsented scope) does not use it up.
package devidp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	graphResource  = "https://graph.microsoft.com"
	graphAppID     = "00000003-0000-0000-c000-000000000000"
	pendingTTL     = 10 * time.Minute
	codeTTL        = 10 * time.Minute
	idTokenTTL     = time.Hour
	refreshTTL     = 24 * time.Hour
	pruneInterval  = 30 * time.Second
	maxFormBytes   = 64 << 10
	browserCookie  = "devidp_browser"
	maxPending     = 10000
	maxCodes       = 10000
	maxRefresh     = 100000
	maxConsents    = 10000
	maxParamLength = 4096
)

// Server is the stand-in identity provider. It is an http.Handler; create
// it with New.
type Server struct {
	tenantID string
	users    []User
	clients  map[string]*client // by lower-case client id
	now      func() time.Time
	log      *slog.Logger
	atTTL    time.Duration

	key    *rsa.PrivateKey
	kid    string
	signer jose.Signer
	jwks   []byte

	pages *template.Template
	mux   *http.ServeMux

	apis      []*apiReg
	apiByName map[string]*apiReg // by lower-case name
	apiByURI  map[string]*apiReg // by lower-case application ID URI

	mu          sync.Mutex
	pending     map[string]*pendingAuth  // by request id
	codes       map[string]*authCode     // by code
	refresh     map[string]*refreshGrant // by refresh token
	consents    map[string]map[string]bool
	lastPrune   time.Time
	tokenReqs   map[string]int64
	graphReqs   int64
	graphClaims *claimsRequest // demanded of Graph tokens by RequireClaims

	fed *federation // federated credentials' issuers, managed identities
}

// client is a registered Client with its parsed credentials.
type client struct {
	Client
	certs []*x509.Certificate
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		tenantID:  strings.ToLower(cfg.TenantID),
		users:     append([]User(nil), cfg.Users...),
		clients:   map[string]*client{},
		now:       cfg.Now,
		log:       cfg.Logger,
		atTTL:     cfg.AccessTokenLifetime,
		key:       cfg.SigningKey,
		pending:   map[string]*pendingAuth{},
		codes:     map[string]*authCode{},
		refresh:   map[string]*refreshGrant{},
		consents:  map[string]map[string]bool{},
		tokenReqs: map[string]int64{},
		apiByName: map[string]*apiReg{},
		apiByURI:  map[string]*apiReg{},
	}
	s.fed = &federation{identityHeader: cfg.IdentityHeader, identities: map[string]ManagedIdentity{}}
	if s.fed.identityHeader == "" {
		s.fed.identityHeader = randomToken(24)
	}
	for _, mi := range cfg.ManagedIdentities {
		s.fed.identities[strings.ToLower(mi.ClientID)] = mi
	}
	for _, a := range cfg.APIs {
		reg := newAPIReg(a)
		s.apis = append(s.apis, reg)
		s.apiByName[strings.ToLower(a.Name)] = reg
		s.apiByURI[strings.ToLower(a.AppIDURI)] = reg
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.atTTL == 0 {
		s.atTTL = time.Hour
	}
	for _, c := range cfg.Clients {
		cl := &client{Client: c}
		for _, p := range c.CertificatesPEM {
			certs, err := parseClientCertificates(p)
			if err != nil { // already validated; kept for safety
				return nil, err
			}
			cl.certs = append(cl.certs, certs...)
		}
		s.clients[strings.ToLower(c.ClientID)] = cl
	}
	if s.key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		s.key = k
	}
	if err := s.initKeys(); err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.routes()
	return s, nil
}

// initKeys derives the key id (RFC 7638 thumbprint), the signer and the
// JWKS document from the signing key.
func (s *Server) initKeys() error {
	if s.key.N.BitLen() < 2048 {
		return errors.New("devidp: signing key must be RSA with at least 2048 bits")
	}
	pub := jose.JSONWebKey{Key: &s.key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return err
	}
	s.kid = base64.RawURLEncoding.EncodeToString(tp)
	pub.KeyID = s.kid
	s.signer, err = jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: s.key, KeyID: s.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return err
	}
	s.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	return err
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.handleIndex)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleDiscovery)
	m.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleJWKS)
	m.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	m.HandleFunc("POST /{tenant}/login", s.handleLogin)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleToken)
	m.HandleFunc("GET /{tenant}/oauth2/v2.0/logout", s.handleLogout)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/logout", s.handleLogout)
	s.mux = m
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/graph/") {
		// Graph and API paths would overlap the /{tenant}/... patterns in the mux.
		s.handleGraph(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/apis/") {
		s.handleAPI(w, r)
		return
	}
	// Managed identity endpoints and the Kubernetes issuer (federated.go,
	// managedidentity.go), also outside the /{tenant}/... patterns.
	switch p := r.URL.Path; {
	case p == AppServiceIdentityPath || p == AppServiceIdentityPath+"/":
		s.handleAppServiceIdentity(w, r)
		return
	case strings.HasPrefix(p, "/metadata/"):
		s.handleIMDS(w, r)
		return
	case strings.HasPrefix(p, KubernetesIssuerPath+"/"):
		s.handleKubernetes(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// TokenRequests reports how many requests reached the token endpoint with
// the given grant_type ("" counts all of them), successful or not.
func (s *Server) TokenRequests(grantType string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if grantType != "" {
		return s.tokenReqs[grantType]
	}
	var n int64
	for _, v := range s.tokenReqs {
		n += v
	}
	return n
}

// GraphRequests reports how many requests reached the Graph endpoints.
func (s *Server) GraphRequests() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.graphReqs
}

// baseURL is the scheme and host the client used to reach us: URLs in
// discovery documents and token issuers follow it, like Entra's do.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http" // only when served without TLS (some unit tests)
	}
	return scheme + "://" + r.Host
}

// issuer is the issuer of the tokens this server signs.
func (s *Server) issuer(r *http.Request) string {
	return baseURL(r) + "/" + s.tenantID + "/v2.0"
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	base := baseURL(r)
	iss := s.issuer(r)
	switch strings.ToLower(tenant) {
	case "common", "organizations", "consumers":
		// Multi-tenant metadata: Entra publishes a templated issuer.
		iss = base + "/{tenantid}/v2.0"
	}
	t := base + "/" + tenant
	doc := map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           t + "/oauth2/v2.0/authorize",
		"token_endpoint":                                   t + "/oauth2/v2.0/token",
		"end_session_endpoint":                             t + "/oauth2/v2.0/logout",
		"jwks_uri":                                         t + "/discovery/v2.0/keys",
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query", "fragment", "form_post"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                          []string{"pairwise"},
		"id_token_signing_alg_values_supported":            []string{"RS256"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            []string{"client_secret_post", "client_secret_basic", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256", "PS256"},
		"scopes_supported":                                 []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                                 []string{"sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "name", "preferred_username", "email", "oid", "tid", "ver"},
		"request_uri_parameter_supported":                  false,
		"http_logout_supported":                            true,
		"frontchannel_logout_supported":                    false,
		"tenant_region_scope":                              "WW",
		"cloud_instance_name":                              "localhost",
		"cloud_graph_host_name":                            r.Host,
		"msgraph_host":                                     r.Host + "/graph",
	}
	w.Header().Set("Cache-Control", "max-age=3600")
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(s.jwks)
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	var apis []apiView
	for _, a := range s.apis {
		apis = append(apis, apiView{URL: baseURL(r) + "/apis/" + a.Name + "/", AppIDURI: a.AppIDURI})
	}
	s.render(w, http.StatusOK, "index", pageData{
		Title:    "Running",
		Tenant:   s.tenantID,
		Issuer:   s.issuer(r),
		Metadata: s.issuer(r) + "/.well-known/openid-configuration",
		APIs:     apis,
	})
}

// handleLogout implements the end_session_endpoint. There is no browser
// session to end (the stand-in keeps none), so it only validates the
// post-logout redirect URI against the registrations.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "AADSTS90014: The request could not be parsed.", "")
		return
	}
	target := r.Form.Get("post_logout_redirect_uri")
	clientID := r.Form.Get("client_id")
	if clientID == "" {
		clientID = s.audienceOfIDTokenHint(r.Form.Get("id_token_hint"))
	}
	if target != "" && s.postLogoutAllowed(clientID, target) {
		u := target
		if st := r.Form.Get("state"); st != "" {
			u = appendQuery(target, map[string]string{"state": st})
		}
		s.log.Info("signed out", "redirect", target)
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	d := pageData{Title: "You signed out"}
	if target != "" {
		d.Message = fmt.Sprintf("The post_logout_redirect_uri %q is not registered in devidp.json, so you were not sent back to the application.", target)
		s.log.Warn("logout with unregistered post_logout_redirect_uri", "uri", target, "client_id", clientID)
	}
	s.render(w, http.StatusOK, "signedout", d)
}

// postLogoutAllowed reports whether target is registered: for clientID when
// the client is known, else for any client.
func (s *Server) postLogoutAllowed(clientID, target string) bool {
	check := func(c *client) bool {
		for _, u := range c.PostLogoutRedirectURIs {
			if u == target {
				return true
			}
		}
		return false
	}
	if c := s.clients[strings.ToLower(clientID)]; c != nil {
		return check(c)
	}
	if clientID != "" {
		return false
	}
	for _, c := range s.clients {
		if check(c) {
			return true
		}
	}
	return false
}

// audienceOfIDTokenHint returns the aud of an id_token_hint signed by us
// (expired hints are fine, as with Entra), or "".
func (s *Server) audienceOfIDTokenHint(hint string) string {
	if hint == "" {
		return ""
	}
	var c struct {
		Aud string `json:"aud"`
	}
	if err := s.verifyOwnJWT(hint, &c); err != nil {
		return ""
	}
	return c.Aud
}

// --- state housekeeping ---

// pruneLocked drops expired entries; at most every pruneInterval unless
// force is set (a map reached its cap). s.mu must be held.
func (s *Server) pruneLocked(force bool) {
	now := s.now()
	if !force && now.Sub(s.lastPrune) < pruneInterval && now.After(s.lastPrune) {
		return
	}
	s.lastPrune = now
	for k, p := range s.pending {
		if now.After(p.expires) {
			delete(s.pending, k)
		}
	}
	for k, c := range s.codes {
		if now.After(c.expires) {
			delete(s.codes, k)
		}
	}
	for k, g := range s.refresh {
		if now.After(g.expires) || g.family.revoked {
			delete(s.refresh, k)
		}
	}
}

// hasRoomLocked prunes and reports whether a map of size n may grow.
func (s *Server) hasRoomLocked(n func() int, limit int) bool {
	s.pruneLocked(false)
	if n() < limit {
		return true
	}
	s.pruneLocked(true)
	return n() < limit
}

// --- small helpers ---

// randomToken returns n random bytes, base64url encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomGUID returns a random (version 4) GUID.
func randomGUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return formatGUID(b, 4)
}

// derivedGUID returns a stable (version 5-style) GUID for name.
func derivedGUID(name string) string {
	h := sha256.Sum256([]byte(name))
	return formatGUID(h[:16], 5)
}

func formatGUID(b []byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// appendQuery adds params to the query of raw, keeping the parameters it
// already has.
func appendQuery(raw string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	var b strings.Builder
	b.WriteString(raw)
	for _, k := range keys {
		b.WriteString(sep)
		sep = "&"
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(params[k]))
	}
	return b.String()
}
