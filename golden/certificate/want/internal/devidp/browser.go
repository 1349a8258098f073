package devidp

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// SignInOptions says how SignInWith answers the stand-in's pages.
type SignInOptions struct {
	// UserID picks the listed test user with this id.
	UserID string
	// Name, used when UserID is empty, is typed into the "someone else"
	// field: a user with that display name (and a derived oid) signs in.
	Name string
	// DeclineConsent presses Cancel on the consent page (the client then
	// gets error=access_denied).
	DeclineConsent bool
}

// AuthorizationError is an error the stand-in sent back to the client's
// redirect URI instead of a code (e.g. access_denied, login_required).
type AuthorizationError struct {
	Code        string // the error parameter
	Description string // the error_description parameter
}

func (e *AuthorizationError) Error() string {
	return "devidp: authorization error " + e.Code + ": " + e.Description
}

// SignIn acts as a browser without JavaScript for tests in any package: it
// opens authorizeURL (the stand-in's authorize URL, or an app URL that
// redirects to it), picks the test user userID on the login page, accepts
// the consent page if one is shown, and returns the authorization response
// without delivering it to the application:
//
//   - response_mode=form_post: callbackURL is the form's action (the
//     redirect URI) and form its fields (code, state); POST them yourself.
//   - response_mode=query (or fragment): callbackURL is the full redirect
//     URL and form its query (or fragment) parameters; GET it yourself.
//
// Cookies go to c's jar when it has one (a private jar otherwise); c's
// redirect policy is not used. When the response carries an error, the
// values are returned together with an *AuthorizationError.
func SignIn(ctx context.Context, c *http.Client, authorizeURL string, userID string) (callbackURL string, form url.Values, err error) {
	return SignInWith(ctx, c, authorizeURL, SignInOptions{UserID: userID})
}

// SignInWith is SignIn with more choices; see SignInOptions.
func SignInWith(ctx context.Context, c *http.Client, authorizeURL string, opt SignInOptions) (callbackURL string, form url.Values, err error) {
	if opt.UserID == "" && opt.Name == "" {
		return "", nil, errors.New("devidp: SignIn needs a user id or a name")
	}
	if c == nil {
		c = http.DefaultClient
	}
	hc := *c // a shallow copy, to follow redirects by hand
	if hc.Jar == nil {
		hc.Jar, _ = cookiejar.New(nil)
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	method, target, body := http.MethodGet, authorizeURL, url.Values(nil)
	standIn := "" // host of the stand-in, once its authorize endpoint is reached
	for step := 0; step < 20; step++ {
		page, status, loc, content, err := fetch(ctx, &hc, method, target, body)
		if err != nil {
			return "", nil, err
		}
		if strings.HasSuffix(page.Path, "/oauth2/v2.0/authorize") {
			standIn = page.Host
		}
		if loc != nil {
			// The stand-in's authorize and login endpoints only redirect to
			// the client's redirect URI; other redirects (the app's own
			// sign-in route, say) are followed.
			if page.Host == standIn && (strings.HasSuffix(page.Path, "/oauth2/v2.0/authorize") || strings.HasSuffix(page.Path, "/login")) {
				return authorizationResponse(loc)
			}
			method, target, body = http.MethodGet, loc.String(), nil
			continue
		}
		if status != http.StatusOK {
			return "", nil, fmt.Errorf("devidp: %s %s: HTTP %d: %s", method, page.Redacted(), status, pageMessage(content))
		}
		forms := parseForms(content)
		if f := findForm(forms, func(f htmlForm) bool { return f.has("code") || f.has("error") }); f != nil {
			// The form_post page.
			action, err := f.actionURL(page)
			if err != nil {
				return "", nil, err
			}
			vals := f.values("", "")
			return action, vals, responseError(vals)
		}
		if f := findForm(forms, func(f htmlForm) bool { return f.hasButton("consent") }); f != nil {
			choice := "accept"
			if opt.DeclineConsent {
				choice = "cancel"
			}
			if method, target, body, err = f.submit(page, "consent", choice); err != nil {
				return "", nil, err
			}
			continue
		}
		if opt.UserID != "" {
			f := findForm(forms, func(f htmlForm) bool { return f.hasButtonValue("user", opt.UserID) })
			if f == nil {
				if findForm(forms, func(f htmlForm) bool { return f.hasButton("user") }) != nil {
					return "", nil, fmt.Errorf("devidp: user %q is not listed on the sign-in page", opt.UserID)
				}
				return "", nil, fmt.Errorf("devidp: unexpected page at %s: %s", page.Redacted(), pageMessage(content))
			}
			if method, target, body, err = f.submit(page, "user", opt.UserID); err != nil {
				return "", nil, err
			}
			continue
		}
		f := findForm(forms, func(f htmlForm) bool { return f.has("name") })
		if f == nil {
			return "", nil, fmt.Errorf("devidp: unexpected page at %s (no name field): %s", page.Redacted(), pageMessage(content))
		}
		if method, target, body, err = f.submit(page, "name", opt.Name); err != nil {
			return "", nil, err
		}
	}
	return "", nil, errors.New("devidp: too many steps; the sign-in is looping")
}

// fetch performs one request. loc is the resolved Location of a redirect.
func fetch(ctx context.Context, c *http.Client, method, target string, form url.Values) (page *url.URL, status int, loc *url.URL, body []byte, err error) {
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, 0, nil, nil, err
	}
	page = resp.Request.URL
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "" {
		loc, err = page.Parse(resp.Header.Get("Location"))
		if err != nil {
			return nil, 0, nil, nil, fmt.Errorf("devidp: bad redirect from %s: %w", page.Redacted(), err)
		}
	}
	return page, resp.StatusCode, loc, body, nil
}

// authorizationResponse returns a query or fragment authorization response.
func authorizationResponse(loc *url.URL) (string, url.Values, error) {
	raw := loc.RawQuery
	if loc.Fragment != "" {
		raw = loc.EscapedFragment()
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return "", nil, fmt.Errorf("devidp: bad authorization response %s: %w", loc.Redacted(), err)
	}
	if !vals.Has("code") && !vals.Has("error") {
		return "", nil, fmt.Errorf("devidp: redirect to %s carries neither code nor error", loc.Redacted())
	}
	return loc.String(), vals, responseError(vals)
}

func responseError(v url.Values) error {
	if v.Has("error") {
		return &AuthorizationError{Code: v.Get("error"), Description: v.Get("error_description")}
	}
	return nil
}

// --- a small parser for the stand-in's own (plain, html/template) pages ---

var (
	formRE    = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form\s*>`)
	controlRE = regexp.MustCompile(`(?is)<(input|button)\b([^>]*)>`)
	attrRE    = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)
	messageRE = regexp.MustCompile(`(?is)<p class="error"[^>]*>(.*?)</p>`)
	tagRE     = regexp.MustCompile(`(?s)<[^>]*>`)
)

type htmlControl struct {
	tag   string // input or button
	attrs map[string]string
}

type htmlForm struct {
	attrs    map[string]string
	controls []htmlControl
}

func parseAttrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		name := strings.ToLower(a[1])
		if _, dup := m[name]; dup {
			continue // like browsers, the first one wins
		}
		m[name] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

func parseForms(page []byte) []htmlForm {
	var forms []htmlForm
	for _, fm := range formRE.FindAllSubmatch(page, -1) {
		f := htmlForm{attrs: parseAttrs(string(fm[1]))}
		for _, cm := range controlRE.FindAllSubmatch(fm[2], -1) {
			f.controls = append(f.controls, htmlControl{tag: strings.ToLower(string(cm[1])), attrs: parseAttrs(string(cm[2]))})
		}
		forms = append(forms, f)
	}
	return forms
}

func findForm(forms []htmlForm, ok func(htmlForm) bool) *htmlForm {
	for i := range forms {
		if ok(forms[i]) {
			return &forms[i]
		}
	}
	return nil
}

func (c htmlControl) isButton() bool {
	t := strings.ToLower(c.attrs["type"])
	return c.tag == "button" || t == "submit" || t == "button" || t == "image" || t == "reset"
}

// has reports whether the form has a non-button field called name.
func (f htmlForm) has(name string) bool {
	for _, c := range f.controls {
		if !c.isButton() && c.attrs["name"] == name {
			return true
		}
	}
	return false
}

func (f htmlForm) hasButton(name string) bool {
	for _, c := range f.controls {
		if c.isButton() && c.attrs["name"] == name {
			return true
		}
	}
	return false
}

func (f htmlForm) hasButtonValue(name, value string) bool {
	for _, c := range f.controls {
		if c.isButton() && c.attrs["name"] == name && strings.EqualFold(c.attrs["value"], value) {
			return true
		}
	}
	return false
}

// values returns the form's fields as a browser would submit them, with
// the named field (a pressed button, or a typed text field) set to value.
func (f htmlForm) values(name, value string) url.Values {
	v := url.Values{}
	for _, c := range f.controls {
		n := c.attrs["name"]
		if n == "" || c.isButton() || n == name {
			continue
		}
		if _, disabled := c.attrs["disabled"]; disabled {
			continue
		}
		switch strings.ToLower(c.attrs["type"]) {
		case "checkbox", "radio":
			if _, checked := c.attrs["checked"]; !checked {
				continue
			}
		}
		v.Add(n, c.attrs["value"])
	}
	if name != "" {
		v.Set(name, value)
	}
	return v
}

func (f htmlForm) actionURL(page *url.URL) (string, error) {
	a, err := page.Parse(f.attrs["action"]) // "" resolves to the page itself
	if err != nil {
		return "", fmt.Errorf("devidp: bad form action %q: %w", f.attrs["action"], err)
	}
	return a.String(), nil
}

func (f htmlForm) submit(page *url.URL, name, value string) (method, target string, body url.Values, err error) {
	target, err = f.actionURL(page)
	if err != nil {
		return "", "", nil, err
	}
	if !strings.EqualFold(f.attrs["method"], "post") {
		return "", "", nil, fmt.Errorf("devidp: form at %s is not a POST form", page.Redacted())
	}
	return http.MethodPost, target, f.values(name, value), nil
}

// pageMessage extracts the error message of a stand-in page, or a snippet.
func pageMessage(content []byte) string {
	if m := messageRE.FindSubmatch(content); m != nil {
		return strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(string(m[1]), "")))
	}
	s := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(string(content), " "))), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
