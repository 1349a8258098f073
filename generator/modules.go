package generator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
)

// A ModuleTable gives, for each set of outside packages a combination of
// options imports, the go.mod requirements and go.sum lines "go mod tidy"
// writes for them, with the versions the app tree is tested with. It is
// made from the tree's own module by "go test ./generator -run
// TestModuleTable -update" (see modules_test.go), which also checks that
// the committed table is current; so a generated project builds and tests
// with no network, and go mod tidy changes nothing in it.
type ModuleTable struct {
	// GoVersion is the go line of every generated go.mod.
	GoVersion string    `json:"go"`
	Profiles  []Profile `json:"profiles"`
}

// A Profile is one set of imports and its module files.
type Profile struct {
	Imports []string `json:"imports"` // sorted
	// Require is go.mod after its module line, as go mod tidy writes it.
	Require string `json:"gomod"`
	Sum     string `json:"gosum"`
}

// ParseModuleTable reads a table written by ModuleTable.Marshal.
func ParseModuleTable(b []byte) (*ModuleTable, error) {
	var t ModuleTable
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Marshal encodes the table, one profile after the other, diff-friendly.
func (t *ModuleTable) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Lookup returns the profile of exactly imports (sorted), or nil.
func (t *ModuleTable) Lookup(imports []string) *Profile {
	for i := range t.Profiles {
		if slices.Equal(t.Profiles[i].Imports, imports) {
			return &t.Profiles[i]
		}
	}
	return nil
}

// moduleFiles returns go.mod and go.sum of a project with module path mod
// whose packages import imports (outside packages, sorted). From the
// tree's table when it has one; a fork without one gets its own go.mod
// and go.sum, complete though not minimal.
func moduleFiles(t *Tree, mod string, imports []string) (gomod, gosum []byte, err error) {
	if t.Modules != nil {
		p := t.Modules.Lookup(imports)
		if p == nil {
			return nil, nil, fmt.Errorf("the module table has no entry for the imports %s: regenerate it (go test ./generator -run TestModuleTable -update)", strings.Join(imports, ", "))
		}
		return []byte("module " + modfile.AutoQuote(mod) + "\n" + p.Require), []byte(p.Sum), nil
	}
	f, err := modfile.Parse("go.mod", t.GoMod, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("the tree's go.mod: %w", err)
	}
	if err := f.AddModuleStmt(mod); err != nil {
		return nil, nil, err
	}
	f.Cleanup()
	gomod, err = f.Format()
	return gomod, t.GoSum, err
}

// rewriteImports rewrites every import of from (or a package below it) in
// the Go file src to the same path under to, as gonew does: through the
// syntax tree, so that only import paths change.
func rewriteImports(name string, src []byte, from, to string) ([]byte, error) {
	if !bytes.Contains(src, []byte(strconv.Quote(from))) && !bytes.Contains(src, []byte(`"`+from+"/")) {
		return src, nil // imports nothing of the tree: nothing to parse
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	changed := false
	for _, spec := range f.Imports {
		imp, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			return nil, err
		}
		if imp == from || strings.HasPrefix(imp, from+"/") {
			spec.Path.Value = strconv.Quote(to + strings.TrimPrefix(imp, from))
			changed = true
		}
	}
	if !changed {
		return src, nil
	}
	// The new path may sort elsewhere in its group: sort as gofmt does.
	ast.SortImports(fset, f)
	var b bytes.Buffer
	if err := format.Node(&b, fset, f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
