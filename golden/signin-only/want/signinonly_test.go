package main

import (
	"strings"
	"testing"

	"hello/internal/config"
)

// An app that only signs users in asks for no API's scopes, redeems the
// code once, calls nothing, and shows the user from the ID token.
func TestSignInOnly(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	resp, _ := get(t, c, e.appURL+"/account")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.Contains(loc, "scope=openid+profile+offline_access&") && !strings.HasSuffix(loc, "scope=openid+profile+offline_access") {
		t.Errorf("sign-in asks for %s, want only openid profile offline_access", loc)
	}
	if next := e.signIn(c, "/account", testUsers[0].ID); next != "/account" {
		t.Fatalf("after sign-in the app sends the browser to %q", next)
	}
	body := e.wantPage(c, "/account", "Adele Vance")
	for _, want := range []string{"adele@contoso.example", testUsers[0].ID, testTenant} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if n := e.idp.TokenRequests(""); n != 1 {
		t.Errorf("%d token requests, want 1 (the code redemption)", n)
	}
	if n := e.apiRequests(); n != 0 {
		t.Errorf("%d API calls, want none", n)
	}
}

// Its settings have no API section.
func TestNoAPISettings(t *testing.T) {
	cfg, err := config.Load(".", config.Production, nil)
	if err != nil {
		t.Fatal(err)
	}
	if names := cfg.DownstreamAPINames(); len(names) != 0 {
		t.Errorf("DownstreamApis = %v in a sign-in-only app", names)
	}
	if _, err := cfg.DownstreamAPI("MicrosoftGraph"); err == nil {
		t.Error("a MicrosoftGraph section in a sign-in-only app")
	}
}
