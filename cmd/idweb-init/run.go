package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/idweb-init/idweb-init/generator"
	"github.com/idweb-init/idweb-init/internal/prompt"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // anything but a usage error
	exitUsage   = 2 // bad flags, arguments or option values
)

// run runs idweb-init with args (without the program name) and returns
// the exit code. When isTerminal is true (stdin and stdout are terminals)
// it asks for the options the flags did not give.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, isTerminal bool) int {
	a := &app{stdout: stdout, stderr: stderr}
	if isTerminal {
		if s, ok := prompt.NewSurvey(stdin, stdout, stderr); ok {
			a.prompter = s
		}
	}
	return a.run(ctx, args)
}

// app is one run of the command.
type app struct {
	stdout, stderr io.Writer
	prompter       prompt.Prompter // nil: never ask
}

func (a *app) run(ctx context.Context, args []string) int {
	if args == nil {
		args = []string{} // cobra would read os.Args
	}
	root := a.rootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code, msg := describe(err)
	fmt.Fprintf(a.stderr, "idweb-init: %s\n", oneLine(msg))
	return code
}

// errInterrupted is returned when Ctrl-C stops a run before the project
// is written (at a question, or while generating).
var errInterrupted = errors.New("interrupted; nothing was written")

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// describe returns the exit code for err and its one-line message, which
// names the flag at fault and what it allows.
func describe(err error) (int, string) {
	var (
		usage    *usageError
		field    *generator.FieldError
		invalid  *pflag.InvalidValueError
		required *pflag.ValueRequiredError
		notExist *pflag.NotExistError
		syntax   *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &usage):
		return exitUsage, usage.msg
	case errors.As(err, &field):
		return exitUsage, "--" + field.Error()
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		if f.Value.Type() == "bool" {
			return exitUsage, fmt.Sprintf("--%s: %q is not a boolean (want true or false)", f.Name, invalid.GetValue())
		}
		return exitUsage, "--" + f.Name + ": " + errors.Unwrap(invalid).Error()
	case errors.As(err, &required):
		return exitUsage, "--" + required.GetFlag().Name + ": needs a value"
	case errors.As(err, &notExist):
		return exitUsage, notExist.Error() + " (see idweb-init --help)"
	case errors.As(err, &syntax):
		return exitUsage, syntax.Error()
	case errors.Is(err, prompt.ErrInterrupted), errors.Is(err, errInterrupted):
		return exitFailure, errInterrupted.Error()
	}
	return exitFailure, err.Error()
}

// oneLine joins the lines of a message with "; ".
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "; ")
}

// noArgs rejects positional arguments as a usage error, suggesting a
// command for a misspelt one, and --name for what looks like a project
// name given to the root command ("idweb-init demo").
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default for unknown commands
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return usageErrorf("unexpected argument %q (did you mean %q?)", args[0], s[0])
	}
	if !cmd.HasParent() && !cmd.Flags().Changed("name") && generator.ValidateName(args[0]) == nil {
		return usageErrorf("unexpected argument %q (did you mean --name %s?)", args[0], args[0])
	}
	return usageErrorf("unexpected argument %q", args[0])
}

// flagError makes every flag parsing error a usage error; describe
// formats the typed pflag errors.
func flagError(_ *cobra.Command, err error) error {
	var (
		invalid  *pflag.InvalidValueError
		required *pflag.ValueRequiredError
		notExist *pflag.NotExistError
		syntax   *pflag.InvalidSyntaxError
	)
	if errors.As(err, &invalid) || errors.As(err, &required) || errors.As(err, &notExist) || errors.As(err, &syntax) {
		return err
	}
	return &usageError{msg: err.Error()}
}
