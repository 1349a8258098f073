// Package tokens acquires tokens for the signed-in user with MSAL Go's
// confidential client.
//
// MSAL Go's client keeps one in-memory cache for all users and reads it
// after releasing its lock, so sharing one client across concurrent users
// with a partitioned cache loses tokens (measured: a third of silent calls
// failed with "no token found"). Here every call borrows a client from a
// pool, loads only that user's partition into it, and returns it; calls for
// the same user are serialized so one refresh serves them all, and so is
// the write of a sign-in's tokens (see RedeemCode).
package tokens

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"hello/internal/config"
	"hello/internal/credential"
	"hello/internal/tokencache"
)

// ErrInteractionRequired means the user must sign in again (no cached
// account, expired or revoked refresh token, missing consent). Handlers
// answer it by starting sign-in, not with an error page. The error is an
// *InteractionRequiredError, which says for which scopes.
var ErrInteractionRequired = errors.New("tokens: interaction required")

// InteractionRequiredError is ErrInteractionRequired for a request of
// Scopes. ConsentRequired tells that the user has not consented to them
// (AADSTS65001): typically an API the app did not ask for at sign-in, met
// by signing in again for its scopes (incremental consent).
type InteractionRequiredError struct {
	Scopes          []string
	ConsentRequired bool
	Err             error // what MSAL said; nil when the cache had no account
}

func (e *InteractionRequiredError) Error() string {
	msg := "tokens: interaction required for " + strings.Join(e.Scopes, " ")
	if e.ConsentRequired {
		msg += " (consent required)"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrInteractionRequired) true.
func (e *InteractionRequiredError) Is(target error) bool { return target == ErrInteractionRequired }

func (e *InteractionRequiredError) Unwrap() error { return e.Err }

// Acquirer hands out tokens for users; it is safe for concurrent use.
type Acquirer struct {
	clientID  string
	store     tokencache.Store
	newClient func() (*client, error)
	// rejected is the credential's hook for an invalid_client answer
	// (credential.Credential.Rejected); nil when it has none.
	rejected func(ctx context.Context) bool

	mu   sync.Mutex
	idle []*client

	userLocks [256]sync.Mutex

	// recent remembers the access tokens MSAL returned from each user's
	// partition, so a call that finds the partition unchanged skips MSAL's
	// parsing of it (see recentTokens). Off only in tests that exercise
	// MSAL on every call.
	recent   *recentTokens
	noRecent bool
	now      func() time.Time
}

// maxIdle bounds the clients kept between requests; beyond it they are
// dropped and made again on demand (cheap: metadata is cached by transport).
const maxIdle = 256

// New returns an Acquirer for the app registration in ad that proves the
// app's identity with cred. When the token endpoint refuses cred
// (invalid_client) and cred.Rejected finds newer material (a certificate
// renewed in Key Vault), the refused call is made once more.
func New(ad config.AzureAd, cred credential.Credential, store tokencache.Store, httpClient *http.Client) (*Acquirer, error) {
	authority := ad.Authority()
	opts := []confidential.Option{
		confidential.WithHTTPClient(httpClient),
		// Instance discovery asks the public cloud about the authority's
		// host; only Microsoft's own clouds can answer it.
		confidential.WithInstanceDiscovery(isMicrosoftCloud(ad.Instance)),
	}
	if len(ad.ClientCapabilities) > 0 {
		opts = append(opts, confidential.WithClientCapabilities(ad.ClientCapabilities))
	}
	if ad.SendX5C {
		opts = append(opts, confidential.WithX5C())
	}
	a := &Acquirer{
		clientID: ad.ClientID,
		store:    store,
		recent:   newRecentTokens(),
		now:      time.Now,
		rejected: cred.Rejected,
	}
	a.newClient = func() (*client, error) {
		// Each client has its own accessor, so that a redemption can
		// make its client's cache writes take the user's lock.
		seen := &watchedStore{Store: store}
		acc := &lockingAccessor{Accessor: tokencache.Accessor{Store: seen}}
		c, err := confidential.New(authority, ad.ClientID, cred.MSAL, append(opts, confidential.WithCache(acc))...)
		if err != nil {
			return nil, err
		}
		return &client{Client: c, cache: acc, seen: seen}, nil
	}
	// Build one client now so a bad authority fails at start-up.
	c, err := a.get()
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	a.put(c)
	return a, nil
}

// A client is an MSAL client of the pool with its cache accessor, and the
// record of the partition it last read or wrote: one caller at a time
// borrows it.
type client struct {
	confidential.Client
	cache *lockingAccessor
	seen  *watchedStore
}

func (a *Acquirer) get() (*client, error) {
	a.mu.Lock()
	if n := len(a.idle); n > 0 {
		c := a.idle[n-1]
		a.idle = a.idle[:n-1]
		a.mu.Unlock()
		return c, nil
	}
	a.mu.Unlock()
	return a.newClient()
}

func (a *Acquirer) put(c *client) {
	a.mu.Lock()
	if len(a.idle) < maxIdle {
		a.idle = append(a.idle, c)
	}
	a.mu.Unlock()
}

// lockUser takes the lock of the user's cache partition (homeAccountID is
// its key): everything that reads and writes a partition does so under it,
// so no write is lost to another made from an older copy.
func (a *Acquirer) lockUser(homeAccountID string) func() {
	h := fnv.New32a()
	h.Write([]byte(homeAccountID))
	m := &a.userLocks[h.Sum32()%uint32(len(a.userLocks))]
	m.Lock()
	return m.Unlock
}

// AuthCodeURL returns the authorize URL for scopes. The caller adds state,
// nonce, PKCE and response_mode, which MSAL Go does not.
func (a *Acquirer) AuthCodeURL(ctx context.Context, redirectURI string, scopes []string, claims, loginHint string) (string, error) {
	c, err := a.get()
	if err != nil {
		return "", err
	}
	defer a.put(c)
	scopes = orSignInOnly(scopes)
	var opts []confidential.AuthCodeURLOption
	if claims != "" {
		opts = append(opts, confidential.WithClaims(claims))
	}
	if loginHint != "" {
		opts = append(opts, confidential.WithLoginHint(loginHint))
	}
	u, err := c.AuthCodeURL(ctx, a.clientID, redirectURI, scopes, opts...)
	if err != nil {
		return "", fmt.Errorf("tokens: authorize URL: %w", err)
	}
	return u, nil
}

// RedeemCode exchanges an authorization code (with its PKCE verifier) for
// tokens, which MSAL writes to the user's cache partition under the user's
// lock, as silent acquisition does: a redemption for a user who is also
// refreshing a token (a second tab; incremental consent while another page
// loads) must not lose either's tokens. Whose partition it is shows only in
// the token endpoint's answer, so the client's accessor takes the lock when
// MSAL loads the partition to merge the new tokens, and lets go once they
// are saved (or the redemption ends).
func (a *Acquirer) RedeemCode(ctx context.Context, code, verifier, redirectURI string, scopes []string, claims string) (confidential.AuthResult, error) {
	c, err := a.get()
	if err != nil {
		return confidential.AuthResult{}, err
	}
	defer a.put(c)
	c.cache.lockFor(a.lockUser)
	defer c.cache.release()
	scopes = orSignInOnly(scopes)
	opts := []confidential.AcquireByAuthCodeOption{confidential.WithChallenge(verifier)}
	if claims != "" {
		opts = append(opts, confidential.WithClaims(claims))
	}
	var res confidential.AuthResult
	err = a.retryRejected(ctx, func() (err error) {
		res, err = c.AcquireTokenByAuthCode(ctx, code, redirectURI, scopes, opts...)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("tokens: redeem authorization code: %w", err)
	}
	return res, nil
}

// Token returns an access token for scopes on behalf of the user, from the
// cache when it is still valid, otherwise by redeeming the refresh token.
func (a *Acquirer) Token(ctx context.Context, homeAccountID string, scopes []string) (string, error) {
	if homeAccountID == "" {
		return "", &InteractionRequiredError{Scopes: scopes}
	}
	key := strings.Join(scopes, " ")
	if tok, err := a.remembered(ctx, homeAccountID, key, scopes); tok != "" || err != nil {
		return tok, err
	}
	unlock := a.lockUser(homeAccountID)
	defer unlock()
	// Another request for this user may have refreshed it meanwhile.
	if tok, err := a.remembered(ctx, homeAccountID, key, scopes); tok != "" || err != nil {
		return tok, err
	}
	c, err := a.get()
	if err != nil {
		return "", err
	}
	defer a.put(c)
	c.seen.forgetSeen()
	acct, err := c.Account(ctx, homeAccountID)
	if err != nil {
		return "", fmt.Errorf("tokens: read account: %w", err)
	}
	if acct.HomeAccountID == "" {
		// The session outlived the cache (restart, eviction): sign in again.
		return "", &InteractionRequiredError{Scopes: scopes}
	}
	var res confidential.AuthResult
	err = a.retryRejected(ctx, func() (err error) {
		res, err = c.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(acct))
		return err
	})
	if err != nil {
		if needsInteraction(err) {
			return "", &InteractionRequiredError{Scopes: scopes, ConsentRequired: consentRequired(err), Err: err}
		}
		return "", fmt.Errorf("tokens: acquire token silently: %w", err)
	}
	if partition, ok := c.seen.partition(homeAccountID); ok && !a.noRecent {
		// MSAL refreshes a token 5 minutes before it expires; so do we.
		a.recent.put(homeAccountID, partition, key, res.AccessToken, res.ExpiresOn.Add(-5*time.Minute))
	}
	return res.AccessToken, nil
}

// remembered reads the user's partition and returns the token MSAL gave
// for scopes from that very partition, if it is not due for refresh. It
// returns "" and no error when MSAL must be asked, and an error when the
// cache cannot be read or holds nothing for the user (sign in again).
func (a *Acquirer) remembered(ctx context.Context, homeAccountID, key string, scopes []string) (string, error) {
	if a.noRecent {
		return "", nil
	}
	data, err := a.store.Load(ctx, homeAccountID)
	if err != nil {
		return "", fmt.Errorf("tokens: read account: %w", err)
	}
	if len(data) == 0 {
		// The session outlived the cache (restart, eviction, sign-out on
		// another instance): sign in again.
		return "", &InteractionRequiredError{Scopes: scopes}
	}
	tok, _ := a.recent.get(homeAccountID, sha256.Sum256(data), key, a.now())
	return tok, nil
}

// AppToken returns an access token for the app itself (client
// credentials), for an API section with RequestAppToken: scopes is the one
// "<app id URI>/.default". MSAL keeps it in the app's own cache partition
// and asks the identity provider again only when it is near expiry.
func (a *Acquirer) AppToken(ctx context.Context, scopes []string) (string, error) {
	key := strings.Join(scopes, " ")
	if tok, ok := a.recentAppToken(key); ok {
		return tok, nil
	}
	unlock := a.lockUser(appPartition)
	defer unlock()
	if tok, ok := a.recentAppToken(key); ok {
		return tok, nil
	}
	c, err := a.get()
	if err != nil {
		return "", err
	}
	defer a.put(c)
	var res confidential.AuthResult
	err = a.retryRejected(ctx, func() (err error) {
		res, err = c.AcquireTokenByCredential(ctx, scopes)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("tokens: acquire app token for %s: %w", key, err)
	}
	if !a.noRecent {
		a.recent.put(appPartition, digest{}, key, res.AccessToken, res.ExpiresOn.Add(-5*time.Minute))
	}
	return res.AccessToken, nil
}

// retryRejected makes a token-endpoint call, and makes it once more if the
// endpoint refused the app's credential (invalid_client) and the
// credential's source found newer material. Once: a credential that is
// still refused is an error to report, not to loop on.
func (a *Acquirer) retryRejected(ctx context.Context, call func() error) error {
	err := call()
	if err != nil && a.rejected != nil && invalidClient(err) && a.rejected(ctx) {
		err = call()
	}
	return err
}

// invalidClient reports whether MSAL's error is the token endpoint's
// refusal of the app's credential (an expired or unregistered certificate
// or secret).
func invalidClient(err error) bool {
	var callErr msalerrors.CallErr
	return errors.As(err, &callErr) && strings.Contains(err.Error(), "invalid_client")
}

// appPartition is the name app tokens go by in recent and userLocks; no
// home account id ("<oid>.<tid>") can take it.
const appPartition = "app"

// recentAppToken returns the app token for scopes MSAL gave last, until it
// is due for refresh. App tokens are the app's own: another instance's
// refresh does not make this one's less valid, so they are not checked
// against the store.
func (a *Acquirer) recentAppToken(scopes string) (string, bool) {
	if a.noRecent {
		return "", false
	}
	return a.recent.get(appPartition, digest{}, scopes, a.now())
}

// RemoveUser deletes the user's cache partition (sign-out). MSAL's own
// RemoveAccount does not reach a partitioned cache (upstream issue #218).
func (a *Acquirer) RemoveUser(ctx context.Context, homeAccountID string) error {
	if homeAccountID == "" {
		return nil
	}
	unlock := a.lockUser(homeAccountID)
	defer unlock()
	a.recent.forget(homeAccountID) // frees them: a deleted partition serves none anyway
	if err := a.store.Delete(ctx, homeAccountID); err != nil {
		return fmt.Errorf("tokens: remove user's tokens: %w", err)
	}
	return nil
}

// needsInteraction maps MSAL's errors to "sign in again": MSAL Go has no
// typed interaction-required error.
func needsInteraction(err error) bool {
	var callErr msalerrors.CallErr
	if errors.As(err, &callErr) {
		if callErr.Resp != nil && callErr.Resp.StatusCode >= 500 {
			return false
		}
		body := strings.ToLower(err.Error())
		for _, s := range []string{"invalid_grant", "interaction_required", "consent_required", "login_required"} {
			if strings.Contains(body, s) {
				return true
			}
		}
		return false
	}
	// No usable token in the cache (no refresh token either).
	return strings.Contains(err.Error(), "no token found")
}

// orSignInOnly returns scopes, or ["openid"] when there are none: an app
// that only signs users in asks for no API, but MSAL refuses an empty
// scope list (it adds openid, profile and offline_access itself).
func orSignInOnly(scopes []string) []string {
	if len(scopes) == 0 {
		return []string{"openid"}
	}
	return scopes
}

// consentRequired reports whether MSAL's error is the identity provider's
// "the user has not consented" (AADSTS65001, suberror consent_required).
func consentRequired(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "aadsts65001") || strings.Contains(msg, "consent_required") || strings.Contains(msg, "[65001]")
}

// isMicrosoftCloud reports whether instance is one of Microsoft's public or
// sovereign cloud login hosts, which support instance discovery.
func isMicrosoftCloud(instance string) bool {
	u, err := url.Parse(instance)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net",
		"login.microsoftonline.us", "login.usgovcloudapi.net", "login-us.microsoftonline.com",
		"login.chinacloudapi.cn", "login.partner.microsoftonline.cn", "login.microsoftonline.de":
		return true
	}
	return false
}
