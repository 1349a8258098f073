// Package profile is the page that shows the signed-in user's Microsoft
// Graph profile (/me).
package profile

import (
	"context"
	"embed"
	"net/http"

	"example.com/certapp/internal/graph"
	"example.com/certapp/internal/session"
	"example.com/certapp/internal/web"
)

// Path is where the page is served.
const Path = "/profile"

// Graph reads the user's profile; *graph.Client is one.
type Graph interface {
	Me(ctx context.Context, homeAccountID string) (*graph.User, error)
}

//go:embed profile.html
var files embed.FS

var page = web.Template(files, "profile.html")

// Register adds the page to app.
func Register(app *web.App, g Graph) {
	app.Handle("GET "+Path, Path, "My profile (Microsoft Graph)", func(r *http.Request, u session.User) (web.View, error) {
		me, err := g.Me(r.Context(), u.HomeAccountID)
		if err != nil {
			return web.View{}, err
		}
		return web.View{Template: page, Data: me}, nil
	})
}
