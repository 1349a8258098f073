package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/my-app/internal/devidp"
)

// Consent withdrawn (by the user, or an admin): the next refresh is
// refused, and the user consents again through sign-in and comes back.
func TestConsentWithdrawnSignsInAgain(t *testing.T) {
	e := newEnv(t, testUsers, func(c *devidp.Config) { c.AccessTokenLifetime = 2 * time.Minute })
	c := e.browser()
	e.signIn(c, firstPage, testUsers[0].ID)
	e.wantPage(c, firstPage, "Adele Vance")
	e.idp.RevokeConsent(testUsers[0].ID, e.settings(nil).AzureAd.ClientID)
	resp, _ := get(t, c, e.appURL+firstPage)
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/oauth2/v2.0/authorize") {
		t.Fatalf("after consent was withdrawn: %s %s, want a sign-in", resp.Status, resp.Header.Get("Location"))
	}
	if next := e.signIn(c, firstPage, testUsers[0].ID); next != firstPage {
		t.Fatalf("after consenting again the app sends the browser to %q", next)
	}
	e.wantPage(c, firstPage, "Adele Vance")
}

// An API answering with a claims challenge (an authentication context of
// Conditional Access) sends the user through sign-in with those claims,
// and the page then works with the new token.
func TestAPIClaimsChallengeSignsInAgain(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	e.signIn(c, firstPage, testUsers[0].ID)
	e.wantPage(c, firstPage, "Adele Vance")
	const claims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	if err := e.idp.RequireClaims("Orders", claims); err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, c, e.appURL+firstPage)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("claims") != claims {
		t.Fatalf("after a claims challenge: %s, authorize URL %s", resp.Status, loc)
	}
	if next := e.signIn(c, firstPage, testUsers[0].ID); next != firstPage {
		t.Fatalf("after signing in with the claims the app sends the browser to %q", next)
	}
	call := answer(t, e.wantPage(c, firstPage, "Adele Vance"))
	if !slices.Contains(call.Acrs, "c1") {
		t.Errorf("the API accepted a token without the claims: %+v", call)
	}
}
