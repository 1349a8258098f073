package devidp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Claims requests and claims challenges.
//
// An API (or Graph) that needs more from a token than it got answers 401
// with a claims challenge, the way Entra's continuous access evaluation and
// Conditional Access authentication contexts do:
//
//	WWW-Authenticate: Bearer realm="", authorization_uri="https://.../oauth2/v2.0/authorize",
//	    error="insufficient_claims", claims="<base64 of {"access_token":{"acrs":{"essential":true,"value":"c1"}}}>"
//
// The client signs the user in again with that JSON as the authorize
// request's claims parameter (MSAL Go: AuthCodeURL(..., WithClaims(c))).
// The stand-in remembers it with the code, and the access tokens redeemed
// from that code satisfy it:
//
//   - acrs (authentication context class references): the token carries
//     acrs with the requested values, as when the user passed the
//     Conditional Access policy of that context;
//   - nbf (issued after a revocation time, CAE): any newly issued token
//     satisfies it, since its iat is the time of issue;
//   - xms_cc (client capabilities, e.g. cp1): the token carries them.
//
// Refreshed tokens carry acrs only when the refresh request itself asks
// for them (claims parameter) and the original sign-in satisfied them, as
// with Entra; a plain silent refresh yields a token without acrs.

// claimRequirement is one access_token member of a claims request, e.g.
// "acrs": {"essential": true, "value": "c1"}.
type claimRequirement struct {
	name   string
	values []string // "value" or "values"; empty: the claim only has to be present
}

// claimsRequest is a parsed OpenID Connect claims request parameter.
type claimsRequest struct {
	raw    string             // compact JSON
	access []claimRequirement // the access_token member, sorted by name
}

// parseClaimsRequest parses the JSON of a claims parameter: an object whose
// access_token member (optional) maps claim names to null or to
// {"essential": bool, "value": v} / {"values": [v, ...]}.
func parseClaimsRequest(raw string) (claimsRequest, error) {
	var cr claimsRequest
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(raw)); err != nil {
		return cr, fmt.Errorf("not valid JSON: %v", err)
	}
	cr.raw = compact.String()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(compact.Bytes(), &top); err != nil || top == nil {
		return cr, errors.New(`not a JSON object like {"access_token":{"acrs":{"essential":true,"value":"c1"}}}`)
	}
	at, ok := top["access_token"]
	if !ok || string(at) == "null" {
		return cr, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(at, &members); err != nil || members == nil {
		return cr, errors.New("access_token: not a JSON object of claim names")
	}
	for name, spec := range members {
		req := claimRequirement{name: name}
		if string(spec) != "null" {
			var s struct {
				Essential *bool             `json:"essential"`
				Value     json.RawMessage   `json:"value"`
				Values    []json.RawMessage `json:"values"`
			}
			if err := json.Unmarshal(spec, &s); err != nil {
				return cr, fmt.Errorf("access_token.%s: %v", name, err)
			}
			vals := s.Values
			if s.Value != nil {
				vals = append([]json.RawMessage{s.Value}, vals...)
			}
			for _, v := range vals {
				str, ok := scalarString(v)
				if !ok {
					return cr, fmt.Errorf("access_token.%s: values must be strings, numbers or booleans", name)
				}
				req.values = append(req.values, str)
			}
		}
		cr.access = append(cr.access, req)
	}
	slices.SortFunc(cr.access, func(a, b claimRequirement) int { return strings.Compare(a.name, b.name) })
	return cr, nil
}

// scalarString returns a JSON string, number or boolean as text.
func scalarString(v json.RawMessage) (string, bool) {
	var x any
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return "", false
	}
	switch t := x.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// values returns the values requested for claim name.
func (cr claimsRequest) values(name string) []string {
	for _, r := range cr.access {
		if r.name == name {
			return r.values
		}
	}
	return nil
}

// unmet returns the names of the access_token claims of cr that the token
// claims tok do not satisfy.
func (cr claimsRequest) unmet(tok map[string]any) []string {
	var missing []string
	for _, r := range cr.access {
		if !claimSatisfied(r, tok) {
			missing = append(missing, r.name)
		}
	}
	return missing
}

func claimSatisfied(r claimRequirement, tok map[string]any) bool {
	if r.name == "nbf" {
		// CAE: the token must have been issued at or after the given time.
		iat, ok := numberClaim(tok["iat"])
		if !ok {
			return false
		}
		for _, v := range r.values {
			if t, err := strconv.ParseFloat(v, 64); err == nil && iat >= math.Floor(t) {
				return true
			}
		}
		return len(r.values) == 0
	}
	have, present := tok[r.name]
	if !present || have == nil {
		return false
	}
	if len(r.values) == 0 {
		return true
	}
	var got []string
	switch t := have.(type) {
	case []any:
		for _, x := range t {
			got = append(got, fmt.Sprint(x))
		}
	case string:
		got = strings.Fields(t) // e.g. a space-separated list
		got = append(got, t)
	default:
		got = []string{fmt.Sprint(t)}
	}
	for _, v := range r.values {
		if slices.Contains(got, v) {
			return true
		}
	}
	return false
}

func numberClaim(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}

// issuedClaims are the claims an access token carries because a claims
// request asked for them: acrs and xms_cc.
type issuedClaims struct {
	acrs  []string
	xmsCC []string
}

func (ic issuedClaims) addTo(claims map[string]any) {
	if len(ic.acrs) > 0 {
		claims["acrs"] = ic.acrs
	}
	if len(ic.xmsCC) > 0 {
		claims["xms_cc"] = ic.xmsCC
	}
}

// union returns a with the values of b it lacks appended.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// claimsChallenge is the WWW-Authenticate value of a claims challenge.
// clientID (Graph's app id for Graph) is added when not empty, as Graph does.
func claimsChallenge(authorizeURL, clientID, claimsJSON string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="", authorization_uri="`)
	b.WriteString(authorizeURL)
	b.WriteString(`"`)
	if clientID != "" {
		b.WriteString(`, client_id="`)
		b.WriteString(clientID)
		b.WriteString(`"`)
	}
	b.WriteString(`, error="insufficient_claims", claims="`)
	b.WriteString(base64.StdEncoding.EncodeToString([]byte(claimsJSON)))
	b.WriteString(`"`)
	return b.String()
}
