package generator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	o := validOptions()
	o.Output = filepath.Join(t.TempDir(), "demo")
	res, err := Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Written || res.Dir != o.Output || len(res.Files) == 0 {
		t.Fatalf("result = %+v", res)
	}
	got := listTree(t, o.Output)
	if len(got) != len(res.Files) {
		t.Errorf("wrote %d files, plan has %d", len(got), len(res.Files))
	}
	for _, f := range res.Files {
		if f.Action != Create {
			t.Errorf("%s: action %s, want create", f.Path, f.Action)
		}
		if _, ok := got[f.Path]; !ok {
			t.Errorf("%s planned, not written", f.Path)
		}
	}
	if !strings.Contains(got["go.mod"], "module demo\n") {
		t.Errorf("go.mod = %q", got["go.mod"])
	}
}

func TestGenerateDryRun(t *testing.T) {
	parent := t.TempDir()
	o := validOptions()
	o.Output = filepath.Join(parent, "demo")
	o.DryRun = true
	res, err := Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written || len(res.Files) == 0 {
		t.Errorf("result = %+v", res)
	}
	if names := entries(t, parent); len(names) != 0 {
		t.Errorf("dry run wrote %v", names)
	}
}

func TestGenerateOutputChecks(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "demo")
	writeFiles(t, dir, map[string]string{"keep.txt": "mine"})
	o := validOptions()
	o.Output = dir

	_, err := Generate(context.Background(), o)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "output" || !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("non-empty without Force: %v, want a FieldError for output wrapping ErrNotEmpty", err)
	}

	// With Force, a planned file that is a directory in the way is refused
	// before anything is written.
	o.Force = true
	writeFiles(t, dir, map[string]string{"main.go/x": "in the way"})
	_, err = Generate(context.Background(), o)
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "cannot replace directory main.go with a file") {
		t.Fatalf("directory in the way: %v", err)
	}
	if got := listTree(t, dir); len(got) != 2 {
		t.Errorf("refused run changed the directory: %v", got)
	}

	// A file as the output.
	o.Output = filepath.Join(dir, "keep.txt")
	_, err = Generate(context.Background(), o)
	if !errors.As(err, &fe) || !errors.Is(err, ErrNotDir) {
		t.Errorf("file as output: %v", err)
	}
}

func TestGenerateFork(t *testing.T) {
	fork := filepath.Join(t.TempDir(), "fork")
	if err := Export(context.Background(), fork); err != nil {
		t.Fatal(err)
	}
	o := validOptions()
	o.TemplatesDir = fork
	o.DryRun = true
	o.Output = filepath.Join(t.TempDir(), "demo")
	if _, err := Generate(context.Background(), o); err != nil {
		t.Fatalf("render from an unchanged export: %v", err)
	}

	const missing = "internal/web/static/app.css"
	if err := os.Remove(filepath.Join(fork, filepath.FromSlash(missing))); err != nil {
		t.Fatal(err)
	}
	_, err := Generate(context.Background(), o)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "templates" || !strings.HasSuffix(err.Error(), "lacks "+missing+", which the embedded tree has for these options") {
		t.Errorf("fork without %s: %v", missing, err)
	}

	o.TemplatesDir = filepath.Join(fork, "nope")
	if _, err := Generate(context.Background(), o); !errors.As(err, &fe) || !strings.HasSuffix(err.Error(), "is not a directory") {
		t.Errorf("missing fork: %v", err)
	}

	if err := Export(context.Background(), fork); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("export into a non-empty directory: %v, want ErrNotEmpty", err)
	}
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	if err := CheckOutput(filepath.Join(dir, "new"), false); err != nil {
		t.Errorf("new directory: %v", err)
	}
	writeFiles(t, dir, map[string]string{"x": "y"})
	if err := CheckOutput(dir, false); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("non-empty directory: %v", err)
	}
	if err := CheckOutput(dir, true); err != nil {
		t.Errorf("non-empty directory with force: %v", err)
	}
}

// BenchmarkGenerate measures a whole run: validate, plan, render, write.
// The target is tens of milliseconds.
func BenchmarkGenerate(b *testing.B) {
	parent := b.TempDir()
	o := validOptions()
	for i := 0; b.Loop(); i++ {
		o.Output = filepath.Join(parent, strconv.Itoa(i))
		if _, err := Generate(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
}
