package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idweb-init/idweb-init/generator"
)

// enumValue is a flag whose allowed values are a registry of choices: the
// same list gives the help text (the value placeholder), the validation
// (Set) and the shell completion.
type enumValue[T ~string] struct {
	p       *T
	choices []generator.Choice[T]
}

func (e *enumValue[T]) String() string { return string(*e.p) }

func (e *enumValue[T]) Set(s string) error {
	c, err := generator.Lookup(e.choices, s)
	if err != nil {
		return err
	}
	*e.p = c.Value
	return nil
}

// Type is the value placeholder in the help: "client-secret", "init|skip".
func (e *enumValue[T]) Type() string {
	return strings.Join(generator.Values(e.choices), "|")
}

func (e *enumValue[T]) complete(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	cs := make([]cobra.Completion, len(e.choices))
	for i, c := range e.choices {
		cs[i] = cobra.CompletionWithDesc(string(c.Value), c.Title)
	}
	return cs, cobra.ShellCompDirectiveNoFileComp
}

// addEnum defines an enum flag on cmd with default def.
func addEnum[T ~string](cmd *cobra.Command, p *T, name string, def T, choices []generator.Choice[T], usage string) {
	*p = def
	v := &enumValue[T]{p: p, choices: choices}
	cmd.Flags().Var(v, name, usage)
	_ = cmd.RegisterFlagCompletionFunc(name, v.complete)
}

// checkedString is a string flag checked when it is set, so that a bad
// value fails before any question is asked or any file looked at.
type checkedString struct {
	p     *string
	check func(string) error
}

func (c *checkedString) String() string { return *c.p }
func (c *checkedString) Type() string   { return "string" }

func (c *checkedString) Set(s string) error {
	if err := c.check(s); err != nil {
		return err
	}
	*c.p = s
	return nil
}

// notEmpty rejects an empty value: "-o ”" must not mean the default.
func notEmpty(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// addChecked defines a checked string flag on cmd.
func addChecked(cmd *cobra.Command, p *string, name, def string, check func(string) error, usage string) {
	*p = def
	cmd.Flags().Var(&checkedString{p: p, check: check}, name, usage)
}

// gitMode is what --git does after writing.
type gitMode string

var gitModes = []generator.Choice[gitMode]{
	{Value: "init", Title: "git init, add and commit", Help: "Make the project a git repository with one commit."},
	{Value: "skip", Title: "leave git alone", Help: "Do not run git."},
}
