// Package apicall is the page that calls a configured downstream API (its
// section's HttpMethod and RelativePath) and shows its JSON answer: a
// starting point for the app's own pages over the API.
package apicall

import (
	"bytes"
	"embed"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/acme/my-app/internal/downstream"
	"github.com/acme/my-app/internal/session"
	"github.com/acme/my-app/internal/web"
)

//go:embed apicall.html
var files embed.FS

var page = web.Template(files, "apicall.html")

// Path returns where the page of api is served: /apis/<name>.
func Path(api *downstream.API) string { return "/apis/" + url.PathEscape(api.Name()) }

type view struct {
	Name    string
	AppOnly bool
	Scopes  string
	Method  string
	URL     string
	Answer  string
}

// Register adds the page of api to app.
func Register(app *web.App, api *downstream.API) {
	path := Path(api)
	app.Handle("GET "+path, path, "Call "+api.Name(), func(r *http.Request, u session.User) (web.View, error) {
		var answer json.RawMessage
		if err := api.Call(r.Context(), u.HomeAccountID, downstream.Request{}, &answer); err != nil {
			return web.View{}, err
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, answer, "", "  "); err != nil {
			pretty.Write(answer)
		}
		return web.View{Template: page, Data: view{
			Name:    api.Name(),
			AppOnly: api.AppOnly(),
			Scopes:  strings.Join(api.Scopes(), " "),
			Method:  api.Method(),
			URL:     api.URL(),
			Answer:  pretty.String(),
		}}, nil
	})
}
