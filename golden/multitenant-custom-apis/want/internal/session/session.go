// Package session keeps the signed-in user in an encrypted, authenticated
// cookie. The cookie holds who the user is, never a token: tokens stay in
// the token cache.
package session

import "time"

// User is what the session remembers about the signed-in user.
type User struct {
	HomeAccountID string `json:"hid"` // MSAL's cache partition key, "<oid>.<tid>"
	ObjectID      string `json:"oid"`
	TenantID      string `json:"tid"`
	Name          string `json:"name"`
	Username      string `json:"upn"`
	// SID identifies this sign-in, so that signing out can end it even
	// where a copy of the cookie survives.
	SID string `json:"sid"`
}

// Lifetime is how long a session lasts after sign-in.
const Lifetime = 8 * time.Hour
