package generator

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

// testTree is a small app tree: one base package, a value's package that
// imports another package, the root's templates and a value directory.
func testTree() *Tree {
	const mod = "example.com/tree"
	fsys := fstest.MapFS{
		"main.go.tmpl":                     {Data: []byte("package main\n\nimport _ \"example.com/tree/internal/config\"\n\nfunc main() {}\n")},
		"appsettings.json.tmpl":            {Data: []byte(`{"Name": [[json .Name]]}` + "\n")},
		"notes.txt":                        {Data: []byte("copied as it is\n")},
		"_hidden.txt":                      {Data: []byte("never copied\n")},
		"internal/config/config.go":        {Data: []byte("package config\n\nimport _ \"github.com/some/dep\"\n")},
		"internal/config/config_test.go":   {Data: []byte("package config\n\nimport _ \"github.com/some/testdep\"\n")},
		"internal/config/testdata/x.txt":   {Data: []byte("data\n")},
		"internal/cachemem/mem.go":         {Data: []byte("package cachemem\n\nimport _ \"example.com/tree/internal/cacheapi\"\n")},
		"internal/cacheapi/api.go":         {Data: []byte("package cacheapi\n")},
		"internal/cacheapi/sub/sub.go":     {Data: []byte("package sub\n")},
		"internal/unused/unused.go":        {Data: []byte("package unused\n")},
		"_cache/memory/_partials.tmpl":     {Data: []byte(`[[define "x:_cache/memory"]]y[[end]]`)},
		"_cache/memory/cache_test.go.tmpl": {Data: []byte("package main\n")},
	}
	return &Tree{FS: fsys, Module: mod, Label: "tree/", Modules: &ModuleTable{}}
}

func TestClosureAndFiles(t *testing.T) {
	tree := testTree()
	pkgs, imports, err := closure(tree, []string{"internal/config", "internal/cachemem"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(pkgs, " "); got != "internal/cacheapi internal/cachemem internal/config" {
		t.Errorf("packages = %s: the imported internal/cacheapi comes along, internal/unused and cacheapi/sub do not", got)
	}
	if got := strings.Join(imports, " "); got != "github.com/some/dep github.com/some/testdep" {
		t.Errorf("outside imports = %s (tests' imports count)", got)
	}
	files, err := packageFiles(tree.FS, "internal/config")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(files, " "); got != "internal/config/config.go internal/config/config_test.go internal/config/testdata/x.txt" {
		t.Errorf("files = %s", got)
	}
	files, _ = packageFiles(tree.FS, "internal/cacheapi")
	if got := strings.Join(files, " "); got != "internal/cacheapi/api.go" {
		t.Errorf("files = %s: a subdirectory that is a package is not part of its parent", got)
	}
	if _, _, err := closure(tree, []string{"internal/missing"}); err == nil {
		t.Error("closure of a missing package succeeded")
	}
}

func TestRewriteImports(t *testing.T) {
	src := `package p

// Doc stays.
import (
	"fmt"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	other "github.com/idweb-init/idweb-init/templates/appendix" // not below the tree
	"github.com/idweb-init/idweb-init/templates/app"
)

var _ = fmt.Sprint(config.X, other.Y, app.Z, "github.com/idweb-init/idweb-init/templates/app/internal/config")
`
	out, err := rewriteImports("p.go", []byte(src), "github.com/idweb-init/idweb-init/templates/app", "example.com/demo")
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		`"example.com/demo/internal/config"`,
		`other "github.com/idweb-init/idweb-init/templates/appendix" // not below the tree`,
		`"example.com/demo"` + "\n",
		`"github.com/idweb-init/idweb-init/templates/app/internal/config")`, // a string, not an import
		"// Doc stays.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten file lacks %q:\n%s", want, got)
		}
	}
}

func TestModuleFilesFallBackToTheForksOwn(t *testing.T) {
	tree := &Tree{GoMod: []byte("module example.com/fork\n\ngo 1.25.0\n\nrequire github.com/some/dep v1.2.3\n"), GoSum: []byte("sums\n")}
	gomod, gosum, err := moduleFiles(tree, "example.com/demo", []string{"github.com/some/dep"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(gomod), "module example.com/demo\n") || !strings.Contains(string(gomod), "github.com/some/dep v1.2.3") || string(gosum) != "sums\n" {
		t.Errorf("go.mod = %q, go.sum = %q", gomod, gosum)
	}
	tree.Modules = &ModuleTable{GoVersion: "1.25.0", Profiles: []Profile{{Imports: []string{"a"}, Require: "\ngo 1.25.0\n", Sum: ""}}}
	if _, _, err := moduleFiles(tree, "example.com/demo", []string{"b"}); err == nil || !strings.Contains(err.Error(), "TestModuleTable -update") {
		t.Errorf("imports missing from the table: %v", err)
	}
	gomod, _, err = moduleFiles(tree, "example.com/demo", []string{"a"})
	if err != nil || string(gomod) != "module example.com/demo\n\ngo 1.25.0\n" {
		t.Errorf("from the table: %q, %v", gomod, err)
	}
}

func TestIncludeAndEmptyTemplates(t *testing.T) {
	tree := &Tree{
		FS: fstest.MapFS{
			"a.txt.tmpl":               {Data: []byte(`[[range .Values]][[include "greeting" .Dir $]][[end]]` + "\n")},
			"only_some.txt.tmpl":       {Data: []byte("[[if .SignInAPI]]for the user[[end]]\n")},
			"_api/none/_partials.tmpl": {Data: []byte(`[[define "greeting:_api/none"]]hello [[.Name]][[end]]`)},
		},
		Module: "example.com/tree", Label: "tree/",
		Modules: &ModuleTable{Profiles: []Profile{{Imports: nil, Require: "\ngo 1.25.0\n"}}},
	}
	plan := Plan{
		Files:    []File{{Path: "a.txt", Source: "a.txt.tmpl", Kind: Template}, {Path: "only_some.txt", Source: "only_some.txt.tmpl", Kind: Template}},
		Partials: []string{"_api/none/_partials.tmpl"},
		Values:   []Value{{Name: "none", Dir: "_api/none"}, {Name: "memory", Dir: "_cache/memory"}},
	}
	o := validOptions()
	o.API = "none"
	out, err := Render(context.Background(), tree, plan, NewData(o))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out[0].Content); got != "hello demo\n" {
		t.Errorf("a.txt = %q: include runs the selected values' blocks and skips those they do not define", got)
	}
	if !out[1].Skip {
		t.Errorf("a template that renders to nothing must produce no file: %q", out[1].Content)
	}
}

func TestRenderErrorsNameTheFile(t *testing.T) {
	for _, tt := range []struct{ name, src, want string }{
		{"bad.go.tmpl", "package main\n\nfunc main() {\n", "bad.go (from tree/bad.go.tmpl): not valid Go: bad.go:3:15"},
		{"bad.json.tmpl", "{,}\n", "bad.json (from tree/bad.json.tmpl): not valid JSON: line 1"},
		{"left.txt.tmpl", "[[ `[[` ]]x\n", "left.txt (rendered from tree/left.txt.tmpl): template text \"[[\" left in the output"},
		{"exec.txt.tmpl", "[[.NoSuchField]]\n", "tree/exec.txt.tmpl:1:2: executing"},
	} {
		tree := &Tree{FS: fstest.MapFS{tt.name: {Data: []byte(tt.src)}}, Module: "example.com/tree", Label: "tree/", Modules: &ModuleTable{}}
		plan := Plan{Files: []File{{Path: strings.TrimSuffix(tt.name, ".tmpl"), Source: tt.name, Kind: Template}}}
		_, err := Render(context.Background(), tree, plan, NewData(validOptions()))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
