package generator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
)

// AnswersFile is where a generated project records how it was made, at
// its root. "idweb-init --answers FILE" makes the same tree again.
const AnswersFile = ".idweb-init.json"

// Answers are the generator's version and the options that made a
// project: every option of Model that applies, by name, with its value (a
// string, or a list of strings). No secrets: no option holds one.
type Answers struct {
	Generator string         `json:"generator"`
	Options   map[string]any `json:"options"`
}

// NewAnswers returns the answers that reproduce o (with its defaults).
func NewAnswers(o Options) Answers {
	o = o.withDefaults()
	a := Answers{Generator: "idweb-init " + Version(), Options: map[string]any{}}
	for i := range Model {
		opt := &Model[i]
		if !opt.Applies(&o) {
			continue
		}
		v := opt.Get(&o)
		switch {
		case opt.Kind == List:
			if len(v) > 0 {
				a.Options[opt.Name] = v
			}
		case len(v) > 0:
			a.Options[opt.Name] = v[0]
		}
	}
	return a
}

// ReadAnswers reads an answers file.
func ReadAnswers(file string) (Answers, error) {
	var a Answers
	b, err := os.ReadFile(file)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("%s: %w", file, err)
	}
	if a.Options == nil {
		return a, fmt.Errorf("%s: no \"options\"", file)
	}
	return a, nil
}

// Apply sets o's options from the answers; given reports the options
// already set otherwise (flags), which win. Unknown names and values of
// the wrong shape are errors naming the option.
func (a Answers) Apply(o *Options, given func(name string) bool) error {
	names := make([]string, 0, len(a.Options))
	for n := range a.Options {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		var opt *Option
		for i := range Model {
			if Model[i].Name == name {
				opt = &Model[i]
			}
		}
		if opt == nil {
			return fieldError("answers", fmt.Errorf("unknown option %q", name))
		}
		if given != nil && given(name) {
			continue
		}
		var v []string
		switch x := a.Options[name].(type) {
		case string:
			if opt.Kind == List {
				return fieldError("answers", fmt.Errorf("%s: want a list of strings", name))
			}
			v = []string{x}
		case []any:
			if opt.Kind != List {
				return fieldError("answers", fmt.Errorf("%s: want a string", name))
			}
			for _, item := range x {
				s, ok := item.(string)
				if !ok {
					return fieldError("answers", fmt.Errorf("%s: want a list of strings", name))
				}
				v = append(v, s)
			}
		default:
			return fieldError("answers", errors.New(name+": want a string or a list of strings"))
		}
		opt.Set(o, v)
	}
	return nil
}
