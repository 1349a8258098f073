package main

import (
	"regexp"
	"strings"

	"github.com/idweb-init/idweb-init/generator"
	"github.com/idweb-init/idweb-init/internal/prompt"
)

// equivalentCommand is the command line that generates the same project
// without asking anything: every option of the model that applies and
// differs from its default (a list's items each with its flag), the other
// flags that are not at their defaults, and -o.
func equivalentCommand(o generator.Options, f *genFlags) string {
	args := []string{"idweb-init", "--yes"}
	for i := range generator.Model {
		opt := &generator.Model[i]
		if !opt.Applies(&o) {
			continue
		}
		v := opt.Get(&o)
		if opt.Kind == generator.List {
			for _, item := range v {
				args = append(args, "--"+opt.Name, item)
			}
			continue
		}
		if len(v) > 0 && v[0] != prompt.Default(opt, &o) {
			args = append(args, "--"+opt.Name, v[0])
		}
	}
	if o.TemplatesDir != "" {
		args = append(args, "--templates", o.TemplatesDir)
	}
	if o.Force {
		args = append(args, "--force")
	}
	if o.DryRun {
		args = append(args, "--dry-run")
	}
	if f.tidy {
		args = append(args, "--tidy")
	}
	if f.git != gitOption.Default {
		args = append(args, "--git", f.git)
	}
	output := o.Output
	if output == "" {
		output = o.Name
	}
	args = append(args, "-o", output)
	for i, s := range args {
		args[i] = shellQuote(s)
	}
	return strings.Join(args, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
