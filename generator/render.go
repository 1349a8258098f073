package generator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"strings"
	"sync"
	"text/template"

	"golang.org/x/mod/modfile"
	"golang.org/x/tools/imports"
)

// Template delimiters: Go code and html/template files use {{ }}.
const (
	leftDelim  = "[["
	rightDelim = "]]"
)

// Funcs are the functions templates may call besides text/template's own.
var funcs = template.FuncMap{
	"json":  toJSON,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
}

// toJSON marshals v as JSON without escaping <, > and &: "demo" gives
// "\"demo\"", []string{"user.read"} gives ["user.read"].
func toJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// An Output is one rendered file.
type Output struct {
	Path    string // in the project, slash-separated
	Content []byte
}

// Render executes every file of plan, read from fsys, with data, and
// returns the outputs in plan order. Go files are formatted (gofmt, no
// import changes) and must parse; go.mod must parse; .json files must be
// valid JSON. Errors name the template and, for template errors, its line.
func Render(ctx context.Context, fsys fs.FS, plan Plan, data Data) ([]Output, error) {
	return render(ctx, fsys, "", plan, data)
}

// render is Render with prefix put before every template name, so that
// messages name the file as the user sees it ("templates/base/go.mod.tmpl").
// Files are rendered in parallel (formatting Go is most of the time); the
// error returned is that of the first failing file in plan order.
func render(ctx context.Context, fsys fs.FS, prefix string, plan Plan, data Data) ([]Output, error) {
	root, err := parsePartials(fsys, prefix, plan.Partials)
	if err != nil {
		return nil, err
	}
	out := make([]Output, len(plan.Files))
	errs := make([]error, len(plan.Files))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, f := range plan.Files {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = renderFile(ctx, fsys, prefix, root, f, data)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// renderFile renders one file with a clone of root, the partials.
func renderFile(ctx context.Context, fsys fs.FS, prefix string, root *template.Template, f File, data Data) (Output, error) {
	if err := ctx.Err(); err != nil {
		return Output{}, err
	}
	src, err := fs.ReadFile(fsys, f.Template)
	if err != nil {
		return Output{}, err
	}
	name := prefix + f.Template
	t, err := root.Clone()
	if err != nil {
		return Output{}, err
	}
	if _, err := t.New(name).Parse(string(src)); err != nil {
		return Output{}, err // "template: templates/base/main.go.tmpl:12: ..."
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return Output{}, err // "template: templates/base/main.go.tmpl:12:3: executing ..."
	}
	content, err := check(f.Path, buf.Bytes())
	if err != nil {
		return Output{}, fmt.Errorf("%s (rendered from %s): %w", f.Path, name, err)
	}
	return Output{Path: f.Path, Content: content}, nil
}

// parsePartials parses every partial into one template set, which each
// file's set is cloned from. Two partials defining the same block is an
// error: text/template would silently keep the last one.
func parsePartials(fsys fs.FS, prefix string, partials []string) (*template.Template, error) {
	root := template.New("").Delims(leftDelim, rightDelim).Funcs(funcs)
	definedBy := map[string]string{}
	for _, p := range partials {
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		name := prefix + p
		alone, err := template.New(name).Delims(leftDelim, rightDelim).Funcs(funcs).Parse(string(src))
		if err != nil {
			return nil, err
		}
		for _, d := range alone.Templates() {
			if d.Name() == name {
				continue
			}
			if prev, ok := definedBy[d.Name()]; ok {
				return nil, fmt.Errorf("%s and %s both define %q", prev, name, d.Name())
			}
			definedBy[d.Name()] = name
		}
		if _, err := root.New(name).Parse(string(src)); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// check validates (and for Go, formats) one rendered file.
func check(p string, content []byte) ([]byte, error) {
	switch {
	case strings.HasSuffix(p, ".go"):
		// FormatOnly: gofmt and sort imports, never look for packages.
		opts := &imports.Options{FormatOnly: true, Comments: true, TabIndent: true, TabWidth: 8}
		out, err := imports.Process(p, content, opts)
		if err != nil {
			return nil, fmt.Errorf("not valid Go: %w", err)
		}
		return out, nil
	case path.Base(p) == "go.mod":
		if _, err := modfile.Parse(p, content, nil); err != nil {
			return nil, fmt.Errorf("not a valid go.mod: %w", err)
		}
	case strings.HasSuffix(p, ".json"):
		var v any
		if err := json.Unmarshal(content, &v); err != nil {
			return nil, fmt.Errorf("not valid JSON: %s", jsonError(content, err))
		}
	}
	return content, nil
}

// jsonError adds the line number to a JSON syntax error.
func jsonError(content []byte, err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		line := 1 + bytes.Count(content[:se.Offset], []byte("\n"))
		return fmt.Sprintf("line %d: %v", line, err)
	}
	return err.Error()
}
