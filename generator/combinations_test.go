package generator

import (
	"bytes"
	"context"
	"encoding/json"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
)

// Every combination of option values renders in memory: Go files parse
// and are formatted, JSON files are valid, no template text is left, and
// go.mod and go.sum come from the module table.
func TestEveryCombinationRenders(t *testing.T) {
	tree, err := EmbeddedTree()
	if err != nil {
		t.Fatal(err)
	}
	combos := Combinations()
	if len(combos) < 14 {
		t.Fatalf("only %d combinations", len(combos))
	}
	for _, c := range combos {
		t.Run(c.Name, func(t *testing.T) {
			if err := c.Options.Validate(); err != nil {
				t.Fatal(err)
			}
			plan, err := NewPlan(tree, c.Options)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Render(context.Background(), tree, plan, NewData(c.Options))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range out {
				if f.Skip {
					continue
				}
				switch {
				case strings.HasSuffix(f.Path, ".go"):
					if _, err := parser.ParseFile(token.NewFileSet(), f.Path, f.Content, parser.AllErrors); err != nil {
						t.Errorf("%s: %v", f.Path, err)
					}
					if bytes.Contains(f.Content, []byte("github.com/idweb-init/idweb-init")) {
						t.Errorf("%s refers to idweb-init's own module", f.Path)
					}
				case path.Ext(f.Path) == ".json":
					if !json.Valid(f.Content) {
						t.Errorf("%s is not valid JSON", f.Path)
					}
				}
				if bytes.Contains(f.Content, []byte("[[")) && !strings.HasSuffix(f.Path, ".go") {
					t.Errorf("%s holds template text", f.Path)
				}
			}
		})
	}
}

// Each axis selects what it needs and nothing else.
func TestSelection(t *testing.T) {
	tree, err := EmbeddedTree()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Combinations() {
		plan, err := NewPlan(tree, c.Options)
		if err != nil {
			t.Fatal(err)
		}
		has := func(dir string) bool { return slices.Contains(plan.Packages, dir) }
		api := c.Factors["api"]
		checks := map[string]bool{
			"internal/devidp":              true, // every project runs offline
			"internal/graph":               strings.HasPrefix(api, "graph"),
			"internal/graphsdk":            api == "graph-sdk",
			"internal/downstream":          api != "none",
			"internal/pages/apicall":       strings.HasPrefix(api, "custom") || api == "graph-and-named",
			"internal/pages/account":       api == "none",
			"internal/tokencache/redis":    c.Factors["cache"] == "redis",
			"internal/tokencache/postgres": c.Factors["cache"] == "postgres",
			"internal/tokencache/layered":  c.Factors["cache"] == "redis" || c.Factors["cache"] == "postgres",
			"internal/tokencache/sealed":   c.Factors["cache"] != "memory",
		}
		for dir, want := range checks {
			if has(dir) != want {
				t.Errorf("%s: package %s selected %v, want %v", c.Name, dir, has(dir), want)
			}
		}
		for prefix, want := range map[string]bool{
			"github.com/redis/go-redis/": c.Factors["cache"] == "redis",
			"github.com/jackc/pgx/":      c.Factors["cache"] == "postgres",
		} {
			if got := slices.ContainsFunc(plan.Imports, func(imp string) bool { return strings.HasPrefix(imp, prefix) }); got != want {
				t.Errorf("%s: imports %s: %v, want %v", c.Name, prefix, got, want)
			}
		}
		sdk := slices.ContainsFunc(plan.Imports, func(imp string) bool { return strings.HasPrefix(imp, "github.com/microsoftgraph/") })
		if sdk != (api == "graph-sdk") {
			t.Errorf("%s: imports the Graph SDK: %v", c.Name, sdk)
		}
	}
}

// Every pair of factor values is covered, but for the pairs of axes that
// are wired apart (unpaired: a credential and the APIs).
func TestPairwise(t *testing.T) {
	combos := Combinations()
	set := Pairwise(combos, "api=graph-sdk")
	if len(set) == 0 || len(set) > len(combos) {
		t.Fatalf("%d of %d combinations", len(set), len(combos))
	}
	covered := map[string]bool{}
	sdk := 0
	for _, c := range set {
		if c.Factors["api"] == "graph-sdk" {
			sdk++
		}
		for a, av := range c.Factors {
			for b, bv := range c.Factors {
				covered[a+"="+av+"&"+b+"="+bv] = true
			}
		}
	}
	if sdk != 1 {
		t.Errorf("the Graph SDK is in %d combinations of the set, want exactly 1", sdk)
	}
	for _, c := range combos {
		if c.Factors["api"] == "graph-sdk" {
			continue
		}
		for a, av := range c.Factors {
			for b, bv := range c.Factors {
				if a != b && !unpaired[a+"&"+b] && !unpaired[b+"&"+a] && !covered[a+"="+av+"&"+b+"="+bv] {
					t.Errorf("pair %s=%s, %s=%s is in no chosen combination", a, av, b, bv)
				}
			}
		}
	}
}

// The tree's Go files are copied as they are (but for their imports), so
// they must be gofmt'ed where they live.
func TestTreeIsFormatted(t *testing.T) {
	tree, err := EmbeddedTree()
	if err != nil {
		t.Fatal(err)
	}
	err = fs.WalkDir(tree.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".go") {
			return err
		}
		src, err := fs.ReadFile(tree.FS, name)
		if err != nil {
			return err
		}
		formatted, err := format.Source(src)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if !bytes.Equal(src, formatted) {
			t.Errorf("templates/app/%s is not gofmt'ed (gofmt -w templates)", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
