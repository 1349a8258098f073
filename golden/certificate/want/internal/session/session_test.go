package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
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
			// A Secure cookie has the __Host- prefix, the flow's too.
			if wantPrefix := tt.wantSecure; strings.HasPrefix(fl[0].Name, "__Host-") != wantPrefix {
				t.Errorf("flow cookie %q: want the __Host- prefix = %v", fl[0].Name, wantPrefix)
			}
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

// A sibling subdomain can plant a cookie for the parent domain, but not one
// with the __Host- prefix: over https a flow cookie without the prefix (the
// attacker's own sign-in, say) does not complete a sign-in.
func TestTakeFlowRefusesUnprefixedCookieWhenSecure(t *testing.T) {
	c := Cookies{Codec: newCodec(t)}
	r := httptest.NewRequest("GET", "https://app.example.com/signin", nil)
	w := httptest.NewRecorder()
	if err := c.SetFlow(w, r, "s1", "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	set := w.Result().Cookies()
	if len(set) != 1 || set[0].Name != "__Host-idweb.signin.s1" {
		t.Fatalf("flow cookies over https: %+v", set)
	}
	var v string
	for _, planted := range []*http.Cookie{
		{Name: "idweb.signin.s1", Value: set[0].Value},      // the value renamed
		{Name: "idweb.signin.s1.http", Value: set[0].Value}, // the plain-http copy's name
	} {
		cb := httptest.NewRequest("POST", "https://app.example.com/signin-oidc", nil)
		cb.AddCookie(planted)
		if err := c.TakeFlow(httptest.NewRecorder(), cb, "s1", &v); err == nil {
			t.Errorf("a planted %s cookie completed the sign-in", planted.Name)
		}
	}
	// A cookie sealed for the unprefixed name (made on plain http) does
	// not open under the prefixed one either.
	plain := httptest.NewRequest("GET", "http://localhost:5000/signin", nil)
	w = httptest.NewRecorder()
	c.SetFlow(w, plain, "s2", "v", time.Minute)
	cb := httptest.NewRequest("POST", "https://app.example.com/signin-oidc", nil)
	cb.AddCookie(&http.Cookie{Name: "__Host-idweb.signin.s2", Value: w.Result().Cookies()[0].Value})
	if err := c.TakeFlow(httptest.NewRecorder(), cb, "s2", &v); err == nil {
		t.Error("a flow sealed for the unprefixed name opened")
	}
	// The genuine cookie does.
	cb = httptest.NewRequest("POST", "https://app.example.com/signin-oidc", nil)
	cb.AddCookie(set[0])
	if err := c.TakeFlow(httptest.NewRecorder(), cb, "s1", &v); err != nil || v != "v" {
		t.Fatalf("TakeFlow = %q, %v", v, err)
	}
}

// jar keeps cookies as a browser does: in order of creation, replaced and
// deleted by Set-Cookie.
type jar []*http.Cookie

func (j *jar) apply(resp *http.Response) {
	for _, ck := range resp.Cookies() {
		*j = slices.DeleteFunc(*j, func(o *http.Cookie) bool { return o.Name == ck.Name })
		if ck.MaxAge >= 0 {
			*j = append(*j, ck)
		}
	}
}

func (j jar) header() string {
	var parts []string
	for _, ck := range j {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// Sign-ins started and never finished (a user who keeps clicking Sign in,
// or a page that sends the browser to sign in) must not pile up cookies
// until the browser or a proxy refuses the app's requests: the newest few
// are kept, within a budget of bytes.
func TestPendingFlowsAreBounded(t *testing.T) {
	for _, tt := range []struct {
		name  string
		url   string
		value string
	}{
		{"plain http, small", "http://localhost:5000/signin", "v"},
		{"https, small", "https://app.example.com/signin", "v"},
		{"plain http, large", "http://localhost:5000/signin", strings.Repeat("x", 2300)},
		{"https, large", "https://app.example.com/signin", strings.Repeat("x", 2300)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Cookies{Codec: newCodec(t)}
			var j jar
			for i := range 100 {
				r := httptest.NewRequest("GET", tt.url, nil)
				if h := j.header(); h != "" {
					r.Header.Set("Cookie", h)
				}
				w := httptest.NewRecorder()
				if err := c.SetFlow(w, r, fmt.Sprintf("state%03d", i), tt.value, time.Minute); err != nil {
					t.Fatal(err)
				}
				j.apply(w.Result())
				if n := len(j.header()); n > 7<<10 {
					t.Fatalf("after %d sign-ins the Cookie header is %d bytes", i+1, n)
				}
			}
			flows := map[string]bool{}
			for _, ck := range j {
				flows[strings.TrimSuffix(ck.Name, ".http")] = true
			}
			if len(flows) > maxFlows || len(flows) == 0 {
				t.Errorf("%d sign-ins pending, want 1 to %d", len(flows), maxFlows)
			}
			// The newest ones are kept, and complete: as many as
			// maxFlows small ones; of large ones, the newest at least.
			keep := maxFlows
			if len(tt.value) > 1000 {
				keep = 1
			}
			if len(flows) < keep {
				t.Errorf("%d sign-ins pending, want %d", len(flows), keep)
			}
			for i := 99; i >= 100-keep; i-- {
				r := httptest.NewRequest("POST", tt.url, nil)
				r.Header.Set("Cookie", j.header())
				var v string
				if err := c.TakeFlow(httptest.NewRecorder(), r, fmt.Sprintf("state%03d", i), &v); err != nil || v != tt.value {
					t.Errorf("sign-in %d of 100 does not complete: %v", i+1, err)
				}
			}
			r := httptest.NewRequest("POST", tt.url, nil)
			r.Header.Set("Cookie", j.header())
			var v string
			if err := c.TakeFlow(httptest.NewRecorder(), r, "state000", &v); err == nil {
				t.Error("the oldest sign-in was kept")
			}
		})
	}
}

// Expired or foreign flow cookies are dropped first.
func TestSetFlowDropsFlowsThatDoNotOpen(t *testing.T) {
	c := Cookies{Codec: newCodec(t)}
	r := httptest.NewRequest("GET", "https://app.example.com/signin", nil)
	r.AddCookie(&http.Cookie{Name: "__Host-idweb.signin.junk", Value: "junk"})
	w := httptest.NewRecorder()
	if err := c.SetFlow(w, r, "s1", "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	var deleted bool
	for _, ck := range w.Result().Cookies() {
		if ck.Name == "__Host-idweb.signin.junk" && ck.MaxAge < 0 && ck.Secure && ck.Path == "/" {
			deleted = true
		}
	}
	if !deleted {
		t.Errorf("a flow cookie that does not open was kept: %v", w.Result().Cookies())
	}
}

func TestCSRFToken(t *testing.T) {
	a, b := User{SID: "sid-a"}, User{SID: "sid-b"}
	if a.CSRFToken() == "" || a.CSRFToken() == b.CSRFToken() || a.CSRFToken() != (User{SID: "sid-a", Name: "x"}).CSRFToken() {
		t.Errorf("tokens: %q, %q", a.CSRFToken(), b.CSRFToken())
	}
	if strings.Contains(a.CSRFToken(), "sid-a") {
		t.Error("the token shows the session id")
	}
	if (User{}).CSRFToken() != "" {
		t.Error("a session without an id has a token")
	}
}

func TestRolesAndGroupsInTheSession(t *testing.T) {
	guid := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	groups := func(n int) []string {
		var gs []string
		for i := range n {
			gs = append(gs, guid(i))
		}
		return gs
	}
	roles := func(n int) []string {
		var rs []string
		for i := range n {
			rs = append(rs, fmt.Sprintf("Role.%03d.%s", i, strings.Repeat("x", 100)))
		}
		return rs
	}
	tests := []struct {
		name        string
		in          User
		wantGroups  int
		wantOverage bool
		wantErr     bool
	}{
		{name: "a few roles and groups are kept", in: User{Roles: []string{"Admin", "Reader"}, Groups: groups(10)}, wantGroups: 10},
		{name: "an overage from the token stays an overage", in: User{Roles: []string{"Admin"}, GroupsOverage: true}, wantOverage: true},
		{name: "too many groups for a cookie become an overage", in: User{Roles: []string{"Admin"}, Groups: groups(150)}, wantOverage: true},
		{name: "too many roles for a cookie fail the sign-in", in: User{Roles: roles(60)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Cookies{Codec: newCodec(t), Ended: NewEnded()}
			w := httptest.NewRecorder()
			tt.in.HomeAccountID = guid(1) + "." + guid(2)
			err := c.SetUser(w, httptest.NewRequest("GET", "/", nil), tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrSessionTooLarge) || len(w.Result().Cookies()) != 0 {
					t.Fatalf("SetUser = %v with %d cookies, want ErrSessionTooLarge and none", err, len(w.Result().Cookies()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ck := w.Result().Cookies()[0]
			if len(ck.Name)+len(ck.Value) > 3000 {
				t.Errorf("session cookie is %d bytes", len(ck.Name)+len(ck.Value))
			}
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(ck)
			u, ok := c.User(r)
			if !ok {
				t.Fatal("the session does not open")
			}
			if !slices.Equal(u.Roles, tt.in.Roles) || len(u.Groups) != tt.wantGroups || u.GroupsOverage != tt.wantOverage {
				t.Errorf("got roles %v, %d groups, overage %v; want roles %v, %d groups, overage %v",
					u.Roles, len(u.Groups), u.GroupsOverage, tt.in.Roles, tt.wantGroups, tt.wantOverage)
			}
			if in, known := u.InGroup(guid(3)); tt.wantOverage && (in || known) || !tt.wantOverage && tt.wantGroups > 3 && (!in || !known) {
				t.Errorf("InGroup = %v, %v", in, known)
			}
			if !u.HasRole(tt.in.Roles[0]) || u.HasRole("admin") && tt.in.Roles[0] == "Admin" {
				t.Errorf("HasRole: roles are matched exactly")
			}
		})
	}
}

// sharedStore is a fake store of signed-out sessions shared by instances
// (Redis, PostgreSQL): it can be made to fail like a store that is down.
type sharedStore struct {
	mu    sync.Mutex
	ended map[string]time.Time
	down  error
}

func (s *sharedStore) End(_ context.Context, sid string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return s.down
	}
	s.ended[sid] = until
	return nil
}

func (s *sharedStore) Ended(_ context.Context, sid string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return false, s.down
	}
	_, ok := s.ended[sid]
	return ok, nil
}

func (s *sharedStore) fail(err error) {
	s.mu.Lock()
	s.down = err
	s.mu.Unlock()
}

// Two instances with the same key and a shared store of sign-outs: signing
// out through one ends the session on the other, where a copy of the
// cookie taken before sign-out is refused.
func TestSignOutHonouredOnEveryInstance(t *testing.T) {
	key, _ := KeyFromBase64("")
	codecA, _ := NewCodec(key)
	codecB, _ := NewCodec(key)
	store := &sharedStore{ended: map[string]time.Time{}}
	a := Cookies{Codec: codecA, Ended: store}
	b := Cookies{Codec: codecB, Ended: store}

	w := httptest.NewRecorder()
	if err := a.SetUser(w, httptest.NewRequest("GET", "/", nil), User{HomeAccountID: "x"}); err != nil {
		t.Fatal(err)
	}
	stolen := w.Result().Cookies()[0]
	req := func() *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(stolen)
		return r
	}
	if _, ok := b.User(req()); !ok {
		t.Fatal("instance B does not open A's cookie")
	}
	if err := a.Clear(httptest.NewRecorder(), req()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Session(req()); !errors.Is(err, ErrNoSession) {
		t.Fatalf("instance B after sign-out through A: %v, want ErrNoSession", err)
	}
	// The record lasts as long as the cookie would have.
	for _, until := range store.ended {
		if d := time.Until(until); d < Lifetime-time.Minute || d > Lifetime+time.Minute {
			t.Errorf("the sign-out is kept for %v, want the session's remaining %v", d, Lifetime)
		}
	}
}

// When the store of sign-outs cannot be reached, a session is not served
// (whether it was signed out cannot be told), with an error that says why
// (pages answer 503, not sign-in); sign-out still deletes the cookie and
// reports that it could not be recorded.
func TestRevocationStoreDown(t *testing.T) {
	down := fmt.Errorf("redis: dial tcp 127.0.0.1:1: %w", errUnavailableForTest)
	store := &sharedStore{ended: map[string]time.Time{}}
	c := Cookies{Codec: newCodec(t), Ended: store}
	w := httptest.NewRecorder()
	if err := c.SetUser(w, httptest.NewRequest("GET", "/", nil), User{HomeAccountID: "x", Name: "Adele"}); err != nil {
		t.Fatal(err)
	}
	ck := w.Result().Cookies()[0]
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(ck)
	store.fail(down)

	u, err := c.Session(r)
	if !errors.Is(err, ErrRevocationsUnavailable) || !errors.Is(err, errUnavailableForTest) || u.HomeAccountID != "" {
		t.Fatalf("Session = %+v, %v; want no user and ErrRevocationsUnavailable wrapping the store's error", u, err)
	}
	if _, ok := c.User(r); ok {
		t.Error("User serves a session whose state cannot be told")
	}
	if u, ok := c.UserForSignOut(r); !ok || u.Name != "Adele" {
		t.Errorf("UserForSignOut = %+v, %v", u, ok)
	}
	w = httptest.NewRecorder()
	if err := c.Clear(w, r); !errors.Is(err, errUnavailableForTest) {
		t.Errorf("Clear = %v, want the store's error", err)
	}
	if del := w.Result().Cookies(); len(del) != 1 || del[0].MaxAge >= 0 {
		t.Errorf("Clear did not delete the cookie: %v", del)
	}
	// Without a cookie it is plainly no session, whatever the store.
	if _, err := c.Session(httptest.NewRequest("GET", "/", nil)); !errors.Is(err, ErrNoSession) {
		t.Errorf("no cookie: %v", err)
	}
}

var errUnavailableForTest = errors.New("token cache unavailable")
