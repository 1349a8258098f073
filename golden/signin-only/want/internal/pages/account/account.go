// Package account is the page of an app that only signs users in: who the
// signed-in user is, from the validated ID token kept in the session. It
// calls no API and needs no access token.
package account

import (
	"embed"
	"net/http"

	"hello/internal/session"
	"hello/internal/web"
)

// Path is where the page is served.
const Path = "/account"

//go:embed account.html
var files embed.FS

var page = web.Template(files, "account.html")

// Register adds the page to app.
func Register(app *web.App) {
	app.Handle("GET "+Path, Path, "My account", func(_ *http.Request, u session.User) (web.View, error) {
		return web.View{Template: page, Data: u}, nil
	})
}
