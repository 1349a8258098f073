package session

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"
)

// FuzzOpen checks that Open never accepts a value the codec did not seal
// for that cookie name, that Seal→Open round-trips, and that any change to
// a sealed value's bytes, or another name, is refused.
func FuzzOpen(f *testing.F) {
	// A random key: each fuzzing worker process seals its own values, and
	// knows exactly which ones it sealed.
	key, err := KeyFromBase64("")
	if err != nil {
		f.Fatal(err)
	}
	c, err := NewCodec(key)
	if err != nil {
		f.Fatal(err)
	}
	type sealedValue struct {
		name string
		data []byte
	}
	sealed := map[string]sealedValue{} // decoded ciphertext → what was sealed
	for _, s := range []sealedValue{
		{"idweb.session", []byte(`{"h":"uid.utid"}`)},
		{"__Host-idweb.session", []byte("x")},
		{"idweb.signin.abc", nil},
	} {
		v, err := c.Seal(s.name, s.data, time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(v)
		sealed[string(raw)] = s
		f.Add(s.name, v, s.data, uint(0))
		f.Add(s.name, v[:len(v)-1], s.data, uint(len(v)*8-1))
		f.Add("idweb.again", v, []byte("y"), uint(7))
	}
	f.Add("", "", []byte{}, uint(3))
	f.Add("idweb.session", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", []byte("\xff\x00"), uint(100))
	f.Fuzz(func(t *testing.T, name, value string, data []byte, flip uint) {
		// Arbitrary values: only one sealed here, for this name, opens.
		var got []byte
		if err := c.Open(name, value, &got); err == nil {
			raw, _ := base64.RawURLEncoding.DecodeString(value)
			s, ok := sealed[string(raw)]
			if !ok || s.name != name {
				t.Fatalf("Open(%q, %q) succeeded for a value not sealed for that name", name, value)
			}
			if !bytes.Equal(got, s.data) {
				t.Fatalf("Open(%q, %q) = %q, sealed %q", name, value, got, s.data)
			}
		}
		// Round trip.
		v, err := c.Seal(name, data, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		if err := c.Open(name, v, &got); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Seal→Open(%q, %q) = %q, %v", name, data, got, err)
		}
		if err := c.Open(name+"x", v, &got); err == nil {
			t.Fatalf("a value sealed for %q opens as %q", name, name+"x")
		}
		// One bit flipped anywhere in the sealed bytes.
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
		bit := flip % uint(len(raw)*8)
		raw[bit/8] ^= 1 << (bit % 8)
		if err := c.Open(name, base64.RawURLEncoding.EncodeToString(raw), &got); err == nil {
			t.Fatalf("a sealed value with bit %d flipped opens", bit)
		}
	})
}
