// Package session keeps the signed-in user in an encrypted, authenticated
// cookie. The cookie holds who the user is, never a token: tokens stay in
// the token cache.
package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// User is what the session remembers about the signed-in user.
type User struct {
	HomeAccountID string `json:"hid"` // MSAL's cache partition key, "<oid>.<tid>"
	ObjectID      string `json:"oid"`
	TenantID      string `json:"tid"`
	Name          string `json:"name"`
	Username      string `json:"upn"`
}

// Lifetime is how long a session lasts after sign-in.
const Lifetime = 8 * time.Hour

// ErrInvalid is returned for a cookie that does not decrypt, is expired, or
// was made for another purpose.
var ErrInvalid = errors.New("session: invalid or expired cookie")

// Codec seals values into cookie strings with AES-256-GCM. The cookie's name
// is bound in as additional data, so a value cannot be moved from one
// cookie to another (a sign-in state cookie replayed as a session, say).
type Codec struct {
	aead cipher.AEAD
	now  func() time.Time
}

// NewCodec returns a Codec for a 32-byte key.
func NewCodec(key []byte) (*Codec, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("session: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Codec{aead: aead, now: time.Now}, nil
}

// KeyFromBase64 decodes Session:EncryptionKey; empty means a random key.
func KeyFromBase64(s string) ([]byte, error) {
	if s == "" {
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return key, err
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) != 32 {
		return nil, errors.New("config: Session:EncryptionKey must be 32 random bytes, base64-encoded (openssl rand -base64 32)")
	}
	return key, nil
}

type envelope struct {
	Exp   int64           `json:"exp"`
	Value json.RawMessage `json:"v"`
}

// Seal encrypts v for the cookie called name, valid for ttl.
func (c *Codec) Seal(name string, v any, ttl time.Duration) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(envelope{Exp: c.now().Add(ttl).Unix(), Value: raw})
	if err != nil {
		return "", err
	}
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := c.aead.Seal(nonce, nonce, plain, []byte(name))
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value sealed for the cookie called name into v.
func (c *Codec) Open(name, value string, v any) error {
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(sealed) < c.aead.NonceSize() {
		return ErrInvalid
	}
	n := c.aead.NonceSize()
	plain, err := c.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return ErrInvalid
	}
	var env envelope
	if err := json.Unmarshal(plain, &env); err != nil || c.now().Unix() >= env.Exp {
		return ErrInvalid
	}
	if err := json.Unmarshal(env.Value, v); err != nil {
		return ErrInvalid
	}
	return nil
}

// Cookies reads and writes the app's cookies with the right attributes.
type Cookies struct {
	Codec *Codec
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

// name returns the cookie name for base: with the __Host- prefix (bound to
// this exact host, path /, Secure) when the cookie is Secure.
func name(r *http.Request, base string) string {
	if Secure(r) {
		return "__Host-" + base
	}
	return base
}

const sessionCookie = "idweb.session"

// SetUser starts a session for u.
func (c Cookies) SetUser(w http.ResponseWriter, r *http.Request, u User) error {
	n := name(r, sessionCookie)
	v, err := c.Codec.Seal(n, u, Lifetime)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: n, Value: v, Path: "/", MaxAge: int(Lifetime.Seconds()),
		HttpOnly: true, Secure: Secure(r), SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// User returns the signed-in user, or false.
func (c Cookies) User(r *http.Request) (User, bool) {
	n := name(r, sessionCookie)
	ck, err := r.Cookie(n)
	if err != nil {
		return User{}, false
	}
	var u User
	if err := c.Codec.Open(n, ck.Value, &u); err != nil || u.HomeAccountID == "" {
		return User{}, false
	}
	return u, true
}

// Clear ends the session.
func (c Cookies) Clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: name(r, sessionCookie), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: Secure(r), SameSite: http.SameSiteLaxMode,
	})
}

// SetFlow stores the state of one sign-in attempt under its own cookie, so
// sign-ins started in two tabs do not overwrite each other. The identity
// provider posts the response back cross-site (response_mode=form_post), so
// the cookie must be SameSite=None, which browsers accept only when Secure;
// browsers treat http://localhost as a secure context for this.
func (c Cookies) SetFlow(w http.ResponseWriter, r *http.Request, id string, v any, ttl time.Duration) error {
	n := flowName(id)
	sealed, err := c.Codec.Seal(n, v, ttl)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: n, Value: sealed, Path: "/", MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode,
	})
	return nil
}

// TakeFlow reads and deletes the sign-in attempt id's cookie.
func (c Cookies) TakeFlow(w http.ResponseWriter, r *http.Request, id string, v any) error {
	n := flowName(id)
	ck, err := r.Cookie(n)
	if err != nil {
		return ErrInvalid
	}
	http.SetCookie(w, &http.Cookie{
		Name: n, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode,
	})
	return c.Codec.Open(n, ck.Value, v)
}

func flowName(id string) string {
	// The id is random base64url; keep the cookie name short and within the
	// token characters cookies allow.
	if len(id) > 22 {
		id = id[:22]
	}
	return "idweb.signin." + id
}
