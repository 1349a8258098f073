package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/idweb-init/idweb-init/internal/prompt/prompttest"
)

// TestEquivalentCommand answers the questions with a script, then runs
// the equivalent command it prints without a terminal: both runs (dry
// runs) must plan the same files.
func TestEquivalentCommand(t *testing.T) {
	base := map[string][]string{
		"Project name:":            {"demo"},
		"Tenant ID:":               {tenantID},
		"Application (client) ID:": {clientID},
	}
	tests := []struct {
		name    string
		args    []string
		answers map[string][]string
		want    string // the command's flags, between --yes and --dry-run
	}{
		{"defaults", nil, nil, "--name demo --tenant-id " + tenantID + " --client-id " + clientID},
		{"no API", nil, map[string][]string{"API to call:": {"none"}, "Go module path:": {"example.com/demo"}},
			"--name demo --module example.com/demo --tenant-id " + tenantID + " --client-id " + clientID + " --api none"},
		{"advanced flags given", []string{"--instance", "https://login.microsoftonline.us/", "--graph-client", "sdk"}, nil,
			"--name demo --tenant-id " + tenantID + " --client-id " + clientID + " --instance https://login.microsoftonline.us/ --graph-client sdk"},
		{"one custom API", nil, map[string][]string{
			"API to call:":                        {"custom"},
			"The API's base URL:":                 {"https://orders.contoso.com/api"},
			"The API's scopes (space-separated):": {"api://" + apiID + "/Orders.Read api://" + apiID + "/Orders.Write"},
		}, "--name demo --tenant-id " + tenantID + " --client-id " + clientID + " --api custom --called-api-url https://orders.contoso.com/api" +
			" --called-api-scopes api://" + apiID + "/Orders.Read --called-api-scopes api://" + apiID + "/Orders.Write"},
		{"two APIs", nil, map[string][]string{
			"API to call:":                        {"custom"},
			"Name of the API's settings section:": {"Orders"},
			"The API's base URL:":                 {"https://orders.contoso.com/api", "https://stock.contoso.com"},
			"The API's scopes (space-separated):": {"api://" + apiID + "/Orders.Read"},
			"Add another API?":                    {"y", "n"},
			"Name of the API:":                    {"Stock"},
			"Call it as the app (with the app's own token, not the user's)?": {"y"},
			"The API's scope (api://<app id>/.default):":                     {"api://stock/.default"},
		}, "--name demo --tenant-id " + tenantID + " --client-id " + clientID + " --api custom" +
			" --downstream-api 'Orders=https://orders.contoso.com/api|api://" + apiID + "/Orders.Read'" +
			" --downstream-api 'Stock=https://stock.contoso.com|api://stock/.default|app'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "demo")
			answers := map[string][]string{"Output directory:": {out}}
			for _, m := range []map[string][]string{base, tc.answers} {
				for k, v := range m {
					answers[k] = slices.Clone(v)
				}
			}
			var stdout, stderr bytes.Buffer
			a := &app{stdout: &stdout, stderr: &stderr, prompter: prompttest.New(t, answers)}
			if code := a.run(t.Context(), append(tc.args, "--dry-run")); code != 0 {
				t.Fatalf("interactive run: exit %d: %s", code, stderr.String())
			}
			head, plan, ok := strings.Cut(stdout.String(), "\n\n")
			cmdline := strings.TrimSpace(strings.TrimPrefix(head, "\nEquivalent command:\n"))
			if !ok || !strings.HasPrefix(head, "\nEquivalent command:\n  idweb-init ") {
				t.Fatalf("no equivalent command in:\n%s", stdout.String())
			}
			if want := "idweb-init --yes " + tc.want + " --dry-run -o " + out; cmdline != want {
				t.Errorf("equivalent command:\n%s\nwant:\n%s", cmdline, want)
			}

			res := runCLI(t, shellSplit(t, cmdline)[1:]...)
			if res.code != 0 {
				t.Fatalf("equivalent command: exit %d: %s", res.code, res.stderr)
			}
			if res.stdout != plan {
				t.Errorf("the equivalent command plans:\n%s\nthe interactive run:\n%s", res.stdout, plan)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for s, want := range map[string]string{
		"demo":                       "demo",
		"https://a.example.com/x":    "https://a.example.com/x",
		"A=https://a.example.com|s":  "'A=https://a.example.com|s'",
		"a b":                        "'a b'",
		"it's":                       `'it'\''s'`,
		"":                           "''",
		"api://" + apiID + "/x.Read": "api://" + apiID + "/x.Read",
	} {
		if got := shellQuote(s); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", s, got, want)
		}
		if got := shellSplit(t, "x "+shellQuote(s)); len(got) != 2 || got[1] != s {
			t.Errorf("shellSplit(shellQuote(%q)) = %q", s, got)
		}
	}
}

// shellSplit splits a command line quoted by shellQuote into arguments.
func shellSplit(t *testing.T, s string) []string {
	t.Helper()
	var (
		args    []string
		cur     strings.Builder
		inArg   bool
		inQuote bool
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\'':
			inQuote = false
		case inQuote:
			cur.WriteByte(c)
		case c == '\'':
			inQuote, inArg = true, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == ' ':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inQuote {
		t.Fatalf("unterminated quote in %s", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}
