package main

import "github.com/idweb-init/idweb-init/generator"

// readAnswers reads the answers file of --answers; its problems are
// usage errors naming the flag.
func readAnswers(file string) (generator.Answers, error) {
	a, err := generator.ReadAnswers(file)
	if err != nil {
		return a, usageErrorf("--answers: %s", oneLine(err.Error()))
	}
	return a, nil
}

// applyAnswers sets in o the options of the answers file that the flags
// did not give (given, by name, which it completes). Flags win: an
// option of the file that applied there but not with the flags (the
// file's custom API when --calls-graph is given) is dropped.
func applyAnswers(a generator.Answers, o *generator.Options, given map[string]bool) error {
	var file generator.Options
	if err := a.Apply(&file, nil); err != nil {
		return err
	}
	if err := a.Apply(o, func(name string) bool { return given[name] }); err != nil {
		return err
	}
	for name := range a.Options {
		if given[name] {
			continue
		}
		if opt := generator.Lookup(name); opt.Applies(&file) && !opt.Applies(o) {
			opt.Set(o, nil)
			continue
		}
		given[name] = true
	}
	return nil
}
