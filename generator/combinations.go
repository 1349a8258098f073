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
		o.Auth, o.Instance, o.Domain = "multi-org", "https://login.microsoftonline.us/", "contoso.onmicrosoft.us"
		o.CallbackPath = "/auth/callback"
	}},
}

// credentialShapes are the shapes of the credential axis: each credential
// alone, with the settings it needs, and a chain (a managed identity in
// production, a certificate file for local runs).
var credentialShapes = []struct {
	Name  string
	Apply func(*Options)
}{
	{"client-secret", func(o *Options) { o.Credentials = []string{"client-secret"} }},
	{"certificate", func(o *Options) { o.Credentials = []string{"certificate"} }},
	{"keyvault", func(o *Options) {
		o.Credentials = []string{"keyvault"}
		o.KeyVaultURL, o.KeyVaultCertName = "https://contoso.vault.azure.net/", "app-cert"
	}},
	{"workload-identity", func(o *Options) { o.Credentials = []string{"workload-identity"} }},
	{"managed-identity", func(o *Options) {
		o.Credentials = []string{"managed-identity"}
		o.ManagedIdentityClientID = "44444444-0000-4000-8000-000000000001"
	}},
	{"managed-identity+certificate", func(o *Options) {
		o.Credentials = []string{"managed-identity", "certificate"}
		o.CertPath = "certs/app.pem"
	}},
}

// unpaired are the axes whose pairs of values all-pairs testing does not
// need, because they meet in no code of the app: the credential is used by
// token acquisition, the cache below it, the APIs above it, each behind an
// interface of its own (credential.Source, tokencache.Store, the API
// clients). Each of them is paired with the tenant shape, which all of them
// depend on (authorities, issuers, partition keys), and every value of
// every axis is built and tested.
var unpaired = map[string]bool{"api&credential": true, "api&cache": true, "cache&credential": true}

// A Combination is one set of options of the matrix, with a name that
// says what it is ("client-secret.memory.graph-rest.single").
type Combination struct {
	Name    string
	Options Options
	// Factors are the combination's value of each axis of the matrix:
	// "credential", "cache", "api" (a shape of the API axis) and "tenant".
	Factors map[string]string
}

// Combinations returns every combination of the option values: each
// credential, each cache, each shape of the API axis and each tenant
// shape. Name, module and client id are fixed; Output is the name.
// (Every credential value is in credentialShapes: see TestCredentialShapes.)
func Combinations() []Combination {
	var all []Combination
	for _, cred := range credentialShapes {
		for _, cache := range Lookup("cache").Values {
			for _, api := range apiShapes {
				for _, tenant := range tenantShapes {
					o := Options{
						Name: "demo", Module: "example.com/demo",
						ClientID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
						Cache:    cache.Name,
					}
					cred.Apply(&o)
					api.Apply(&o)
					tenant.Apply(&o)
					name := fmt.Sprintf("%s.%s.%s.%s", cred.Name, cache.Name, api.Name, tenant.Name)
					o.Output = name
					factors := map[string]string{"credential": cred.Name, "cache": cache.Name, "api": api.Name, "tenant": tenant.Name}
					all = append(all, Combination{Name: name, Options: o, Factors: factors})
				}
			}
		}
	}
	return all
}

// Pairwise returns a small subset of combos in which every pair of factor
// values that combos hold appears at least once (all-pairs testing), chosen
// greedily; the order is stable. once names factor values ("api=graph-sdk")
// that may appear in one chosen combination only (costly to build): their
// pairs beyond that one are not required.
func Pairwise(combos []Combination, once ...string) []Combination {
	pairs := func(c Combination) []string {
		var ps []string
		for a, av := range c.Factors {
			for b, bv := range c.Factors {
				if a < b && !unpaired[a+"&"+b] {
					ps = append(ps, a+"="+av+"&"+b+"="+bv)
				}
			}
		}
		return ps
	}
	has := func(c Combination, fv string) bool {
		for f, v := range c.Factors {
			if f+"="+v == fv {
				return true
			}
		}
		return false
	}
	uncovered := map[string]bool{}
	for _, c := range combos {
		for _, p := range pairs(c) {
			uncovered[p] = true
		}
	}
	var chosen []Combination
	used := map[int]bool{}
	onceTaken := map[string]bool{}
	for len(uncovered) > 0 {
		best, bestGain := -1, 0
		for i, c := range combos {
			if used[i] {
				continue
			}
			blocked := false
			for _, fv := range once {
				if has(c, fv) && onceTaken[fv] {
					blocked = true
				}
			}
			if blocked {
				continue
			}
			gain := 0
			for _, p := range pairs(c) {
				if uncovered[p] {
					gain++
				}
			}
			if gain > bestGain {
				best, bestGain = i, gain
			}
		}
		if best < 0 {
			break // what is left pairs a value allowed only once
		}
		used[best] = true
		chosen = append(chosen, combos[best])
		for _, p := range pairs(combos[best]) {
			delete(uncovered, p)
		}
		for _, fv := range once {
			if has(combos[best], fv) {
				onceTaken[fv] = true
			}
		}
	}
	return chosen
}
