package session

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Cookies reads and writes the app's cookies with the right attributes.
type Cookies struct {
	Codec *Codec
	// Ended records sign-outs and refuses the sessions they ended: NewEnded
	// for one instance, a store shared by every instance otherwise (see
	// Revocations). Nil: none are tracked, and a copy of a signed-out
	// session's cookie opens until it expires.
	Ended Revocations
	// AlwaysSecure makes every cookie Secure, whatever the request looks
	// like (set when the app's redirect URI is https: behind a proxy).
	AlwaysSecure bool
}

func (c Cookies) secure(r *http.Request) bool { return c.AlwaysSecure || Secure(r) }

// name returns the cookie name for base: with the __Host- prefix (bound to
// this exact host, path /, Secure) when the cookie is Secure.
func (c Cookies) name(r *http.Request, base string) string {
	if c.secure(r) {
		return "__Host-" + base
	}
	return base
}

// Secure reports whether cookies for r must be Secure: always, except for
// plain http on a loopback address (local development without TLS). A
// plain-http request from anywhere else is taken to come through a
// TLS-terminating proxy.
func Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

const sessionCookie = "idweb.session"

// maxSessionValue bounds the session cookie's value. Browsers drop cookies
// over 4,096 bytes, and the cookie rides on every request next to at most
// flowBudget bytes of pending sign-ins: together they stay under the 8 KB
// a request line or header may have at common proxies.
const maxSessionValue = 2500

// ErrSessionTooLarge is SetUser's error for a user whose session would not
// fit in a cookie (hundreds of app roles).
var ErrSessionTooLarge = errors.New("session: the user's session is too large for a cookie")

// SetUser starts a session for u.
func (c Cookies) SetUser(w http.ResponseWriter, r *http.Request, u User) error {
	if u.SID == "" {
		sid := make([]byte, 16)
		if _, err := rand.Read(sid); err != nil {
			return err
		}
		u.SID = base64.RawURLEncoding.EncodeToString(sid)
	}
	n := c.name(r, sessionCookie)
	v, err := c.Codec.Seal(n, u, Lifetime)
	if err != nil {
		return err
	}
	if len(v) > maxSessionValue && len(u.Groups) > 0 {
		// Too many groups to carry in every request: keep none and say
		// so, as Entra does beyond 200 (the overage).
		u.Groups, u.GroupsOverage = nil, true
		if v, err = c.Codec.Seal(n, u, Lifetime); err != nil {
			return err
		}
	}
	if len(v) > maxSessionValue {
		return fmt.Errorf("%w: %d bytes (at most %d)", ErrSessionTooLarge, len(v), maxSessionValue)
	}
	http.SetCookie(w, &http.Cookie{
		Name: n, Value: v, Path: "/", MaxAge: int(Lifetime.Seconds()),
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// ErrNoSession is Cookies.Session's error when the request carries no live
// session: no cookie, one that does not open or expired, or a session that
// was signed out.
var ErrNoSession = errors.New("session: not signed in")

// Session returns the signed-in user. Its error is ErrNoSession when there
// is none (sign in), or wraps ErrRevocationsUnavailable when the cookie
// opens but whether it was signed out cannot be told (the shared store is
// down): then the session is not served. Failing closed keeps sign-out
// true on every instance through an outage of the store; the cost is
// that signed-in pages answer 503 meanwhile, as pages needing tokens do
// anyway when the same store holds the token cache.
func (c Cookies) Session(r *http.Request) (User, error) {
	u, _, ok := c.open(r)
	if !ok {
		return User{}, ErrNoSession
	}
	if c.Ended == nil {
		return u, nil
	}
	ended, err := c.Ended.Ended(r.Context(), u.SID)
	if err != nil {
		return User{}, fmt.Errorf("%w: %w", ErrRevocationsUnavailable, err)
	}
	if ended {
		return User{}, ErrNoSession
	}
	return u, nil
}

// User returns the signed-in user, or false: Session without its reason
// (a session whose state cannot be told is not one).
func (c Cookies) User(r *http.Request) (User, bool) {
	u, err := c.Session(r)
	return u, err == nil
}

// UserForSignOut returns the user the session cookie names, without asking
// whether the session was signed out: for sign-out itself, which must work
// (delete the cookie, the user's tokens) while that store is down. Never
// use it to let anyone see anything.
func (c Cookies) UserForSignOut(r *http.Request) (User, bool) {
	u, _, ok := c.open(r)
	return u, ok
}

// open reads the session cookie: the user and when the session expires.
func (c Cookies) open(r *http.Request) (User, time.Time, bool) {
	n := c.name(r, sessionCookie)
	ck, err := r.Cookie(n)
	if err != nil {
		return User{}, time.Time{}, false
	}
	env, err := c.Codec.open(n, ck.Value)
	if err != nil {
		return User{}, time.Time{}, false
	}
	var u User
	if err := json.Unmarshal(env.Value, &u); err != nil || u.HomeAccountID == "" {
		return User{}, time.Time{}, false
	}
	return u, time.Unix(env.Exp, 0), true
}

// Clear ends the session: it is recorded as signed out in Ended (so a copy
// of the cookie is refused from now on, on every instance sharing Ended)
// and the cookie is deleted. The cookie is deleted even when the record
// cannot be written; the error then says so: until the session expires, a
// copy of its cookie would still open.
func (c Cookies) Clear(w http.ResponseWriter, r *http.Request) error {
	var err error
	if u, until, ok := c.open(r); ok && c.Ended != nil && u.SID != "" {
		if e := c.Ended.End(r.Context(), u.SID, until); e != nil {
			err = fmt.Errorf("session: record sign-out: %w", e)
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: c.name(r, sessionCookie), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode,
	})
	return err
}

const againCookie = "idweb.again"

// againTTL bounds how long after signing in again a missing token counts
// as "still missing".
const againTTL = 2 * time.Minute

// SetAgain records that the user just signed in again to get tokens.
func (c Cookies) SetAgain(w http.ResponseWriter, r *http.Request) error {
	n := c.name(r, againCookie)
	v, err := c.Codec.Seal(n, true, againTTL)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: n, Value: v, Path: "/", MaxAge: int(againTTL.Seconds()),
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// TakeAgain reports whether the user just signed in again, and forgets it.
func (c Cookies) TakeAgain(w http.ResponseWriter, r *http.Request) bool {
	n := c.name(r, againCookie)
	ck, err := r.Cookie(n)
	if err != nil {
		return false
	}
	http.SetCookie(w, &http.Cookie{
		Name: n, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode,
	})
	var again bool
	return c.Codec.Open(n, ck.Value, &again) == nil && again
}

// maxFlows is how many sign-ins may be pending in one browser: the newest
// are kept, the oldest forgotten (that attempt, if the user ever finishes
// it, ends on a "sign in again" page). flowBudget bounds the bytes the
// pending sign-ins add to every request's Cookie header, so that no number
// or size of sign-ins makes a browser or proxy refuse the app's requests
// (typically at 8 KB of headers).
const (
	maxFlows   = 5
	flowBudget = 5 << 10
)

// SetFlow stores the state of one sign-in attempt under its own cookie, so
// sign-ins started in two tabs do not overwrite each other; the oldest
// pending attempts are forgotten (see maxFlows). The identity provider
// posts the response back cross-site (response_mode=form_post), so the
// cookie must be SameSite=None, which browsers accept only when Secure;
// browsers (and Go's cookie jar) treat http://localhost as a secure context
// for this. On plain http a second copy without Secure and SameSite is set
// for clients that send Secure cookies only over https; browsers treat it
// as Lax and leave it out of the cross-site post, so they use the first.
// When cookies are Secure for this request the name has the __Host- prefix,
// so a cookie planted by a sibling subdomain cannot stand in for it.
func (c Cookies) SetFlow(w http.ResponseWriter, r *http.Request, id string, v any, ttl time.Duration) error {
	secure := c.secure(r)
	n := c.name(r, flowName(id))
	sealed, err := c.Codec.Seal(n, v, ttl)
	if err != nil {
		return err
	}
	size := 0
	for _, ck := range flowCookies(n, secure) {
		ck.Value, ck.MaxAge = sealed, int(ttl.Seconds())
		size += len(ck.Name) + len(ck.Value) + 3 // "; " and "="
		http.SetCookie(w, ck)
	}
	c.evictFlows(w, r, n, size)
	return nil
}

// evictFlows deletes the pending sign-ins of r beyond the newest
// maxFlows-1 and flowBudget (less the new one's size), and any that no
// longer open.
func (c Cookies) evictFlows(w http.ResponseWriter, r *http.Request, newName string, size int) {
	secure := c.secure(r)
	prefix := c.name(r, flowPrefix)
	type pending struct {
		name  string
		value string
		size  int
		order int
		exp   int64
	}
	byName := map[string]*pending{}
	var all []*pending
	for i, ck := range r.Cookies() {
		if !strings.HasPrefix(ck.Name, prefix) {
			continue
		}
		base := strings.TrimSuffix(ck.Name, ".http")
		if base == newName {
			continue
		}
		p := byName[base]
		if p == nil {
			p = &pending{name: base, order: i, exp: -1}
			byName[base] = p
			all = append(all, p)
		}
		p.size += len(ck.Name) + len(ck.Value) + 3
		if p.value == "" {
			p.value = ck.Value
		}
	}
	for _, p := range all {
		// Both copies are sealed for the first name.
		if env, err := c.Codec.open(p.name, p.value); err == nil {
			p.exp = env.Exp
		}
	}
	// Newest first: the latest expiry, then the later cookie (browsers send
	// cookies of the same path oldest first).
	slices.SortStableFunc(all, func(a, b *pending) int {
		if a.exp != b.exp {
			return cmp.Compare(b.exp, a.exp)
		}
		return cmp.Compare(b.order, a.order)
	})
	kept := 1
	for _, p := range all {
		if p.exp >= 0 && kept < maxFlows && size+p.size <= flowBudget {
			kept++
			size += p.size
			continue
		}
		for _, ck := range flowCookies(p.name, secure) {
			ck.MaxAge = -1
			http.SetCookie(w, ck)
		}
	}
}

// TakeFlow reads and deletes the sign-in attempt id's cookie.
func (c Cookies) TakeFlow(w http.ResponseWriter, r *http.Request, id string, v any) error {
	n := c.name(r, flowName(id))
	value := ""
	for _, ck := range flowCookies(n, c.secure(r)) {
		if got, err := r.Cookie(ck.Name); err == nil && value == "" {
			value = got.Value
		}
		ck.MaxAge = -1
		http.SetCookie(w, ck)
	}
	if value == "" {
		return ErrInvalid
	}
	// Both copies are sealed for the first name.
	return c.Codec.Open(n, value, v)
}

// flowCookies are the cookies that carry a sign-in attempt called n.
func flowCookies(n string, secure bool) []*http.Cookie {
	cks := []*http.Cookie{{Name: n, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode}}
	if !secure {
		cks = append(cks, &http.Cookie{Name: n + ".http", Path: "/", HttpOnly: true})
	}
	return cks
}

const flowPrefix = "idweb.signin."

func flowName(id string) string {
	// The id is random base64url; keep the cookie name short and within the
	// token characters cookies allow.
	if len(id) > 22 {
		id = id[:22]
	}
	return flowPrefix + id
}
