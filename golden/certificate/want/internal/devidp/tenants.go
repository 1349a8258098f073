package devidp

import (
	"net/http"
	"strings"
)

// maxGroupsInToken is how many groups Entra puts in a JWT's groups claim;
// beyond it the token carries the overage claims instead.
const maxGroupsInToken = 200

// homeTenant is the tenant u belongs to: their own, or the stand-in's.
func (s *Server) homeTenant(u User) string {
	if u.TenantID != "" {
		return strings.ToLower(u.TenantID)
	}
	return s.tenantID
}

// tenantIssuer is the issuer of the tokens of users of tenant tid.
func (s *Server) tenantIssuer(r *http.Request, tid string) string {
	return baseURL(r) + "/" + tid + "/v2.0"
}

// knownTenant reports whether tid is the stand-in's tenant or the home
// tenant of one of its users.
func (s *Server) knownTenant(tid string) bool {
	if strings.EqualFold(tid, s.tenantID) {
		return true
	}
	for _, u := range s.users {
		if u.TenantID != "" && strings.EqualFold(u.TenantID, tid) {
			return true
		}
	}
	return false
}

// multiTenant reports whether an authorize or token request came in on a
// multi-tenant path, where users of other organizations may sign in.
func multiTenant(tenant string) bool {
	switch strings.ToLower(tenant) {
	case "common", "organizations":
		return true
	}
	return false
}

// authorizationClaims are the ID token's roles and groups for u: the app
// roles assigned to the user and their groups, or, when there are more
// groups than a token holds, the overage claims that point to Graph.
func (s *Server) authorizationClaims(r *http.Request, u User) map[string]any {
	c := map[string]any{}
	if len(u.Roles) > 0 {
		c["roles"] = u.Roles
	}
	switch {
	case len(u.Groups) > maxGroupsInToken:
		c["_claim_names"] = map[string]string{"groups": "src1"}
		c["_claim_sources"] = map[string]any{"src1": map[string]string{
			"endpoint": baseURL(r) + "/graph/v1.0/users/" + u.ID + "/getMemberObjects",
		}}
	case len(u.Groups) > 0:
		c["groups"] = u.Groups
	}
	return c
}
