// Package signin signs users in with the OpenID Connect authorization code
// flow and signs them out.
//
// MSAL Go redeems the code and caches the tokens, but it adds no state,
// nonce or PKCE to the authorize request and does not validate the ID token
// at all. This package does: state and nonce against a per-attempt cookie,
// PKCE (S256), response_mode=form_post, and the ID token's signature (the
// provider's JWKS), issuer, audience, expiry and nonce.
package signin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"hello/internal/config"
	"hello/internal/session"
	"hello/internal/tokencache"
	"hello/internal/tokens"
)

// retryAfter is what a 503 asks the browser to wait (see package web).
const retryAfter = 10 * time.Second

// flowTTL is how long a user may take at the identity provider.
const flowTTL = 10 * time.Minute

// flow is what one sign-in attempt remembers between the redirect to the
// identity provider and the response posted back.
type flow struct {
	State       string `json:"s"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	ReturnURL   string `json:"r"`
	RedirectURI string `json:"u"`
	Claims      string `json:"c,omitempty"`
	// Scopes are the API scopes this sign-in asks for: the first API's at
	// sign-in, another API's for incremental consent.
	Scopes []string `json:"sc,omitempty"`
	// Again marks a sign-in made because a signed-in user's tokens could
	// not be had; see Reauthenticate.
	Again bool `json:"a,omitempty"`
}

// Handler serves sign-in, the callback and sign-out.
type Handler struct {
	ad       config.AzureAd
	scopes   []string // asked for at sign-in: the first API's, so the user consents at once
	tokens   *tokens.Acquirer
	cookies  session.Cookies
	provider *provider
	log      *slog.Logger
	// OnError renders a sign-in failure for the user.
	OnError func(w http.ResponseWriter, r *http.Request, status int, title, msg string)
}

// New returns a Handler. scopes are asked for at sign-in (the first
// downstream API's; none for an app that only signs users in); other APIs'
// scopes are asked for when they are first called (incremental consent).
func New(ad config.AzureAd, scopes []string, acq *tokens.Acquirer, cookies session.Cookies, httpClient *http.Client, log *slog.Logger) *Handler {
	return &Handler{
		ad:       ad,
		scopes:   scopes,
		tokens:   acq,
		cookies:  cookies,
		provider: newProvider(ad, httpClient),
		log:      log,
		OnError: func(w http.ResponseWriter, _ *http.Request, status int, _, msg string) {
			http.Error(w, msg, status)
		},
	}
}

// ProviderOrigin is the identity provider's origin (scheme and host of
// AzureAd:Instance): where sign-out's form post is redirected to.
func (h *Handler) ProviderOrigin() string {
	u, err := url.Parse(h.ad.Instance)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Register adds the sign-in routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /signin", h.signIn)
	mux.HandleFunc("POST "+h.ad.CallbackPath, h.callback)
	mux.HandleFunc("GET /signout", h.signOutPage)
	mux.Handle("POST /signout", h.crossOriginProtection().Handler(http.HandlerFunc(h.signOut)))
}

// crossOriginProtection refuses requests a browser marks as cross-site
// (Sec-Fetch-Site, or an Origin other than the app's): another site's page
// cannot post the sign-out form.
func (h *Handler) crossOriginProtection() *http.CrossOriginProtection {
	p := http.NewCrossOriginProtection()
	if h.ad.RedirectURI != "" {
		// Behind a proxy the browser's origin is the public one.
		if u, err := url.Parse(h.ad.RedirectURI); err == nil && u.Host != "" {
			_ = p.AddTrustedOrigin(u.Scheme + "://" + u.Host)
		}
	}
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusForbidden, "Sign-out refused", "This request came from another site. You are still signed in: use Sign out on this app's pages.", errors.New("cross-origin sign-out"))
	}))
	return p
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	h.Challenge(w, r, r.URL.Query().Get("returnUrl"))
}

// Challenge sends the browser to the identity provider; after sign-in it
// comes back to returnURL (local paths only: anything else becomes "/", so
// the app is no open redirector).
func (h *Handler) Challenge(w http.ResponseWriter, r *http.Request, returnURL string) {
	h.challenge(w, r, returnURL, h.scopes, "", false)
}

// Reauthenticate sends a signed-in user whose tokens for scopes cannot be
// had silently through sign-in for those scopes and back to returnURL: a
// restart emptied the cache, the refresh token expired, or the user has not
// yet consented to the API the page calls (incremental consent). Once: if
// the tokens are still missing right after that sign-in, the user gets an
// error page instead of a redirect loop.
func (h *Handler) Reauthenticate(w http.ResponseWriter, r *http.Request, returnURL string, scopes []string) {
	h.again(w, r, returnURL, scopes, "")
}

// ChallengeClaims signs the user in again to meet an API's claims challenge
// (Conditional Access, continuous access evaluation): MSAL cannot add
// claims to a silent request, only to a sign-in. Once, like Reauthenticate.
func (h *Handler) ChallengeClaims(w http.ResponseWriter, r *http.Request, returnURL string, scopes []string, claims string) {
	h.again(w, r, returnURL, scopes, claims)
}

// Settled tells that the page got its tokens: a later failure may sign the
// user in again.
func (h *Handler) Settled(w http.ResponseWriter, r *http.Request) {
	h.cookies.TakeAgain(w, r)
}

func (h *Handler) again(w http.ResponseWriter, r *http.Request, returnURL string, scopes []string, claims string) {
	if h.cookies.TakeAgain(w, r) {
		h.fail(w, r, http.StatusBadGateway, "No token for the API", "You are signed in, but no token for the API this page calls could be obtained. Please try again later.",
			errors.New("signin: tokens still missing right after signing in again"))
		return
	}
	h.challenge(w, r, returnURL, scopes, claims, true)
}

func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, returnURL string, scopes []string, claims string, again bool) {
	f := flow{
		State:       randomString(32),
		Nonce:       randomString(32),
		Verifier:    randomString(32), // 43 characters, as RFC 7636 asks
		ReturnURL:   LocalPath(returnURL),
		RedirectURI: h.redirectURI(r),
		Claims:      claims,
		Scopes:      scopes,
		Again:       again,
	}
	authURL, err := h.tokens.AuthCodeURL(r.Context(), f.RedirectURI, scopes, claims, "")
	if err != nil {
		h.fail(w, r, http.StatusBadGateway, "Sign-in is unavailable", "The identity provider could not be reached. Please try again.", err)
		return
	}
	u, err := url.Parse(authURL)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "Sign-in failed", "Sign-in failed.", err)
		return
	}
	sum := sha256.Sum256([]byte(f.Verifier))
	q := u.Query()
	// MSAL Go's authorize URL carries only the API scopes; without openid
	// Entra ID returns no ID token, and without offline_access no refresh
	// token (MSAL adds them only to token requests).
	q.Set("scope", strings.Join(withOIDCScopes(scopes), " "))
	q.Set("state", f.State)
	q.Set("nonce", f.Nonce)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	q.Set("response_mode", "form_post")
	u.RawQuery = q.Encode()
	if err := h.cookies.SetFlow(w, r, f.State, f, flowTTL); err != nil {
		h.fail(w, r, http.StatusInternalServerError, "Sign-in failed", "Sign-in failed.", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in response could not be read.", err)
		return
	}
	state := r.PostForm.Get("state")
	var f flow
	if state == "" || h.cookies.TakeFlow(w, r, state, &f) != nil ||
		subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		// No matching attempt in this browser: a forged or replayed
		// response, or one that took longer than flowTTL.
		h.fail(w, r, http.StatusBadRequest, "Sign-in failed", "This sign-in response does not belong to a sign-in started in this browser, or it expired. Please sign in again.", errors.New("state mismatch"))
		return
	}
	if e := r.PostForm.Get("error"); e != "" {
		title, msg := "Sign-in did not complete", "The identity provider answered: "+e+"."
		if e == "access_denied" {
			title, msg = "Sign-in cancelled", "Sign-in was cancelled. You are not signed in."
		}
		h.fail(w, r, http.StatusUnauthorized, title, msg, fmt.Errorf("%s: %s", e, r.PostForm.Get("error_description")))
		return
	}
	code := r.PostForm.Get("code")
	if code == "" {
		h.fail(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in response has no authorization code.", errors.New("no code"))
		return
	}
	res, err := h.tokens.RedeemCode(r.Context(), code, f.Verifier, f.RedirectURI, f.Scopes, f.Claims)
	if err != nil {
		if errors.Is(err, tokencache.ErrUnavailable) {
			// The token cache is down: the code is spent, the user
			// signs in again once it is back.
			w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
			h.fail(w, r, http.StatusServiceUnavailable, "Sign-in data is temporarily unavailable",
				"Sign-in data is temporarily unavailable, try again in a moment.", err)
			return
		}
		if refused(err) {
			// The provider refused the code (used already, expired, or
			// not this sign-in's): the user's part, not an outage.
			h.fail(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in can no longer be completed: it took too long or was already used. Please sign in again.", err)
			return
		}
		h.fail(w, r, http.StatusBadGateway, "Sign-in failed", "The identity provider could not be reached. Please try again.", err)
		return
	}
	claims, err := h.provider.verify(r.Context(), res.IDToken.RawToken, f.Nonce)
	if err != nil {
		// Tokens from an unverified response must not stay in the cache.
		_ = h.tokens.RemoveUser(context.WithoutCancel(r.Context()), res.Account.HomeAccountID)
		h.fail(w, r, http.StatusUnauthorized, "Sign-in failed", "The identity provider's ID token is not valid.", err)
		return
	}
	if !h.ad.TenantAllowed(claims.TenantID) {
		// A multi-tenant app open to some organizations only
		// (AzureAd:AllowedTenants): keep nothing of this user.
		_ = h.tokens.RemoveUser(context.WithoutCancel(r.Context()), res.Account.HomeAccountID)
		h.fail(w, r, http.StatusForbidden, "Organization not allowed",
			fmt.Sprintf("Accounts of your organization (tenant %s) cannot use this app. Sign in with an account of an organization the app accepts, or ask its administrator.", claims.TenantID),
			fmt.Errorf("tenant %s is not in AzureAd:AllowedTenants", claims.TenantID))
		return
	}
	_, overage := claims.ClaimNames["groups"]
	u := session.User{
		HomeAccountID: res.Account.HomeAccountID,
		ObjectID:      claims.ObjectID,
		TenantID:      claims.TenantID,
		Name:          claims.Name,
		Username:      claims.PreferredUsername,
		Roles:         claims.Roles,
		Groups:        claims.Groups,
		GroupsOverage: overage,
	}
	if overage {
		h.log.Info("groups overage: the token lists none of the user's groups (more than 200); read them from Microsoft Graph if the app needs them", "oid", u.ObjectID)
	}
	if err := h.cookies.SetUser(w, r, u); err != nil {
		if errors.Is(err, session.ErrSessionTooLarge) {
			_ = h.tokens.RemoveUser(context.WithoutCancel(r.Context()), res.Account.HomeAccountID)
			h.fail(w, r, http.StatusBadRequest, "Sign-in failed", "Your account has more app roles than this app can keep in a session. Ask the app's administrator to assign you fewer roles.", err)
			return
		}
		h.fail(w, r, http.StatusInternalServerError, "Sign-in failed", "Sign-in failed.", err)
		return
	}
	if f.Again {
		if err := h.cookies.SetAgain(w, r); err != nil {
			h.fail(w, r, http.StatusInternalServerError, "Sign-in failed", "Sign-in failed.", err)
			return
		}
	}
	h.log.Info("signed in", "oid", u.ObjectID, "tid", u.TenantID)
	http.Redirect(w, r, f.ReturnURL, http.StatusSeeOther)
}

// signOutPage answers GET /signout, which never signs out (a link or an
// image on another site could make it): sign-out is the POST of the form
// in every page's header.
func (h *Handler) signOutPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.cookies.User(r); !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.OnError(w, r, http.StatusOK, "Sign out", "To sign out, use Sign out at the top of this page.")
}

// csrfField is the sign-out form's anti-forgery field; see
// session.User.CSRFToken.
const csrfField = "csrf"

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "Sign-out failed", "The sign-out request could not be read.", err)
		return
	}
	// The session as the cookie names it, even if the store of sign-outs
	// cannot be asked now: signing out must work during its outage.
	u, signedIn := h.cookies.UserForSignOut(r)
	if token := u.CSRFToken(); signedIn && (token == "" || subtle.ConstantTimeCompare([]byte(r.PostForm.Get(csrfField)), []byte(token)) != 1) {
		h.fail(w, r, http.StatusForbidden, "Sign-out refused", "This sign-out request did not come from this app's page. You are still signed in: use Sign out at the top of the page.", errors.New("sign-out without a valid anti-forgery token"))
		return
	}
	if signedIn {
		if err := h.tokens.RemoveUser(r.Context(), u.HomeAccountID); err != nil {
			h.log.Error("sign-out: remove tokens", "err", err)
		}
	}
	if err := h.cookies.Clear(w, r); err != nil {
		// The browser's cookie is gone, but not recorded as ended: a copy
		// of it would open until it expires.
		h.log.Error("sign-out: the session could not be recorded as ended", "err", err)
	}
	after := h.origin(r) + h.ad.SignedOutCallbackPath
	endSession, err := h.provider.endSessionURL(r.Context())
	if err != nil || endSession == "" {
		// The local session is gone either way; without the provider's
		// endpoint the user stays signed in there only.
		if err != nil {
			h.log.Warn("sign-out: no end_session_endpoint", "err", err)
		}
		http.Redirect(w, r, after, http.StatusSeeOther)
		return
	}
	end, err := url.Parse(endSession)
	if err != nil {
		http.Redirect(w, r, after, http.StatusSeeOther)
		return
	}
	q := end.Query()
	q.Set("post_logout_redirect_uri", after)
	q.Set("client_id", h.ad.ClientID)
	end.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, end.String(), http.StatusSeeOther)
}

// refused reports whether err is the token endpoint's refusal of the request
// (HTTP 4xx, such as invalid_grant for a replayed or expired code), as
// opposed to a provider that could not be reached or failed (5xx).
func refused(err error) bool {
	var callErr msalerrors.CallErr
	return errors.As(err, &callErr) && callErr.Resp != nil &&
		callErr.Resp.StatusCode >= 400 && callErr.Resp.StatusCode < 500
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string, err error) {
	h.log.Warn("sign-in failed", "status", status, "err", err)
	h.OnError(w, r, status, title, msg)
}

// redirectURI is AzureAd:RedirectUri when set (an app behind a TLS-terminating
// proxy), otherwise this request's origin + CallbackPath. The identity
// provider accepts only registered redirect URIs, so a forged Host header
// cannot send codes elsewhere.
func (h *Handler) redirectURI(r *http.Request) string {
	if h.ad.RedirectURI != "" {
		return h.ad.RedirectURI
	}
	return h.origin(r) + h.ad.CallbackPath
}

func (h *Handler) origin(r *http.Request) string {
	if h.ad.RedirectURI != "" {
		if u, err := url.Parse(h.ad.RedirectURI); err == nil {
			return u.Scheme + "://" + u.Host
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// maxReturnURL bounds the path a sign-in comes back to: it travels in the
// sign-in's cookie, which must stay well within browsers' limits.
const maxReturnURL = 2048

// LocalPath returns p if it is a path on this site, otherwise "/". It refuses
// absolute URLs, scheme-relative ones ("//evil.example"), backslash tricks
// browsers normalise into them, control characters, the same tricks
// percent-encoded ("/%2F/evil.example", "/%5Cevil.example", also encoded
// twice), as Microsoft.Identity.Web's IsLocalUrl does, and paths longer than
// maxReturnURL.
func LocalPath(p string) string {
	if len(p) > maxReturnURL || !isLocal(p) {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return "/"
	}
	// What a server or browser may make of it once decoded must be local
	// too: decode until nothing changes (a few rounds at most).
	d := p
	for range 3 {
		next, err := url.PathUnescape(d)
		if err != nil {
			return "/"
		}
		if next == d {
			return p
		}
		if !isLocal(next) {
			return "/"
		}
		d = next
	}
	return "/"
}

// isLocal reports whether p starts with exactly one slash, has no backslash
// and no control character.
func isLocal(p string) bool {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	return !strings.ContainsFunc(p, func(c rune) bool {
		return c == '\\' || c < 0x20 || c == 0x7f || unicode.IsControl(c)
	})
}

// withOIDCScopes returns scopes plus openid, profile and offline_access.
func withOIDCScopes(scopes []string) []string {
	out := []string{"openid", "profile", "offline_access"}
	for _, s := range scopes {
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, s) }) {
			out = append(out, s)
		}
	}
	return out
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("signin: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
