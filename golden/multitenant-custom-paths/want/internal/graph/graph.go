// Package graph is a small typed client for the Microsoft Graph calls the
// app makes, over net/http. (The Graph SDK takes minutes and gigabytes to
// compile; this app needs one endpoint.)
package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/acme/my-app/internal/config"
)

// TokenSource returns an access token for the user (a home account id) and
// scopes. *tokens.Acquirer is one.
type TokenSource interface {
	Token(ctx context.Context, homeAccountID string, scopes []string) (string, error)
}

// User is the part of Graph's user resource the app shows.
type User struct {
	ID                string   `json:"id"`
	DisplayName       string   `json:"displayName"`
	GivenName         string   `json:"givenName"`
	Surname           string   `json:"surname"`
	UserPrincipalName string   `json:"userPrincipalName"`
	Mail              string   `json:"mail"`
	JobTitle          string   `json:"jobTitle"`
	OfficeLocation    string   `json:"officeLocation"`
	BusinessPhones    []string `json:"businessPhones"`
}

// Client calls Graph with the signed-in user's token.
type Client struct {
	baseURL string
	scopes  []string
	tokens  TokenSource
	http    *http.Client
}

// New returns a Client for the MicrosoftGraph settings (BaseUrl, Scopes).
func New(api config.DownstreamAPI, tokens TokenSource, httpClient *http.Client) *Client {
	return &Client{
		baseURL: strings.TrimSuffix(api.BaseURL, "/"),
		scopes:  api.Scopes,
		tokens:  tokens,
		http:    httpClient,
	}
}

// Error is a non-2xx answer from Graph.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("graph: HTTP %d: %s: %s", e.Status, e.Code, e.Message)
}

// ClaimsChallenge is an API's demand for a token carrying more claims: a 401
// with `WWW-Authenticate: Bearer ..., claims="<base64 JSON>"` (Conditional
// Access, continuous access evaluation). The user must sign in again with
// Claims.
type ClaimsChallenge struct {
	Claims string // JSON
}

func (e *ClaimsChallenge) Error() string { return "graph: claims challenge: " + e.Claims }

// claimsChallenge returns the claims asked for in a 401's WWW-Authenticate
// headers, or "".
func claimsChallenge(h http.Header) string {
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

var claimsRE = regexp.MustCompile(`(?i)\bclaims="([^"]+)"`)

// Me returns the signed-in user's profile (GET /me).
func (c *Client) Me(ctx context.Context, homeAccountID string) (*User, error) {
	var u User
	if err := c.get(ctx, homeAccountID, "/me", &u); err != nil {
		return nil, err
	}
	return &u, nil
}

func (c *Client) get(ctx context.Context, homeAccountID, path string, v any) error {
	token, err := c.tokens.Token(ctx, homeAccountID, c.scopes)
	if err != nil {
		return err
	}
	if token == "" {
		// Never call the API anonymously.
		return errors.New("graph: no access token")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("graph: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, 4<<20)
	if resp.StatusCode == http.StatusUnauthorized {
		if claims := claimsChallenge(resp.Header); claims != "" {
			return &ClaimsChallenge{Claims: claims}
		}
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.NewDecoder(body).Decode(&e)
		return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("graph: GET %s: decode: %w", path, err)
	}
	// Drain what is left so the connection can be reused.
	_, _ = io.Copy(io.Discard, body)
	return nil
}
