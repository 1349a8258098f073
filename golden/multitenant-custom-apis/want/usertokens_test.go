package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/my-app/internal/config"
	"github.com/acme/my-app/internal/devidp"
)

// A session that outlives its tokens (a restart of an in-memory cache, an
// eviction, a shared cache that lost them) goes through sign-in once and
// lands where it wanted to. The tokens are lost through the cache itself.
func TestSessionWithoutCachedTokensSignsInAgain(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	e.signIn(c, firstPage, testUsers[1].ID)
	if err := e.cache.tokens.Delete(context.Background(), homeAccountID(testUsers[1].ID)); err != nil {
		t.Fatal(err)
	}
	want := firstPage + "?tab=1"
	if next := e.signIn(c, want, testUsers[1].ID); next != want {
		t.Fatalf("after signing in again the app sends the browser to %q, want %q", next, want)
	}
	e.wantPage(c, want, "Alex Wilber")
}

// Access tokens expire; the app then redeems the refresh token silently
// (the stand-in rotates it each time) and the user notices nothing. A
// lifetime under MSAL's five-minute margin makes every request refresh.
func TestExpiredAccessTokenIsRefreshed(t *testing.T) {
	e := newEnv(t, testUsers, func(c *devidp.Config) { c.AccessTokenLifetime = 2 * time.Minute })
	c := e.browser()
	e.signIn(c, firstPage, testUsers[0].ID)
	for range 3 {
		e.wantPage(c, firstPage, "Adele Vance")
	}
	if n := e.idp.TokenRequests("refresh_token"); n != 3 {
		t.Errorf("%d refresh token redemptions, want 3 (one per request)", n)
	}
}

// When the tokens are still missing right after signing in again (here:
// they are dropped from the cache after every sign-in), the user gets an
// error page, not an endless round of sign-ins.
func TestNoSignInLoop(t *testing.T) {
	e := newEnv(t, testUsers)
	h := e.newHandler()
	e.app.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.Method == http.MethodPost && r.URL.Path == e.callback {
			// The tokens are gone as soon as they were stored.
			e.cache.tokens.Delete(context.Background(), homeAccountID(testUsers[0].ID))
		}
	})
	c := e.browser()
	e.signIn(c, firstPage, testUsers[0].ID)     // first sign-in; its tokens are lost
	e.signIn(c, firstPage, testUsers[0].ID)     // signed in again; lost again
	resp, body := get(t, c, e.appURL+firstPage) // no third round
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "no token for the API this page calls could be obtained") {
		t.Fatalf("GET %s with tokens still missing: %s %s\n%s", firstPage, resp.Status, resp.Header.Get("Location"), body)
	}
	// The next attempt may sign in again: the guard is for one round only.
	resp, _ = get(t, c, e.appURL+firstPage)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("a later attempt: %s, want a new sign-in", resp.Status)
	}
}

// Settings that would make the app call an API without a token, or in
// clear, or not at all stop it at start-up with an error naming the key;
// Microsoft.Identity.Web would call the API anonymously (its issue #2253).
func TestBadAPISettingsStopTheApp(t *testing.T) {
	e := newEnv(t, testUsers)
	const key = "DownstreamApis:" + "Orders"
	envKey := strings.ReplaceAll(key, ":", "__")
	for _, tt := range []struct{ env, want string }{
		{envKey + "__Scopes=" + "api://22222222-0000-4000-8000-000000000001/Orders.Read", key + ":Scopes must be an array of strings"},
		{envKey + "__BaseUrl=http://api.contoso.example", key + `:BaseUrl "http://api.contoso.example" must use https`},
	} {
		cfg, err := config.Load(e.dir, config.Development, e.appEnviron(tt.env))
		if err == nil {
			_, err = newApp(context.Background(), cfg, e.cache, slog.New(slog.NewTextHandler(io.Discard, nil)))
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: the app starts with %v, want an error containing %q", tt.env, err, tt.want)
		}
	}
}
