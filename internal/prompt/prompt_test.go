package prompt

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/idweb-init/idweb-init/generator"
)

// update is defined so that "go test ./... -run Golden -update" works;
// cmd/idweb-init uses it.
var _ = flag.Bool("update", false, "rewrite golden files (used by cmd/idweb-init)")

// script is a Prompter that answers from a list, like a user would: an
// empty answer takes the default, and an answer the question's validator
// rejects is followed by the next one.
type script struct {
	t        *testing.T
	answers  map[string][]string // by message
	asked    []string            // messages, in order
	defaults map[string]string   // the default offered, by message
	rejected []string            // validation errors seen
}

func (s *script) next(msg string) (string, bool) {
	as := s.answers[msg]
	if len(as) == 0 {
		return "", false
	}
	s.answers[msg] = as[1:]
	return as[0], true
}

func (s *script) Input(q Input) (string, error) {
	s.asked = append(s.asked, q.Message)
	s.defaults[q.Message] = q.Default
	for {
		ans, ok := s.next(q.Message)
		if !ok {
			s.t.Fatalf("no answer left for %q", q.Message)
		}
		if ans == "^C" {
			return "", ErrInterrupted
		}
		if ans == "" {
			ans = q.Default
		}
		if err := q.Validate(ans); err != nil {
			s.rejected = append(s.rejected, err.Error())
			continue
		}
		return ans, nil
	}
}

func (s *script) Select(q Select) (string, error) {
	s.asked = append(s.asked, q.Message)
	s.defaults[q.Message] = q.Default
	if q.Help == "" || len(q.Options) == 0 {
		s.t.Errorf("select %q has no help or no options", q.Message)
	}
	ans, _ := s.next(q.Message)
	if ans == "" {
		ans = q.Default
		if ans == "" {
			ans = q.Options[0].Value
		}
	}
	return ans, nil
}

func newScript(t *testing.T, answers map[string][]string) *script {
	return &script{t: t, answers: answers, defaults: map[string]string{}}
}

func given(flags ...string) func(string) bool {
	return func(f string) bool { return slices.Contains(flags, f) }
}

func TestAskEverything(t *testing.T) {
	out := filepath.Join(t.TempDir(), "my-app")
	s := newScript(t, map[string][]string{
		"Project name:":            {"bad name", "my-app"},
		"Go module path:":          {""}, // take the default: the name
		"Tenant ID:":               {"contoso", "contoso.onmicrosoft.com"},
		"Application (client) ID:": {"abc", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
		"Output directory:":        {out},
	})
	var o generator.Options
	asked, err := Ask(s, &o, given())
	if err != nil {
		t.Fatal(err)
	}
	wantAsked := []string{"name", "module", "tenant-id", "client-id", "credential", "cache", "calls-graph", "output"}
	if !slices.Equal(asked, wantAsked) {
		t.Errorf("asked %v, want %v", asked, wantAsked)
	}
	want := generator.Options{
		Name: "my-app", Module: "my-app", Output: out,
		TenantID: "contoso.onmicrosoft.com", ClientID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		Credential: generator.CredentialClientSecret, Cache: generator.CacheMemory, API: generator.APIGraph,
	}
	if o != want {
		t.Errorf("options = %+v\nwant      %+v", o, want)
	}
	if s.defaults["Output directory:"] != "my-app" || s.defaults["Go module path:"] != "my-app" {
		t.Errorf("defaults offered = %v, want the name for module and output", s.defaults)
	}
	// The prompt rejects with the generator's own validators.
	wantRejected := []string{
		`"bad name" is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')`,
		`"contoso" is not a tenant ID (want a GUID, a verified domain such as contoso.onmicrosoft.com, common, organizations or consumers)`,
		`"abc" is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`,
	}
	if !slices.Equal(s.rejected, wantRejected) {
		t.Errorf("rejected:\n%s\nwant:\n%s", strings.Join(s.rejected, "\n"), strings.Join(wantRejected, "\n"))
	}
}

func TestAskOnlyWhatIsMissing(t *testing.T) {
	s := newScript(t, map[string][]string{"Go module path:": {"example.com/demo"}})
	o := generator.Options{Name: "demo", TenantID: "common", ClientID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", Output: "x"}
	asked, err := Ask(s, &o, given("name", "tenant-id", "client-id", "credential", "cache", "calls-graph", "output"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(asked, []string{"module"}) || o.Module != "example.com/demo" {
		t.Errorf("asked %v, module %q; want only module", asked, o.Module)
	}
}

func TestAskOutputMustBeEmpty(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newScript(t, map[string][]string{"Output directory:": {full, filepath.Join(full, "sub")}})
	o := generator.Options{Name: "demo"}
	if _, err := Ask(s, &o, given("name", "module", "tenant-id", "client-id", "credential", "cache", "calls-graph")); err != nil {
		t.Fatal(err)
	}
	if len(s.rejected) != 1 || !strings.Contains(s.rejected[0], "is not empty") || o.Output != filepath.Join(full, "sub") {
		t.Errorf("rejected %v, output %q", s.rejected, o.Output)
	}
}

func TestAskInterrupted(t *testing.T) {
	s := newScript(t, map[string][]string{"Project name:": {"^C"}})
	var o generator.Options
	if _, err := Ask(s, &o, given()); !errors.Is(err, ErrInterrupted) {
		t.Errorf("Ask = %v, want ErrInterrupted", err)
	}
}
