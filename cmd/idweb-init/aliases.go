package main

import (
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/idweb-init/idweb-init/generator"
)

// dotnet's spellings of the API choice map onto --api:
//
//	--calls-graph              --api graph
//	--calls-graph=false        --api custom or none (none unless a custom API is given)
//	--called-api-url URL       --api custom (the option applies only with it)
//	--called-api-scopes "s t"  --api custom
//
// and --graph-client implies --api graph, --api-name --api custom, and
// --downstream-api --api graph or custom (custom unless a Graph flag is
// given). Flags that allow no common --api are a usage error naming both.

// An apiConstraint is what one given flag says about --api.
type apiConstraint struct {
	flag  string   // as the user spelt it: "--api custom", "--calls-graph=false"
	apis  []string // the values of --api it allows
	means string   // "means --api graph"; empty for --api itself
}

// extraWhen are the API values options allow beyond their When: the
// named APIs go with Graph or a custom API, never with none.
var extraWhen = map[string][]string{"downstream-api": {"graph", "custom"}}

// apiConstraints returns what the flags given on fs say about --api:
// --api itself, --calls-graph, then the options that apply only with some
// values of --api, in the model's order.
func apiConstraints(fs *pflag.FlagSet, o *generator.Options, callsGraph bool) []apiConstraint {
	var cs []apiConstraint
	if fs.Changed("api") {
		cs = append(cs, apiConstraint{flag: "--api " + o.API, apis: []string{o.API}})
	}
	if fs.Changed("calls-graph") {
		if callsGraph {
			cs = append(cs, apiConstraint{flag: "--calls-graph", apis: []string{"graph"}, means: "means --api graph"})
		} else {
			cs = append(cs, apiConstraint{flag: "--calls-graph=false", apis: []string{"custom", "none"}, means: "means --api custom or none"})
		}
	}
	for i := range generator.Model {
		opt := &generator.Model[i]
		if !fs.Changed(opt.Name) {
			continue
		}
		apis := extraWhen[opt.Name]
		for _, c := range opt.When {
			if c.Option == "api" {
				apis = c.Values
			}
		}
		if apis != nil {
			cs = append(cs, apiConstraint{flag: "--" + opt.Name, apis: apis, means: "applies only with --api " + strings.Join(apis, " or ")})
		}
	}
	return cs
}

// resolveAPI returns the value of --api the constraints imply, or "" when
// there are none. When they allow several, it is hint (the answers file's)
// if allowed, else the last allowed in the model's order: a flag that
// does not name Graph does not get it, --calls-graph=false alone means
// none.
func resolveAPI(cs []apiConstraint, hint string) (string, error) {
	if len(cs) == 0 {
		return "", nil
	}
	allowed := generator.Lookup("api").ValueNames()
	for i, c := range cs {
		next := intersect(allowed, c.apis)
		if len(next) > 0 {
			allowed = next
			continue
		}
		prev := cs[i-1] // i > 0: alone, a constraint allows something
		for _, p := range cs[:i] {
			if len(intersect(p.apis, c.apis)) == 0 {
				prev = p
				break
			}
		}
		msg := c.flag + " contradicts " + prev.flag + ": " + c.flag + " " + c.means
		if prev.means != "" {
			msg += ", " + prev.flag + " " + prev.means
		}
		return "", usageErrorf("%s", msg)
	}
	if slices.Contains(allowed, hint) {
		return hint, nil
	}
	return allowed[len(allowed)-1], nil
}

func intersect(a, b []string) []string {
	var both []string
	for _, s := range a {
		if slices.Contains(b, s) {
			both = append(both, s)
		}
	}
	return both
}
