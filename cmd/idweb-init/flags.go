package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idweb-init/idweb-init/generator"
	"github.com/idweb-init/idweb-init/internal/prompt"
)

// defineModelFlags defines one flag per option of generator.Model on cmd,
// in the model's order, each setting its option in o when given.
func defineModelFlags(cmd *cobra.Command, o *generator.Options) {
	for i := range generator.Model {
		opt := &generator.Model[i]
		v := &optionFlag{
			opt: opt,
			get: func() []string { return opt.Get(o) },
			set: func(v []string) { opt.Set(o, v) },
		}
		f := cmd.Flags().VarPF(v, opt.Name, "", usage(opt))
		switch opt.Kind {
		case generator.Bool:
			f.NoOptDefVal = "true"
		case generator.OneOf, generator.Choices:
			_ = cmd.RegisterFlagCompletionFunc(opt.Name, v.complete)
		}
	}
}

// usage is an option's flag usage: its help, when it applies, and for a
// list that it is repeatable.
func usage(opt *generator.Option) string {
	s := opt.Help
	for _, c := range opt.When {
		s += " (only with --" + c.Option + " " + strings.Join(c.Values, " or ") + ")"
	}
	if (opt.Kind == generator.List || opt.Kind == generator.Choices) && !strings.Contains(s, "repeatable") {
		s += "; repeatable"
	}
	return s
}

// spaceSeparated are the list options whose flag value holds several
// items separated by spaces, as dotnet's --called-api-scopes "s1 s2".
var spaceSeparated = map[string]bool{"called-api-scopes": true}

// itemChecks check the items of list options that have no Check of
// their own in the model.
var itemChecks = map[string]func(string) error{
	"downstream-api": func(s string) error { _, err := generator.ParseDownstreamAPI(s); return err },
}

// optionFlag is the flag of one option: Set checks the value as the
// generator will (a one-of option's values, the option's Check), so a bad
// value fails before any question is asked or any file looked at.
type optionFlag struct {
	opt *generator.Option
	get func() []string
	set func([]string)
}

// String is the flag's value, or the option's default.
func (f *optionFlag) String() string {
	if v := f.get(); len(v) > 0 {
		return strings.Join(v, " ")
	}
	return f.opt.Default
}

// Type is the value placeholder in the help: "graph|custom|none" for a
// one-of option.
func (f *optionFlag) Type() string {
	switch f.opt.Kind {
	case generator.OneOf, generator.Choices:
		return strings.Join(f.opt.ValueNames(), "|")
	case generator.Bool:
		return "bool"
	}
	return "string"
}

func (f *optionFlag) Set(s string) error {
	switch f.opt.Kind {
	case generator.OneOf:
		if _, err := f.opt.Value(s); err != nil {
			return err
		}
	case generator.Choices:
		// Repeated: each value once, in the order given.
		if _, err := f.opt.Value(s); err != nil {
			return err
		}
		if slices.Contains(f.get(), s) {
			return fmt.Errorf("%q is given twice (each may appear once)", s)
		}
		f.set(append(f.get(), s))
		return nil
	case generator.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err // describe says what a boolean is
		}
		s = strconv.FormatBool(b)
	case generator.List:
		items := []string{s}
		if spaceSeparated[f.opt.Name] {
			items = strings.Fields(s)
		}
		if len(items) == 0 {
			return errors.New("must not be empty")
		}
		check := f.opt.Check
		if check == nil {
			check = itemChecks[f.opt.Name]
		}
		for _, item := range items {
			if check == nil {
				continue
			}
			if err := check(item); err != nil {
				return err
			}
		}
		f.set(append(f.get(), items...))
		return nil
	default:
		if f.opt.Check != nil {
			if err := f.opt.Check(s); err != nil {
				return err
			}
		}
	}
	f.set([]string{s})
	return nil
}

// complete lists a one-of option's values with their titles.
func (f *optionFlag) complete(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	cs := make([]cobra.Completion, len(f.opt.Values))
	for i, v := range f.opt.Values {
		cs[i] = cobra.CompletionWithDesc(v.Name, v.Title)
	}
	return cs, cobra.ShellCompDirectiveNoFileComp
}

// gitOption is --git, a one-of flag outside the model (it is not an
// answer about the project, and not in the answers file).
var gitOption = generator.Option{
	Name: "git", Kind: generator.OneOf, Default: "skip",
	Help: "what to do with git after writing the project (a failure only warns)",
	Values: []generator.Value{
		{Name: "init", Title: "git init, add and commit", Help: "Make the project a git repository with one commit."},
		{Name: "skip", Title: "leave git alone", Help: "Do not run git."},
	},
}

// defineEnum defines a one-of flag outside the model, with completion.
func defineEnum(cmd *cobra.Command, p *string, opt *generator.Option) {
	*p = opt.Default
	v := &optionFlag{opt: opt, get: func() []string { return []string{*p} }, set: func(v []string) { *p = v[0] }}
	cmd.Flags().Var(v, opt.Name, opt.Help)
	_ = cmd.RegisterFlagCompletionFunc(opt.Name, v.complete)
}

// pathFlag is a path flag checked when it is set.
type pathFlag struct {
	p     *string
	typ   string // the placeholder: DIR, FILE
	check func(string) error
}

func (f *pathFlag) String() string { return *f.p }
func (f *pathFlag) Type() string   { return f.typ }

func (f *pathFlag) Set(s string) error {
	if s == "" {
		return errors.New("must not be empty") // "-o ''" must not mean the default
	}
	if f.check != nil {
		if err := f.check(s); err != nil {
			return err
		}
	}
	*f.p = s
	return nil
}

// definePath defines a path flag.
func definePath(cmd *cobra.Command, p *string, name, short, typ string, check func(string) error, usage string) {
	cmd.Flags().VarP(&pathFlag{p: p, typ: typ, check: check}, name, short, usage)
}

// outputCheck rejects an existing file as the output directory; whether
// a directory is empty is for Generate, which knows --force.
var outputCheck = prompt.CheckNotFile
