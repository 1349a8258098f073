package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/idweb-init/idweb-init/generator"
)

// update rewrites golden/*/want from the generator's output:
//
//	go test ./... -run Golden -update
//
// (The other test packages of the module define the flag too, so that
// "./..." works.)
var update = flag.Bool("update", false, "rewrite golden/*/want from the generator's output")

// goldenCases returns the case directories under golden/.
func goldenCases(t *testing.T) []string {
	t.Helper()
	args, err := filepath.Glob(filepath.Join("..", "..", "golden", "*", "args.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 {
		t.Fatal("no golden cases (golden/*/args.txt)")
	}
	var dirs []string
	for _, a := range args {
		dirs = append(dirs, filepath.Dir(a))
	}
	return dirs
}

// TestGolden runs the command for every golden/<case>/args.txt (one line
// of arguments, without -o) into a temporary directory and compares the
// whole tree with golden/<case>/want.
func TestGolden(t *testing.T) {
	for _, dir := range goldenCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, "args.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(string(b), `"'\`) {
				t.Fatal("args.txt: quoting is not supported; arguments are separated by spaces")
			}
			args := strings.Fields(string(b))
			if slices.Contains(args, "-o") || slices.Contains(args, "--output") {
				t.Fatal("args.txt must not set -o: the test does")
			}
			out := filepath.Join(t.TempDir(), "out")
			res := runCLI(t, append(args, "-o", out)...)
			if res.code != 0 {
				t.Fatalf("idweb-init %s: exit %d\n%s", strings.Join(args, " "), res.code, res.stderr)
			}
			want := filepath.Join(dir, "want")
			if *update {
				if err := os.RemoveAll(want); err != nil {
					t.Fatal(err)
				}
				if err := os.CopyFS(want, os.DirFS(out)); err != nil {
					t.Fatal(err)
				}
				t.Logf("rewrote %s", want)
				return
			}
			if msg := diffTrees(readTree(t, want), readTree(t, out)); msg != "" {
				t.Errorf("generated tree differs from %s (if intended: go test ./... -run Golden -update):\n%s", want, msg)
			}
		})
	}
}

// diffTrees describes how got differs from want: missing, extra and
// changed files, with the first differing lines of each changed one.
func diffTrees(want, got map[string][]byte) string {
	var names []string
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		w, inWant := want[n]
		g, inGot := got[n]
		switch {
		case !inGot:
			fmt.Fprintf(&b, "missing: %s\n", n)
		case !inWant:
			fmt.Fprintf(&b, "extra:   %s\n", n)
		case !bytes.Equal(w, g):
			fmt.Fprintf(&b, "changed: %s\n%s", n, firstDiff(string(w), string(g)))
		}
	}
	return b.String()
}

// firstDiff shows the first differing lines of want and got, with a line
// of context before, like a small unified diff.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(wl) && i < len(gl) && wl[i] == gl[i] {
		i++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  @@ line %d @@\n", i+1)
	if i > 0 {
		fmt.Fprintf(&b, "   %s\n", wl[i-1])
	}
	for j := i; j < len(wl) && j < i+3; j++ {
		fmt.Fprintf(&b, "  -%s\n", wl[j])
	}
	for j := i; j < len(gl) && j < i+3; j++ {
		fmt.Fprintf(&b, "  +%s\n", gl[j])
	}
	return b.String()
}

func TestDiffTrees(t *testing.T) {
	want := map[string][]byte{"a": []byte("1\n2\n3\n"), "b": []byte("x"), "c": []byte("same")}
	got := map[string][]byte{"a": []byte("1\n2\nthree\n"), "c": []byte("same"), "d": []byte("new")}
	wantMsg := "changed: a\n  @@ line 3 @@\n   2\n  -3\n  -\n  +three\n  +\nmissing: b\nextra:   d\n"
	if msg := diffTrees(want, got); msg != wantMsg {
		t.Errorf("diffTrees =\n%s\nwant\n%s", msg, wantMsg)
	}
	if msg := diffTrees(want, want); msg != "" {
		t.Errorf("diffTrees of equal trees = %q", msg)
	}
}

// TestGoldenCompiles builds, vets and tests every golden project as the
// module it is: what the generator writes must compile and pass its own
// tests (run afresh, not from the test cache), not only match the golden
// files. It needs the generated project's dependencies in the module cache
// (or the module proxy).
func TestGoldenCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests every golden project; not with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go not found in PATH:", err)
	}
	for _, dir := range goldenCases(t) {
		want, err := filepath.Abs(filepath.Join(dir, "want"))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}, {"test", "-count=1", "./..."}} {
				cmd := exec.CommandContext(t.Context(), goBin, args...)
				cmd.Dir = want
				cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly -buildvcs=false", "GOWORK=off")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("go %s in %s: %v\n%s", strings.Join(args, " "), want, err, out)
				}
			}
		})
	}
}

// TestGoldenCoversEveryValue makes sure every value of an option that
// selects a template layer has a golden case: adding a value means adding
// a registry entry, a layer directory and a golden case.
func TestGoldenCoversEveryValue(t *testing.T) {
	var all []string
	for _, dir := range goldenCases(t) {
		b, err := os.ReadFile(filepath.Join(dir, "args.txt"))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, " "+strings.Join(strings.Fields(string(b)), " ")+" ")
	}
	covered := func(arg string) bool {
		return slices.ContainsFunc(all, func(args string) bool { return strings.Contains(args, " "+arg+" ") })
	}
	for _, v := range generator.Values(generator.Credentials) {
		if !covered("--credential " + v) {
			t.Errorf("no golden case has --credential %s", v)
		}
	}
	for _, v := range generator.Values(generator.Caches) {
		if !covered("--cache " + v) {
			t.Errorf("no golden case has --cache %s", v)
		}
	}
	// The flag that selects each API.
	apiFlags := map[string]string{"graph": "--calls-graph"}
	for _, v := range generator.Values(generator.APIs) {
		flag, ok := apiFlags[v]
		if !ok {
			t.Errorf("api %s: add the flag that selects it to apiFlags in this test", v)
			continue
		}
		if !covered(flag) {
			t.Errorf("no golden case has %s (api %s)", flag, v)
		}
	}
}
