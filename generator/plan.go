package generator

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// A File is one output file of the project and the template producing it.
type File struct {
	Path     string // in the project, slash-separated: "internal/graph/graph.go"
	Template string // in the template tree: "api/graph/internal/graph/graph.go.tmpl"
}

// A Plan is what a project is made of: every file to write, sorted by
// path, and the partials that are parsed into every file's template set.
type Plan struct {
	Files    []File
	Partials []string // template paths, sorted
}

// Layers returns the template layers that make the project for o: base
// and one directory per option, named for its value.
func Layers(o Options) []string {
	o = o.withDefaults()
	return []string{
		"base",
		"credential/" + string(o.Credential),
		"cache/" + string(o.Cache),
		"api/" + string(o.API),
	}
}

// NewPlan reads the template tree and returns the plan for o: the union
// of the files of its layers, each output at its path inside the layer
// without the trailing ".tmpl". Files whose name starts with '_' are
// partials: they are never output. It is an error for a layer to be
// missing, for a file not to end in ".tmpl" and for two layers to produce
// the same path.
func NewPlan(fsys fs.FS, o Options) (Plan, error) {
	var p Plan
	from := map[string]string{} // output path -> template
	for _, layer := range Layers(o) {
		fi, err := fs.Stat(fsys, layer)
		if err != nil || !fi.IsDir() {
			return Plan{}, fmt.Errorf("no layer %s/ in the template tree", layer)
		}
		err = fs.WalkDir(fsys, layer, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("%s: not a regular file", name)
			}
			rel := strings.TrimPrefix(name, layer+"/")
			if !strings.HasSuffix(rel, ".tmpl") {
				return fmt.Errorf("%s: template file names end in .tmpl", name)
			}
			if strings.HasPrefix(path.Base(rel), "_") {
				p.Partials = append(p.Partials, name)
				return nil
			}
			out := strings.TrimSuffix(rel, ".tmpl")
			if prev, ok := from[out]; ok {
				return fmt.Errorf("%s and %s both produce %s", prev, name, out)
			}
			from[out] = name
			p.Files = append(p.Files, File{Path: out, Template: name})
			return nil
		})
		if err != nil {
			return Plan{}, err
		}
	}
	if len(p.Files) == 0 {
		return Plan{}, errors.New("the template tree produces no files")
	}
	slices.SortFunc(p.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	slices.Sort(p.Partials)
	return p, nil
}
