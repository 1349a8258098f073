package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// benchUser is a test user the benchmark adds to the stand-in's users.
type benchUser struct {
	ID          string
	DisplayName string
	UPN         string
}

func makeUsers(n int) []benchUser {
	users := make([]benchUser, n)
	for i := range users {
		users[i] = benchUser{
			ID:          fmt.Sprintf("b0000000-0000-4000-8000-%012d", i+1),
			DisplayName: fmt.Sprintf("Bench User %03d", i+1),
			UPN:         fmt.Sprintf("bench%03d@contoso.example", i+1),
		}
	}
	return users
}

// signIn signs u in like a browser without JavaScript: the app's /signin
// redirects to the stand-in's authorize endpoint; the login page's button
// for u is pressed, then Accept on the consent page; the form_post page's
// fields (code, state) are posted to the app's callback, which answers 303
// to /profile. Finally GET /profile must show u's display name. c must have
// a cookie jar and must not follow redirects.
func signIn(ctx context.Context, c *http.Client, appBase string, u benchUser) error {
	r, err := fetch(ctx, c, http.MethodGet, appBase+"/signin?returnUrl=/profile", nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusFound || r.location == nil {
		return fmt.Errorf("GET /signin: HTTP %d, want 302 to the identity provider: %s", r.status, snippet(r.body))
	}
	standIn := r.location.Host
	method, target, form := http.MethodGet, r.location.String(), url.Values(nil)
	for step := 0; step < 10; step++ {
		r, err := fetch(ctx, c, method, target, form)
		if err != nil {
			return err
		}
		where := method + " " + r.url.Redacted()
		if r.location != nil {
			// Within the stand-in, follow; anything else (a redirect to
			// the app with an error in the query) ends the sign-in.
			if r.location.Host != standIn {
				return fmt.Errorf("%s: unexpected redirect to %s", where, r.location.Redacted())
			}
			method, target, form = http.MethodGet, r.location.String(), nil
			continue
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d: %s", where, r.status, snippet(r.body))
		}
		forms := parseForms(r.body)
		if f, ok := findForm(forms, func(f htmlForm) bool { return f.hasField("code") || f.hasField("error") }); ok {
			// The form_post page: deliver the response to the app.
			vals := f.values("", "")
			if vals.Has("error") {
				return fmt.Errorf("%s: authorization error %s: %s", where, vals.Get("error"), vals.Get("error_description"))
			}
			action, err := f.action(r.url)
			if err != nil {
				return err
			}
			return deliver(ctx, c, appBase, action.String(), vals, u)
		}
		var f htmlForm
		var ok bool
		var button, value string
		if f, ok = findForm(forms, func(f htmlForm) bool { return f.hasButton("consent", "accept") }); ok {
			button, value = "consent", "accept"
		} else if f, ok = findForm(forms, func(f htmlForm) bool { return f.hasButton("user", u.ID) }); ok {
			button, value = "user", u.ID
		} else {
			return fmt.Errorf("%s: unexpected page (no button for user %s, no consent, no form_post): %s", where, u.ID, snippet(r.body))
		}
		if !strings.EqualFold(f.attrs["method"], "post") {
			return fmt.Errorf("%s: the %s form is not a POST form", where, button)
		}
		a, err := f.action(r.url)
		if err != nil {
			return err
		}
		method, target, form = http.MethodPost, a.String(), f.values(button, value)
	}
	return fmt.Errorf("sign-in of %s: too many steps", u.ID)
}

// deliver posts the form_post fields to the app's callback and checks that
// the user lands on a profile page that shows their name.
func deliver(ctx context.Context, c *http.Client, appBase, action string, vals url.Values, u benchUser) error {
	r, err := fetch(ctx, c, http.MethodPost, action, vals)
	if err != nil {
		return err
	}
	if r.status != http.StatusSeeOther || r.location == nil || r.location.Path != "/profile" {
		return fmt.Errorf("POST %s: HTTP %d (Location %q), want 303 to /profile: %s", action, r.status, r.locationRaw, snippet(r.body))
	}
	r, err = fetch(ctx, c, http.MethodGet, appBase+"/profile", nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("GET /profile after sign-in: HTTP %d: %s", r.status, snippet(r.body))
	}
	if !bytes.Contains(r.body, []byte(html.EscapeString(u.DisplayName))) {
		return fmt.Errorf("GET /profile after sign-in: the page does not show %q: %s", u.DisplayName, snippet(r.body))
	}
	return nil
}

type response struct {
	url         *url.URL // the request's URL
	status      int
	location    *url.URL // resolved Location of a redirect, or nil
	locationRaw string
	body        []byte
}

func fetch(ctx context.Context, c *http.Client, method, target string, form url.Values) (*response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := &response{url: resp.Request.URL, status: resp.StatusCode, locationRaw: resp.Header.Get("Location")}
	if r.body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, r.url.Redacted(), err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && r.locationRaw != "" {
		if r.location, err = r.url.Parse(r.locationRaw); err != nil {
			return nil, fmt.Errorf("%s %s: bad Location: %w", method, r.url.Redacted(), err)
		}
	}
	return r, nil
}
