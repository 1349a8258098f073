package generator

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/idweb-init/idweb-init/templates"
)

// TestModuleTable checks that templates/modules.json is what go mod tidy
// gives, today, for the imports of every combination of options; with
// -update it rewrites the file:
//
//	go test ./generator -run TestModuleTable -update
//
// It runs go mod tidy in a scratch module per set of imports, offline
// (GOPROXY=off), with the versions of templates/go.mod: the module cache
// must hold them (go mod download in templates/ does that).
func TestModuleTable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go mod tidy for every set of imports; not with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	download := exec.Command(goBin, "mod", "download")
	download.Dir = filepath.Join("..", "templates")
	download.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := download.CombinedOutput(); err != nil {
		t.Fatalf("go mod download in templates/: %v\n%s", err, out)
	}

	tree, err := EmbeddedTree()
	if err != nil {
		t.Fatal(err)
	}
	var sets [][]string
	for _, c := range Combinations() {
		imports := comboImports(t, tree, c.Options)
		if !slices.ContainsFunc(sets, func(s []string) bool { return slices.Equal(s, imports) }) {
			sets = append(sets, imports)
		}
	}
	slices.SortFunc(sets, func(a, b []string) int { return strings.Compare(strings.Join(a, " "), strings.Join(b, " ")) })

	base, err := modfile.Parse("go.mod", templates.GoMod, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &ModuleTable{GoVersion: base.Go.Version}
	for _, imports := range sets {
		want.Profiles = append(want.Profiles, tidyProfile(t, goBin, base, imports))
	}
	wantJSON, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("..", "templates", "modules.json")
	if *updateFlag {
		if err := os.WriteFile(file, wantJSON, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s: %d profiles", file, len(want.Profiles))
		return
	}
	if string(templates.Modules) != string(wantJSON) {
		t.Errorf("templates/modules.json is not current (go test ./generator -run TestModuleTable -update):\n%s", firstDifference(string(templates.Modules), string(wantJSON)))
	}
}

// comboImports returns the outside packages the project for o imports.
func comboImports(t *testing.T, tree *Tree, o Options) []string {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatalf("%+v: %v", o, err)
	}
	plan, err := NewPlan(tree, o)
	if err != nil {
		t.Fatal(err)
	}
	_, imports, err := renderFiles(context.Background(), tree, plan, NewData(o))
	if err != nil {
		t.Fatal(err)
	}
	return imports
}

// tidyProfile runs go mod tidy for a module importing exactly imports.
func tidyProfile(t *testing.T, goBin string, base *modfile.File, imports []string) Profile {
	t.Helper()
	dir := t.TempDir()
	f := &modfile.File{}
	f.AddModuleStmt("example.com/profile")
	f.AddGoStmt(base.Go.Version)
	for _, r := range base.Require {
		f.AddNewRequire(r.Mod.Path, r.Mod.Version, r.Indirect)
	}
	f.Cleanup()
	gomod, err := f.Format()
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	src.WriteString("package profile\n\nimport (\n")
	for _, imp := range imports {
		src.WriteString("\t_ \"" + imp + "\"\n")
	}
	src.WriteString(")\n")
	for name, data := range map[string][]byte{"go.mod": gomod, "go.sum": templates.GoSum, "profile.go": []byte(src.String())} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goBin, "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=mod", "GONOSUMDB=*", "GONOSUMCHECK=1", "GOSUMDB=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy for %v: %v\n%s", imports, err, out)
	}
	tidied, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(tidied), "\n") // drop the module line
	return Profile{Imports: imports, Require: rest, Sum: string(sum)}
}

// firstDifference shows where two texts first differ.
func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  have: " + x + "\n  want: " + y
		}
	}
	return ""
}
