package session

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"example.com/certapp/internal/config"
)

func randomKeyB64(t *testing.T) (string, []byte) {
	t.Helper()
	k, err := randomKey()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k), k
}

// keyIDOf returns the key id a sealed value names.
func keyIDOf(t *testing.T, value string) keyID {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < headerLen {
		t.Fatalf("not a sealed value: %q", value)
	}
	return keyID(raw[1:headerLen])
}

// A key rotates without signing anyone out: a cookie sealed with the old
// key opens once the ring is [new, old], and new cookies are sealed with
// the new key (they open with it alone, not with the old one).
func TestKeyRotation(t *testing.T) {
	_, oldKey := randomKeyB64(t)
	_, newKey := randomKeyB64(t)
	before, err := NewCodec(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	oldCookie, err := before.Seal("idweb.session", User{HomeAccountID: "x", Name: "old"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	rotated, err := NewCodec(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	var u User
	if err := rotated.Open("idweb.session", oldCookie, &u); err != nil || u.Name != "old" {
		t.Fatalf("a cookie sealed before the rotation: %+v, %v", u, err)
	}
	newCookie, err := rotated.Seal("idweb.session", User{HomeAccountID: "x", Name: "new"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keyIDOf(t, newCookie), idOf(newKey); got != want || rotated.KeyID() != want.String() {
		t.Errorf("new cookie sealed with key %s (codec says %s), want the new key %s", got, rotated.KeyID(), want)
	}
	onlyNew, _ := NewCodec(newKey)
	if err := onlyNew.Open("idweb.session", newCookie, &u); err != nil || u.Name != "new" {
		t.Errorf("the new key alone does not open a new cookie: %v", err)
	}
	if err := before.Open("idweb.session", newCookie, &u); err == nil {
		t.Error("the old key opens a cookie sealed after the rotation")
	}
	// Once the old key is dropped, its cookies are refused.
	if err := onlyNew.Open("idweb.session", oldCookie, &u); err != ErrInvalid {
		t.Errorf("a cookie of a dropped key: %v, want ErrInvalid", err)
	}
}

// A value naming a key the ring does not have is refused, whatever else it
// holds: its own id, another key's id in a value sealed with the first,
// or a format the codec does not know.
func TestUnknownKeyIDIsRefused(t *testing.T) {
	_, a := randomKeyB64(t)
	_, b := randomKeyB64(t)
	ca, _ := NewCodec(a)
	ring, _ := NewCodec(b, a)
	sealed, err := ca.Seal("idweb.session", User{HomeAccountID: "x"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(sealed)
	relabel := func(id keyID, f byte) string {
		r := bytes.Clone(raw)
		r[0] = f
		copy(r[1:headerLen], id[:])
		return base64.RawURLEncoding.EncodeToString(r)
	}
	var u User
	for name, v := range map[string]string{
		"an id no key has":          relabel(keyID{1, 2, 3, 4}, format),
		"another key of the ring's": relabel(idOf(b), format),
		"another format":            relabel(idOf(a), format+1),
	} {
		if err := ring.Open("idweb.session", v, &u); err != ErrInvalid {
			t.Errorf("%s: Open = %v, want ErrInvalid", name, err)
		}
	}
	if err := ring.Open("idweb.session", sealed, &u); err != nil {
		t.Errorf("the genuine value: %v", err)
	}
	cb, _ := NewCodec(b)
	if err := cb.Open("idweb.session", sealed, &u); err != ErrInvalid {
		t.Errorf("a ring without the value's key: %v, want ErrInvalid", err)
	}
}

func TestNewCodecFromConfig(t *testing.T) {
	k1, key1 := randomKeyB64(t)
	k2, key2 := randomKeyB64(t)
	tests := []struct {
		name    string
		s       config.Session
		env     string
		wantErr []string // all in the one-line error
		wantLog string
		wantKey []byte // the key that seals
		keys    int
	}{
		{name: "no key in Production", env: config.Production,
			wantErr: []string{"Session:EncryptionKey is not set", `APP_ENV is "Production"`, "openssl rand -base64 32", "Session__EncryptionKey"}},
		{name: "no key in Staging", env: "Staging", wantErr: []string{"Session:EncryptionKey is not set"}},
		{name: "no key in Development: a random one, said in the log", env: config.Development,
			wantLog: "Session:EncryptionKey is not set", keys: 1},
		{name: "one key", s: config.Session{EncryptionKey: k1}, env: config.Production, wantKey: key1, keys: 1},
		{name: "a ring: the first seals", s: config.Session{EncryptionKeys: []string{k2, k1}}, env: config.Production, wantKey: key2, keys: 2},
		{name: "the same key twice", s: config.Session{EncryptionKeys: []string{k1, k1}}, env: config.Production, wantKey: key1, keys: 1},
		{name: "a short key", s: config.Session{EncryptionKey: "c2hvcnQ="}, env: config.Development,
			wantErr: []string{"Session:EncryptionKey must be 32 random bytes, base64-encoded", "openssl rand -base64 32"}},
		{name: "a bad key in the ring", s: config.Session{EncryptionKeys: []string{k1, "not base64!"}}, env: config.Production,
			wantErr: []string{"Session:EncryptionKeys:1 must be 32 random bytes"}},
		{name: "both settings", s: config.Session{EncryptionKey: k1, EncryptionKeys: []string{k2}}, env: config.Production,
			wantErr: []string{"Session:EncryptionKey and Session:EncryptionKeys are both set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			c, err := NewCodecFromConfig(tt.s, tt.env, slog.New(slog.NewTextHandler(&logs, nil)))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q is not one line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), tt.wantLog)
			}
			if tt.wantKey != nil && c.seal != idOf(tt.wantKey) {
				t.Errorf("sealing with key %s, want %s", c.seal, idOf(tt.wantKey))
			}
			if len(c.keys) != tt.keys {
				t.Errorf("%d keys, want %d", len(c.keys), tt.keys)
			}
			if !strings.Contains(logs.String(), "key_id="+c.KeyID()) {
				t.Errorf("the log does not say which key seals: %q", logs.String())
			}
		})
	}
}

// The settings as the app loads them: a ring from the environment, and a
// bad entry refused at load time on one line naming it.
func TestSessionKeysFromSettings(t *testing.T) {
	k1, key1 := randomKeyB64(t)
	k2, key2 := randomKeyB64(t)
	dir := t.TempDir()
	doc := `{"AzureAd": {"TenantId": "11111111-2222-3333-4444-555555555555", "ClientId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"ClientCredentials": [{"SourceType": "ClientSecret"}]}}`
	if err := os.WriteFile(filepath.Join(dir, "appsettings.json"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(dir, config.Production, []string{"Session__EncryptionKeys__0=" + k2, "Session__EncryptionKeys__1=" + k1})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cfg.Session.Keys()
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], key2) || !bytes.Equal(keys[1], key1) {
		t.Fatalf("Keys = %d keys, %v", len(keys), err)
	}
	_, err = config.Load(dir, config.Production, []string{"Session__EncryptionKeys__0=" + k2, "Session__EncryptionKeys__1=short"})
	if err == nil || !strings.Contains(err.Error(), "Session:EncryptionKeys:1 must be 32 random bytes") {
		t.Fatalf("a bad key: %v", err)
	}
	// Loading settings without a key is fine (tests, tools): the app
	// refuses to start without one, in NewCodecFromConfig.
	cfg, err = config.Load(dir, config.Production, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCodecFromConfig(cfg.Session, cfg.Environment, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a production app starts without a session key")
	}
}
