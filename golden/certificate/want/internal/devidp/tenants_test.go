package devidp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const fabrikamTenant = "99999999-8888-4777-8666-555555555555"

var (
	roleUser = User{ID: "5c1c6e0e-0b1f-4b55-9b1a-6a2c9f1e0a01", DisplayName: "Isaiah Langer", UserPrincipalName: "isaiah@contoso.example",
		Roles: []string{"Admin"}, Groups: []string{"0f6e2b6c-1a2b-4c3d-8e9f-000000000001"}}
	crowdedUser = User{ID: "5c1c6e0e-0b1f-4b55-9b1a-6a2c9f1e0a02", DisplayName: "Lee Gu", UserPrincipalName: "lee@contoso.example",
		Groups: func() []string {
			gs := make([]string, maxGroupsInToken+1)
			for i := range gs {
				gs[i] = fmt.Sprintf("0f6e2b6c-1a2b-4c3d-8e9f-%012d", i)
			}
			return gs
		}()}
	guestUser = User{ID: "5c1c6e0e-0b1f-4b55-9b1a-6a2c9f1e0a03", DisplayName: "Diego Siciliani", UserPrincipalName: "diego@fabrikam.example",
		TenantID: fabrikamTenant}
)

// signInAt signs user in at the tenant path and redeems the code; it
// returns the token response or the sign-in's error.
func (e *env) signInAt(tenantPath, userID string) (map[string]any, error) {
	e.t.Helper()
	verifier, challenge := pkce()
	u := strings.Replace(e.authorizeURL(map[string]string{"code_challenge": challenge, "code_challenge_method": "S256"}),
		"/"+testTenant+"/", "/"+tenantPath+"/", 1)
	_, form, err := SignIn(context.Background(), e.ts.Client(), u, userID)
	if err != nil {
		return nil, err
	}
	status, body := e.redeem(form.Get("code"), verifier)
	if status != 200 {
		return nil, fmt.Errorf("redeem: %d %v", status, body)
	}
	return body, nil
}

func TestRolesGroupsAndTenantsInTokens(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.Users = append(slices.Clone(c.Users), roleUser, crowdedUser, guestUser) })

	body, err := e.signInAt(testTenant, roleUser.ID)
	if err != nil {
		t.Fatal(err)
	}
	id := e.claims(body["id_token"].(string))
	if fmt.Sprint(id["roles"]) != "[Admin]" || fmt.Sprint(id["groups"]) != "[0f6e2b6c-1a2b-4c3d-8e9f-000000000001]" {
		t.Errorf("ID token roles %v groups %v", id["roles"], id["groups"])
	}

	body, err = e.signInAt(testTenant, crowdedUser.ID)
	if err != nil {
		t.Fatal(err)
	}
	id = e.claims(body["id_token"].(string))
	if _, ok := id["groups"]; ok {
		t.Error("a user in 201 groups got a groups claim")
	}
	names, _ := id["_claim_names"].(map[string]any)
	sources, _ := id["_claim_sources"].(map[string]any)
	if names["groups"] != "src1" || sources["src1"] == nil || id["roles"] != nil {
		t.Errorf("overage claims: _claim_names %v _claim_sources %v roles %v", id["_claim_names"], id["_claim_sources"], id["roles"])
	}

	// A user of another organization: refused by a single-tenant app
	// (AADSTS50020), signed in by a multi-tenant one with their tenant's
	// tid, issuer and client_info.
	if _, err := e.signInAt(testTenant, guestUser.ID); err == nil || !strings.Contains(err.Error(), "AADSTS50020") {
		t.Errorf("guest at the tenant's own path: %v, want AADSTS50020", err)
	}
	body, err = e.signInAt("organizations", guestUser.ID)
	if err != nil {
		t.Fatal(err)
	}
	id = e.claims(body["id_token"].(string))
	wantIss := e.ts.URL + "/" + fabrikamTenant + "/v2.0"
	if id["tid"] != fabrikamTenant || id["iss"] != wantIss {
		t.Errorf("guest ID token tid %v iss %v, want %s and %s", id["tid"], id["iss"], fabrikamTenant, wantIss)
	}
	if at := e.claims(body["access_token"].(string)); at["tid"] != fabrikamTenant || at["iss"] != wantIss {
		t.Errorf("guest access token tid %v iss %v", at["tid"], at["iss"])
	}
	raw, _ := base64.RawURLEncoding.DecodeString(body["client_info"].(string))
	var info map[string]string
	if json.Unmarshal(raw, &info) != nil || info["utid"] != fabrikamTenant {
		t.Errorf("client_info %s", raw)
	}
}

func TestUserAuthorizationSettingsAreValidated(t *testing.T) {
	for _, tt := range []struct {
		user User
		want string
	}{
		{User{TenantID: "fabrikam"}, `users[0].tenantId: "fabrikam" is not a GUID`},
		{User{Roles: []string{"Task Admin"}}, `users[0].roles[0]: "Task Admin" is not a role value`},
		{User{Groups: []string{"admins"}}, `users[0].groups[0]: "admins" is not a group object id`},
	} {
		u := tt.user
		u.ID, u.DisplayName, u.UserPrincipalName = roleUser.ID, "X", "x@contoso.example"
		cfg := Config{TenantID: testTenant, Users: []User{u}, Clients: []Client{{ClientID: testClient, ClientSecret: "s", RedirectURIs: []string{testRedirect}}}}
		if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("validate = %v, want %q", err, tt.want)
		}
	}
}
