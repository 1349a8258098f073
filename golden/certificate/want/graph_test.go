package main

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"example.com/certapp/internal/devidp"
)

func TestSignInAndCallGraph(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()

	resp, body := get(t, c, e.appURL+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/signin`) {
		t.Fatalf("home page signed out: %s\n%s", resp.Status, body)
	}

	// The authorize request carries what MSAL Go leaves out.
	resp, _ = get(t, c, e.appURL+"/profile")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	for _, p := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(p)) < 43 {
			t.Errorf("authorize %s = %q, want 32 random bytes", p, q.Get(p))
		}
	}
	scopes := strings.Fields(q.Get("scope"))
	for _, want := range append([]string{"openid", "offline_access"}, "user.read") {
		if !slices.Contains(scopes, want) {
			t.Errorf("authorize scope = %q lacks %s: Entra ID returns an ID token only for openid, a refresh token only for offline_access, and Graph's token for its scopes", q.Get("scope"), want)
		}
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("response_mode") != "form_post" || q.Get("redirect_uri") != e.appURL+e.callback {
		t.Errorf("authorize query = %v", q)
	}

	if next := e.signIn(c, "/profile", testUsers[0].ID); next != "/profile" {
		t.Fatalf("after sign-in the app sends the browser to %q, want /profile", next)
	}
	body = e.wantPage(c, "/profile", "Adele Vance")
	for _, want := range []string{"adele@contoso.example", "Retail Manager", "18/2111", testUsers[0].ID} {
		if !strings.Contains(body, want) {
			t.Errorf("profile page lacks %q (Graph data from the stand-in)", want)
		}
	}
	if n := e.idp.GraphRequests(); n != 1 {
		t.Errorf("Graph /me was called %d times, want 1", n)
	}
	_, body = get(t, c, e.appURL+"/")
	if !strings.Contains(body, "Hello, Adele Vance") || !strings.Contains(body, `href="/profile"`) {
		t.Errorf("home page signed in lacks the user's name or the profile link:\n%s", body)
	}

	// The session cookie names the user and holds no token.
	u, _ := url.Parse(e.appURL)
	for _, ck := range c.Jar.Cookies(u) {
		if len(ck.Value) > 1024 {
			t.Errorf("cookie %s is %d bytes: tokens do not belong in cookies", ck.Name, len(ck.Value))
		}
	}
}

// Graph answering with a claims challenge (continuous access evaluation,
// an authentication context of Conditional Access) sends the user through
// sign-in with those claims, and the page then works with the new token.
func TestGraphClaimsChallengeSignsInAgain(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	e.signIn(c, "/profile", testUsers[0].ID)
	e.wantPage(c, "/profile", "Adele Vance")

	const claims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	if err := e.idp.RequireClaims(devidp.MicrosoftGraph, claims); err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, c, e.appURL+"/profile")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("claims") != claims {
		t.Fatalf("after a claims challenge: %s, authorize URL %s", resp.Status, loc)
	}
	if next := e.signIn(c, "/profile", testUsers[0].ID); next != "/profile" {
		t.Fatalf("after signing in with the claims the app sends the browser to %q", next)
	}
	e.wantPage(c, "/profile", "Adele Vance")
}
