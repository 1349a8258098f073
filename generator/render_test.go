package generator

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

func renderTree(t *testing.T, m fstest.MapFS) (map[string]string, error) {
	t.Helper()
	p, err := NewPlan(m, validOptions())
	if err != nil {
		t.Fatal(err)
	}
	out, err := render(context.Background(), m, "tree/", p, NewData(validOptions()))
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, o := range out {
		files[o.Path] = string(o.Content)
	}
	return files, nil
}

func TestRender(t *testing.T) {
	m := tree()
	m["base/main.go.tmpl"] = &fstest.MapFile{Data: []byte("package main\nimport (\n\"os\"\n\"fmt\"\n)\nfunc main(){fmt.Println([[json .Name]], [[upper .Name | json]], [[lower \"X\" | json]]);os.Exit(0)}\n")}
	files, err := renderTree(t, m)
	if err != nil {
		t.Fatal(err)
	}
	wantMain := "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() { fmt.Println(\"demo\", \"DEMO\", \"x\"); os.Exit(0) }\n"
	if files["main.go"] != wantMain {
		t.Errorf("main.go (gofmt'ed, imports sorted):\n%s\nwant:\n%s", files["main.go"], wantMain)
	}
	if want := `{"secret": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}` + "\n"; files["config.json"] != want {
		t.Errorf("config.json (from a partial) = %q, want %q", files["config.json"], want)
	}
	if want := "module demo\n\ngo 1.25.0\n"; files["go.mod"] != want {
		t.Errorf("go.mod = %q, want %q", files["go.mod"], want)
	}
}

func TestRenderDeterministic(t *testing.T) {
	a, err := renderTree(t, tree())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := renderTree(t, tree())
	for k := range a {
		if a[k] != b[k] {
			t.Errorf("%s differs between two renders", k)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		src  string
		want string
	}{
		{"syntax", "base/main.go.tmpl", "package main\n\n[[ if ]]\n", "template: tree/base/main.go.tmpl:3: missing value for if"},
		{"unknown field", "base/main.go.tmpl", "package main\n\n// [[.Nope]]\n", `template: tree/base/main.go.tmpl:3:5: executing "tree/base/main.go.tmpl" at <.Nope>: can't evaluate field Nope in type generator.Data`},
		{"undefined block", "base/config.json.tmpl", "{\n[[template \"nope\" .]]}\n", `template: tree/base/config.json.tmpl:2:11: executing "tree/base/config.json.tmpl" at <{{template "nope" .}}>: template "nope" not defined`},
		{"bad go", "base/main.go.tmpl", "package main\n\nfunc main() {\n", "main.go (rendered from tree/base/main.go.tmpl): not valid Go: main.go:3:15: expected '}', found 'EOF'"},
		{"bad json", "base/config.json.tmpl", "{\n\"a\": 1,\n}\n", "config.json (rendered from tree/base/config.json.tmpl): not valid JSON: line 3: invalid character '}' looking for beginning of object key string"},
		{"bad go.mod", "base/go.mod.tmpl", "module\n", "go.mod (rendered from tree/base/go.mod.tmpl): not a valid go.mod: go.mod:1: usage: module module/path"},
		{"partial defined twice", "cache/memory/_c.tmpl", `[[define "creds"]]x[[end]]`, `tree/cache/memory/_c.tmpl and tree/credential/client-secret/_c.tmpl both define "creds"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tree()
			m[tc.file] = &fstest.MapFile{Data: []byte(tc.src)}
			_, err := renderTree(t, m)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v\nwant    %s", err, tc.want)
			}
		})
	}
}

func TestRenderCancelled(t *testing.T) {
	m := tree()
	p, _ := NewPlan(m, validOptions())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Render(ctx, m, p, NewData(validOptions())); err != context.Canceled {
		t.Errorf("Render with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestJSONFunc(t *testing.T) {
	for in, want := range map[any]string{"a<b>&\"c\"": `"a<b>&\"c\""`, 3: "3"} {
		got, err := toJSON(in)
		if err != nil || got != want {
			t.Errorf("json(%v) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, _ := toJSON([]string{"user.read", "mail.read"}); !strings.EqualFold(got, `["user.read","mail.read"]`) {
		t.Errorf("json(slice) = %s", got)
	}
}
