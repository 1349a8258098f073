package signin

import "testing"

// An attacker's link /signin?returnUrl=... must never send the user to
// another site after sign-in.
func TestLocalPathRefusesOpenRedirects(t *testing.T) {
	tests := map[string]string{
		"/profile":                    "/profile",
		"/profile?tab=2":              "/profile?tab=2",
		"":                            "/",
		"https://evil.example/":       "/",
		"//evil.example/x":            "/",
		"/\\evil.example":             "/",
		"\\\\evil.example":            "/",
		"javascript:alert(1)":         "/",
		"/%0d%0aSet-Cookie:x=y":       "/%0d%0aSet-Cookie:x=y",
		"/\r\nLocation: http://e.com": "/",
		"profile":                     "/",
	}
	for in, want := range tests {
		if got := LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}
