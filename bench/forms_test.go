package main

import (
	"net/url"
	"testing"
)

// Pages as the stand-in renders them (internal/devidp/pages.go: html/template
// output, shortened).
const loginPage = `<!doctype html>
<html lang="en"><head><title>Sign in – Local stand-in</title>
<style nonce="abc">form.users button { display: block; }</style></head>
<body><main>
<h1>Sign in</h1>
<form method="post" action="/11111111-2222-3333-4444-555555555555/login" class="users">
<input type="hidden" name="request" value="r&#43;1&amp;x">
<button name="user" value="6e7b768e-07e2-4810-8459-485f84f8f204">Adele Vance (adele@contoso.example)</button>
<button name="user" value="b0000000-0000-4000-8000-000000000001">Bench User 001 (bench001@contoso.example)</button>
</form>
<form method="post" action="/11111111-2222-3333-4444-555555555555/login" class="name">
<input type="hidden" name="request" value="r&#43;1&amp;x">
<label for="name">Someone else</label>
<input type="text" id="name" name="name" maxlength="64" required autocomplete="off" placeholder="Display name, e.g. Lee Gu">
<button type="submit">Sign in</button>
</form>
</main></body></html>`

const consentPage = `<main><h1>Permissions requested</h1>
<form method="post" action="/11111111-2222-3333-4444-555555555555/login">
<input type="hidden" name="request" value="req2">
<button name="consent" value="accept">Accept</button>
<button name="consent" value="cancel" class="secondary">Cancel</button>
</form></main>`

const formPostPage = `<main><p>Returning to the application…</p>
<form method="post" action="http://localhost:5000/signin-oidc">
<input type="hidden" name="code" value="c0de">
<input type="hidden" name="state" value="st&#43;ate">
<button type="submit">Continue</button>
</form>
<script nonce="n">window.addEventListener("load", function () { document.forms[0].submit(); });</script></main>`

func TestLoginForm(t *testing.T) {
	forms := parseForms([]byte(loginPage))
	if len(forms) != 2 {
		t.Fatalf("got %d forms, want 2", len(forms))
	}
	const id = "b0000000-0000-4000-8000-000000000001"
	f, ok := findForm(forms, func(f htmlForm) bool { return f.hasButton("user", id) })
	if !ok {
		t.Fatal("no form with the user's button")
	}
	if f.hasButton("user", "b0000000-0000-4000-8000-000000000002") {
		t.Error("hasButton matched an absent value")
	}
	got := f.values("user", id).Encode()
	want := url.Values{"request": {"r+1&x"}, "user": {id}}.Encode()
	if got != want {
		t.Errorf("values = %s, want %s", got, want)
	}
	page, _ := url.Parse("https://127.0.0.1:5443/11111111-2222-3333-4444-555555555555/oauth2/v2.0/authorize?x=1")
	a, err := f.action(page)
	if err != nil || a.String() != "https://127.0.0.1:5443/11111111-2222-3333-4444-555555555555/login" {
		t.Errorf("action = %v, %v", a, err)
	}
	// The "someone else" form has a text field but no user buttons.
	if !forms[1].hasField("name") || forms[1].hasButton("user", "") {
		t.Error("second form misparsed")
	}
	if s := snippet([]byte(loginPage)); len(s) == 0 || s[:7] != "Sign in" {
		t.Errorf("snippet = %q, want the visible text without the style", s)
	}
}

func TestConsentAndFormPost(t *testing.T) {
	f, ok := findForm(parseForms([]byte(consentPage)), func(f htmlForm) bool { return f.hasButton("consent", "accept") })
	if !ok {
		t.Fatal("no consent form")
	}
	if got := f.values("consent", "accept").Encode(); got != "consent=accept&request=req2" {
		t.Errorf("consent values = %s", got)
	}
	f, ok = findForm(parseForms([]byte(formPostPage)), func(f htmlForm) bool { return f.hasField("code") })
	if !ok {
		t.Fatal("no form_post form")
	}
	if got := f.values("", "").Encode(); got != "code=c0de&state=st%2Bate" {
		t.Errorf("form_post values = %s", got)
	}
	if f.attrs["action"] != "http://localhost:5000/signin-oidc" {
		t.Errorf("action = %q", f.attrs["action"])
	}
}
