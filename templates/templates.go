// Package templates holds the tree a generated project is made from,
// embedded in the idweb-init binary as FS.
//
// app/ is the generated app itself, as real Go: the packages of every
// variant side by side, in this module (github.com/idweb-init/idweb-init/templates),
// so that they build, vet and test here as they are:
//
//	cd templates && go test ./...
//
// The generator copies the packages one combination of options selects,
// rewrites the import path AppModule to the project's module with go/ast
// (as gonew does), and computes go.mod and go.sum for exactly those
// packages (see modules.json). Only the text that truly varies per
// combination is a text/template, with the delimiters [[ ]]: files ending
// in .tmpl (main.go.tmpl gives main.go, README.md.tmpl gives README.md).
// Files and directories whose name starts with '_' are never copied as they
// are: _partials.tmpl files are parsed into every template, and an option
// value may select a file from a directory such as _credential/client-secret/.
//
// "idweb-init templates export DIR" writes app/ out as a module of its own
// to start a fork; "idweb-init --templates DIR" renders from the fork.
package templates

import (
	"embed"
	"io/fs"
)

// AppModule is the import path of app/, the prefix the generator rewrites.
const AppModule = "github.com/idweb-init/idweb-init/templates/app"

//go:embed all:app
var embedded embed.FS

// FS is the app tree (the contents of app/).
var FS = mustSub(embedded, "app")

// GoMod and GoSum are this module's go.mod and go.sum: the versions the
// app's packages are built and tested with here.
//
//go:embed go.mod
var GoMod []byte

//go:embed go.sum
var GoSum []byte

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Modules is the module table (see generator.ModuleTable): for each set of
// outside packages a combination of options imports, the go.mod
// requirements and go.sum lines of a project that imports exactly those.
//
//go:embed modules.json
var Modules []byte
