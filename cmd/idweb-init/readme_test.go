package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestREADMEFlags checks that README.md's flag table is the one the flags
// make; -update rewrites it.
func TestREADMEFlags(t *testing.T) {
	readme := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	table := flagTable((&app{stdout: io.Discard, stderr: io.Discard}).rootCmd())
	want, err := replaceFlagTable(string(b), table)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(readme, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != string(b) {
		t.Errorf("README.md's flag table is not the flags' (go test ./cmd/idweb-init -run TestREADMEFlags -update); want:\n%s", table)
	}
}

func TestReplaceFlagTable(t *testing.T) {
	readme := "# x\n\n## Flags\n\n" + flagsBegin + "\nold\n" + flagsEnd + "\n\nafter\n"
	got, err := replaceFlagTable(readme, "new\n")
	if want := "# x\n\n## Flags\n\n" + flagsBegin + "\nnew\n" + flagsEnd + "\n\nafter\n"; err != nil || got != want {
		t.Errorf("replaceFlagTable = %q, %v; want %q", got, err, want)
	}
	if _, err := replaceFlagTable("# x\n", "new\n"); err == nil {
		t.Error("no markers: no error")
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"a|b":                    `a\|b`,
		"`a|b`":                  "`a\\|b`",
		"api://<app id>/x":       "api://&lt;app id&gt;/x",
		"`./<name>` or ./<name>": "`./<name>` or ./&lt;name&gt;",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}
