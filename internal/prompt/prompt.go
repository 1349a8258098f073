// Package prompt asks the questions of an interactive idweb-init run.
//
// The questions come from generator.Model (see Ask); they go through the
// small Prompter interface: Survey implements it with
// github.com/AlecAivazis/survey/v2 on a terminal, and tests implement it
// with scripted answers (package prompttest). Swapping the prompt library
// means writing one other Prompter.
package prompt

import "errors"

// ErrInterrupted is returned when the user interrupts a question (Ctrl-C).
var ErrInterrupted = errors.New("interrupted")

// A Prompter asks one question and returns the answer.
type Prompter interface {
	Input(q Input) (string, error)
	Select(q Select) (string, error)
	Confirm(q Confirm) (bool, error)
}

// Input asks for a line of text. An empty answer takes Default; the
// answer is asked again until Validate accepts it.
type Input struct {
	Message  string
	Default  string
	Help     string // shown when the user types '?'
	Validate func(string) error
}

// Select asks to choose one of Options.
type Select struct {
	Message string
	Options []Option
	Default string // a Value; empty: the first option
	Help    string
}

// An Option is one choice of a Select.
type Option struct {
	Value string
	Title string
}

// Confirm asks a yes/no question.
type Confirm struct {
	Message string
	Default bool
	Help    string
}
