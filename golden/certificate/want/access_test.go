package main

import (
	"net/http"
	"strings"
	"testing"

	"example.com/certapp/internal/devidp"
)

// otherOrg is a user of another organization (tenant).
var otherOrg = devidp.User{ID: "6e2b3d8a-1111-4c3a-9d2e-000000000003", DisplayName: "Diego Siciliani",
	UserPrincipalName: "diego@fabrikam.example", TenantID: "99999999-8888-4777-8666-555555555555"}

// /admin is for users with the app role Admin: the stand-in's ID token
// carries the roles assigned to the user, as Entra's does.
func TestAdminPageNeedsTheAdminRole(t *testing.T) {
	admin := testUsers[0]
	admin.Roles = []string{"Admin"}
	e := newEnv(t, []devidp.User{admin, testUsers[1]})

	c := e.browser()
	e.signIn(c, "/admin", admin.ID)
	if body := e.wantPage(c, "/admin", admin.DisplayName); !strings.Contains(body, "<li>Admin</li>") {
		t.Errorf("the admin page does not list the user's roles:\n%s", body)
	}

	c = e.browser()
	e.signIn(c, "/admin", testUsers[1].ID)
	resp, body := get(t, c, e.appURL+"/admin")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Access denied") || !strings.Contains(body, "Admin") {
		t.Fatalf("a user without the role: %s\n%s", resp.Status, body)
	}

	resp, _ = get(t, e.browser(), e.appURL+"/admin")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), e.idpSrv.URL) {
		t.Fatalf("a signed-out visitor: %s %s, want a redirect to sign in", resp.Status, resp.Header.Get("Location"))
	}
}

// A single-org app is for its own tenant's users: the identity provider
// refuses others (AADSTS50020), as Entra ID does.
func TestOtherOrganizations(t *testing.T) {
	e := newEnv(t, []devidp.User{testUsers[0], otherOrg})
	if _, _, err := e.trySignIn(e.browser(), firstPage, otherOrg.ID); err == nil || !strings.Contains(err.Error(), "AADSTS50020") {
		t.Fatalf("a user of another tenant: %v, want AADSTS50020", err)
	}
	e.signIn(e.browser(), firstPage, testUsers[0].ID)
}
