// Package sealed encrypts token cache partitions at rest: wrapped around a
// store (file, Redis, PostgreSQL), it hands the store only ciphertext, so a
// copied disk, backup or database dump holds no usable refresh token.
//
// Each partition is sealed with AES-256-GCM under a fresh random nonce.
// The sealed value names the key that sealed it, and the partition key is
// authenticated with it (GCM's additional data): a value copied under
// another user's partition key does not open, so one user can never be
// handed another's tokens by whoever can write to the store.
//
// Keys rotate without signing anyone out: the first key seals, every key
// opens. Put the new key first and keep the old one until every partition
// has been written again (at most TokenCache:AbsoluteExpiration), then drop
// it. A value that does not open (its key was dropped, it was tampered
// with, or it was written before encryption was turned on) is logged and
// read as missing: the user signs in again instead of seeing an error.
//
// The wrapper keeps what the wrapped store offers beyond tokencache.Store:
// the Store that Wrap returns implements tokencache.Invalidator and
// tokencache.Checker exactly when the wrapped store does (invalidations
// carry partition keys, which sealing leaves as they are), so a type
// assertion on it answers as it would on the store itself. Unwrap returns
// the wrapped store. So it composes under an in-memory copy,
//
//	l1, err := layered.New(ctx, sealed.Wrap(redisStore, keys...), layered.Options{})
//
// which keeps plaintext only in memory and decrypts a partition once per
// copy rather than on every request.
package sealed

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
)

const (
	// version is the first byte of a sealed value.
	version = 1
	// KeySize is the size of a key: AES-256.
	KeySize = 32
	// aadPrefix separates this use of a key from any other.
	aadPrefix = "idweb-init token cache partition\x00"
)

// keyIDRE is what a key id may be: it is stored in every value and logged.
var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Key is a named AES-256 key.
type Key struct {
	id   string
	aead cipher.AEAD
}

// ID returns the key's id.
func (k Key) ID() string { return k.id }

// NewKey returns the key named id (letters, digits, '.', '_', '-'; up to 64)
// made of secret (32 bytes).
func NewKey(id string, secret []byte) (Key, error) {
	if !keyIDRE.MatchString(id) {
		return Key{}, fmt.Errorf("key id %q must be 1 to 64 letters, digits, '.', '_' or '-'", id)
	}
	if len(secret) != KeySize {
		return Key{}, fmt.Errorf("key %q is %d bytes; it must be %d", id, len(secret), KeySize)
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		return Key{}, fmt.Errorf("key %q: %w", id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, fmt.Errorf("key %q: %w", id, err)
	}
	return Key{id: id, aead: aead}, nil
}

// ParseKeys reads TokenCache:EncryptionKeys, each "<key id>:<32 bytes,
// base64>". Errors name the entry and never include the secret.
func ParseKeys(entries []string) ([]Key, error) {
	keys := make([]Key, 0, len(entries))
	seen := map[string]bool{}
	for i, e := range entries {
		name := fmt.Sprintf("TokenCache:EncryptionKeys:%d", i)
		id, b64, ok := strings.Cut(strings.TrimSpace(e), ":")
		if !ok {
			return nil, fmt.Errorf(`config: %s must be "<key id>:<32 random bytes, base64>", such as "2026-01:" followed by the output of: openssl rand -base64 32`, name)
		}
		secret, err := decodeBase64(b64)
		if err != nil {
			return nil, fmt.Errorf("config: %s (key %q): the part after ':' is not base64: generate a key with: openssl rand -base64 32", name, id)
		}
		k, err := NewKey(id, secret)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %v", name, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("config: %s: key id %q is used twice; give each key its own id", name, id)
		}
		seen[id] = true
		keys = append(keys, k)
	}
	return keys, nil
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

// FromConfig wraps store with the keys of TokenCache:EncryptionKeys; it is
// an error to have none (leave the store unwrapped to keep plaintext).
func FromConfig(store tokencache.Store, cfg *config.Config) (tokencache.Store, error) {
	keys, err := ParseKeys(cfg.TokenCache.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New(`config: TokenCache:EncryptionKeys is empty: set TokenCache__EncryptionKeys__0 to "<key id>:<32 random bytes, base64>", such as "k1:" followed by the output of: openssl rand -base64 32`)
	}
	return Wrap(store, keys...), nil
}

// Wrap returns store sealing every partition with keys[0] and opening it
// with whichever key sealed it. It panics without keys or with two keys of
// one id (ParseKeys refuses those): a cache meant to be encrypted must
// never silently hold plaintext.
func Wrap(store tokencache.Store, keys ...Key) tokencache.Store {
	return wrap(store, slog.Default(), keys)
}

func wrap(store tokencache.Store, log *slog.Logger, keys []Key) tokencache.Store {
	if len(keys) == 0 {
		panic("sealed.Wrap: no keys")
	}
	s := &Store{inner: store, seal: keys[0], byID: map[string]Key{}, log: log}
	for _, k := range keys {
		if k.aead == nil {
			panic("sealed.Wrap: a zero Key; make keys with NewKey or ParseKeys")
		}
		if _, dup := s.byID[k.id]; dup {
			panic(fmt.Sprintf("sealed.Wrap: key id %q given twice", k.id))
		}
		s.byID[k.id] = k
	}
	// One type per combination of the optional interfaces, so that type
	// assertions on the result answer as they would on store.
	inv, isInv := store.(tokencache.Invalidator)
	chk, isChk := store.(tokencache.Checker)
	switch {
	case isInv && isChk:
		return struct {
			*Store
			tokencache.Invalidator
			tokencache.Checker
		}{s, inv, chk}
	case isInv:
		return struct {
			*Store
			tokencache.Invalidator
		}{s, inv}
	case isChk:
		return struct {
			*Store
			tokencache.Checker
		}{s, chk}
	}
	return s
}

// Store is the sealing part of what Wrap returns.
type Store struct {
	inner tokencache.Store
	seal  Key
	byID  map[string]Key
	log   *slog.Logger
}

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() tokencache.Store { return s.inner }

// header returns the start of a value sealed with k.
func header(k Key) []byte {
	return append([]byte{version, byte(len(k.id))}, k.id...)
}

func additionalData(hdr []byte, partition string) []byte {
	return append(append([]byte(aadPrefix), hdr...), partition...)
}

// Save implements tokencache.Store: the value stored is the version, the
// key id (length and bytes), a random nonce and the GCM ciphertext.
func (s *Store) Save(ctx context.Context, key string, data []byte) error {
	k := s.seal
	hdr := header(k)
	out := make([]byte, len(hdr), len(hdr)+k.aead.NonceSize()+len(data)+k.aead.Overhead())
	copy(out, hdr)
	nonce := out[len(hdr) : len(hdr)+k.aead.NonceSize()]
	out = out[:len(hdr)+len(nonce)]
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("token cache: seal: %w", err)
	}
	out = k.aead.Seal(out, nonce, data, additionalData(hdr, key))
	return s.inner.Save(ctx, key, out)
}

// Load implements tokencache.Store. A value that does not open is logged
// and reported missing.
func (s *Store) Load(ctx context.Context, key string) ([]byte, error) {
	raw, err := s.inner.Load(ctx, key)
	if err != nil || raw == nil {
		return nil, err
	}
	data, keyID, err := s.open(key, raw)
	if err != nil {
		s.log.Warn("token cache: a partition does not decrypt; the user signs in again", "partition", key, "key_id", keyID, "reason", err.Error())
		return nil, nil
	}
	return data, nil
}

// open returns the plaintext of raw, sealed for partition, and the id of
// the key it names.
func (s *Store) open(partition string, raw []byte) ([]byte, string, error) {
	if len(raw) < 2 || raw[0] != version {
		return nil, "", errors.New("not a sealed value (written before encryption was on, or by another format)")
	}
	n := int(raw[1])
	if len(raw) < 2+n {
		return nil, "", errors.New("truncated")
	}
	id := string(raw[2 : 2+n])
	k, ok := s.byID[id]
	if !ok {
		return nil, id, errors.New("sealed with a key that is not in TokenCache:EncryptionKeys")
	}
	rest := raw[2+n:]
	if len(rest) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, id, errors.New("truncated")
	}
	nonce, ct := rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():]
	data, err := k.aead.Open(nil, nonce, ct, additionalData(raw[:2+n], partition))
	if err != nil {
		return nil, id, errors.New("does not authenticate (altered, or stored under another partition key)")
	}
	if data == nil {
		data = []byte{}
	}
	return data, id, nil
}

// Delete implements tokencache.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.inner.Delete(ctx, key)
}
