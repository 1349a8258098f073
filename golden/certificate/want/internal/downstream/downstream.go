// Package downstream calls web APIs with a token for the signed-in user or
// for the app, in the spirit of Microsoft.Identity.Web's IDownstreamApi:
// each API is a named settings section (BaseUrl, Scopes, RelativePath,
// HttpMethod, RequestAppToken), and a call names the API, a method, a path
// and a JSON body.
//
// A call always carries a token: when none can be had the call is not made
// and the error says why (*tokens.InteractionRequiredError: sign the user
// in again, for these scopes). An API's answers come back as errors a page
// can act on: *ClaimsChallenge (sign in again with these claims) and *Error.
package downstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"example.com/certapp/internal/config"
)

// TokenSource hands out access tokens; *tokens.Acquirer is one.
type TokenSource interface {
	// Token returns a token for the user (a home account id) and scopes.
	Token(ctx context.Context, homeAccountID string, scopes []string) (string, error)
	// AppToken returns a token for the app itself (client credentials).
	AppToken(ctx context.Context, scopes []string) (string, error)
}

// API is one configured downstream API; it is safe for concurrent use.
type API struct {
	name     string
	settings config.DownstreamAPI
	tokens   TokenSource
	http     *http.Client
}

// New returns the API whose settings section the configuration names name
// (DownstreamApis:<name>, or a top-level <name>). A missing or invalid
// section is an error naming the key, so the app stops at start-up.
func New(cfg *config.Config, name string, tokens TokenSource, httpClient *http.Client) (*API, error) {
	settings, err := cfg.DownstreamAPI(name)
	if err != nil {
		return nil, err
	}
	return &API{name: name, settings: settings, tokens: tokens, http: httpClient}, nil
}

// Name is the API's name in the settings.
func (a *API) Name() string { return a.name }

// Scopes are the scopes the API's tokens are asked for.
func (a *API) Scopes() []string { return a.settings.Scopes }

// AppOnly reports whether the API is called as the app (RequestAppToken).
func (a *API) AppOnly() bool { return a.settings.RequestAppToken }

// Method is the method of a call that gives none: the section's
// HttpMethod, else GET.
func (a *API) Method() string {
	if m := strings.ToUpper(a.settings.HTTPMethod); m != "" {
		return m
	}
	return http.MethodGet
}

// URL is where a call that gives no path goes: BaseUrl and RelativePath.
func (a *API) URL() string {
	u, _ := Join(a.settings.BaseURL, a.settings.RelativePath) // checked by config
	return u
}

// A Request is one call. Zero fields take the section's defaults.
type Request struct {
	Method string     // default: the section's HttpMethod, else GET
	Path   string     // relative to BaseUrl; default: the section's RelativePath
	Query  url.Values // added to the URL
	Body   any        // sent as JSON when not nil
}

// Call calls the API as its settings say: for the app when RequestAppToken
// is set, otherwise for the user homeAccountID. A JSON answer is decoded
// into out when out is not nil (a *json.RawMessage keeps it as it is).
func (a *API) Call(ctx context.Context, homeAccountID string, req Request, out any) error {
	if a.settings.RequestAppToken {
		return a.CallForApp(ctx, req, out)
	}
	return a.CallForUser(ctx, homeAccountID, req, out)
}

// CallForUser calls the API on behalf of the signed-in user.
func (a *API) CallForUser(ctx context.Context, homeAccountID string, req Request, out any) error {
	token, err := a.tokens.Token(ctx, homeAccountID, a.settings.Scopes)
	if err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	return a.do(ctx, token, req, out)
}

// CallForApp calls the API as the app itself, with an app token.
func (a *API) CallForApp(ctx context.Context, req Request, out any) error {
	token, err := a.tokens.AppToken(ctx, a.settings.Scopes)
	if err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	return a.do(ctx, token, req, out)
}

// maxResponse bounds what is read of an answer.
const maxResponse = 4 << 20

func (a *API) do(ctx context.Context, token string, r Request, out any) error {
	if token == "" {
		// Never call an API anonymously.
		return fmt.Errorf("%s: no access token", a.name)
	}
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = a.Method()
	}
	path := r.Path
	if path == "" {
		path = a.settings.RelativePath
	}
	target, err := Join(a.settings.BaseURL, path)
	if err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	if len(r.Query) > 0 {
		u, _ := url.Parse(target)
		q := u.Query()
		for k, vs := range r.Query {
			q[k] = append(q[k], vs...)
		}
		u.RawQuery = q.Encode()
		target = u.String()
	}
	var body io.Reader
	if r.Body != nil {
		b, err := json.Marshal(r.Body)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", a.name, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %s %s: %w", a.name, method, path, err)
	}
	defer resp.Body.Close()
	// Drain what is left so the connection can be reused.
	defer io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	limited := io.LimitReader(resp.Body, maxResponse)
	if resp.StatusCode == http.StatusUnauthorized {
		if claims := ClaimsFrom(resp.Header); claims != "" {
			return &ClaimsChallenge{API: a.name, Scopes: a.settings.Scopes, Claims: claims}
		}
	}
	if resp.StatusCode/100 != 2 {
		return newError(a.name, resp.StatusCode, limited)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(limited).Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %s %s: decode answer: %w", a.name, method, path, err)
	}
	return nil
}

// Join joins path to base with exactly one '/' between them, as
// Microsoft.Identity.Web joins BaseUrl and RelativePath. path must stay on
// base's host: absolute and scheme-relative paths are refused.
func Join(base, path string) (string, error) {
	if strings.Contains(path, "://") || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "\\\r\n") {
		return "", fmt.Errorf("path %q is not relative to the API's BaseUrl", path)
	}
	if path == "" {
		return base, nil
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(path, "/"), nil
}

// Error is an API's answer other than 2xx.
type Error struct {
	API     string
	Status  int
	Code    string // the error code in a JSON answer, when there is one
	Message string
}

// APIStatus tells pages which API refused and how (see package web).
func (e *Error) APIStatus() (api string, status int, code string) { return e.API, e.Status, e.Code }

func (e *Error) Error() string {
	if e.Code == "" && e.Message == "" {
		return fmt.Sprintf("%s: HTTP %d", e.API, e.Status)
	}
	return fmt.Sprintf("%s: HTTP %d: %s: %s", e.API, e.Status, e.Code, e.Message)
}

// newError reads the usual JSON error shapes: Graph's {"error": {"code",
// "message"}}, OAuth's {"error": "...", "error_description": "..."} and
// problem details {"title", "detail"}.
func newError(api string, status int, body io.Reader) *Error {
	e := &Error{API: api, Status: status}
	var v struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
		Title       string          `json:"title"`
		Detail      string          `json:"detail"`
	}
	if json.NewDecoder(body).Decode(&v) != nil {
		return e
	}
	var nested struct{ Code, Message string }
	var flat string
	switch {
	case json.Unmarshal(v.Error, &nested) == nil && nested.Code != "":
		e.Code, e.Message = nested.Code, nested.Message
	case json.Unmarshal(v.Error, &flat) == nil:
		e.Code, e.Message = flat, v.Description
	default:
		e.Code, e.Message = v.Title, v.Detail
	}
	return e
}

// ClaimsChallenge is an API's demand for a token carrying more claims: a
// 401 with `WWW-Authenticate: Bearer ..., error="insufficient_claims",
// claims="<base64 JSON>"` (Conditional Access, continuous access
// evaluation). MSAL cannot add claims to a silent request: the user signs
// in again with Claims, for Scopes.
type ClaimsChallenge struct {
	API    string
	Scopes []string
	Claims string // JSON
}

func (e *ClaimsChallenge) Error() string { return e.API + ": claims challenge: " + e.Claims }

// ClaimsRequest tells pages what to sign in for (see package web).
func (e *ClaimsChallenge) ClaimsRequest() (scopes []string, claims string) { return e.Scopes, e.Claims }

var claimsRE = regexp.MustCompile(`(?i)\bclaims="([^"]+)"`)

// ClaimsFrom returns the claims asked for in a 401's WWW-Authenticate
// headers (decoded JSON), or "".
func ClaimsFrom(h http.Header) string {
	for _, v := range h.Values("WWW-Authenticate") {
		m := claimsRE.FindStringSubmatch(v)
		if m == nil {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(m[1]); err == nil && json.Valid(b) {
				return string(b)
			}
		}
	}
	return ""
}
