package generator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strconv"
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
	"json":        toJSON,
	"include":     func(string, string, any) (string, error) { return "", nil }, // replaced per file
	"defined":     func(string, []Value) bool { return false },                  // replaced per file
	"join":        strings.Join,
	"inc":         func(i int) int { return i + 1 },
	"jsonIndent":  toJSONIndent,
	"apiSections": apiSections,
	"devidpAPIs":  devidpAPIs,
	"lower":       strings.ToLower,
	"upper":       strings.ToUpper,
	"dnsName":     dnsName,
}

// dnsName turns a project name into a Kubernetes object name (an RFC 1123
// label): lower case, '-' for '_' and '.', at most 63 characters.
func dnsName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
	if len(s) > 63 {
		s = s[:63]
	}
	if s = strings.Trim(s, "-"); s == "" {
		return "app"
	}
	return s
}

// toJSON marshals v as JSON without escaping <, > and &: "demo" gives
// "\"demo\"", []string{"user.read"} gives ["user.read"].
func toJSON(v any) (string, error) {
	b, err := marshal(v)
	return string(b), err
}

// toJSONIndent marshals v as indented JSON (two spaces), without escaping
// <, > and &.
func toJSONIndent(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// An Output is one rendered file.
type Output struct {
	Path    string // in the project, slash-separated
	Content []byte
	// Skip is set for a template that renders to nothing but white space:
	// it produces no file (a template whose whole content applies only to
	// some combinations, such as tests of API calls for the user).
	Skip bool
}

// Render makes every file of plan from tree t for data and returns the
// outputs in plan order: Go files are copied with their imports rewritten
// to data.Module, templates executed, and go.mod and go.sum computed for
// the outside packages the project imports. Go files are formatted (gofmt)
// and must parse; go.mod must parse; .json files must be valid JSON; no
// template text may be left. Errors name the file and, for template
// errors, its line.
func Render(ctx context.Context, t *Tree, plan Plan, data Data) ([]Output, error) {
	out, imports, err := renderFiles(ctx, t, plan, data)
	if err != nil {
		return nil, err
	}
	gomod, gosum, err := moduleFiles(t, data.Module, imports)
	if err != nil {
		return nil, err
	}
	for i, f := range plan.Files {
		switch f.Path {
		case "go.mod":
			if _, err := modfile.Parse("go.mod", gomod, nil); err != nil {
				return nil, fmt.Errorf("go.mod: %w", err)
			}
			out[i] = Output{Path: f.Path, Content: gomod}
		case "go.sum":
			out[i] = Output{Path: f.Path, Content: gosum}
		}
	}
	return out, nil
}

// renderFiles makes every file of plan but go.mod and go.sum, and returns
// the outside packages the project imports, sorted.
func renderFiles(ctx context.Context, t *Tree, plan Plan, data Data) ([]Output, []string, error) {
	root, err := parsePartials(t.FS, t.Label, plan.Partials)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Output, len(plan.Files))
	errs := make([]error, len(plan.Files))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	// Files are made in parallel (formatting Go is most of the time); the
	// error returned is that of the first failing file in plan order.
	for i, f := range plan.Files {
		if f.Kind == GoModule {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = renderFile(ctx, t, root, f, data)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	// The root's Go files are templates: what they import is known only
	// now. Their packages must be selected; their outside imports join
	// the packages' for go.mod.
	imports := slices.Clone(plan.Imports)
	for i, f := range plan.Files {
		if f.Kind != Template || !strings.HasSuffix(f.Path, ".go") || out[i].Skip {
			continue
		}
		pf, err := parser.ParseFile(token.NewFileSet(), f.Path, out[i].Content, parser.ImportsOnly)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		for _, spec := range pf.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			switch {
			case imp == data.Module || strings.HasPrefix(imp, data.Module+"/"):
				dir := strings.TrimPrefix(strings.TrimPrefix(imp, data.Module), "/")
				if !slices.Contains(plan.Packages, dir) {
					return nil, nil, fmt.Errorf("%s (rendered from %s%s) imports %s, which these options do not select", f.Path, t.Label, f.Source, dir)
				}
			case !isStd(imp) && !slices.Contains(imports, imp):
				imports = append(imports, imp)
			}
		}
	}
	slices.Sort(imports)
	return out, imports, nil
}

// renderFile makes one file with a clone of root, the partials.
func renderFile(ctx context.Context, t *Tree, root *template.Template, f File, data Data) (Output, error) {
	if err := ctx.Err(); err != nil {
		return Output{}, err
	}
	src, err := fs.ReadFile(t.FS, f.Source)
	if err != nil {
		return Output{}, err
	}
	name := t.Label + f.Source
	var content []byte
	switch f.Kind {
	case Copy:
		if !strings.HasSuffix(f.Path, ".go") {
			content = src
			break
		}
		// The tree's Go files are gofmt'ed where they live; rewriting
		// their imports keeps them so (and parses them), so they are
		// not formatted again.
		content, err = rewriteImports(name, src, t.Module, data.Module)
		if err != nil {
			return Output{}, fmt.Errorf("%s: %w", name, err)
		}
		return Output{Path: f.Path, Content: content}, nil
	case Template:
		tmpl, err := root.Clone()
		if err != nil {
			return Output{}, err
		}
		tmpl.Funcs(template.FuncMap{"include": includeFunc(tmpl), "defined": definedFunc(tmpl)})
		if _, err := tmpl.New(name).Parse(string(src)); err != nil {
			return Output{}, err // "template: templates/app/main.go.tmpl:12: ..."
		}
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, name, data); err != nil {
			return Output{}, err // "template: templates/app/main.go.tmpl:12:3: executing ..."
		}
		content = buf.Bytes()
		if len(bytes.TrimSpace(content)) == 0 {
			return Output{Path: f.Path, Skip: true}, nil
		}
		if strings.HasSuffix(f.Path, ".go") {
			// Templates of Go files import the tree's packages by the
			// tree's path, like its packages do.
			if content, err = rewriteImports(name, content, t.Module, data.Module); err != nil {
				return Output{}, fmt.Errorf("%s (rendered from %s): not valid Go: %w", f.Path, name, err)
			}
		} else if bytes.Contains(content, []byte(leftDelim)) {
			return Output{}, fmt.Errorf("%s (rendered from %s): template text %q left in the output", f.Path, name, leftDelim)
		}
	}
	content, err = check(f.Path, content)
	if err != nil {
		return Output{}, fmt.Errorf("%s (from %s): %w", f.Path, name, err)
	}
	return Output{Path: f.Path, Content: content}, nil
}

// definedFunc is the templates' defined: [[if defined "sharedCache" .Values]]
// reports whether one of the selected values defines the block, for files
// that only some values' projects have (a whole-app test of shared caches).
func definedFunc(t *template.Template) func(block string, values []Value) bool {
	return func(block string, values []Value) bool {
		for _, v := range values {
			if t.Lookup(block+":"+v.Dir) != nil {
				return true
			}
		}
		return false
	}
}

// includeFunc is the templates' include: [[include "wiring" .Dir $]]
// executes the block "wiring:<dir>" that a value's _partials.tmpl defines,
// or gives "" when it defines none, so a shared template can gather what
// each selected value adds without naming the values.
func includeFunc(t *template.Template) func(block, dir string, data any) (string, error) {
	return func(block, dir string, data any) (string, error) {
		name := block + ":" + dir
		if t.Lookup(name) == nil {
			return "", nil
		}
		var b bytes.Buffer
		err := t.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
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
