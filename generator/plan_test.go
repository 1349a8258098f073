package generator

import (
	"flag"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/idweb-init/idweb-init/templates"
)

// update is defined in every test package of the module so that
// "go test ./... -run Golden -update" works; the golden test in
// cmd/idweb-init is the one that uses it.
var _ = flag.Bool("update", false, "rewrite golden files (used by cmd/idweb-init)")

// tree is a small template tree with one value per option.
func tree() fstest.MapFS {
	return fstest.MapFS{
		"base/go.mod.tmpl":                     {Data: []byte("module [[.Module]]\n\ngo 1.25.0\n")},
		"base/main.go.tmpl":                    {Data: []byte("package main\n\nfunc main() {}\n")},
		"base/config.json.tmpl":                {Data: []byte(`{[[template "creds" .]]}` + "\n")},
		"base/.gitignore.tmpl":                 {Data: []byte("/[[.Name]]\n")},
		"credential/client-secret/_c.tmpl":     {Data: []byte(`[[define "creds"]]"secret": [[json .ClientID]][[end]]`)},
		"cache/memory/cache/cache.go.tmpl":     {Data: []byte("package cache\n")},
		"api/graph/graph/graph.go.tmpl":        {Data: []byte("package graph\n\nconst URL = [[json .GraphBaseURL]]\n")},
		"api/graph/graph/_unused_partial.tmpl": {Data: []byte(`[[define "unused"]]x[[end]]`)},
	}
}

func TestNewPlan(t *testing.T) {
	p, err := NewPlan(tree(), validOptions())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range p.Files {
		got = append(got, f.Path+"<"+f.Template)
	}
	want := []string{
		".gitignore<base/.gitignore.tmpl",
		"cache/cache.go<cache/memory/cache/cache.go.tmpl",
		"config.json<base/config.json.tmpl",
		"go.mod<base/go.mod.tmpl",
		"graph/graph.go<api/graph/graph/graph.go.tmpl",
		"main.go<base/main.go.tmpl",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantPartials := "api/graph/graph/_unused_partial.tmpl credential/client-secret/_c.tmpl"
	if got := strings.Join(p.Partials, " "); got != wantPartials {
		t.Errorf("partials = %s, want %s", got, wantPartials)
	}
}

func TestNewPlanErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(fstest.MapFS)
		want string
	}{
		{"conflict", func(m fstest.MapFS) {
			m["cache/memory/main.go.tmpl"] = &fstest.MapFile{Data: []byte("package main\n")}
		}, "base/main.go.tmpl and cache/memory/main.go.tmpl both produce main.go"},
		{"missing layer", func(m fstest.MapFS) {
			delete(m, "cache/memory/cache/cache.go.tmpl")
		}, "no layer cache/memory/ in the template tree"},
		{"no .tmpl", func(m fstest.MapFS) {
			m["base/notes.txt"] = &fstest.MapFile{Data: []byte("x")}
		}, "base/notes.txt: template file names end in .tmpl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tree()
			tc.edit(m)
			_, err := NewPlan(m, validOptions())
			if err == nil || err.Error() != tc.want {
				t.Errorf("NewPlan error = %v, want %q", err, tc.want)
			}
		})
	}
}

// Every value of every registry must have its layer in the embedded tree,
// and every layer directory must be a registered value: adding a value is
// a registry entry plus a layer directory.
func TestRegistryMatchesLayers(t *testing.T) {
	axes := map[string][]string{
		"credential": Values(Credentials),
		"cache":      Values(Caches),
		"api":        Values(APIs),
	}
	for axis, values := range axes {
		entries, err := fs.ReadDir(templates.FS, axis)
		if err != nil {
			t.Fatal(err)
		}
		dirs := map[string]bool{}
		for _, e := range entries {
			dirs[e.Name()] = e.IsDir()
		}
		for _, v := range values {
			if !dirs[v] {
				t.Errorf("%s value %q has no layer %s/%s/ in templates", axis, v, axis, v)
			}
			delete(dirs, v)
		}
		for d := range dirs {
			t.Errorf("templates/%s/%s is not a registered %s value", axis, d, axis)
		}
	}
	// Every combination plans without conflicts.
	for _, c := range Credentials {
		for _, k := range Caches {
			for _, a := range APIs {
				o := validOptions()
				o.Credential, o.Cache, o.API = c.Value, k.Value, a.Value
				if _, err := NewPlan(templates.FS, o); err != nil {
					t.Errorf("%s/%s/%s: %v", c.Value, k.Value, a.Value, err)
				}
			}
		}
	}
}
