package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Sign-in asks for the first API's scopes only; the first call to another
// API the user has not consented to is refused by the identity provider
// (AADSTS65001), and the app sends the user through sign-in for that API's
// scopes and back to the page: never an error page, never a loop.
func TestIncrementalConsent(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	e.signIn(c, firstPage, testUsers[0].ID)
	for _, api := range customAPIs {
		path := "/apis/" + api.name
		if api.appOnly || path == firstPage {
			continue
		}
		resp, _ := get(t, c, e.appURL+path)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		scope := loc.Query().Get("scope")
		if resp.StatusCode != http.StatusFound || !strings.Contains(scope, api.scopes[0]) {
			t.Fatalf("first call to %s: %s to %s, want sign-in for its scopes", api.name, resp.Status, loc)
		}
		e.callAPI(c, api.name, testUsers[0].ID)
		// Consented now: no more sign-ins, for this API or the first.
		for _, p := range []string{path, firstPage} {
			if resp, _ := get(t, c, e.appURL+p); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s after consenting: %s %s", p, resp.Status, resp.Header.Get("Location"))
			}
		}
	}
}
