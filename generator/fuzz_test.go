package generator

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzValidate checks Options.Validate on arbitrary option values: it
// either accepts options that NewData and APIs can use (every API over
// https, with a scope), or refuses them with a one-line *FieldError that
// names a known option.
func FuzzValidate(f *testing.F) {
	const guid = "11111111-2222-3333-4444-555555555555"
	f.Add("demo", "", "common", guid, "", "", "graph", "", "", "")
	f.Add("demo", "example.com/demo", "contoso.onmicrosoft.com", guid, "https://login.microsoftonline.us/", "/signin-oidc", "custom",
		"https://orders.contoso.com/api", "api://"+guid+"/Orders.Read", "Stock=https://stock.contoso.com|api://"+guid+"/.default|app")
	f.Add("demo", "", guid, guid, "", "/cb", "none", "", "", "")
	f.Add("demo", "", "common", guid, "", "", "graph", "", "", "Orders=https://o.example|api://x/Read")
	f.Add("demo", "", "common", guid, "http://login.example/", "/profile", "custom", "http://x", "Read", "a=b")
	f.Add("-x", "a\nb", "common\n", guid, "https://u@h/?q#f", "//x/../y", "bogus", "https://h\n", "api://x/ a", "graph=https://g|u.read")
	f.Fuzz(func(t *testing.T, name, module, tenant, client, instance, callback, api, apiURL, scope, downstream string) {
		o := Options{
			Name: name, Module: module, TenantID: tenant, ClientID: client, Instance: instance,
			CallbackPath: callback, API: api, CalledAPIURL: apiURL,
		}
		if scope != "" {
			o.CalledAPIScopes = []string{scope}
		}
		if downstream != "" {
			o.DownstreamAPIs = []string{downstream}
		}
		err := o.Validate()
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate(%+v) = %v (%T), not a *FieldError", o, err, err)
			}
			if Lookup(fe.Field) == nil && fe.Field != "output" {
				t.Fatalf("Validate(%+v): error names no known option: %q", o, fe.Field)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("Validate(%+v): error is not one line: %q", o, msg)
			}
			return
		}
		d := NewData(o)
		apis, err := o.APIs()
		if err != nil {
			t.Fatalf("Validate(%+v) = nil, but APIs() = %v", o, err)
		}
		if len(d.APIs) != len(apis) {
			t.Fatalf("NewData has %d APIs, APIs() %d", len(d.APIs), len(apis))
		}
		for _, a := range apis {
			u, err := url.Parse(a.BaseURL)
			if err != nil || u.Scheme != "https" || u.Host == "" {
				t.Fatalf("Validate(%+v) = nil, but API %s has base URL %q", o, a.Name, a.BaseURL)
			}
			if len(a.Scopes) == 0 {
				t.Fatalf("Validate(%+v) = nil, but API %s has no scope", o, a.Name)
			}
		}
	})
}
