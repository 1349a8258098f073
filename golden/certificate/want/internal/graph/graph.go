// Package graph is a small typed client for the Microsoft Graph calls the
// app makes, over the downstream API caller. (The Graph SDK takes minutes
// and gigabytes to compile; this app needs one endpoint.)
package graph

import (
	"context"

	"example.com/certapp/internal/downstream"
)

// Section is the settings section of Microsoft Graph: BaseUrl (which
// depends on the cloud: https://graph.microsoft.com/v1.0,
// https://graph.microsoft.us/v1.0, ...) and Scopes.
const Section = "MicrosoftGraph"

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
	api *downstream.API
}

// New returns a Client over the API configured in Section.
func New(api *downstream.API) *Client {
	return &Client{api: api}
}

// Me returns the signed-in user's profile (GET /me).
func (c *Client) Me(ctx context.Context, homeAccountID string) (*User, error) {
	var u User
	if err := c.api.CallForUser(ctx, homeAccountID, downstream.Request{Method: "GET", Path: "me"}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}
