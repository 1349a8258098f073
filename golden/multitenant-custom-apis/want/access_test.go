package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/acme/my-app/internal/devidp"
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

// Any organization's users may sign in to this multi-tenant app, or only
// those of the tenants AzureAd:AllowedTenants names; others get a page
// that says so.
func TestOtherOrganizations(t *testing.T) {
	e := newEnv(t, []devidp.User{testUsers[0], otherOrg})
	e.setDevelopment(t, `"AzureAd": {"AllowedTenants": ["`+testTenant+`"]}`)
	e.signIn(e.browser(), firstPage, testUsers[0].ID)
	resp, body, err := e.trySignIn(e.browser(), firstPage, otherOrg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Organization not allowed") || !strings.Contains(body, otherOrg.TenantID) {
		t.Fatalf("a user of a tenant AllowedTenants does not name: %s\n%s", resp.Status, body)
	}

	// Settings merge arrays by index, as ASP.NET Core's do: these two
	// entries replace the first two of appsettings.json's list.
	e.setDevelopment(t, `"AzureAd": {"AllowedTenants": ["`+testTenant+`", "`+otherOrg.TenantID+`"]}`)
	e.signIn(e.browser(), firstPage, otherOrg.ID)
}
