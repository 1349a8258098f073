// Package prompttest answers the questions of package prompt from a
// script, for tests.
package prompttest

import (
	"slices"
	"strings"
	"testing"

	"github.com/idweb-init/idweb-init/internal/prompt"
)

// Interrupt, as an answer, interrupts the question as Ctrl-C does.
const Interrupt = "^C"

// Script is a prompt.Prompter that answers as a user would, from Answers
// (by question message, in order): an empty answer, or none left, takes
// the default; an answer the question's validator rejects is recorded in
// Rejected and the next one is taken. A confirmation takes y, yes, n or no.
type Script struct {
	T        testing.TB
	Answers  map[string][]string
	Asked    []string          // messages, in order
	Defaults map[string]string // the default offered, by message
	Options  map[string][]string
	Rejected []string // validation errors, in order
}

// New returns a Script answering from answers.
func New(t testing.TB, answers map[string][]string) *Script {
	return &Script{T: t, Answers: answers, Defaults: map[string]string{}, Options: map[string][]string{}}
}

// next returns the next answer to msg; ok is false when none is left.
func (s *Script) next(msg string) (ans string, ok bool) {
	as := s.Answers[msg]
	if len(as) == 0 {
		return "", false
	}
	s.Answers[msg] = as[1:]
	return as[0], true
}

func (s *Script) ask(msg, def string) {
	s.T.Helper()
	s.Asked = append(s.Asked, msg)
	s.Defaults[msg] = def
}

// Input implements prompt.Prompter.
func (s *Script) Input(q prompt.Input) (string, error) {
	s.T.Helper()
	s.ask(q.Message, q.Default)
	if q.Help == "" {
		s.T.Errorf("input %q has no help", q.Message)
	}
	for {
		ans, ok := s.next(q.Message)
		if ans == Interrupt {
			return "", prompt.ErrInterrupted
		}
		if ans == "" {
			ans = q.Default
		}
		if q.Validate == nil {
			return ans, nil
		}
		err := q.Validate(ans)
		if err == nil {
			return ans, nil
		}
		s.Rejected = append(s.Rejected, err.Error())
		if !ok {
			s.T.Fatalf("%q: no answer left, and the default %q is refused: %v", q.Message, q.Default, err)
		}
	}
}

// Select implements prompt.Prompter.
func (s *Script) Select(q prompt.Select) (string, error) {
	s.T.Helper()
	s.ask(q.Message, q.Default)
	var values []string
	for _, o := range q.Options {
		values = append(values, o.Value)
	}
	s.Options[q.Message] = values
	if q.Help == "" || len(q.Options) < 2 {
		s.T.Errorf("select %q has no help or fewer than two options: %v", q.Message, values)
	}
	ans, _ := s.next(q.Message)
	switch {
	case ans == Interrupt:
		return "", prompt.ErrInterrupted
	case ans == "" && q.Default != "":
		ans = q.Default
	case ans == "":
		ans = values[0]
	}
	if !slices.Contains(values, ans) {
		s.T.Fatalf("select %q: %q is not one of %v", q.Message, ans, values)
	}
	return ans, nil
}

// Confirm implements prompt.Prompter.
func (s *Script) Confirm(q prompt.Confirm) (bool, error) {
	s.T.Helper()
	s.ask(q.Message, map[bool]string{true: "yes", false: "no"}[q.Default])
	ans, _ := s.next(q.Message)
	if ans == Interrupt {
		return false, prompt.ErrInterrupted
	}
	switch strings.ToLower(ans) {
	case "":
		return q.Default, nil
	case "y", "yes":
		return true, nil
	case "n", "no":
		return false, nil
	}
	s.T.Fatalf("confirm %q: %q is not y or n", q.Message, ans)
	return false, nil
}
