package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/idweb-init/idweb-init/generator"
)

// TestAnswersRoundTrip generates a project, then generates again from
// its answers file into another directory: the trees, answers file
// included, must be the same.
func TestAnswersRoundTrip(t *testing.T) {
	tests := map[string][]string{
		"graph": validArgs,
		"multi-tenant": {"--name", "my-app", "--allowed-tenant", tenantID, "--personal-accounts", "--client-id", clientID,
			"--instance", "https://login.microsoftonline.us", "--domain", "contoso.onmicrosoft.com", "--callback-path", "/auth/callback", "--graph-client", "sdk"},
		"custom": append(slices.Clone(validArgs), "--api-name", "Orders", "--called-api-url", "https://orders.contoso.com/api",
			"--called-api-scopes", "api://"+apiID+"/Orders.Read api://"+apiID+"/Orders.Write",
			"--downstream-api", "Stock=https://stock.contoso.com|api://stock/.default|app"),
		"none": append(slices.Clone(validArgs), "--calls-graph=false"),
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			first, again := filepath.Join(parent, "first"), filepath.Join(parent, "again")
			if res := runCLI(t, append(args, "-o", first)...); res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			file := filepath.Join(first, generator.AnswersFile)
			if _, err := generator.ReadAnswers(file); err != nil {
				t.Fatalf("the project's answers file: %v", err)
			}
			if res := runCLI(t, "--answers", file, "-o", again); res.code != 0 {
				t.Fatalf("--answers: exit %d: %s", res.code, res.stderr)
			}
			if msg := diffTrees(readTree(t, first), readTree(t, again)); msg != "" {
				t.Errorf("regenerated from %s, the tree differs:\n%s", generator.AnswersFile, msg)
			}
		})
	}
}

// TestAnswersFlagsWin reads a custom API project's answers with flags
// that change it.
func TestAnswersFlagsWin(t *testing.T) {
	file := writeAnswers(t, generator.NewAnswers(generator.Options{Name: "demo", TenantID: tenantID, ClientID: clientID,
		API: "custom", CalledAPIURL: "https://orders.contoso.com/api", CalledAPIScopes: []string{"api://" + apiID + "/Orders.Read"}}))
	tests := []struct {
		name  string
		args  []string
		check func(o generator.Options) bool
	}{
		{"the file alone", nil, func(o generator.Options) bool {
			return o.API == "custom" && o.CalledAPIURL == "https://orders.contoso.com/api" && o.Name == "demo" && o.Module == "demo"
		}},
		{"another client", []string{"--client-id", "0a1b2c3d-0000-4000-8000-123456789abc"}, func(o generator.Options) bool {
			return o.ClientID == "0a1b2c3d-0000-4000-8000-123456789abc" && o.TenantID == tenantID
		}},
		// dotnet's spelling of Graph drops the file's custom API.
		{"calls-graph", []string{"--calls-graph"}, func(o generator.Options) bool {
			return o.API == "graph" && o.APIName == "" && o.CalledAPIURL == "" && o.CalledAPIScopes == nil
		}},
		{"api none", []string{"--api", "none"}, func(o generator.Options) bool {
			return o.API == "none" && o.CalledAPIURL == ""
		}},
		// Named APIs go with the file's custom API.
		{"named APIs", []string{"--downstream-api", "Stock=https://stock.contoso.com|api://stock/.default|app"}, func(o generator.Options) bool {
			return o.API == "custom" && o.CalledAPIURL != "" && len(o.DownstreamAPIs) == 1
		}},
		{"other scopes", []string{"--called-api-scopes", "api://" + apiID + "/Orders.Write"}, func(o generator.Options) bool {
			return slices.Equal(o.CalledAPIScopes, []string{"api://" + apiID + "/Orders.Write"})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(t, append([]string{"--answers", file}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(o) {
				t.Errorf("options = %+v", o)
			}
			if err := o.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name, content string
		want          string // $FILE is replaced
	}{
		{"not JSON", "name: demo", `--answers: $FILE: invalid character 'a' in literal null (expecting 'u')`},
		{"no options", `{"generator": "idweb-init v1"}`, `--answers: $FILE: no "options"`},
		{"unknown option", `{"options": {"colour": "blue"}}`, `--answers: unknown option "colour"`},
		{"list for a string", `{"options": {"name": ["demo"]}}`, `--answers: name: want a string`},
		{"bad value", `{"options": {"name": "demo", "tenant-id": "contoso", "client-id": "` + clientID + `"}}`,
			`--answers: tenant-id: "contoso" is not a tenant ID (want a GUID or a verified domain such as contoso.onmicrosoft.com)`},
		{"bad value", `{"options": {"name": "demo", "auth": "multi-org", "client-id": "` + clientID + `", "api": "custom"}}`,
			`--answers: called-api-url: --api custom needs the API: --called-api-url and --called-api-scopes, or --downstream-api`},
		{"required option missing", `{"options": {"name": "demo"}}`, `missing required flags: --tenant-id, --client-id (give them, or run in a terminal to be asked)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			file := filepath.Join(parent, "answers.json")
			if err := os.WriteFile(file, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			res := runCLI(t, "--answers", file, "-o", filepath.Join(parent, "out"))
			if want := "idweb-init: " + strings.ReplaceAll(tc.want, "$FILE", file) + "\n"; res.code != 2 || res.stderr != want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2, stderr:\n%s", res.code, res.stderr, want)
			}
			if names := dirNames(t, parent); !slices.Equal(names, []string{"answers.json"}) {
				t.Errorf("wrote %v", names)
			}
		})
	}
}

// writeAnswers writes a as an answers file and returns its name.
func writeAnswers(t *testing.T, a generator.Answers) string {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), generator.AnswersFile)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
