package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"example.com/certapp/internal/config"
)

// ErrInvalid is returned for a cookie that does not decrypt, is expired,
// was made for another purpose, or names a key the app does not have.
var ErrInvalid = errors.New("session: invalid or expired cookie")

// Codec seals values into cookie strings with AES-256-GCM under a key ring:
// the first key seals, every key opens. A sealed value starts with the id
// of its key, so opening tries exactly one key, and a value whose key was
// dropped from the ring is refused like any other invalid cookie.
//
// The cookie's name is bound in as additional data, so a value cannot be
// moved from one cookie to another (a sign-in state cookie replayed as a
// session, say).
type Codec struct {
	seal keyID
	keys map[keyID]cipher.AEAD
	now  func() time.Time
}

// A keyID names a key in sealed values: the first bytes of a hash of the
// key, so that keys need no names in the settings and the same key has the
// same id on every instance. It tells nothing about the key.
type keyID [4]byte

func (id keyID) String() string { return hex.EncodeToString(id[:]) }

func idOf(key []byte) keyID {
	sum := sha256.Sum256(append([]byte("idweb session key id\x00"), key...))
	return keyID(sum[:4])
}

// format is the first byte of every sealed value: its layout is
// format | key id (4) | nonce (12) | ciphertext and tag.
const format byte = 1

const headerLen = 1 + len(keyID{})

// NewCodec returns a Codec for 32-byte keys: keys[0] seals, every key opens.
func NewCodec(keys ...[]byte) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("session: no key")
	}
	c := &Codec{keys: map[keyID]cipher.AEAD{}, now: time.Now}
	for i, key := range keys {
		if len(key) != 32 {
			return nil, fmt.Errorf("session: key %d must be 32 bytes, got %d", i, len(key))
		}
		id := idOf(key)
		if i == 0 {
			c.seal = id
		}
		if _, dup := c.keys[id]; dup {
			continue // the same key twice (two different keys with one id: 1 in 2^32)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("session: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("session: key %d: %w", i, err)
		}
		c.keys[id] = aead
	}
	return c, nil
}

// NewCodecFromConfig returns the Codec for the Session settings
// (Session:EncryptionKey or Session:EncryptionKeys). Without a key it
// refuses to start outside Development: each instance (and each restart)
// would make its own random key, and every user would be signed out
// whenever a request reaches another instance or the app restarts. In
// Development a random key is fine, and logged.
func NewCodecFromConfig(s config.Session, environment string, log *slog.Logger) (*Codec, error) {
	if log == nil {
		log = slog.Default()
	}
	keys, err := s.Keys()
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		if environment != config.Development {
			return nil, fmt.Errorf("config: Session:EncryptionKey is not set (APP_ENV is %q): every instance needs the same session key, or each restart signs every user out; make one with `openssl rand -base64 32` and set Session__EncryptionKey", environment)
		}
		key, err := randomKey()
		if err != nil {
			return nil, err
		}
		log.Info("Session:EncryptionKey is not set: session cookies use a random key, so restarting the app signs you out (Development only)")
		keys = [][]byte{key}
	}
	c, err := NewCodec(keys...)
	if err != nil {
		return nil, err
	}
	log.Info("session cookies", "key_id", c.seal.String(), "keys", len(c.keys))
	return c, nil
}

// NewCodecFromBase64 returns a Codec for one key (see KeyFromBase64); an
// empty key is a random one. The app uses NewCodecFromConfig, which reads
// key rings and refuses a missing key outside Development.
func NewCodecFromBase64(encodedKey string) (*Codec, error) {
	key, err := KeyFromBase64(encodedKey)
	if err != nil {
		return nil, err
	}
	return NewCodec(key)
}

// KeyFromBase64 decodes one key of Session:EncryptionKey's shape; empty
// means a random key (for tests).
func KeyFromBase64(s string) ([]byte, error) {
	if s == "" {
		return randomKey()
	}
	keys, err := config.Session{EncryptionKey: s}.Keys()
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

func randomKey() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("session: random key: %w", err)
	}
	return key, nil
}

// KeyID is the id of the key that seals (a hash of it, for logs: which
// key instances use, without showing it).
func (c *Codec) KeyID() string { return c.seal.String() }

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
	aead := c.keys[c.seal]
	ns := aead.NonceSize()
	out := make([]byte, headerLen+ns, headerLen+ns+len(plain)+aead.Overhead())
	out[0] = format
	copy(out[1:headerLen], c.seal[:])
	nonce := out[headerLen:]
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := aead.Seal(out, nonce, plain, additional(out[:headerLen], name))
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// additional is the data authenticated with a value: its header (format
// and key id) and the cookie's name.
func additional(header []byte, name string) []byte {
	return append(append([]byte{}, header...), name...)
}

// Open decrypts a value sealed for the cookie called name into v.
func (c *Codec) Open(name, value string, v any) error {
	env, err := c.open(name, value)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(env.Value, v); err != nil {
		return ErrInvalid
	}
	return nil
}

// open decrypts a value sealed for the cookie called name.
func (c *Codec) open(name, value string) (envelope, error) {
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(sealed) < headerLen || sealed[0] != format {
		return envelope{}, ErrInvalid
	}
	aead, ok := c.keys[keyID(sealed[1:headerLen])]
	if !ok || len(sealed) < headerLen+aead.NonceSize() {
		return envelope{}, ErrInvalid
	}
	n := headerLen + aead.NonceSize()
	plain, err := aead.Open(nil, sealed[headerLen:n], sealed[n:], additional(sealed[:headerLen], name))
	if err != nil {
		return envelope{}, ErrInvalid
	}
	var env envelope
	if err := json.Unmarshal(plain, &env); err != nil || c.now().Unix() >= env.Exp {
		return envelope{}, ErrInvalid
	}
	return env, nil
}
