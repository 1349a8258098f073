package devidp

import (
	"fmt"
	"net/http"
	"strings"
)

// oidcScopes are the OpenID Connect scopes; they are not tied to a resource.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// scopeSet is a parsed scope parameter.
type scopeSet struct {
	raw       []string        // as requested, de-duplicated case-insensitively, in order
	oidc      map[string]bool // lower-case OIDC scopes present
	resource  string          // canonical resource of the other scopes; "" if none
	names     []string        // those scopes' names without the resource prefix
	isDefault bool            // names is [".default"]
}

// parseScopes parses a space-separated scope parameter the way Entra reads
// it: "User.Read" is a Graph scope, "https://graph.microsoft.com/User.Read"
// and "api://app/scope" are resource-qualified; all non-OIDC scopes must be
// for one resource, and "/.default" cannot be mixed with named scopes.
func parseScopes(param string) (scopeSet, *oauthError) {
	ss := scopeSet{oidc: map[string]bool{}}
	seen := map[string]bool{}
	for _, sc := range strings.Fields(param) {
		if seen[strings.ToLower(sc)] {
			continue
		}
		seen[strings.ToLower(sc)] = true
		ss.raw = append(ss.raw, sc)
		if lc := strings.ToLower(sc); oidcScopes[lc] {
			ss.oidc[lc] = true
			continue
		}
		resource, name, ok := splitScope(sc)
		if !ok {
			return ss, &oauthError{status: http.StatusBadRequest, code: "invalid_scope", aadsts: 70011, desc: "The provided value for the input parameter 'scope' is not valid. The scope " + sc + " is not valid."}
		}
		if ss.resource != "" && !strings.EqualFold(ss.resource, resource) {
			return ss, &oauthError{status: http.StatusBadRequest, code: "invalid_scope", aadsts: 28000, desc: "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope " + param + " is not valid."}
		}
		ss.resource = resource
		ss.names = append(ss.names, name)
	}
	for _, n := range ss.names {
		if n == ".default" {
			if len(ss.names) > 1 {
				return ss, &oauthError{status: http.StatusBadRequest, code: "invalid_scope", aadsts: 70011, desc: "The provided value for the input parameter 'scope' is not valid. The scope " + param + " is not valid. static scope limit exceeded."}
			}
			ss.isDefault = true
		}
	}
	return ss, nil
}

// splitScope splits a non-OIDC scope into canonical resource and name.
func splitScope(sc string) (resource, name string, ok bool) {
	if strings.ContainsAny(sc, "\"<>\\") {
		return "", "", false
	}
	slash := strings.LastIndexByte(sc, '/')
	if slash < 0 {
		return graphResource, sc, true // short Graph scope, e.g. User.Read
	}
	resource, name = sc[:slash], sc[slash+1:]
	if scheme := strings.Index(resource, "://"); scheme >= 0 && len(resource) == scheme+3 {
		return "", "", false // "api://x" has a resource but no scope
	}
	if name == "" || resource == "" {
		return "", "", false
	}
	return canonicalResource(resource), name, true
}

// graphClouds are Microsoft Graph's resources in the national clouds; the
// stand-in serves one Graph for every cloud, so an app generated for the US
// government or China cloud runs against it unchanged.
var graphClouds = []string{
	"https://graph.microsoft.us", "https://dod-graph.microsoft.us",
	"https://microsoftgraph.chinacloudapi.cn",
}

func canonicalResource(r string) string {
	r = strings.TrimRight(r, "/")
	if strings.EqualFold(r, graphResource) || strings.EqualFold(r, graphAppID) {
		return graphResource
	}
	for _, g := range graphClouds {
		if strings.EqualFold(r, g) {
			return graphResource
		}
	}
	return r
}

// keys returns normalised scope keys, used for consent and grant bookkeeping.
func (ss scopeSet) keys() []string {
	var k []string
	for _, sc := range ss.raw {
		if lc := strings.ToLower(sc); oidcScopes[lc] {
			k = append(k, lc)
		}
	}
	for _, n := range ss.names {
		k = append(k, strings.ToLower(ss.resource+"/"+n))
	}
	return k
}

// resourceKeys returns the keys of the resource (non-OIDC) scopes only.
func (ss scopeSet) resourceKeys() []string {
	var k []string
	for _, n := range ss.names {
		k = append(k, strings.ToLower(ss.resource+"/"+n))
	}
	return k
}

// accessTokenScopes returns the scp claim value and audience for a delegated
// access token. Without resource scopes the token is for Graph (as with
// Entra, which issues a Graph token for "openid profile").
func (ss scopeSet) accessTokenScopes() (aud string, scp []string) {
	aud = ss.resource
	if aud == "" {
		aud = graphResource
	}
	switch {
	case ss.isDefault && aud == graphResource:
		scp = []string{"User.Read"} // what a Graph .default consent usually holds
	case ss.isDefault:
		scp = []string{"user_impersonation"}
	default:
		scp = append(scp, ss.names...)
	}
	if aud == graphResource {
		// Graph tokens list the OIDC scopes too (not offline_access).
		for _, o := range []string{"openid", "profile", "email"} {
			if ss.oidc[o] {
				scp = append(scp, o)
			}
		}
	}
	return aud, scp
}

// resolveScopes checks the resource scopes of ss against the registered
// APIs. For a registered API every name must be one of its scopes or
// .default, and names get the registered spelling; api is then the API.
// For Graph and unregistered resources ss is returned unchanged and api is
// nil. unknown is the first scope the API does not define.
func (s *Server) resolveScopes(ss scopeSet) (out scopeSet, api *apiReg, unknown string) {
	api = s.apiForResource(ss.resource)
	if api == nil {
		return ss, nil, ""
	}
	out = ss
	out.names = make([]string, len(ss.names))
	for i, n := range ss.names {
		if n == ".default" {
			out.names[i] = n
			continue
		}
		canon, ok := api.scopes[strings.ToLower(n)]
		if !ok {
			return ss, api, ss.resource + "/" + n
		}
		out.names[i] = canon
	}
	return out, api, ""
}

// unknownScopeError is the token endpoint's answer to a scope the
// registered API does not define.
func unknownScopeError(api *apiReg, scope string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_scope", aadsts: 70011, desc: fmt.Sprintf(
		"The provided value for the input parameter 'scope' is not valid. The scope '%s' does not exist on the resource '%s' (the %s API in devidp.json defines: %s).",
		scope, api.AppIDURI, api.Name, orNone(api.Scopes))}
}

// scopeDescription is the text shown for a scope on the consent page.
func (s *Server) scopeDescription(key string) string {
	if d := scopeDescription(key); d != "" {
		return d
	}
	slash := strings.LastIndexByte(key, '/')
	if slash < 0 {
		return ""
	}
	api := s.apiForResource(key[:slash])
	if api == nil {
		return ""
	}
	if name := key[slash+1:]; name == ".default" {
		return "All permissions configured for the " + api.Name + " API"
	} else if canon, ok := api.scopes[name]; ok {
		return "Access the " + api.Name + " API (" + canon + ")"
	}
	return ""
}

// scopeDescription is the text shown for a well-known scope on the consent page.
func scopeDescription(key string) string {
	switch key {
	case "openid":
		return "Sign you in"
	case "profile":
		return "View your basic profile"
	case "email":
		return "View your email address"
	case "offline_access":
		return "Maintain access to data you have given it access to"
	case graphResource + "/user.read":
		return "Sign you in and read your profile"
	case graphResource + "/.default":
		return "All permissions configured for Microsoft Graph"
	}
	return ""
}
