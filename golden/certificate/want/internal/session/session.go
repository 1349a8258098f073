// Package session keeps the signed-in user in an encrypted, authenticated
// cookie. The cookie holds who the user is, never a token: tokens stay in
// the token cache.
package session

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
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
	// Roles are the app roles assigned to the user (the ID token's roles
	// claim): what RequireRole checks.
	Roles []string `json:"ro,omitempty"`
	// Groups are the object ids of the user's groups (the groups claim,
	// sent when the app registration asks for group claims).
	Groups []string `json:"gr,omitempty"`
	// GroupsOverage is set when the user is in more groups than the token
	// or the session cookie can list: Groups is then incomplete (empty),
	// and only Microsoft Graph knows the user's groups.
	GroupsOverage bool `json:"go,omitempty"`
}

// HasRole reports whether the user has the app role (role values are
// compared exactly, as Entra issues them).
func (u User) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

// InGroup reports whether the user is in the group with object id id, and
// whether that is known: with a groups overage it is not.
func (u User) InGroup(id string) (in, known bool) {
	for _, g := range u.Groups {
		if strings.EqualFold(g, id) {
			return true, true
		}
	}
	return false, !u.GroupsOverage
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
