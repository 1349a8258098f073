package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"example.com/demo/internal/session"
	"example.com/demo/internal/web"
)

// wantUnavailable fails the test unless resp is the 503 page of sign-in
// data that cannot be read for now: Retry-After, what to do, and nothing
// of the store's error.
func wantUnavailable(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	wantHTML(t, resp, body, http.StatusServiceUnavailable)
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	if !strings.Contains(body, "Sign-in data is temporarily unavailable, try again in a moment.") {
		t.Errorf("page does not say what happened:\n%s", body)
	}
	if strings.Contains(body, "10.0.0.7") || strings.Contains(body, "redis") {
		t.Errorf("page shows the store's error:\n%s", body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

// A page whose tokens cannot be read because the token cache is down
// answers 503 with a page that says to try again, not a sign-in (which
// would meet the same cache) nor a 500 or 502.
func TestTokenCacheDownAnswers503(t *testing.T) {
	t.Run("a page's error", func(t *testing.T) {
		f := newFixture(t)
		signedIn := f.sessionCookie(t, user)
		for _, err := range []error{
			errDown,
			fmt.Errorf("Orders: tokens: read account: token cache: load: %w", errDown),
		} {
			f.page = func(*http.Request, session.User) (web.View, error) { return web.View{}, err }
			resp, body := f.do(t, "GET", "/orders", signedIn)
			wantUnavailable(t, resp, body)
		}
	})

	t.Run("through sign-in and a token", func(t *testing.T) {
		f := newFixture(t)
		c := f.browser(t)
		resp, body := get(t, c, f.base+"/orders")
		f.signIn(t, c, resp, body)
		f.page = func(r *http.Request, u session.User) (web.View, error) {
			if _, err := f.acq.Token(r.Context(), u.HomeAccountID, []string{ordersScope}); err != nil {
				return web.View{}, fmt.Errorf("Orders: %w", err)
			}
			return web.View{Template: ordersPage, Data: "ok"}, nil
		}
		// Consent to the page's API first: the page then gets its token.
		resp, body = get(t, c, f.base+"/orders")
		f.signIn(t, c, resp, body)
		resp, body = get(t, c, f.base+"/orders")
		wantHTML(t, resp, body, http.StatusOK)
		f.store.setDown(true)
		resp, body = get(t, c, f.base+"/orders")
		wantUnavailable(t, resp, body)
		// Back up: the same session serves again, no sign-in needed.
		f.store.setDown(false)
		resp, body = get(t, c, f.base+"/orders")
		wantHTML(t, resp, body, http.StatusOK)
	})

	t.Run("the sign-in callback", func(t *testing.T) {
		f := newFixture(t)
		c := f.browser(t)
		resp, body := get(t, c, f.base+"/orders")
		f.store.setDown(true)
		back, b := f.signInAs(t, c, resp, body, adele.ID)
		wantUnavailable(t, back, b)
		if slicesContainsSession(back.Cookies()) {
			t.Error("a session was started without the user's tokens")
		}
	})
}

func slicesContainsSession(cks []*http.Cookie) bool {
	for _, c := range cks {
		if strings.HasSuffix(c.Name, "idweb.session") && c.MaxAge > 0 {
			return true
		}
	}
	return false
}

// When the store of sign-outs cannot be asked, a signed-in page answers
// 503 (whether the session was signed out cannot be told: fail closed, no
// 500), the home page shows the visitor as signed out, and signing out
// still deletes the cookie and goes on to the identity provider.
func TestSignOutStoreDown(t *testing.T) {
	f := newFixture(t)
	signedIn := f.sessionCookie(t, user)
	f.store.setDown(true)

	f.calls = 0
	resp, body := f.do(t, "GET", "/orders", signedIn)
	wantUnavailable(t, resp, body)
	if f.calls != 0 {
		t.Error("the page ran for a session whose state cannot be told")
	}
	resp, body = f.do(t, "GET", "/", signedIn)
	wantHTML(t, resp, body, http.StatusOK)
	if strings.Contains(body, user.Username) {
		t.Error("the home page shows the user while sign-outs cannot be read")
	}

	peek := httptest.NewRequest("GET", f.base+"/", nil)
	peek.AddCookie(signedIn)
	u, _ := f.cookies.UserForSignOut(peek)
	form := url.Values{"csrf": {u.CSRFToken()}}
	req := httptest.NewRequest("POST", f.base+"/signout", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(signedIn)
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	out := rec.Result()
	if out.StatusCode != http.StatusSeeOther || !cleared(out, signedIn.Name) {
		b, _ := io.ReadAll(out.Body)
		t.Fatalf("sign-out with the store down: %s, cookie cleared %v\n%s", out.Status, cleared(out, signedIn.Name), b)
	}
}

// A session signed out through one instance is refused by another that
// shares the store of sign-outs: sign out through the app, then present a
// copy of the cookie to a second app with the same key and store.
func TestSignOutEndsTheSessionForAnotherInstance(t *testing.T) {
	f := newFixture(t)
	c := f.browser(t)
	resp, body := get(t, c, f.base+"/orders")
	f.signIn(t, c, resp, body)
	appURL, _ := url.Parse(f.base)
	var copied *http.Cookie
	for _, ck := range c.Jar.Cookies(appURL) {
		if ck.Name == "idweb.session" {
			copied = ck
		}
	}
	if copied == nil {
		t.Fatal("no session cookie after sign-in")
	}
	other := session.Cookies{Codec: f.cookies.Codec, Ended: f.cookies.Ended}
	req := httptest.NewRequest("GET", f.base+"/", nil)
	req.AddCookie(copied)
	u, ok := other.User(req)
	if !ok {
		t.Fatal("the other instance does not open the session")
	}

	form := url.Values{"csrf": {u.CSRFToken()}}
	out, err := c.PostForm(f.base+"/signout", form)
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if out.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %s", out.Status)
	}
	if _, err := other.Session(req); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("the other instance after sign-out: %v, want ErrNoSession", err)
	}
	resp, body = f.do(t, "GET", "/orders", copied)
	f.wantSignInRedirect(t, resp, body)
}

// GET /readyz tells whether the instance can serve signed-in users: 200
// without a check or while it passes, 503 with the reason (not the store's
// error) while the token cache is down; /healthz stays 200 throughout.
func TestReadiness(t *testing.T) {
	f := newFixture(t)
	get := func(path string) (*http.Response, string) { return f.do(t, "GET", path) }

	resp, body := get("/readyz")
	if resp.StatusCode != http.StatusOK || body != "ready\n" {
		t.Errorf("no check: %d %q", resp.StatusCode, body)
	}
	f.app.Ready = f.store.Check
	resp, body = get("/readyz")
	if resp.StatusCode != http.StatusOK || body != "ready\n" {
		t.Errorf("cache up: %d %q", resp.StatusCode, body)
	}
	f.store.setDown(true)
	resp, body = get("/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || body != "not ready: token cache unavailable\n" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("cache down: %d %q, Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if resp, body := get("/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with the cache down: %d %q", resp.StatusCode, body)
	}
	f.store.setDown(false)
	if resp, body := get("/readyz"); resp.StatusCode != http.StatusOK {
		t.Errorf("cache back: %d %q", resp.StatusCode, body)
	}

	// A check that hangs makes the instance not ready when the probe's
	// deadline (or the app's own, 3s) comes.
	f.app.Ready = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, "GET", f.base+"/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "not ready: token cache unavailable\n" {
		t.Errorf("a hanging check: %d %q", rec.Code, rec.Body.String())
	}
	// Another failure says less.
	f.app.Ready = func(context.Context) error { return errors.New("secret detail") }
	if resp, body := get("/readyz"); resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "secret") {
		t.Errorf("another failure: %d %q", resp.StatusCode, body)
	}
}
