package main

import (
	"fmt"
	"strings"

	"github.com/idweb-init/idweb-init/generator"
)

// report prints what Generate did or would do, and what to do next.
func (a *app) report(res *generator.Result) {
	o := res.Options
	if !res.Written {
		fmt.Fprintf(a.stdout, "Would write %d files to %s (module %s):\n", len(res.Files), o.Output, o.Module)
		for _, pf := range res.Files {
			fmt.Fprintf(a.stdout, "  %-7s  %s\n", pf.Action, pf.Path)
		}
		fmt.Fprintln(a.stdout, "Dry run: nothing was written.")
		return
	}
	replaced := 0
	for _, pf := range res.Files {
		if pf.Action == generator.Replace {
			replaced++
		}
	}
	if replaced > 0 {
		fmt.Fprintf(a.stdout, "Wrote %d files to %s (module %s), replacing %d.\n", len(res.Files), o.Output, o.Module, replaced)
	} else {
		fmt.Fprintf(a.stdout, "Created %s (module %s, %d files).\n", o.Output, o.Module, len(res.Files))
	}
	fmt.Fprintf(a.stdout, "\nNext:\n  cd %s\n  make dev    # try it now: the app with the local Entra ID stand-in\n  go run .    # against your tenant, once its %s is set up (README.md)\n",
		shellQuote(o.Output), credentialName(o))
}

// credentialName is the title of the project's (first) credential, as it
// reads inside a sentence: "client secret".
func credentialName(o generator.Options) string {
	opt := generator.Lookup("credential")
	name := opt.Default
	if len(o.Credentials) > 0 {
		name = o.Credentials[0]
	}
	v, err := opt.Value(name)
	if err != nil || v.Title == "" {
		return "credential"
	}
	return strings.ToLower(v.Title[:1]) + v.Title[1:]
}
