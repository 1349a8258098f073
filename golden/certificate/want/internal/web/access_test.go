package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/devidp"
	"example.com/certapp/internal/session"
	"example.com/certapp/internal/web"
)

const otherTenant = "99999999-8888-4777-8666-555555555555"

var (
	// admin has the app role Admin and two groups.
	admin = devidp.User{ID: "5c1c6e0e-0b1f-4b55-9b1a-6a2c9f1e0a01", DisplayName: "Isaiah Langer", UserPrincipalName: "isaiah@contoso.example",
		Roles: []string{"Admin", "Reader"}, Groups: []string{"0f6e2b6c-1a2b-4c3d-8e9f-000000000001", "0f6e2b6c-1a2b-4c3d-8e9f-000000000002"}}
	// crowded is in more groups than a token lists.
	crowded = devidp.User{ID: "5c1c6e0e-0b1f-4b55-9b1a-6a2c9f1e0a02", DisplayName: "Lee Gu", UserPrincipalName: "lee@contoso.example",
		Roles: []string{"Admin"}, Groups: manyGroups(201)}
	// diego belongs to another organization.
	diego = devidp.User{ID: "5c1c6e0e-0b1f-4b55-9b1a-6a2c9f1e0a03", DisplayName: "Diego Siciliani", UserPrincipalName: "diego@fabrikam.example",
		TenantID: otherTenant, Roles: []string{"Admin"}}
)

func manyGroups(n int) []string {
	gs := make([]string, n)
	for i := range gs {
		gs[i] = fmt.Sprintf("0f6e2b6c-1a2b-4c3d-8e9f-%012d", 1000+i)
	}
	return gs
}

// withUsers adds test users to the stand-in.
func withUsers(users ...devidp.User) func(*devidp.Config, *config.AzureAd) {
	return func(c *devidp.Config, _ *config.AzureAd) { c.Users = append(c.Users, users...) }
}

func multiOrg(allowed ...string) func(*devidp.Config, *config.AzureAd) {
	return func(_ *devidp.Config, ad *config.AzureAd) {
		ad.TenantID, ad.AllowedTenants = "organizations", allowed
	}
}

// signInTo signs in as userID on the way to path and returns the page
// served at path afterwards.
func signInTo(t *testing.T, f *fixture, path, userID string) (*http.Response, string) {
	t.Helper()
	c := f.browser(t)
	resp, body := get(t, c, f.base+path)
	back, body := f.signInAs(t, c, resp, body, userID)
	if back.StatusCode != http.StatusSeeOther {
		return back, body
	}
	return get(t, c, f.base+back.Header.Get("Location"))
}

// App roles from the ID token protect a page: a user with the role sees
// it, one without gets a 403 page that says which role is missing, and a
// visitor who is not signed in is sent to sign in.
func TestRequireRole(t *testing.T) {
	f := newFixture(t, withUsers(admin, crowded))
	f.page = web.RequireRole("Admin", web.AdminPage)

	resp, body := signInTo(t, f, "/orders", admin.ID)
	wantHTML(t, resp, body, http.StatusOK)
	if !strings.Contains(body, "<li>Admin</li>") || !strings.Contains(body, "<code>0f6e2b6c-1a2b-4c3d-8e9f-000000000002</code>") {
		t.Errorf("the admin page lacks the user's roles and groups:\n%s", body)
	}
	if !f.seen.HasRole("Reader") || len(f.seen.Groups) != 2 || f.seen.GroupsOverage {
		t.Errorf("the session has %+v", f.seen)
	}

	resp, body = signInTo(t, f, "/orders", adele.ID)
	wantHTML(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "Access denied") || !strings.Contains(body, `the app role &#34;Admin&#34;; your roles are: none`) {
		t.Errorf("403 page:\n%s", body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("403 page Cache-Control = %q", cc)
	}

	resp, body = f.do(t, "GET", "/orders")
	f.wantSignInRedirect(t, resp, body)
}

// Over 200 groups the token names none and says so (_claim_names); the
// app reports the overage instead of treating the user as in no group.
func TestGroupsOverage(t *testing.T) {
	f := newFixture(t, withUsers(admin, crowded))
	f.page = web.RequireGroup("0f6e2b6c-1a2b-4c3d-8e9f-000000000001", web.AdminPage)

	resp, body := signInTo(t, f, "/orders", admin.ID)
	wantHTML(t, resp, body, http.StatusOK)

	resp, body = signInTo(t, f, "/orders", crowded.ID)
	wantHTML(t, resp, body, http.StatusForbidden)
	if !f.seen.GroupsOverage || len(f.seen.Groups) != 0 {
		t.Errorf("session of a user with 201 groups: %+v", f.seen)
	}
	if !strings.Contains(body, "more groups than a sign-in token can list") {
		t.Errorf("403 page does not report the overage:\n%s", body)
	}

	// Not in the group at all: a plain refusal.
	f.page = web.RequireGroup("0f6e2b6c-1a2b-4c3d-8e9f-00000000ffff", web.AdminPage)
	resp, body = signInTo(t, f, "/orders", admin.ID)
	wantHTML(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "you are not one") {
		t.Errorf("403 page:\n%s", body)
	}
}

// A multi-tenant app (organizations) with AzureAd:AllowedTenants: users
// of an allowed tenant sign in; a user of another organization, whose
// token the provider signed and whose issuer matches their tid, is still
// refused with a page, and nothing of theirs is kept.
func TestAllowedTenants(t *testing.T) {
	f := newFixture(t, withUsers(diego), multiOrg(tenant))
	f.page = func(_ *http.Request, u session.User) (web.View, error) {
		return web.View{Template: ordersPage, Data: "tenant " + u.TenantID}, nil
	}
	resp, body := signInTo(t, f, "/orders", adele.ID)
	wantHTML(t, resp, body, http.StatusOK)
	if !strings.Contains(body, "tenant "+tenant) {
		t.Errorf("page:\n%s", body)
	}

	c := f.browser(t)
	resp, body = get(t, c, f.base+"/orders")
	back, body := f.signInAs(t, c, resp, body, diego.ID)
	wantHTML(t, back, body, http.StatusForbidden)
	if !strings.Contains(body, "Organization not allowed") || !strings.Contains(body, otherTenant) {
		t.Errorf("refusal page:\n%s", body)
	}
	for _, ck := range back.Cookies() {
		if strings.Contains(ck.Name, "idweb.session") && ck.MaxAge >= 0 {
			t.Errorf("a refused user got a session cookie %s", ck.Name)
		}
	}
	resp, body = get(t, c, f.base+"/orders")
	f.wantSignInRedirect(t, resp, body)

	// Without an allow-list, any organization's users sign in, with their
	// own tenant's id.
	f = newFixture(t, withUsers(diego), multiOrg())
	f.page = func(_ *http.Request, u session.User) (web.View, error) {
		return web.View{Template: ordersPage, Data: "tenant " + u.TenantID}, nil
	}
	resp, body = signInTo(t, f, "/orders", diego.ID)
	wantHTML(t, resp, body, http.StatusOK)
	if !strings.Contains(body, "tenant "+otherTenant) {
		t.Errorf("page:\n%s", body)
	}
}
