package main

import (
	"encoding/json"
	"html"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/acme/my-app/internal/devidp"
)

// customAPIs are the APIs of appsettings.json the app calls besides Graph.
var customAPIs = []struct {
	name    string
	appOnly bool
	scopes  []string // without the resource
}{
	{"Orders", false, []string{"Orders.Read", "Orders.Write"}},
	{"Stock", false, []string{"Stock.Read"}},
	{"Reports", true, []string{".default"}},
}

// callAPI gets the page of the API called name and returns what the
// stand-in's API saw; a first call to an API the user has not consented
// to goes through sign-in for its scopes (incremental consent) and back.
func (e *env) callAPI(c *http.Client, name, userID string) devidp.APICall {
	e.t.Helper()
	path := "/apis/" + name
	resp, body := get(e.t, c, e.appURL+path)
	if resp.StatusCode == http.StatusFound {
		if next := e.signIn(c, path, userID); next != path {
			e.t.Fatalf("after consenting to %s the app sends the browser to %q, want %s", name, next, path)
		}
		resp, body = get(e.t, c, e.appURL+path)
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %s %s\n%s", path, resp.Status, resp.Header.Get("Location"), body)
	}
	return answer(e.t, body)
}

// answer reads the API's JSON answer shown on its page.
func answer(t testing.TB, page string) devidp.APICall {
	t.Helper()
	_, rest, ok := strings.Cut(page, `<pre id="answer">`)
	text, _, ok2 := strings.Cut(rest, "</pre>")
	var call devidp.APICall
	if !ok || !ok2 || json.Unmarshal([]byte(html.UnescapeString(text)), &call) != nil {
		t.Fatalf("the page shows no JSON answer:\n%s", page)
	}
	return call
}

// Each API is called with a token it accepts: the user's, with the API's
// scopes, or the app's own (RequestAppToken), with its app roles.
func TestCallEachAPI(t *testing.T) {
	e := newEnv(t, testUsers)
	c := e.browser()
	e.signIn(c, firstPage, testUsers[0].ID)
	for _, api := range customAPIs {
		call := e.callAPI(c, api.name, testUsers[0].ID)
		if call.API != api.name || call.Method != "GET" || call.AppOnly != api.appOnly {
			t.Errorf("%s answered %+v", api.name, call)
		}
		if api.appOnly {
			if len(call.Roles) == 0 || call.Name != "" || call.Subject == testUsers[0].ID {
				t.Errorf("%s: an app-only call carried %+v, want the app's roles and no user", api.name, call)
			}
			continue
		}
		if call.Subject != testUsers[0].ID || call.Name != "Adele Vance" {
			t.Errorf("%s: the call was for %s (%s), want Adele Vance", api.name, call.Subject, call.Name)
		}
		for _, s := range api.scopes {
			if !slices.Contains(call.Scopes, s) {
				t.Errorf("%s: the token's scopes %v lack %s", api.name, call.Scopes, s)
			}
		}
	}
	for _, api := range customAPIs {
		if n := e.idp.APIRequests(api.name); n != 1 {
			t.Errorf("%s was called %d times, want 1", api.name, n)
		}
	}
}
