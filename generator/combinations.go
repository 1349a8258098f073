package generator

import "fmt"

// apiShapes are the shapes of the API axis a project can take: each is
// applied to a base set of options.
var apiShapes = []struct {
	Name  string
	Apply func(*Options)
}{
	{"graph-rest", func(o *Options) { o.API, o.GraphClient = "graph", "rest" }},
	{"graph-sdk", func(o *Options) { o.API, o.GraphClient = "graph", "sdk" }},
	{"graph-and-named", func(o *Options) {
		o.API = "graph"
		o.DownstreamAPIs = []string{"Orders=https://orders.contoso.example/api|api://22222222-0000-4000-8000-000000000001/Orders.Read"}
	}},
	{"custom", func(o *Options) {
		o.API = "custom"
		o.CalledAPIURL = "https://api.contoso.example/v1"
		o.CalledAPIScopes = []string{"api://22222222-0000-4000-8000-000000000002/access_as_user"}
	}},
	{"custom-several", func(o *Options) {
		o.API = "custom"
		o.DownstreamAPIs = []string{
			"Orders=https://orders.contoso.example/api|api://22222222-0000-4000-8000-000000000001/Orders.Read api://22222222-0000-4000-8000-000000000001/Orders.Write",
			"Stock=https://stock.contoso.example|api://22222222-0000-4000-8000-000000000003/Stock.Read",
			"Reports=https://reports.contoso.example|api://22222222-0000-4000-8000-000000000004/.default|app",
		}
	}},
	{"custom-app-only", func(o *Options) {
		o.API = "custom"
		o.DownstreamAPIs = []string{"Reports=https://reports.contoso.example|api://22222222-0000-4000-8000-000000000004/.default|app"}
	}},
	{"none", func(o *Options) { o.API = "none" }},
}

// tenantShapes are the directory shapes: one tenant in the public cloud,
// and a multi-tenant app in a sovereign cloud.
var tenantShapes = []struct {
	Name  string
	Apply func(*Options)
}{
	{"single", func(o *Options) { o.TenantID = "11111111-2222-3333-4444-555555555555" }},
	{"multi-us", func(o *Options) {
		o.TenantID, o.Instance, o.Domain = "organizations", "https://login.microsoftonline.us/", "contoso.onmicrosoft.us"
		o.CallbackPath = "/auth/callback"
	}},
}

// A Combination is one set of options of the matrix, with a name that
// says what it is ("client-secret.memory.graph-rest.single").
type Combination struct {
	Name    string
	Options Options
}

// Combinations returns every combination of the option values: each
// credential, each cache, each shape of the API axis and each tenant
// shape. Name, module and client id are fixed; Output is the name.
func Combinations() []Combination {
	var all []Combination
	for _, cred := range Lookup("credential").Values {
		for _, cache := range Lookup("cache").Values {
			for _, api := range apiShapes {
				for _, tenant := range tenantShapes {
					o := Options{
						Name: "demo", Module: "example.com/demo",
						ClientID:   "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
						Credential: cred.Name, Cache: cache.Name,
					}
					api.Apply(&o)
					tenant.Apply(&o)
					name := fmt.Sprintf("%s.%s.%s.%s", cred.Name, cache.Name, api.Name, tenant.Name)
					o.Output = name
					all = append(all, Combination{Name: name, Options: o})
				}
			}
		}
	}
	return all
}
