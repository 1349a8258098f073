package session

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newCodec(t *testing.T) *Codec {
	t.Helper()
	key, err := KeyFromBase64("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSealOpenRoundTrip(t *testing.T) {
	c := newCodec(t)
	v, err := c.Seal("a", User{HomeAccountID: "uid.utid", Name: "Adele"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var u User
	if err := c.Open("a", v, &u); err != nil || u.Name != "Adele" {
		t.Fatalf("Open = %+v, %v", u, err)
	}
	if strings.Contains(v, "Adele") || strings.Contains(v, "uid.utid") {
		t.Errorf("cookie value shows its contents: %s", v)
	}
}

// Each attack on a cookie must fail to open.
func TestOpenRefusesAttacks(t *testing.T) {
	c := newCodec(t)
	good, _ := c.Seal("idweb.session", User{HomeAccountID: "x"}, time.Minute)
	expired, _ := c.Seal("idweb.session", User{HomeAccountID: "x"}, -time.Second)
	other := newCodec(t)
	foreign, _ := other.Seal("idweb.session", User{HomeAccountID: "x"}, time.Minute)
	flipped := []byte(good)
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}
	tests := []struct{ name, cookie, value string }{
		{"tampered", "idweb.session", string(flipped)},
		{"truncated", "idweb.session", good[:len(good)-4]},
		{"expired", "idweb.session", expired},
		{"sealed with another key", "idweb.session", foreign},
		{"moved to another cookie", "idweb.signin.abc", good},
		{"not base64", "idweb.session", "!!!"},
		{"empty", "idweb.session", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u User
			if err := c.Open(tt.cookie, tt.value, &u); err != ErrInvalid {
				t.Fatalf("Open = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestKeyFromBase64(t *testing.T) {
	if _, err := KeyFromBase64("c2hvcnQ="); err == nil || !strings.Contains(err.Error(), "Session:EncryptionKey") {
		t.Fatalf("short key: %v", err)
	}
	k, err := KeyFromBase64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if err != nil || len(k) != 32 {
		t.Fatalf("good key: %v", err)
	}
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		host       string
		tls        bool
		always     bool
		wantName   string
		wantSecure bool
	}{
		{"plain http on localhost", "localhost:5000", false, false, "idweb.session", false},
		{"plain http on 127.0.0.1", "127.0.0.1:5000", false, false, "idweb.session", false},
		{"https", "app.example.com", true, false, "__Host-idweb.session", true},
		{"behind a TLS-terminating proxy", "app.example.com", false, false, "__Host-idweb.session", true},
		{"behind a proxy on loopback, https redirect URI", "127.0.0.1:5000", false, true, "__Host-idweb.session", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Cookies{Codec: newCodec(t), AlwaysSecure: tt.always}
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = tt.host
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			if err := c.SetUser(w, r, User{HomeAccountID: "x"}); err != nil {
				t.Fatal(err)
			}
			ck := w.Result().Cookies()[0]
			if ck.Name != tt.wantName || ck.Secure != tt.wantSecure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
				t.Errorf("cookie = %+v", ck)
			}
			r2 := httptest.NewRequest("GET", "/", nil)
			r2.Host, r2.TLS = r.Host, r.TLS
			r2.AddCookie(ck)
			if _, ok := c.User(r2); !ok {
				t.Error("the cookie set does not read back")
			}

			w = httptest.NewRecorder()
			if err := c.SetFlow(w, r, "state123", map[string]string{"a": "b"}, time.Minute); err != nil {
				t.Fatal(err)
			}
			fl := w.Result().Cookies()
			// The identity provider posts back cross-site: only
			// SameSite=None; Secure survives that.
			if fl[0].SameSite != http.SameSiteNoneMode || !fl[0].Secure || !fl[0].HttpOnly {
				t.Errorf("flow cookie = %+v", fl[0])
			}
			// Over https there is no second, weaker copy.
			if want := map[bool]int{true: 1, false: 2}[tt.wantSecure]; len(fl) != want {
				t.Errorf("%d flow cookies, want %d", len(fl), want)
			}
		})
	}
}

func TestTakeFlowIsOneUse(t *testing.T) {
	c := Cookies{Codec: newCodec(t)}
	// Local development: the app on plain http on localhost.
	r := httptest.NewRequest("GET", "http://localhost:5000/", nil)
	w := httptest.NewRecorder()
	c.SetFlow(w, r, "s1", "v", time.Minute)
	ck := w.Result().Cookies()[0]
	plain := w.Result().Cookies()[1]

	r2 := httptest.NewRequest("POST", "http://localhost:5000/signin-oidc", nil)
	r2.AddCookie(ck)
	w2 := httptest.NewRecorder()
	var v string
	if err := c.TakeFlow(w2, r2, "s1", &v); err != nil || v != "v" {
		t.Fatalf("TakeFlow = %q, %v", v, err)
	}
	for _, del := range w2.Result().Cookies() {
		if del.MaxAge >= 0 {
			t.Errorf("TakeFlow did not delete the cookie: %+v", del)
		}
	}
	if err := c.TakeFlow(httptest.NewRecorder(), r2, "s2", &v); err == nil {
		t.Error("another state's flow opened")
	}
	// A client that sends Secure cookies only over https still has the
	// plain-http copy on loopback.
	r3 := httptest.NewRequest("POST", "http://localhost:5000/signin-oidc", nil)
	r3.AddCookie(plain)
	if err := c.TakeFlow(httptest.NewRecorder(), r3, "s1", &v); err != nil || v != "v" {
		t.Fatalf("TakeFlow from the plain-http copy = %q, %v", v, err)
	}
}

// A copy of the session cookie taken before sign-out is refused after it.
func TestClearEndsTheSession(t *testing.T) {
	c := Cookies{Codec: newCodec(t), Ended: NewEnded()}
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	if err := c.SetUser(w, r, User{HomeAccountID: "x"}); err != nil {
		t.Fatal(err)
	}
	stolen := w.Result().Cookies()[0]
	r2 := httptest.NewRequest("GET", "/signout", nil)
	r2.AddCookie(stolen)
	c.Clear(httptest.NewRecorder(), r2)

	r3 := httptest.NewRequest("GET", "/", nil)
	r3.AddCookie(stolen)
	if _, ok := c.User(r3); ok {
		t.Fatal("a session cookie copied before sign-out still signs the user in")
	}
	// Other sessions of the same user (another browser) are not affected.
	w = httptest.NewRecorder()
	c.SetUser(w, r, User{HomeAccountID: "x"})
	r4 := httptest.NewRequest("GET", "/", nil)
	r4.AddCookie(w.Result().Cookies()[0])
	if _, ok := c.User(r4); !ok {
		t.Fatal("a new sign-in is refused")
	}
}
