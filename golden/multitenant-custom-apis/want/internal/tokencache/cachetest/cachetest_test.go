package cachetest

import (
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/acme/my-app/internal/tokencache"
)

// The fake shared store keeps both contracts, which also shows that
// RunShared runs against a store that keeps them.
func TestSharedFake(t *testing.T) {
	Run(t, func(*testing.T) tokencache.Store { return NewShared() })
	RunShared(t, func(*testing.T) (a, b tokencache.Store) {
		s := NewShared()
		return s, s
	})
}

func TestFindPlaintext(t *testing.T) {
	const secret = "0.AAAA-refresh-token-of-alice"
	tests := []struct {
		name  string
		raw   string
		found bool
	}{
		{"as is", `{"secret":"` + secret + `"}`, true},
		{"hex", "xx" + hex.EncodeToString([]byte(secret)) + "yy", true},
		{"base64, aligned", base64.StdEncoding.EncodeToString([]byte(secret)), true},
		{"base64, offset 1", base64.StdEncoding.EncodeToString([]byte("{" + secret + "}")), true},
		{"base64, offset 2", base64.URLEncoding.EncodeToString([]byte(`{"` + secret + `"}`)), true},
		{"absent", base64.StdEncoding.EncodeToString([]byte("0.AAAA-refresh-token-of-bob")), false},
		{"a prefix only", secret[:15], false},
	}
	for _, tt := range tests {
		err := findPlaintext([]byte(tt.raw), secret)
		if (err != nil) != tt.found {
			t.Errorf("%s: findPlaintext = %v, want found %v", tt.name, err, tt.found)
		}
	}
}
