package generator

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var outputs = []Output{
	{Path: "go.mod", Content: []byte("module demo\n")},
	{Path: "main.go", Content: []byte("package main\n")},
	{Path: "internal/x/x.go", Content: []byte("package x\n")},
}

// listTree returns every file under dir with its content.
func listTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// entries returns the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteNewDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "a", "out") // the missing parent "a" is created
	if err := Write(context.Background(), dir, outputs); err != nil {
		t.Fatal(err)
	}
	got := listTree(t, dir)
	if len(got) != 3 || got["internal/x/x.go"] != "package x\n" {
		t.Errorf("written tree = %v", got)
	}
	if names := entries(t, filepath.Join(parent, "a")); !slices.Equal(names, []string{"out"}) {
		t.Errorf("parent holds %v, want only out (no temporary directory left)", names)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Errorf("output directory mode = %v, want 0755", fi.Mode().Perm())
	}
}

func TestWriteEmptyDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(context.Background(), dir, outputs); err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, dir); len(got) != 3 {
		t.Errorf("written tree = %v", got)
	}
	if names := entries(t, parent); !slices.Equal(names, []string{"out"}) {
		t.Errorf("parent holds %v", names)
	}
}

func TestWriteIntoExistingKeepsOtherFiles(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	writeFiles(t, dir, map[string]string{"main.go": "old", "keep.txt": "mine", "internal/keep.go": "mine too"})
	if err := Write(context.Background(), dir, outputs); err != nil {
		t.Fatal(err)
	}
	got := listTree(t, dir)
	want := map[string]string{
		"go.mod": "module demo\n", "main.go": "package main\n", "internal/x/x.go": "package x\n",
		"keep.txt": "mine", "internal/keep.go": "mine too",
	}
	if !mapsEqual(got, want) {
		t.Errorf("tree = %v\nwant %v", got, want)
	}
	if names := entries(t, parent); !slices.Equal(names, []string{"out"}) {
		t.Errorf("parent holds %v", names)
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	boom := errors.New("disk full")
	for _, existing := range []bool{false, true} {
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		before := map[string]string{"main.go": "old", "keep.txt": "mine"}
		if existing {
			writeFiles(t, dir, before)
		}
		n := 0
		writeHook = func(string) error {
			if n++; n == 2 {
				return boom
			}
			return nil
		}
		err := Write(context.Background(), dir, outputs)
		writeHook = nil
		if !errors.Is(err, boom) {
			t.Fatalf("Write = %v, want %v", err, boom)
		}
		checkUntouched(t, parent, dir, existing, before)
	}
}

func TestWriteCancelledLeavesNothing(t *testing.T) {
	for _, existing := range []bool{false, true} {
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		before := map[string]string{"main.go": "old"}
		if existing {
			writeFiles(t, dir, before)
		}
		ctx, cancel := context.WithCancel(context.Background())
		writeHook = func(string) error { cancel(); return nil } // Ctrl-C after the first file
		err := Write(ctx, dir, outputs)
		writeHook = nil
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Write = %v, want context.Canceled", err)
		}
		checkUntouched(t, parent, dir, existing, before)
	}
}

// checkUntouched checks that dir is as it was (absent, or holding before)
// and that parent holds nothing else.
func checkUntouched(t *testing.T, parent, dir string, existing bool, before map[string]string) {
	t.Helper()
	if !existing {
		if names := entries(t, parent); len(names) != 0 {
			t.Errorf("parent holds %v, want nothing", names)
		}
		return
	}
	if got := listTree(t, dir); !mapsEqual(got, before) {
		t.Errorf("existing directory changed: %v, want %v", got, before)
	}
	if names := entries(t, parent); !slices.Equal(names, []string{"out"}) {
		t.Errorf("parent holds %v, want only out", names)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestWriteThroughSymlink(t *testing.T) {
	parent := t.TempDir()
	target := filepath.Join(parent, "real")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(parent, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symlinks:", err)
	}
	if err := Write(context.Background(), link, outputs); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi, err)
	}
	if got := listTree(t, target); len(got) != 3 {
		t.Errorf("files where the link points: %v", got)
	}
	if names := entries(t, parent); !slices.Equal(names, []string{"link", "real"}) {
		t.Errorf("parent holds %v", names)
	}
}
