package generator

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/idweb-init/idweb-init/templates"
)

// A Tree is an app tree to generate from: the embedded one (templates.FS)
// or a fork on disk, a Go module of its own.
type Tree struct {
	FS fs.FS
	// Module is the tree's module path, which the generator rewrites to
	// the project's in every import.
	Module string
	// GoMod and GoSum are the tree's own; Modules is its module table
	// (see ModuleTable), nil when the fork has none.
	GoMod, GoSum []byte
	Modules      *ModuleTable
	// Label prefixes file names in messages ("templates/app/").
	Label string
}

// EmbeddedTree is the tree built into idweb-init.
func EmbeddedTree() (*Tree, error) {
	table, err := ParseModuleTable(templates.Modules)
	if err != nil {
		return nil, fmt.Errorf("embedded templates/modules.json: %w", err)
	}
	return &Tree{FS: templates.FS, Module: templates.AppModule, GoMod: templates.GoMod, GoSum: templates.GoSum,
		Modules: table, Label: "templates/app/"}, nil
}

// OpenTree reads a forked tree from fsys (written by Export): its go.mod
// names its module; its modules.json, when present, is its module table.
func OpenTree(fsys fs.FS, label string) (*Tree, error) {
	gomod, err := fs.ReadFile(fsys, "go.mod")
	if err != nil {
		return nil, errors.New("has no go.mod: a template tree is a Go module (start one with 'idweb-init templates export')")
	}
	mod := modfile.ModulePath(gomod)
	if mod == "" {
		return nil, errors.New("go.mod has no module line")
	}
	gosum, _ := fs.ReadFile(fsys, "go.sum")
	t := &Tree{FS: fsys, Module: mod, GoMod: gomod, GoSum: gosum, Label: label}
	if b, err := fs.ReadFile(fsys, "modules.json"); err == nil {
		if t.Modules, err = ParseModuleTable(b); err != nil {
			return nil, fmt.Errorf("modules.json: %w", err)
		}
	}
	return t, nil
}

// How a planned file is made.
type FileKind int

const (
	Copy     FileKind = iota // copied; Go files get their imports rewritten
	Template                 // executed as a text/template, ".tmpl" dropped
	GoModule                 // go.mod or go.sum, computed (see ModuleTable)
)

// A File is one output file of the project and where it comes from.
type File struct {
	Path   string // in the project, slash-separated: "internal/graph/graph.go"
	Source string // in the tree: "internal/graph/graph.go", "main.go.tmpl"; "" for GoModule
	Kind   FileKind
}

// A Plan is what a project is made of.
type Plan struct {
	Files    []File   // sorted by path
	Partials []string // tree paths of the _partials.tmpl files of the selected values
	// Packages are the selected package directories, sorted.
	Packages []string
	// Imports are the packages outside the standard library and the tree
	// that the selected packages import (tests included), sorted.
	Imports []string
	// Values are the selected option values.
	Values []Value
}

// Files every tree's root must have: the wiring and the settings.
var requiredRootFiles = []string{"main.go.tmpl", "appsettings.json.tmpl"}

// NewPlan returns the plan of the project o describes, from tree t: the
// root files (templates and copies), the files of the selected values'
// directories, every selected package with the packages it imports, and
// go.mod and go.sum.
func NewPlan(t *Tree, o Options) (Plan, error) {
	o = o.withDefaults()
	p := Plan{Values: o.Selected()}
	add := func(f File) { p.Files = append(p.Files, f) }

	// The root: every file not starting with '_'; directories are packages
	// (or their data) and come in only when selected.
	entries, err := fs.ReadDir(t.FS, ".")
	if err != nil {
		return Plan{}, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, "_") || name == "go.mod" || name == "go.sum" || name == "modules.json" {
			continue
		}
		if !e.Type().IsRegular() {
			return Plan{}, fmt.Errorf("%s: not a regular file", name)
		}
		add(rootFile(name, name))
	}
	for _, req := range requiredRootFiles {
		if !slices.ContainsFunc(p.Files, func(f File) bool { return f.Source == req }) {
			return Plan{}, fmt.Errorf("the tree has no %s", req)
		}
	}

	// The values' directories.
	for _, v := range p.Values {
		if v.Dir == "" {
			continue
		}
		err := fs.WalkDir(t.FS, v.Dir, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("the tree has no %s/ (for the value %s)", v.Dir, v.Name)
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel := strings.TrimPrefix(name, v.Dir+"/")
			if path.Base(rel) == "_partials.tmpl" {
				p.Partials = append(p.Partials, name)
				return nil
			}
			add(rootFile(rel, name))
			return nil
		})
		if err != nil {
			return Plan{}, err
		}
	}

	// The packages.
	roots := slices.Clone(BasePackages)
	for _, v := range p.Values {
		roots = append(roots, v.Packages...)
	}
	pkgs, imports, err := closure(t, roots)
	if err != nil {
		return Plan{}, err
	}
	p.Packages, p.Imports = pkgs, imports
	for _, dir := range pkgs {
		files, err := packageFiles(t.FS, dir)
		if err != nil {
			return Plan{}, err
		}
		for _, f := range files {
			add(File{Path: f, Source: f, Kind: Copy})
		}
	}
	add(File{Path: "go.mod", Kind: GoModule})
	add(File{Path: "go.sum", Kind: GoModule})

	slices.SortFunc(p.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	for i := 1; i < len(p.Files); i++ {
		if a, b := p.Files[i-1], p.Files[i]; a.Path == b.Path {
			return Plan{}, fmt.Errorf("%s and %s both produce %s", a.Source, b.Source, a.Path)
		}
	}
	slices.Sort(p.Partials)
	return p, nil
}

func rootFile(out, source string) File {
	if strings.HasSuffix(out, ".tmpl") {
		return File{Path: strings.TrimSuffix(out, ".tmpl"), Source: source, Kind: Template}
	}
	return File{Path: out, Source: source, Kind: Copy}
}

// closure returns the package directories roots import, directly or not,
// with roots, and the outside packages they import.
func closure(t *Tree, roots []string) (pkgs, outside []string, err error) {
	seen := map[string]bool{}
	external := map[string]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if seen[dir] {
			continue
		}
		seen[dir] = true
		imports, err := packageImports(t.FS, dir)
		if err != nil {
			return nil, nil, err
		}
		for _, imp := range imports {
			switch {
			case strings.HasPrefix(imp, t.Module+"/"):
				queue = append(queue, strings.TrimPrefix(imp, t.Module+"/"))
			case !isStd(imp):
				external[imp] = true
			}
		}
	}
	for d := range seen {
		pkgs = append(pkgs, d)
	}
	for imp := range external {
		outside = append(outside, imp)
	}
	slices.Sort(pkgs)
	slices.Sort(outside)
	return pkgs, outside, nil
}

// isStd reports whether an import path is in the standard library: its
// first element has no dot.
func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

// packageImports returns what the Go files of the package in dir import,
// tests included.
func packageImports(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", dir, err)
	}
	var imports []string
	goFiles := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		goFiles++
		name := path.Join(dir, e.Name())
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			return nil, err
		}
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			imports = append(imports, imp)
		}
	}
	if goFiles == 0 {
		return nil, fmt.Errorf("package %s: no Go files", dir)
	}
	return imports, nil
}

// packageFiles returns the files of the package in dir: its own and those
// of its subdirectories that are not packages themselves (embedded pages,
// testdata).
func packageFiles(fsys fs.FS, dir string) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name != dir && hasGoFiles(fsys, name) {
				return fs.SkipDir // another package
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", name)
		}
		files = append(files, name)
		return nil
	})
	return files, err
}

func hasGoFiles(fsys fs.FS, dir string) bool {
	entries, _ := fs.ReadDir(fsys, dir)
	return slices.ContainsFunc(entries, func(e fs.DirEntry) bool {
		return !e.IsDir() && strings.HasSuffix(e.Name(), ".go")
	})
}
