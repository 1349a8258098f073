// Package templates holds the tree a generated project is rendered from,
// embedded in the idweb-init binary as FS.
//
// The tree is made of layers. base/ is always used; each option that
// selects a variant has one directory per allowed value, named like the
// flag's value:
//
//	base/                      every project
//	credential/<value>/        --credential (client-secret, ...)
//	cache/<value>/             --cache (memory, ...)
//	api/<value>/               the downstream API (graph, ...)
//
// A project's files are the union of base/ and the selected directory of
// each option. A file's output path is its path inside its layer without
// the trailing ".tmpl" that every file carries (so that no .go file here
// is compiled as part of this module): base/go.mod.tmpl gives go.mod,
// api/graph/internal/graph/graph.go.tmpl gives internal/graph/graph.go,
// base/.gitignore.tmpl gives .gitignore. Two layers producing the same
// path is an error.
//
// A file whose name starts with '_' is a partial: it is never output, and
// it is parsed into every file's template set. A layer uses partials to
// fill named blocks of base files, so base files need no conditionals:
//
//	credential/client-secret/_partials.tmpl:  [[define "appsettings.credentials"]]...[[end]]
//	base/appsettings.json.tmpl:               [[template "appsettings.credentials" .]]
//
// Files are text/template templates with the delimiters [[ and ]] (Go and
// html/template files use {{ }}), executed with generator.Data; besides
// text/template's functions they may call json (a value as JSON: a quoted
// string, an array), lower and upper.
//
// "idweb-init templates export DIR" writes this tree out to start a fork;
// "idweb-init --templates DIR" renders from the fork.
package templates

import "embed"

// FS is the template tree.
//
//go:embed all:base all:credential all:cache all:api
var FS embed.FS
