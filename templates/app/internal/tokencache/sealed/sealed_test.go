package sealed

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/cachetest"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/file"
	"github.com/idweb-init/idweb-init/templates/app/internal/tokencache/memory"
)

const refreshToken = "0.AXEA-a-refresh-token-of-alice-tH1s1sS3cr3t"

func key(t *testing.T, id string, fill byte) Key {
	t.Helper()
	k, err := NewKey(id, bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// logged returns a wrap whose log is kept in the returned buffer.
func logged(store tokencache.Store, keys ...Key) (tokencache.Store, *bytes.Buffer) {
	var buf bytes.Buffer
	return wrap(store, slog.New(slog.NewTextHandler(&buf, nil)), keys), &buf
}

func load(t *testing.T, s tokencache.Store, k string) string {
	t.Helper()
	got, err := s.Load(context.Background(), k)
	if err != nil {
		t.Fatalf("Load %s: %v", k, err)
	}
	return string(got)
}

func save(t *testing.T, s tokencache.Store, k, v string) {
	t.Helper()
	if err := s.Save(context.Background(), k, []byte(v)); err != nil {
		t.Fatalf("Save %s: %v", k, err)
	}
}

func TestContract(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) tokencache.Store {
		return Wrap(memory.New(0), key(t, "k1", 1), key(t, "k0", 0))
	})
}

func TestSharedContractPassesThrough(t *testing.T) {
	cachetest.RunShared(t, func(t *testing.T) (a, b tokencache.Store) {
		l2 := cachetest.NewShared()
		return Wrap(l2, key(t, "k1", 1)), Wrap(l2, key(t, "k1", 1))
	})
}

func TestOptionalInterfaces(t *testing.T) {
	k := key(t, "k1", 1)
	type both interface {
		tokencache.Invalidator
		tokencache.Checker
	}
	tests := []struct {
		name         string
		inner        tokencache.Store
		isInv, isChk bool
	}{
		{"plain store", memory.New(0), false, false},
		{"invalidator", struct {
			tokencache.Store
			tokencache.Invalidator
		}{memory.New(0), cachetest.NewShared()}, true, false},
		{"checker", struct {
			tokencache.Store
			tokencache.Checker
		}{memory.New(0), cachetest.NewShared()}, false, true},
		{"both", cachetest.NewShared(), true, true},
	}
	for _, tt := range tests {
		s := Wrap(tt.inner, k)
		_, isInv := s.(tokencache.Invalidator)
		_, isChk := s.(tokencache.Checker)
		if isInv != tt.isInv || isChk != tt.isChk {
			t.Errorf("%s: wrapped, Invalidator %v, Checker %v; want %v, %v", tt.name, isInv, isChk, tt.isInv, tt.isChk)
		}
		u, ok := s.(interface{ Unwrap() tokencache.Store })
		if !ok || u.Unwrap() != tt.inner {
			t.Errorf("%s: Unwrap does not return the wrapped store", tt.name)
		}
	}
	// Calls reach the wrapped store's methods.
	l2 := cachetest.NewShared()
	l2.SetDown(true)
	if err := Wrap(l2, k).(tokencache.Checker).Check(context.Background()); err == nil {
		t.Error("Check of a store that is down passed")
	}
}

func TestStoresNoPlaintext(t *testing.T) {
	raw := memory.New(0)
	s := Wrap(raw, key(t, "k1", 1))
	save(t, s, "alice.tenant", `{"RefreshToken":{"secret":"`+refreshToken+`"}}`)
	stored, _ := raw.Load(context.Background(), "alice.tenant")
	cachetest.NoPlaintext(t, stored, refreshToken)
	if got := load(t, s, "alice.tenant"); !strings.Contains(got, refreshToken) {
		t.Fatalf("Load = %q", got)
	}
	// A fresh nonce for each write: the same partition seals differently.
	save(t, s, "alice.tenant", `{"RefreshToken":{"secret":"`+refreshToken+`"}}`)
	again, _ := raw.Load(context.Background(), "alice.tenant")
	if bytes.Equal(stored, again) {
		t.Error("two saves of one partition stored the same bytes: nonce reused")
	}
}

func TestFileHoldsNoPlaintext(t *testing.T) {
	raw, err := file.New(file.Options{Dir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	s := Wrap(raw, key(t, "k1", 1))
	save(t, s, "alice.tenant", `{"RefreshToken":{"secret":"`+refreshToken+`"}}`)
	onDisk, err := os.ReadFile(raw.Path("alice.tenant"))
	if err != nil {
		t.Fatal(err)
	}
	cachetest.NoPlaintext(t, onDisk, refreshToken)
	if got := load(t, s, "alice.tenant"); !strings.Contains(got, refreshToken) {
		t.Fatalf("Load = %q", got)
	}
}

func TestRotation(t *testing.T) {
	raw := memory.New(0)
	a, b := key(t, "a", 'a'), key(t, "b", 'b')
	save(t, Wrap(raw, a), "alice.tenant", "sealed with a")

	// b is added first: a still opens what it sealed, b seals new writes.
	rotated := Wrap(raw, b, a)
	if got := load(t, rotated, "alice.tenant"); got != "sealed with a" {
		t.Fatalf("after adding b, Load = %q", got)
	}
	save(t, rotated, "bob.tenant", "sealed with b")
	if got := load(t, Wrap(raw, b), "bob.tenant"); got != "sealed with b" {
		t.Fatalf("with b alone, Load = %q", got)
	}
	// a dropped before alice's partition was written again: a miss, logged.
	onlyB, logs := logged(raw, b)
	if got := load(t, onlyB, "alice.tenant"); got != "" {
		t.Fatalf("with a dropped, Load = %q; want a miss", got)
	}
	if !strings.Contains(logs.String(), "key_id=a") || !strings.Contains(logs.String(), "not in TokenCache:EncryptionKeys") {
		t.Errorf("log = %q", logs)
	}
}

func TestValuesThatDoNotOpenAreMisses(t *testing.T) {
	k := key(t, "k1", 1)
	raw := memory.New(0)
	save(t, Wrap(raw, k), "alice.tenant", "alice's tokens")
	sealedValue, _ := raw.Load(context.Background(), "alice.tenant")
	hdr := len(header(k))

	tests := []struct {
		name   string
		key    string
		value  func() []byte
		reason string
	}{
		{"copied to another user's partition key", "mallory.tenant",
			func() []byte { return sealedValue }, "does not authenticate"},
		{"a ciphertext byte flipped", "alice.tenant",
			func() []byte { return flip(sealedValue, hdr+12+3) }, "does not authenticate"},
		{"the nonce altered", "alice.tenant",
			func() []byte { return flip(sealedValue, hdr) }, "does not authenticate"},
		{"the tag altered", "alice.tenant",
			func() []byte { return flip(sealedValue, len(sealedValue)-1) }, "does not authenticate"},
		{"the key id altered", "alice.tenant",
			func() []byte { return flip(sealedValue, 2) }, "not in TokenCache:EncryptionKeys"},
		{"truncated", "alice.tenant",
			func() []byte { return sealedValue[:hdr+5] }, "truncated"},
		{"plaintext from before encryption", "alice.tenant",
			func() []byte { return []byte(`{"AccessToken":{}}`) }, "not a sealed value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := memory.New(0)
			raw.Save(context.Background(), tt.key, tt.value())
			s, logs := logged(raw, k)
			if got := load(t, s, tt.key); got != "" {
				t.Fatalf("Load = %q; want a miss", got)
			}
			if !strings.Contains(logs.String(), tt.reason) {
				t.Errorf("log = %q; want the reason %q", logs, tt.reason)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestErrorsOfTheStorePassThrough(t *testing.T) {
	l2 := cachetest.NewShared()
	s := Wrap(l2, key(t, "k1", 1))
	l2.SetDown(true)
	if _, err := s.Load(context.Background(), "alice.tenant"); err == nil {
		t.Error("Load of a store that is down: no error")
	}
	if err := s.Save(context.Background(), "alice.tenant", []byte("x")); err == nil {
		t.Error("Save to a store that is down: no error")
	}
}

func TestParseKeys(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, KeySize)
	std := base64.StdEncoding.EncodeToString(secret)
	tests := []struct {
		entries []string
		ids     []string
		err     string
	}{
		{nil, []string{}, ""},
		{[]string{"2026-01:" + std}, []string{"2026-01"}, ""},
		{[]string{" new:" + base64.RawURLEncoding.EncodeToString(secret) + " ", "old:" + std}, []string{"new", "old"}, ""},
		{[]string{std}, nil, `config: TokenCache:EncryptionKeys:0 must be "<key id>:`},
		{[]string{"k1:" + std, "k2:not base64!"}, nil, `config: TokenCache:EncryptionKeys:1 (key "k2"): the part after ':' is not base64`},
		{[]string{"k1:" + base64.StdEncoding.EncodeToString(secret[:16])}, nil, `config: TokenCache:EncryptionKeys:0: key "k1" is 16 bytes; it must be 32`},
		{[]string{":" + std}, nil, `config: TokenCache:EncryptionKeys:0: key id "" must be`},
		{[]string{"a b:" + std}, nil, `config: TokenCache:EncryptionKeys:0: key id "a b" must be`},
		{[]string{"k1:" + std, "k1:" + std}, nil, `config: TokenCache:EncryptionKeys:1: key id "k1" is used twice`},
	}
	for _, tt := range tests {
		keys, err := ParseKeys(tt.entries)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("ParseKeys(%q) error = %v; want %s…", tt.entries, err, tt.err)
			} else if strings.Contains(err.Error(), std) || strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseKeys(%q) error shows the secret or spans lines: %v", tt.entries, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKeys(%q): %v", tt.entries, err)
			continue
		}
		ids := []string{}
		for _, k := range keys {
			ids = append(ids, k.ID())
		}
		if strings.Join(ids, ",") != strings.Join(tt.ids, ",") {
			t.Errorf("ParseKeys(%q) ids = %q, want %q", tt.entries, ids, tt.ids)
		}
	}
}

func TestFromConfig(t *testing.T) {
	raw := memory.New(0)
	k := "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	s, err := FromConfig(raw, &config.Config{TokenCache: config.TokenCache{EncryptionKeys: []string{k}}})
	if err != nil {
		t.Fatal(err)
	}
	save(t, s, "alice.tenant", refreshToken)
	stored, _ := raw.Load(context.Background(), "alice.tenant")
	cachetest.NoPlaintext(t, stored, refreshToken)
	if _, err := FromConfig(raw, &config.Config{}); err == nil || !strings.HasPrefix(err.Error(), "config: TokenCache:EncryptionKeys is empty") {
		t.Errorf("FromConfig without keys: %v", err)
	}
}

func TestWrapRefusesNoKeys(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Wrap without keys did not panic")
		}
	}()
	Wrap(memory.New(0))
}
