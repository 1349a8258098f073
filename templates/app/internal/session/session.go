// Package session keeps the signed-in user in an encrypted, authenticated
// cookie. The cookie holds who the user is, never a token: tokens stay in
// the token cache.
package session

import (
	"crypto/sha256"
	"encoding/base64"
	"time"
)

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

// CSRFToken is this session's anti-forgery token, for the forms that change
// it (sign-out): a hash of the session's id. The id is 128 random bits that
// only the server sees (the cookie is encrypted), so another site can
// neither read the token (it is in the app's pages) nor make it, and no
// other session's token works. Empty for a session without an id.
func (u User) CSRFToken() string {
	if u.SID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("idweb anti-forgery\x00" + u.SID))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Lifetime is how long a session lasts after sign-in.
const Lifetime = 8 * time.Hour
