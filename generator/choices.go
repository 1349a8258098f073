package generator

import (
	"fmt"
	"strings"
)

// A Choice is one allowed value of an enumerated option. Each value of an
// option that selects a template layer (credential, cache, api) has a layer
// directory of the same name in the template tree: adding a value means
// adding a Choice here, a layer directory under templates/ and a golden case.
type Choice[T ~string] struct {
	Value T
	Title string // short human name, shown in prompts and completion
	Help  string // one or two sentences, shown on '?' at the prompt
}

// Credential is how the generated app proves its identity to Entra ID.
type Credential string

// CredentialClientSecret is a client secret read from configuration.
const CredentialClientSecret Credential = "client-secret"

// Credentials lists the supported credentials; the first is the default.
var Credentials = []Choice[Credential]{
	{
		Value: CredentialClientSecret,
		Title: "Client secret",
		Help:  "The app authenticates with a client secret from the app registration (Certificates & secrets), kept out of source control.",
	},
}

// Cache is where the generated app keeps tokens.
type Cache string

// CacheMemory keeps tokens in the process's memory.
const CacheMemory Cache = "memory"

// Caches lists the supported token caches; the first is the default.
var Caches = []Choice[Cache]{
	{
		Value: CacheMemory,
		Title: "In memory",
		Help:  "Tokens are kept in the process's memory: simple, lost on restart, not shared between instances.",
	},
}

// API is the downstream web API the generated app calls.
type API string

// APIGraph is Microsoft Graph.
const APIGraph API = "graph"

// APIs lists the supported downstream APIs; the first is the default.
var APIs = []Choice[API]{
	{
		Value: APIGraph,
		Title: "Microsoft Graph",
		Help:  "The app calls Microsoft Graph (" + GraphBaseURL + ") with the signed-in user's token and shows their profile.",
	},
}

// Lookup returns the choice whose value is s, or an error that lists the
// allowed values.
func Lookup[T ~string](choices []Choice[T], s string) (Choice[T], error) {
	for _, c := range choices {
		if string(c.Value) == s {
			return c, nil
		}
	}
	return Choice[T]{}, fmt.Errorf("%q is not allowed (want %s)", s, Allowed(choices))
}

// Values returns the allowed values in order.
func Values[T ~string](choices []Choice[T]) []string {
	vs := make([]string, len(choices))
	for i, c := range choices {
		vs[i] = string(c.Value)
	}
	return vs
}

// Allowed formats the allowed values for a message: "a", "a or b", "a, b or c".
func Allowed[T ~string](choices []Choice[T]) string {
	vs := Values(choices)
	switch len(vs) {
	case 0:
		return "nothing"
	case 1:
		return vs[0]
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " or " + vs[len(vs)-1]
}
