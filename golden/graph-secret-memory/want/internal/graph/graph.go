// Package graph calls Microsoft Graph.
package graph

// BaseURL is the Graph endpoint the app calls.
const BaseURL = "https://graph.microsoft.com/v1.0"

// Scopes are the delegated permissions the app asks for.
var Scopes = []string{"user.read"}
