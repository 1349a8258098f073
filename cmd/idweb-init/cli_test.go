package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/idweb-init/idweb-init/generator"
	"github.com/idweb-init/idweb-init/templates"
)

const (
	tenantID = "11111111-2222-3333-4444-555555555555"
	clientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	apiID    = "bbbbbbbb-0000-4000-8000-000000000001" // a custom API's app ID
)

// validArgs are a complete command line but for -o.
var validArgs = []string{"--name", "demo", "--module", "example.com/demo", "--tenant-id", tenantID, "--client-id", clientID}

// TestBadInput runs the command with one bad input at a time, after a
// valid command line with --force and an output directory that holds a
// file of the user's: each must exit 2 with exactly one line naming the
// flag and what it allows, and leave the directory and its parent as they
// were (no temporary directory left behind).
func TestBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string // $OUT and $PARENT are replaced by the directories
	}{
		{[]string{"--client-id", "abc"}, `--client-id: "abc" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`},
		{[]string{"--client-id", "{" + clientID + "}"}, `--client-id: "{` + clientID + `}" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`},
		{[]string{"--client-id"}, `--client-id: needs a value`},
		{[]string{"--tenant-id", "not a tenant"}, `--tenant-id: "not a tenant" is not a tenant ID (want a GUID or a verified domain such as contoso.onmicrosoft.com)`},
		{[]string{"--tenant-id", "organizations"}, `--tenant-id: "organizations" is for apps that any organization's users sign in to: use --auth multi-org (with --personal-accounts for common) instead of a tenant ID`},
		{[]string{"--auth", "multi-org"}, `--tenant-id: applies only with --auth single-org`},
		{[]string{"--allowed-tenant", "contoso.com"}, `--allowed-tenant: "contoso.com" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`},
		{[]string{"--allowed-tenant", "72f988bf-86f1-41af-91ab-2d7cd011db47"}, `--allowed-tenant: applies only with --auth multi-org`},
		{[]string{"--tenant-id", "contoso"}, `--tenant-id: "contoso" is not a tenant ID (want a GUID or a verified domain such as contoso.onmicrosoft.com)`},
		{[]string{"--instance", "http://login.microsoftonline.com/"}, `--instance: "http://login.microsoftonline.com/" must use https (want e.g. https://login.microsoftonline.com/)`},
		{[]string{"--instance", "https:///common"}, `--instance: "https:///common" has no host (want e.g. https://login.microsoftonline.com/)`},
		{[]string{"--instance", "https://login.microsoftonline.com/?x=1"}, `--instance: "https://login.microsoftonline.com/?x=1" must not have a query or fragment`},
		{[]string{"--instance", "login.microsoftonline.com"}, `--instance: "login.microsoftonline.com" is not an absolute URL (want e.g. https://login.microsoftonline.com/)`},
		{[]string{"--name=.hidden"}, `--name: ".hidden" is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')`},
		{[]string{"--name=-x"}, `--name: "-x" is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')`},
		{[]string{"--name", "a b"}, `--name: "a b" is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')`},
		{[]string{"--name="}, `--name: must not be empty`},
		{[]string{"--name", "demo.", "--module=demo."}, `--module: "demo." is not a valid module path: trailing dot in path element`},
		{[]string{"--module", "Foo Bar"}, `--module: "Foo Bar" is not a valid module path: invalid char ' '`},
		{[]string{"--module", "example.com/demo/"}, `--module: "example.com/demo/" is not a valid module path: trailing slash`},
		{[]string{"--callback-path", "signin-oidc"}, `--callback-path: "signin-oidc" must start with '/'`},
		{[]string{"--callback-path", "/signout"}, "--callback-path: " + generator.ValidateCallbackPath("/signout").Error()},
		{[]string{"--callback-path", "/cb?x=1"}, `--callback-path: "/cb?x=1" must not contain a query or fragment`},
		{[]string{"--callback-path", "/a b"}, `--callback-path: "/a b" must not contain whitespace`},
		{[]string{"--callback-path", "/a/../b"}, `--callback-path: "/a/../b" is not a clean path (want "/b")`},
		{[]string{"--credential", "certificate-file"}, `--credential: "certificate-file" is not allowed (want client-secret, certificate, keyvault, workload-identity or managed-identity)`},
		{[]string{"--credential", "certificate", "--credential", "certificate"}, `--credential: "certificate" is given twice (each may appear once)`},
		{[]string{"--credential", "keyvault"}, `missing required flags: --keyvault-url, --keyvault-cert-name (give them, or run in a terminal to be asked)`},
		{[]string{"--credential", "keyvault", "--keyvault-url", "http://contoso.vault.azure.net", "--keyvault-cert-name", "app"}, `--keyvault-url: "http://contoso.vault.azure.net" must use https (want e.g. https://contoso.vault.azure.net/)`},
		{[]string{"--credential", "managed-identity", "--managed-identity-client-id", "mi"}, `--managed-identity-client-id: "mi" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`},
		{[]string{"--credential", "certificate", "--cert-path", "$PARENT"}, `--cert-path: "$PARENT" is a directory, not a certificate file`},
		{[]string{"--credential", "client-secret", "--cert-path", "app.pem"}, `--cert-path: applies only with --credential certificate`},
		{[]string{"--cache", "memcached"}, `--cache: "memcached" is not allowed (want memory, file, redis or postgres)`},
		{[]string{"--api", "orders"}, `--api: "orders" is not allowed (want graph, custom or none)`},
		{[]string{"--graph-client", "fast"}, `--graph-client: "fast" is not allowed (want rest or sdk)`},
		{[]string{"--domain", "not a domain"}, `--domain: "not a domain" is not a domain name (want e.g. contoso.onmicrosoft.com)`},
		{[]string{"--git", "maybe"}, `--git: "maybe" is not allowed (want init or skip)`},
		{[]string{"--dry-run=maybe"}, `--dry-run: "maybe" is not a boolean (want true or false)`},
		{[]string{"--calls-graph=maybe"}, `--calls-graph: "maybe" is not a boolean (want true or false)`},
		// The custom API's flags, checked when given, then together.
		{[]string{"--called-api-url", "http://orders.contoso.com"}, `--called-api-url: "http://orders.contoso.com" must use https: the user's token would travel in clear`},
		{[]string{"--called-api-scopes", "api://" + apiID + "/Orders.Read Orders.Write"}, `--called-api-scopes: "Orders.Write" is not a scope of an API (want e.g. api://<app id>/access_as_user)`},
		{[]string{"--called-api-scopes", " "}, `--called-api-scopes: must not be empty`},
		{[]string{"--api-name", "1st"}, `--api-name: "1st" is not an API name (want a letter, then letters, digits or _)`},
		{[]string{"--downstream-api", "Orders"}, `--downstream-api: "Orders": want Name=https://base/url|scope1 scope2 (and |app to call it as the app)`},
		{[]string{"--api", "custom"}, `--called-api-url: --api custom needs the API: --called-api-url and --called-api-scopes, or --downstream-api`},
		{[]string{"--called-api-scopes", "api://" + apiID + "/Orders.Read"}, `--called-api-url: must be given with --called-api-scopes`},
		{[]string{"--called-api-url", "https://orders.contoso.com"}, `--called-api-scopes: needs at least one scope, e.g. api://<app id>/access_as_user`},
		{[]string{"--called-api-url", "https://orders.contoso.com", "--called-api-scopes", "api://a/Orders.Read", "--called-api-scopes", "api://b/Orders.Write"},
			`--called-api-scopes: scopes api://a/Orders.Read and api://b/Orders.Write belong to two APIs; one token is for one API`},
		{[]string{"--downstream-api", "Orders=https://a.example.com|api://a/x", "--downstream-api", "orders=https://b.example.com|api://b/x"},
			`--downstream-api: the name orders is given twice`},
		// dotnet's spellings and --api: contradictions name both flags.
		{[]string{"--calls-graph", "--api", "custom"}, `--calls-graph contradicts --api custom: --calls-graph means --api graph`},
		{[]string{"--api", "none", "--calls-graph"}, `--calls-graph contradicts --api none: --calls-graph means --api graph`},
		{[]string{"--calls-graph=false", "--api", "graph"}, `--calls-graph=false contradicts --api graph: --calls-graph=false means --api custom or none`},
		{[]string{"--called-api-url", "https://a.example.com", "--api", "graph"}, `--called-api-url contradicts --api graph: --called-api-url applies only with --api custom`},
		{[]string{"--called-api-scopes", "api://a/x", "--api", "none"}, `--called-api-scopes contradicts --api none: --called-api-scopes applies only with --api custom`},
		{[]string{"--graph-client", "sdk", "--api", "custom"}, `--graph-client contradicts --api custom: --graph-client applies only with --api graph`},
		{[]string{"--graph-client", "sdk", "--api", "none"}, `--graph-client contradicts --api none: --graph-client applies only with --api graph`},
		{[]string{"--downstream-api", "A=https://a.example.com|api://a/x", "--api", "none"}, `--downstream-api contradicts --api none: --downstream-api applies only with --api graph or custom`},
		{[]string{"--calls-graph", "--called-api-url", "https://a.example.com"}, `--called-api-url contradicts --calls-graph: --called-api-url applies only with --api custom, --calls-graph means --api graph`},
		{[]string{"--calls-graph=false", "--graph-client", "rest"}, `--graph-client contradicts --calls-graph=false: --graph-client applies only with --api graph, --calls-graph=false means --api custom or none`},
		{[]string{"--unknown"}, `unknown flag: --unknown (see idweb-init --help)`},
		{[]string{"-x"}, `unknown shorthand flag: 'x' in -x (see idweb-init --help)`},
		{[]string{"foo"}, `unexpected argument "foo"`}, // --name is given: no suggestion
		{[]string{"versoin"}, `unexpected argument "versoin" (did you mean "version"?)`},
		{[]string{"--templates", "$PARENT/nope"}, `--templates: "$PARENT/nope" is not a directory`},
		{[]string{"--answers", "$PARENT/nope.json"}, `--answers: open $PARENT/nope.json: no such file or directory`},
		{[]string{"-o", "$OUT/keep.txt"}, `--output: "$OUT/keep.txt" is a file; want a directory to create`},
		{[]string{"-o", ""}, `--output: must not be empty`},
		{[]string{"--force=false"}, `--output: "$OUT" is not empty (use --force to replace the planned files; other files are kept)`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			writeTree(t, out, map[string]string{"keep.txt": "mine"})
			expand := func(s string) string {
				return strings.NewReplacer("$OUT", out, "$PARENT", parent).Replace(s)
			}
			args := append(slices.Clone(validArgs), "--yes", "--force", "-o", out)
			for _, a := range tc.args {
				args = append(args, expand(a))
			}

			res := runCLI(t, args...)
			if want := "idweb-init: " + expand(tc.want) + "\n"; res.code != 2 || res.stderr != want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2, stderr:\n%s", res.code, res.stderr, want)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
			if got := readTree(t, out); len(got) != 1 || string(got["keep.txt"]) != "mine" {
				t.Errorf("output directory changed: %v", got)
			}
			if names := dirNames(t, parent); !slices.Equal(names, []string{"out"}) {
				t.Errorf("parent holds %v, want only out", names)
			}
		})
	}
}

func TestMissingFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "idweb-init: missing required flags: --name, --tenant-id, --client-id (give them, or run in a terminal to be asked)\n"},
		{[]string{"--name", "demo", "--module", "example.com/demo"}, "idweb-init: missing required flags: --tenant-id, --client-id (give them, or run in a terminal to be asked)\n"},
		{[]string{"--yes", "--client-id", clientID}, "idweb-init: missing required flags: --name, --tenant-id (give them, or run in a terminal to be asked)\n"},
	}
	for _, tc := range tests {
		parent := t.TempDir()
		// No terminal: never asks, never waits for input.
		res := runCLI(t, append(tc.args, "-o", filepath.Join(parent, "out"))...)
		if res.code != 2 || res.stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 2, %q", tc.args, res.code, res.stderr, tc.want)
		}
		if names := dirNames(t, parent); len(names) != 0 {
			t.Errorf("wrote %v", names)
		}
	}
	// --yes in a terminal does not ask either.
	var stdout, stderr strings.Builder
	code := run(t.Context(), []string{"--yes", "--name", "demo"}, os.Stdin, &stdout, &stderr, true)
	if want := "idweb-init: missing required flags: --tenant-id, --client-id (give them, or run in a terminal to be asked)\n"; code != 2 || stderr.String() != want {
		t.Errorf("--yes in a terminal: exit %d, stderr %q", code, stderr.String())
	}
}

func TestDryRun(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "demo")
	res := runCLI(t, append(validArgs, "--dry-run", "-o", out)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	// The files the plan renders to something (a test that applies to other
	// options only renders to nothing and is not written).
	plan := basePlan(t)
	o := generator.Options{Name: "demo", Module: "example.com/demo", TenantID: tenantID, ClientID: clientID}
	outputs, err := generator.Render(t.Context(), mustTree(t), plan, generator.NewData(o))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range outputs {
		if !f.Skip {
			files = append(files, f.Path)
		}
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if want := "Would write " + strconv.Itoa(len(files)) + " files to " + out + " (module example.com/demo):"; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	for i, f := range files {
		if want := "  create   " + f; lines[i+1] != want {
			t.Errorf("line %d = %q, want %q", i+2, lines[i+1], want)
		}
	}
	if last := lines[len(lines)-1]; last != "Dry run: nothing was written." {
		t.Errorf("last line %q", last)
	}
	if names := dirNames(t, parent); len(names) != 0 {
		t.Errorf("dry run wrote %v", names)
	}
}

func TestForce(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "demo")
	// A user's directory: a file the plan also has, and files it has not.
	user := map[string]string{"main.go": "// the user's\n", "notes.txt": "mine", "internal/mine/mine.go": "package mine\n"}
	writeTree(t, out, user)

	res := runCLI(t, append(validArgs, "-o", out)...)
	if res.code != 2 || !strings.Contains(res.stderr, "is not empty") {
		t.Fatalf("without --force: exit %d, %q", res.code, res.stderr)
	}
	if got := readTree(t, out); len(got) != 3 || string(got["main.go"]) != user["main.go"] {
		t.Fatalf("refused run changed the directory: %v", got)
	}

	res = runCLI(t, append(validArgs, "--force", "-o", out)...)
	if res.code != 0 {
		t.Fatalf("with --force: exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "replacing 1.") {
		t.Errorf("stdout %q does not say one file was replaced", res.stdout)
	}
	got := readTree(t, out)
	if string(got["notes.txt"]) != "mine" || string(got["internal/mine/mine.go"]) != "package mine\n" {
		t.Errorf("the user's other files did not survive: %v", got)
	}
	if string(got["main.go"]) == user["main.go"] {
		t.Error("main.go, a planned file, was not replaced")
	}
	// Same tree as a fresh generation, plus the user's two files.
	fresh := filepath.Join(parent, "fresh")
	if res := runCLI(t, append(validArgs, "-o", fresh)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	want := readTree(t, fresh)
	want["notes.txt"] = []byte("mine")
	want["internal/mine/mine.go"] = []byte("package mine\n")
	if msg := diffTrees(want, got); msg != "" {
		t.Errorf("forced tree:\n%s", msg)
	}
	if names := dirNames(t, parent); !slices.Equal(names, []string{"demo", "fresh"}) {
		t.Errorf("parent holds %v", names)
	}
}

func TestTemplatesExportAndFork(t *testing.T) {
	parent := t.TempDir()
	fork := filepath.Join(parent, "fork")
	res := runCLI(t, "templates", "export", fork)
	if res.code != 0 {
		t.Fatalf("export: exit %d: %s", res.code, res.stderr)
	}
	// The export is the embedded tree, byte for byte, and a module.
	exported := readTree(t, fork)
	embedded := readEmbedded(t)
	for _, name := range []string{"go.mod", "go.sum", "modules.json"} {
		if _, ok := exported[name]; !ok {
			t.Errorf("the export has no %s", name)
		}
		delete(exported, name)
	}
	if msg := diffTrees(embedded, exported); msg != "" {
		t.Errorf("export differs from the embedded tree:\n%s", msg)
	}

	res = runCLI(t, "templates", "export", fork)
	if want := "idweb-init: templates export: \"" + fork + "\" is not empty\n"; res.code != 2 || res.stderr != want {
		t.Errorf("export into a non-empty directory: exit %d, %q", res.code, res.stderr)
	}
	for args, want := range map[string]string{
		"templates export":       "idweb-init: templates export: want one argument, the directory to write to (got 0)\n",
		"templates export a b":   "idweb-init: templates export: want one argument, the directory to write to (got 2)\n",
		"templates exprot":       "idweb-init: unexpected argument \"exprot\" (did you mean \"export\"?)\n",
		"templates export --x a": "idweb-init: unknown flag: --x (see idweb-init --help)\n",
	} {
		if res := runCLI(t, strings.Fields(args)...); res.code != 2 || res.stderr != want {
			t.Errorf("%s: exit %d, stderr %q; want 2, %q", args, res.code, res.stderr, want)
		}
	}

	// Change the fork: one more line in the README's template, and a new
	// file.
	appendFile(t, filepath.Join(fork, "README.md.tmpl"), "\nForked for [[.Name]].\n")
	writeTree(t, fork, map[string]string{"EXTRA.txt.tmpl": "extra for [[.Module]]\n"})

	out := filepath.Join(parent, "out")
	res = runCLI(t, append(validArgs, "--templates", fork, "-o", out)...)
	if res.code != 0 {
		t.Fatalf("render from the fork: exit %d: %s", res.code, res.stderr)
	}
	got := readTree(t, out)
	if !strings.HasSuffix(string(got["README.md"]), "\nForked for demo.\n") {
		t.Errorf("README.md does not have the fork's change:\n%s", got["README.md"])
	}
	if string(got["EXTRA.txt"]) != "extra for example.com/demo\n" {
		t.Errorf("EXTRA.txt = %q", got["EXTRA.txt"])
	}
}

// TestForkErrors breaks a fork in one way at a time: each is a usage
// error naming --templates and the fork's file at fault, and leaves
// nothing behind.
func TestForkErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, fork string)
		want []string // in the message; $FORK is replaced
	}{
		{"missing required file", func(t *testing.T, fork string) {
			remove(t, filepath.Join(fork, "README.md.tmpl"))
		}, []string{"README.md.tmpl"}},
		{"template syntax error", func(t *testing.T, fork string) {
			appendFile(t, filepath.Join(fork, "README.md.tmpl"), "[[ if ]]\n")
		}, []string{"$FORK/README.md.tmpl:", "missing value for if"}},
		{"execution error", func(t *testing.T, fork string) {
			appendFile(t, filepath.Join(fork, "main.go.tmpl"), "[[ .NoSuchField ]]\n")
		}, []string{"$FORK/main.go.tmpl:", "can't evaluate field NoSuchField"}},
		{"value directory missing", func(t *testing.T, fork string) {
			remove(t, filepath.Join(fork, "_cache"))
		}, []string{"_cache/memory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			fork := filepath.Join(parent, "fork")
			if res := runCLI(t, "templates", "export", fork); res.code != 0 {
				t.Fatal(res.stderr)
			}
			tc.edit(t, fork)
			out := filepath.Join(parent, "out")
			res := runCLI(t, append(validArgs, "--templates", fork, "-o", out)...)
			prefix := "idweb-init: --templates: \"" + fork + "\""
			if res.code != 2 || !strings.HasPrefix(res.stderr, prefix) || strings.Count(res.stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and one line starting %s", res.code, res.stderr, prefix)
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "$FORK", fork); !strings.Contains(res.stderr, w) {
					t.Errorf("stderr %q does not say %q", res.stderr, w)
				}
			}
			if names := dirNames(t, parent); !slices.Equal(names, []string{"fork"}) {
				t.Errorf("a failed run left %v", names)
			}
		})
	}
}

func TestInterruptedWritesNothing(t *testing.T) {
	parent := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // as if Ctrl-C came at once
	res := runCLIContext(ctx, append(validArgs, "-o", filepath.Join(parent, "out"))...)
	if res.code != 1 || res.stderr != "idweb-init: interrupted; nothing was written\n" {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	if names := dirNames(t, parent); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}

func TestVersionHelpCompletion(t *testing.T) {
	if res := runCLI(t, "version"); res.code != 0 || res.stdout != "idweb-init "+generator.Version()+"\n" {
		t.Errorf("version: %+v", res)
	}
	if res := runCLI(t, "--help"); res.code != 0 || !strings.Contains(res.stdout, "--credential client-secret") || !strings.Contains(res.stdout, "--git init|skip") {
		t.Errorf("help: %+v", res)
	}
	if res := runCLI(t, "completion", "bash"); res.code != 0 || !strings.Contains(res.stdout, "__start_idweb-init") {
		t.Errorf("completion bash: exit %d, %.200q", res.code, res.stdout)
	}
	// The one-of flags complete from the model, with the values' titles.
	for flag, want := range map[string]string{
		"--api":          "graph\tMicrosoft Graph\ncustom\tAnother web API\nnone\tNone (sign-in only)\n",
		"--graph-client": "rest\tREST (net/http)\nsdk\tMicrosoft Graph SDK\n",
		"--credential":   "client-secret\tClient secret\n",
		"--cache":        "memory\tIn memory\n",
		"--git":          "init\tgit init, add and commit\nskip\tleave git alone\n",
	} {
		res := runCLI(t, "__complete", flag, "")
		if res.code != 0 || !strings.HasPrefix(res.stdout, want) {
			t.Errorf("complete %s: exit %d, %q; want prefix %q", flag, res.code, res.stdout, want)
		}
	}
}

func TestGitInit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	parent := t.TempDir()
	home := filepath.Join(parent, "home")
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_AUTHOR_NAME", "Test")
	t.Setenv("GIT_AUTHOR_EMAIL", "test@example.com")
	t.Setenv("GIT_COMMITTER_NAME", "Test")
	t.Setenv("GIT_COMMITTER_EMAIL", "test@example.com")
	out := filepath.Join(parent, "demo")
	res := runCLI(t, append(validArgs, "--git", "init", "-o", out)...)
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	log, err := exec.Command("git", "-C", out, "log", "--format=%s").Output()
	if err != nil || string(log) != generator.GitCommitMessage+"\n" {
		t.Errorf("git log = %q, %v", log, err)
	}
	status, err := exec.Command("git", "-C", out, "status", "--porcelain").Output()
	if err != nil || len(status) != 0 {
		t.Errorf("git status = %q, %v; want everything committed", status, err)
	}
}

func TestGitNeverFailsTheRun(t *testing.T) {
	parent := t.TempDir()
	t.Setenv("PATH", filepath.Join(parent, "empty")) // no git
	out := filepath.Join(parent, "demo")
	res := runCLI(t, append(validArgs, "--git", "init", "-o", out)...)
	want := "idweb-init: warning: the project is written, but not committed: git not found in PATH\n"
	if res.code != 0 || res.stderr != want {
		t.Errorf("exit %d, stderr %q; want 0, %q", res.code, res.stderr, want)
	}
	if len(readTree(t, out)) == 0 {
		t.Error("nothing written")
	}
}

func TestTidy(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	res := runCLI(t, append(validArgs, "--tidy", "-o", out)...)
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
}

// basePlan is the plan of the default project from the embedded tree.
func mustTree(t *testing.T) *generator.Tree {
	t.Helper()
	tree, err := generator.EmbeddedTree()
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func basePlan(t *testing.T) generator.Plan {
	t.Helper()
	tree, err := generator.EmbeddedTree()
	if err != nil {
		t.Fatal(err)
	}
	p, err := generator.NewPlan(tree, generator.Options{Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readEmbedded returns the embedded tree's files.
func readEmbedded(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := fs.WalkDir(templates.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files[name], err = fs.ReadFile(templates.FS, name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func appendFile(t *testing.T, name, s string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, name string) {
	t.Helper()
	if err := os.RemoveAll(name); err != nil {
		t.Fatal(err)
	}
}
