package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/generator"
)

// update rewrites golden/*/want from the generator's output:
//
//	go test ./... -run Golden -update
//
// (The other test packages of the module define the flag too, so that
// "./..." works.)
var update = flag.Bool("update", false, "rewrite golden/*/want from the generator's output")

// goldenCases returns the case directories under golden/ that hold a
// full tree (args.txt and want/).
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

// caseArgs reads a case's args.txt: one argument per line (so values may
// hold spaces), blank lines and lines starting with # skipped.
func caseArgs(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "args.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		args = append(args, line)
	}
	if slices.Contains(args, "-o") || slices.Contains(args, "--output") {
		t.Fatal("args.txt must not set -o: the test does")
	}
	return args
}

// TestGolden runs the command for every golden/<case>/args.txt into a
// temporary directory and compares the whole tree with golden/<case>/want.
// A few representative cases keep full trees; every combination's list of
// files is pinned by TestBaselines, so a change to shared code shows up
// here a few times, not once per combination.
func TestGolden(t *testing.T) {
	for _, dir := range goldenCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			args := caseArgs(t, dir)
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
				t.Errorf("generated tree differs from %s (if intended: go test ./cmd/idweb-init -run Golden -update):\n%s", want, msg)
			}
		})
	}
}

// TestBaselines pins the list of files of every combination of options
// (as dotnet's template baselines do): golden/baselines.json.
func TestBaselines(t *testing.T) {
	file := filepath.Join("..", "..", "golden", "baselines.json")
	got := map[string][]string{}
	for _, c := range generator.Combinations() {
		o := c.Options
		o.DryRun = true
		o.Output = filepath.Join(t.TempDir(), "out")
		res, err := generator.Generate(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		for _, f := range res.Files {
			got[c.Name] = append(got[c.Name], f.Path)
		}
	}
	if *update {
		b, err := json.MarshalIndent(compactBaselines(got), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantBytes, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var compact baselines
	if err := json.Unmarshal(wantBytes, &compact); err != nil {
		t.Fatal(err)
	}
	want := compact.expand()
	for name, files := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: no baseline (go test ./cmd/idweb-init -run Baselines -update)", name)
			continue
		}
		for _, f := range files {
			if !slices.Contains(w, f) {
				t.Errorf("%s: %s is generated but not in the baseline", name, f)
			}
		}
		for _, f := range w {
			if !slices.Contains(files, f) {
				t.Errorf("%s: %s is in the baseline but not generated", name, f)
			}
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: a baseline for a combination that no longer exists", name)
		}
	}
}

// baselines is golden/baselines.json: the files every combination
// generates (Common), and each combination's others, so that hundreds of
// combinations stay a file a reviewer can read.
type baselines struct {
	Common       []string            `json:"common"`
	Combinations map[string][]string `json:"combinations"`
}

// compactBaselines splits each combination's files into those common to
// all and its own.
func compactBaselines(all map[string][]string) baselines {
	count := map[string]int{}
	for _, files := range all {
		for _, f := range files {
			count[f]++
		}
	}
	b := baselines{Combinations: map[string][]string{}}
	for f, n := range count {
		if n == len(all) {
			b.Common = append(b.Common, f)
		}
	}
	slices.Sort(b.Common)
	for name, files := range all {
		own := []string{}
		for _, f := range files {
			if !slices.Contains(b.Common, f) {
				own = append(own, f)
			}
		}
		b.Combinations[name] = own
	}
	return b
}

// expand returns each combination's whole list of files.
func (b baselines) expand() map[string][]string {
	all := map[string][]string{}
	for name, own := range b.Combinations {
		all[name] = append(slices.Clone(b.Common), own...)
	}
	return all
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

// goCmd runs the go command in dir with env added and fails the test on
// an error.
func goCmd(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go not found in PATH:", err)
	}
	cmd := exec.CommandContext(t.Context(), goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false"), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

// TestGoldenCompiles builds, vets and runs every test of every golden
// project, offline, as the module it is: what the generator writes must
// compile and pass its own tests (run afresh), not only match the files.
func TestGoldenCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests every golden project; not with -short")
	}
	offline := []string{"GOPROXY=off", "GOFLAGS=-mod=readonly -buildvcs=false"}
	for _, dir := range goldenCases(t) {
		want, err := filepath.Abs(filepath.Join(dir, "want"))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			goCmd(t, want, offline, "vet", "./...")
			goCmd(t, want, offline, "test", "-count=1", "./...")
			goCmd(t, want, offline, benchOnce...)
		})
	}
}

// benchOnce runs each benchmark of a project's root package once: they
// measure nothing then, but one that no longer works fails.
var benchOnce = []string{"test", "-count=1", "-run", "^$", "-bench", ".", "-benchtime", "1x", "."}

// smokeTests are the generated projects' tests that sign a user in
// through the stand-in and call each configured API (or, for a sign-in
// only app, show the account page).
const smokeTests = "^Test(SignInAndCallGraph|CallEachAPI|SignInOnly|IncrementalConsent)$"

// TestPairwise generates a set of combinations in which every pair of
// option values appears at least once (the Graph SDK, minutes to compile,
// in exactly one), and builds, vets and smoke-tests each project as a user
// would: offline right after generation, and go mod tidy changes nothing.
// The first project of each token cache runs all its whole-app tests
// (restarts, two instances, the store's outage, against the real servers
// scripts/test installs); the app's packages' own tests run in templates/.
// IDWEB_MATRIX=all takes every combination and runs all their tests
// instead (scripts/matrix).
func TestPairwise(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests generated projects; not with -short")
	}
	combos := generator.Pairwise(generator.Combinations(), "api=graph-sdk")
	testArgs := []string{"test", "-count=1", "-run", smokeTests, "."}
	if os.Getenv("IDWEB_MATRIX") == "all" {
		combos = generator.Combinations()
		testArgs = []string{"test", "-count=1", "./..."}
	}
	offline := []string{"GOPROXY=off", "GOFLAGS=-mod=mod -buildvcs=false"}
	wholeApp := map[string]bool{} // token caches whose whole-app tests ran
	for _, c := range combos {
		args, whole := testArgs, false
		if cache := c.Factors["cache"]; !wholeApp[cache] && os.Getenv("IDWEB_MATRIX") != "all" {
			wholeApp[cache], whole = true, true
			args = []string{"test", "-count=1", "."}
		}
		t.Run(c.Name, func(t *testing.T) {
			start := time.Now()
			o := c.Options
			o.Output = filepath.Join(t.TempDir(), "project")
			if _, err := generator.Generate(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			goCmd(t, o.Output, offline, "build", "./...")
			goCmd(t, o.Output, offline, "vet", "./...")
			before := readTree(t, o.Output)
			goCmd(t, o.Output, offline, "mod", "tidy")
			after := readTree(t, o.Output)
			for _, f := range []string{"go.mod", "go.sum"} {
				if !bytes.Equal(before[f], after[f]) {
					t.Errorf("go mod tidy changed %s:\n%s", f, firstDiff(string(before[f]), string(after[f])))
				}
			}
			goCmd(t, o.Output, offline, args...)
			if whole {
				goCmd(t, o.Output, offline, benchOnce...)
			}
			t.Logf("built, vetted and tested in %s", time.Since(start).Round(time.Second))
		})
	}
}
