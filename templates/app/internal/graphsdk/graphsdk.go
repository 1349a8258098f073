// Package graphsdk is the Microsoft Graph client of projects generated with
// --graph-client sdk: the same Me as package graph, made with the official
// Microsoft Graph SDK for Go (github.com/microsoftgraph/msgraph-sdk-go),
// for teams that want the SDK's typed model and request builders for the
// calls they add: SDK returns the SDK's service client, ForUser says whose
// token its requests carry, and MapError turns its errors into the ones
// pages act on.
//
// It costs build time and memory: the SDK has a generated package for every
// part of Graph. Cold, this package compiles in about 10 CPU-minutes and a
// 4.7 GB compiler process (21 minutes wall on a busy 2-core machine),
// against 75 CPU-seconds and 0.3 GB (2 minutes wall, mostly the standard
// library) for the REST client in package graph. Only projects generated
// with the option get the dependency.
//
// The SDK is wired into the app rather than used with its defaults:
//
//   - Requests go through the app's *http.Client (its transport trusts the
//     local stand-in's certificate in development and keeps connections),
//     to the BaseUrl of the MicrosoftGraph section (sovereign clouds, the
//     local stand-in).
//   - Each token comes from the app's per-user acquisition (TokenSource,
//     for the home account id the request's context carries), only for the
//     configured Graph host; no token, no request.
//   - Of the SDK's middleware only what its requests need is kept: the
//     rewrite of /users/me-token-to-replace to /me, the decoding of
//     %24select to $select and the telemetry headers (client-request-id);
//     with one of this package's (errorBodies) so that every refusal comes
//     back with its status. No retry handler: like the REST client, a page
//     shows a refusal at once instead of waiting through retries (up to
//     three, seconds apart, by default). No redirect or compression
//     handler: the app's client follows redirects itself, and a GET has no
//     body.
//   - The SDK answers a 401 with a claims challenge by asking for a token
//     with the claims and sending the request again; the token provider
//     stops there with a *downstream.ClaimsChallenge, as MSAL cannot add
//     claims to a silent request, so the request is sent once.
//   - Errors are the REST client's: *downstream.ClaimsChallenge and
//     *downstream.Error, or the token source's error, wrapped.
package graphsdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/authentication"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/downstream"
	"github.com/idweb-init/idweb-init/templates/app/internal/graph"
)

// Client calls Graph through the SDK with the signed-in user's token; it is
// safe for concurrent use.
type Client struct {
	sdk    *msgraphsdk.GraphServiceClient
	scopes []string
}

// New returns a Client for the API configured in graph.Section (BaseUrl,
// Scopes), taking tokens from tokens and sending requests through
// httpClient (http.DefaultClient when nil).
func New(cfg *config.Config, tokens downstream.TokenSource, httpClient *http.Client) (*Client, error) {
	settings, err := cfg.DownstreamAPI(graph.Section)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(settings.BaseURL) // checked by config
	if err != nil {
		return nil, fmt.Errorf("%s: %w", graph.Section, err)
	}
	hosts, err := authentication.NewAllowedHostsValidatorErrorCheck([]string{base.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", graph.Section, err)
	}
	auth := authentication.NewBaseBearerTokenAuthenticationProvider(&tokenProvider{
		tokens: tokens,
		scopes: settings.Scopes,
		scheme: base.Scheme,
		host:   base.Host,
		hosts:  hosts,
	})
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, nil, nil, sdkHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", graph.Section, err)
	}
	adapter.SetBaseUrl(strings.TrimSuffix(settings.BaseURL, "/"))
	return &Client{sdk: msgraphsdk.NewGraphServiceClient(adapter), scopes: settings.Scopes}, nil
}

// sdkHTTPClient is the app's client with the SDK's middleware in front of
// its transport (so connections and trusted certificates are shared).
func sdkHTTPClient(app *http.Client) *http.Client {
	if app == nil {
		app = http.DefaultClient
	}
	parent := app.Transport
	if parent == nil {
		parent = http.DefaultTransport
	}
	options := msgraphsdk.GetDefaultClientOptions()
	c := *app
	c.Transport = khttp.NewCustomTransportWithParentTransport(parent,
		msgraphcore.NewGraphTelemetryHandler(&options),
		khttp.NewUrlReplaceHandler(true, msgraphcore.ReplacementPairs),
		khttp.NewParametersNameDecodingHandler(),
		errorBodies{},
	)
	return &c
}

// maxErrorBody bounds what is read of an error answer, as the REST client.
const maxErrorBody = 4 << 20

// errorBodies hands the SDK an error answer's body only when it is JSON,
// and a 401's challenge only when the SDK can read it. The SDK fails to parse any other (a proxy's HTML page, plain text) and
// returns the parse error, losing the status; with no body it returns an
// ApiError with the status and headers, which MapError maps as the REST
// client does an error it cannot read.
type errorBodies struct{}

// Intercept implements khttp.Middleware.
func (errorBodies) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	resp, err := p.Next(req, i)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if v := resp.Header.Values("WWW-Authenticate"); len(v) > 0 {
			v[0] = withoutUnquotedClaims(v[0])
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	isJSON := mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
	if err != nil || !isJSON || !json.Valid(body) {
		body = nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// SDK is the SDK's service client, for calls beyond Me. Call it with a
// context from ForUser, and pass its errors through MapError.
func (c *Client) SDK() *msgraphsdk.GraphServiceClient { return c.sdk }

// userKey is the context key of the home account id whose token a request
// carries.
type userKey struct{}

// ForUser returns ctx carrying the signed-in user (a home account id) on
// whose behalf the SDK's requests made with it are sent.
func ForUser(ctx context.Context, homeAccountID string) context.Context {
	return context.WithValue(ctx, userKey{}, homeAccountID)
}

// meFields are the properties of graph.User.
var meFields = []string{"id", "displayName", "givenName", "surname", "userPrincipalName", "mail", "jobTitle", "officeLocation", "businessPhones"}

// Me returns the signed-in user's profile (GET /me).
func (c *Client) Me(ctx context.Context, homeAccountID string) (*graph.User, error) {
	u, err := c.sdk.Me().Get(ForUser(ctx, homeAccountID), &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: meFields},
	})
	if err != nil {
		return nil, c.MapError(err)
	}
	if u == nil {
		return nil, fmt.Errorf("%s: GET me: empty answer", graph.Section)
	}
	return toUser(u), nil
}

func toUser(u models.Userable) *graph.User {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return &graph.User{
		ID:                s(u.GetId()),
		DisplayName:       s(u.GetDisplayName()),
		GivenName:         s(u.GetGivenName()),
		Surname:           s(u.GetSurname()),
		UserPrincipalName: s(u.GetUserPrincipalName()),
		Mail:              s(u.GetMail()),
		JobTitle:          s(u.GetJobTitle()),
		OfficeLocation:    s(u.GetOfficeLocation()),
		BusinessPhones:    u.GetBusinessPhones(),
	}
}

// MapError turns an error of the SDK into the errors the REST client gives
// and pages act on: a 401 with a claims challenge is a
// *downstream.ClaimsChallenge, another refusal a *downstream.Error with
// Graph's error code and message. Errors of the token source (already
// wrapped) and claims challenges come back as they are.
func (c *Client) MapError(err error) error {
	var (
		cc  *downstream.ClaimsChallenge
		api interface {
			GetStatusCode() int
			GetResponseHeaders() *abs.ResponseHeaders
		}
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cc), errors.As(err, new(*authError)):
		return err // no request was sent, or not a second time
	case errors.As(err, &api) && api.GetStatusCode() != 0:
		status := api.GetStatusCode()
		if status == http.StatusUnauthorized {
			if claims := downstream.ClaimsFrom(httpHeader(api.GetResponseHeaders())); claims != "" {
				return &downstream.ClaimsChallenge{API: graph.Section, Scopes: c.scopes, Claims: claims}
			}
		}
		e := &downstream.Error{API: graph.Section, Status: status}
		var odata *odataerrors.ODataError
		if errors.As(err, &odata) && odata.GetErrorEscaped() != nil {
			if p := odata.GetErrorEscaped().GetCode(); p != nil {
				e.Code = *p
			}
			if p := odata.GetErrorEscaped().GetMessage(); p != nil {
				e.Message = *p
			}
		}
		return e
	default:
		return fmt.Errorf("%s: %w", graph.Section, err)
	}
}

func httpHeader(h *abs.ResponseHeaders) http.Header {
	out := http.Header{}
	if h == nil {
		return out
	}
	for _, k := range h.ListKeys() {
		for _, v := range h.Get(k) {
			out.Add(k, v)
		}
	}
	return out
}

var (
	bearerPrefix = regexp.MustCompile(`(?i)^Bearer\s`)
	quoted       = regexp.MustCompile(`"([^"]*)"`)
)

// withoutUnquotedClaims empties the "claims..." parameters of a
// WWW-Authenticate challenge that have no quoted value. The SDK reads a
// 401's first challenge for continuous access evaluation and panics on one
// (kiota-http-go 1.5.4, retryCAEResponseIfRequired); downstream.ClaimsFrom
// does not read it either.
func withoutUnquotedClaims(challenge string) string {
	if !bearerPrefix.MatchString(challenge) {
		return challenge
	}
	params := strings.Split(challenge, ",")
	for i, p := range params {
		t := p
		if i == 0 {
			t = bearerPrefix.ReplaceAllString(t, "")
		}
		if t = strings.Trim(t, " "); strings.HasPrefix(t, "claims") && !quoted.MatchString(t) {
			params[i] = strings.Replace(p, t, `claims=""`, 1)
		}
	}
	return strings.Join(params, ",")
}

// tokenProvider gives the SDK the signed-in user's token for Graph, and
// refuses to give one for any other host or without a user.
type tokenProvider struct {
	tokens downstream.TokenSource
	scopes []string
	scheme string // of BaseUrl
	host   string // of BaseUrl, with its port
	hosts  *authentication.AllowedHostsValidator
}

// GetAuthorizationToken implements authentication.AccessTokenProvider. It
// never returns an empty token without an error: the SDK would then send
// the request without one.
func (p *tokenProvider) GetAuthorizationToken(ctx context.Context, u *url.URL, extra map[string]any) (string, error) {
	if !p.hosts.IsUrlHostValid(u) || !strings.EqualFold(u.Host, p.host) || u.Scheme != p.scheme {
		return "", &authError{fmt.Errorf("refusing to send a token to %s://%s (BaseUrl is %s://%s)", u.Scheme, u.Host, p.scheme, p.host)}
	}
	// The SDK asks again with the claims of a 401's challenge (continuous
	// access evaluation, Conditional Access). MSAL cannot add claims to a
	// silent request: the user signs in again with them, and the request
	// is not sent a second time.
	if raw, ok := extra["claims"].(string); ok && raw != "" {
		h := http.Header{}
		h.Set("WWW-Authenticate", `Bearer claims="`+raw+`"`)
		if claims := downstream.ClaimsFrom(h); claims != "" {
			return "", &downstream.ClaimsChallenge{API: graph.Section, Scopes: p.scopes, Claims: claims}
		}
		// Claims we cannot read: send the request again (the SDK does so
		// only once), so that its refusal comes back as a *downstream.Error.
	}
	// The token source decides about an empty id, as for the REST client.
	user, ok := ctx.Value(userKey{}).(string)
	if !ok {
		return "", &authError{errors.New("no signed-in user in the request's context (see ForUser)")}
	}
	token, err := p.tokens.Token(ctx, user, p.scopes)
	if err != nil {
		return "", &authError{err}
	}
	if token == "" {
		// Never call Graph anonymously.
		return "", &authError{errors.New("no access token")}
	}
	return token, nil
}

// authError is why a request was not sent: the token source's error, or no
// token to be had.
type authError struct{ err error }

func (e *authError) Error() string { return graph.Section + ": " + e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// GetAllowedHostsValidator implements authentication.AccessTokenProvider.
func (p *tokenProvider) GetAllowedHostsValidator() *authentication.AllowedHostsValidator {
	return p.hosts
}
