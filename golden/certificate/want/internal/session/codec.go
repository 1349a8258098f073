package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

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

// NewCodecFromBase64 returns a Codec for Session:EncryptionKey (see
// KeyFromBase64).
func NewCodecFromBase64(encodedKey string) (*Codec, error) {
	key, err := KeyFromBase64(encodedKey)
	if err != nil {
		return nil, err
	}
	return NewCodec(key)
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
	if err != nil || len(sealed) < c.aead.NonceSize() {
		return envelope{}, ErrInvalid
	}
	n := c.aead.NonceSize()
	plain, err := c.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return envelope{}, ErrInvalid
	}
	var env envelope
	if err := json.Unmarshal(plain, &env); err != nil || c.now().Unix() >= env.Exp {
		return envelope{}, ErrInvalid
	}
	return env, nil
}
