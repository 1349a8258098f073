package signin

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/session"
)

// FuzzLocalPath checks that LocalPath only ever returns a path on this
// site, whatever a browser or server makes of it once percent-decoded, and
// that it is idempotent.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{
		"/", "/profile?tab=2", "/caf%C3%A9", "", "//evil.example", "/\\evil.example",
		"https://evil.example/", "/%2F/evil.example", "/%252F%252Fevil.example",
		"/%25252F%25252Fevil.example", "/%5Cevil.example", "/%0d%0aSet-Cookie:x=y",
		"javascript:alert(1)", "/a\x7fb", "/\u0085x", "/%zz", strings.Repeat("/a", 1100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := LocalPath(p)
		if got != "/" && got != p {
			t.Fatalf("LocalPath(%q) = %q: neither the input nor /", p, got)
		}
		if again := LocalPath(got); again != got {
			t.Fatalf("not idempotent: LocalPath(%q) = %q, LocalPath(that) = %q", p, got, again)
		}
		if len(got) > maxReturnURL {
			t.Fatalf("LocalPath(%q) is %d bytes long", p, len(got))
		}
		d := got
		for round := 0; ; round++ {
			if !strings.HasPrefix(d, "/") || strings.HasPrefix(d, "//") {
				t.Fatalf("LocalPath(%q) = %q: decoded %d times, %q is not a local path", p, got, round, d)
			}
			if strings.ContainsFunc(d, func(c rune) bool { return c == '\\' || c < 0x20 || c == 0x7f || unicode.IsControl(c) }) {
				t.Fatalf("LocalPath(%q) = %q: decoded %d times, %q has a backslash or control character", p, got, round, d)
			}
			if u, err := url.Parse(d); err == nil && (u.Host != "" || u.Scheme != "" || u.Opaque != "") {
				t.Fatalf("LocalPath(%q) = %q: decoded %d times, %q reads as host %q scheme %q", p, got, round, d, u.Host, u.Scheme)
			}
			next, err := url.PathUnescape(d)
			if err != nil || next == d {
				break
			}
			d = next
		}
	})
}

// fuzzHandler is a Handler for the callback with no identity provider and
// no token client: a response that gets past the state check would panic
// on them, which the fuzz target counts as a failure too.
func fuzzHandler(t testing.TB) (*Handler, *session.Codec) {
	t.Helper()
	key, err := session.KeyFromBase64("")
	if err != nil {
		t.Fatal(err)
	}
	codec, err := session.NewCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{
		ad:      config.AzureAd{CallbackPath: "/signin-oidc"},
		cookies: session.Cookies{Codec: codec},
		log:     slog.New(slog.DiscardHandler),
		OnError: func(w http.ResponseWriter, _ *http.Request, status int, _, msg string) {
			http.Error(w, msg, status)
		},
	}
	return h, codec
}

// FuzzCallback posts arbitrary responses with arbitrary flow cookies to the
// callback: unless the state is that of a sign-in this browser started, the
// answer is a 4xx page, with no redirect and no session.
func FuzzCallback(f *testing.F) {
	genuine := randomString(32) // this browser's one sign-in, sealed in each run
	h, codec := fuzzHandler(f)
	f.Add(genuine[:22]+"x", "code", "", "", true, false)
	f.Add(genuine[:22], "code", "", "", true, true)
	f.Add("forged", "code", "", "", true, false)
	f.Add("forged", "code", "access_denied", "", false, false)
	f.Add("", "code", "", "", true, false)
	f.Add("state1", "", "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false, false)
	f.Add("state1", "c", "e", "not base64 ;,\"", false, true)
	f.Fuzz(func(t *testing.T, state, code, errParam, cookieValue string, withGenuine, https bool) {
		target := "http://localhost:5000/signin-oidc"
		prefix := ""
		if https {
			target, prefix = "https://app.example.com/signin-oidc", "__Host-"
		}
		if withGenuine && state == genuine {
			t.Skip("the state of the sign-in this browser started")
		}
		form := url.Values{"state": {state}, "code": {code}}
		if errParam != "" {
			form.Set("error", errParam)
			form.Set("error_description", errParam)
		}
		r := httptest.NewRequest("POST", target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		var cookies []string
		id := state
		if len(id) > 22 {
			id = id[:22]
		}
		cookies = append(cookies, prefix+"idweb.signin."+id+"="+cookieValue, "idweb.signin."+id+".http="+cookieValue)
		if withGenuine {
			n := prefix + "idweb.signin." + genuine[:22]
			v, err := codec.Seal(n, flow{State: genuine, Nonce: "n", Verifier: "v", ReturnURL: "/", RedirectURI: target}, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			cookies = append(cookies, n+"="+v)
		}
		r.Header.Set("Cookie", strings.Join(cookies, "; "))
		w := httptest.NewRecorder()
		h.callback(w, r)
		resp := w.Result()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("state %q, cookie %q: status %d, want 4xx", state, cookieValue, resp.StatusCode)
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Fatalf("state %q: redirects to %q", state, loc)
		}
		for _, ck := range resp.Cookies() {
			if strings.Contains(ck.Name, "idweb.session") && ck.Value != "" {
				t.Fatalf("state %q: sets a session cookie", state)
			}
		}
	})
}
