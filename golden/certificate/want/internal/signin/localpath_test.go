package signin

import (
	"strings"
	"testing"
)

// An attacker's link /signin?returnUrl=... must never send the user to
// another site after sign-in.
func TestLocalPathRefusesOpenRedirects(t *testing.T) {
	tests := map[string]string{
		"/profile":                    "/profile",
		"/profile?tab=2":              "/profile?tab=2",
		"/search?q=a%2Fb&next=%2F%2F": "/search?q=a%2Fb&next=%2F%2F",
		"/apis/orders/":               "/apis/orders/",
		"/caf%C3%A9":                  "/caf%C3%A9",
		"":                            "/",
		"https://evil.example/":       "/",
		"//evil.example/x":            "/",
		"/\\evil.example":             "/",
		"\\\\evil.example":            "/",
		"javascript:alert(1)":         "/",
		"/%0d%0aSet-Cookie:x=y":       "/",
		"/\r\nLocation: http://e.com": "/",
		"profile":                     "/",
		// Percent-encoded tricks, which a server or browser may decode.
		"/%2F/evil.example":     "/",
		"/%2f/evil.example":     "/",
		"/%5Cevil.example":      "/",
		"/%5cevil.example":      "/",
		"%2F%2Fevil.example":    "/",
		"/%252F/evil.example":   "/", // encoded twice
		"/%25252F/evil.example": "/", // three times
		"/%09/evil.example":     "/",
		"/%00":                  "/",
		"/%7F":                  "/",
		"/%C2%85evil":           "/", // U+0085, a C1 control
		"/a\x00b":               "/",
		"/%zz":                  "/", // not an escape
		"/%2":                   "/",
	}
	for in, want := range tests {
		if got := LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The path travels in the sign-in's cookie: a long one is refused rather
// than making the cookie too large for browsers.
func TestLocalPathRefusesLongPaths(t *testing.T) {
	ok := "/" + strings.Repeat("a", maxReturnURL-1)
	if got := LocalPath(ok); got != ok {
		t.Errorf("a path of %d bytes was refused", len(ok))
	}
	if got := LocalPath(ok + "a"); got != "/" {
		t.Errorf("a path of %d bytes = %.20q..., want /", len(ok)+1, got)
	}
}
