package devidp

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"slices"
)

// The pages are deliberately plain: every form is <form method="post"
// action="..."> with <input name=...> and <button name=... value=...>, so a
// test (see SignIn) can drive them by parsing the HTML. html/template
// escapes everything that comes from requests or configuration.
const pageTemplates = `
{{define "top"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}} – Local stand-in for Microsoft Entra ID (development only)</title>
<style nonce="{{.Nonce}}">
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: #f3f2f1; color: #1b1b1b; margin: 0; }
main { max-width: 28rem; margin: 3rem auto; background: #fff; padding: 2rem 2.25rem; box-shadow: 0 2px 6px rgba(0,0,0,.15); }
.tag { margin: 0 0 1rem; font-size: .8rem; color: #8a4b00; background: #fff4ce; padding: .3rem .6rem; border-radius: 3px; }
h1 { font-size: 1.5rem; font-weight: 600; margin: 0 0 1rem; }
code { font-size: .85em; background: #f3f2f1; padding: 0 .25em; word-break: break-all; }
form { margin: 1rem 0; }
button { font: inherit; cursor: pointer; border: 1px solid #0067b8; background: #0067b8; color: #fff; padding: .45rem 1rem; }
button.secondary { background: #fff; color: #1b1b1b; border-color: #8a8886; }
form.users button { display: block; width: 100%; text-align: left; margin: 0 0 .5rem; background: #fff; color: #1b1b1b; border-color: #8a8886; }
form.users button:hover, form.users button:focus { border-color: #0067b8; background: #f3f9fd; }
label { display: block; margin: 0 0 .25rem; }
input[type=text] { font: inherit; width: 100%; box-sizing: border-box; padding: .4rem; margin: 0 0 .5rem; border: 1px solid #8a8886; }
.error { color: #a4262c; }
.hint { color: #605e5c; font-size: .9rem; }
ul { padding-left: 1.2rem; }
</style>
</head>
<body>
<main>
<p class="tag">Local stand-in for Microsoft Entra ID · development only</p>
<h1>{{.Title}}</h1>
{{end}}

{{define "bottom"}}</main>
</body>
</html>
{{end}}

{{define "login"}}{{template "top" .}}
<p>The application <code>{{.ClientID}}</code> asks you to sign in. Pick a test user, or type a name to sign in as someone new.</p>
{{if .Message}}<p class="error" role="alert">{{.Message}}</p>{{end}}
<form method="post" action="{{.Action}}" class="users">
<input type="hidden" name="request" value="{{.RequestID}}">
{{range .Users}}<button name="user" value="{{.ID}}">{{.DisplayName}} ({{.UserPrincipalName}})</button>
{{end}}</form>
<form method="post" action="{{.Action}}" class="name">
<input type="hidden" name="request" value="{{.RequestID}}">
<label for="name">Someone else</label>
<input type="text" id="name" name="name" maxlength="64" required autocomplete="off" placeholder="Display name, e.g. Lee Gu">
<button type="submit">Sign in</button>
</form>
{{template "bottom" .}}{{end}}

{{define "consent"}}{{template "top" .}}
<p>Signed in as <strong>{{.User.DisplayName}}</strong> ({{.User.UserPrincipalName}}).</p>
<p>The application <code>{{.ClientID}}</code> asks for these permissions:</p>
<ul>
{{range .Scopes}}<li><code>{{.Name}}</code>{{with .Description}}: {{.}}{{end}}</li>
{{end}}</ul>
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.RequestID}}">
<button name="consent" value="accept">Accept</button>
<button name="consent" value="cancel" class="secondary">Cancel</button>
</form>
<p class="hint">Your answer is remembered until the stand-in restarts.</p>
{{template "bottom" .}}{{end}}

{{define "formpost"}}{{template "top" .}}
<p>Returning to the application…</p>
<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<button type="submit">Continue</button>
</form>
<script nonce="{{.Nonce}}">window.addEventListener("load", function () { document.forms[0].submit(); });</script>
{{template "bottom" .}}{{end}}

{{define "error"}}{{template "top" .}}
<p class="error" role="alert">{{.Message}}</p>
{{if .Hint}}<p class="hint">{{.Hint}}</p>{{end}}
{{template "bottom" .}}{{end}}

{{define "signedout"}}{{template "top" .}}
<p>You signed out of your account. It's a good idea to close all browser windows.</p>
{{if .Message}}<p class="hint">{{.Message}}</p>{{end}}
{{template "bottom" .}}{{end}}

{{define "index"}}{{template "top" .}}
<p>The stand-in is running for tenant <code>{{.Tenant}}</code>.</p>
<p>Issuer: <code>{{.Issuer}}</code></p>
<p>Metadata: <a href="{{.Metadata}}">{{.Metadata}}</a></p>
{{if .APIs}}<p>Protected APIs:</p>
<ul>
{{range .APIs}}<li><code>{{.URL}}</code> for <code>{{.AppIDURI}}</code></li>
{{end}}</ul>{{end}}
{{template "bottom" .}}{{end}}
`

func parsePages() (*template.Template, error) {
	return template.New("pages").Parse(pageTemplates)
}

// pageData is the data of every page template.
type pageData struct {
	Title     string
	Nonce     string // CSP nonce for the inline style and script
	Message   string
	Hint      string
	ClientID  string
	Action    string // form action
	RequestID string
	Users     []User
	User      User
	Scopes    []scopeView
	Fields    []field
	Tenant    string
	Issuer    string
	Metadata  string
	APIs      []apiView
}

type apiView struct{ URL, AppIDURI string }

type scopeView struct{ Name, Description string }

type field struct{ Name, Value string }

// render writes a page with headers that keep it out of caches and frames
// and allow only its own inline style and script.
func (s *Server) render(w http.ResponseWriter, status int, name string, d pageData) {
	d.Nonce = randomToken(16)
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, d); err != nil {
		s.log.Error("rendering page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+d.Nonce+"'; script-src 'nonce-"+d.Nonce+"'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) errorPage(w http.ResponseWriter, status int, msg, hint string) {
	s.log.Info("error page", "status", status, "message", msg)
	s.render(w, status, "error", pageData{Title: "Sign-in error", Message: msg, Hint: hint})
}

func loginAction(p *pendingAuth) string {
	return "/" + url.PathEscape(p.tenant) + "/login"
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, p *pendingAuth, msg string) {
	s.render(w, status, "login", pageData{
		Title:     "Sign in",
		Message:   msg,
		ClientID:  p.client.ClientID,
		Action:    loginAction(p),
		RequestID: p.id,
		Users:     s.users,
	})
}

func (s *Server) renderConsent(w http.ResponseWriter, p *pendingAuth, u User) {
	var scopes []scopeView
	for _, sc := range p.scopes.raw {
		scopes = append(scopes, scopeView{Name: sc, Description: s.scopeDescription(normalisedKey(sc))})
	}
	s.render(w, http.StatusOK, "consent", pageData{
		Title:     "Permissions requested",
		ClientID:  p.client.ClientID,
		Action:    loginAction(p),
		RequestID: p.id,
		User:      u,
		Scopes:    scopes,
	})
}

// normalisedKey is the scopeSet key of a single scope string.
func normalisedKey(sc string) string {
	ss, err := parseScopes(sc)
	if err != nil {
		return ""
	}
	if k := ss.keys(); len(k) == 1 {
		return k[0]
	}
	return ""
}

// renderFormPost renders the response_mode=form_post page: a form posting
// params to the redirect URI, submitted on load, with a visible button for
// browsers without JavaScript.
func (s *Server) renderFormPost(w http.ResponseWriter, redirectURI string, params url.Values) {
	var fields []field
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fields = append(fields, field{k, params.Get(k)})
	}
	s.render(w, http.StatusOK, "formpost", pageData{Title: "Signing you in", Action: redirectURI, Fields: fields})
}
