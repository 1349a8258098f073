package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"example.com/certapp/internal/session"
)

// A ForbiddenError is a page's answer to a signed-in user who may not see
// it; Handle answers it with 403 and a page that says why.
type ForbiddenError struct {
	// Reason is the sentence the page shows.
	Reason string
}

func (e *ForbiddenError) Error() string { return "forbidden: " + e.Reason }

// RequireRole lets only users with the app role role (the ID token's roles
// claim: app roles of the app registration, assigned to users or groups in
// Enterprise applications) see page; others get a 403 page. Users who are
// not signed in sign in first, as for any page.
//
//	app.Handle("GET /admin", "/admin", "Administration", web.RequireRole("Admin", web.AdminPage))
func RequireRole(role string, page PageFunc) PageFunc {
	return func(r *http.Request, u session.User) (View, error) {
		if !u.HasRole(role) {
			have := "none"
			if len(u.Roles) > 0 {
				have = strings.Join(u.Roles, ", ")
			}
			return View{}, &ForbiddenError{Reason: fmt.Sprintf(
				"This page is for users with the app role %q; your roles are: %s. Ask the app's administrator to assign you the role, then sign out and in again.", role, have)}
		}
		return page(r, u)
	}
}

// RequireGroup lets only members of the group with object id groupID see
// page (the groups claim: the app registration must ask for group claims).
// A user in more groups than the token can list (the overage) is refused
// with a page saying so: the app cannot tell from the token alone.
func RequireGroup(groupID string, page PageFunc) PageFunc {
	return func(r *http.Request, u session.User) (View, error) {
		in, known := u.InGroup(groupID)
		switch {
		case !known:
			return View{}, &ForbiddenError{Reason: fmt.Sprintf(
				"This page is for members of group %s, but your account is in more groups than a sign-in token can list, so the app cannot tell. Ask the app's administrator to grant access with an app role instead.", groupID)}
		case !in:
			return View{}, &ForbiddenError{Reason: fmt.Sprintf("This page is for members of group %s, and you are not one.", groupID)}
		}
		return page(r, u)
	}
}

var adminPage = Template(templateFS, "templates/admin.html")

// AdminPage is the app's example of a page for one app role (main.go
// serves it as RequireRole("Admin", AdminPage)): it shows the signed-in
// user's app roles and groups, what RequireRole and RequireGroup see.
func AdminPage(_ *http.Request, u session.User) (View, error) {
	return View{Template: adminPage, Data: u}, nil
}

// forbidden answers a ForbiddenError.
func (a *App) forbidden(w http.ResponseWriter, r *http.Request, err error) bool {
	var f *ForbiddenError
	if !errors.As(err, &f) {
		return false
	}
	a.log.Info("access denied", "path", r.URL.Path, "reason", f.Reason)
	a.renderError(w, r, http.StatusForbidden, "Access denied", f.Reason)
	return true
}
