package prompt

import (
	"errors"
	"io"

	"github.com/AlecAivazis/survey/v2"
	"github.com/AlecAivazis/survey/v2/terminal"
)

// Survey asks questions on a terminal with survey.
type Survey struct {
	stdio survey.AskOpt
}

// NewSurvey returns a Survey reading in and writing out, which must be
// terminals (files); ok is false if they are not files.
func NewSurvey(in io.Reader, out, errOut io.Writer) (s *Survey, ok bool) {
	fin, ok1 := in.(terminal.FileReader)
	fout, ok2 := out.(terminal.FileWriter)
	if !ok1 || !ok2 {
		return nil, false
	}
	return &Survey{stdio: survey.WithStdio(fin, fout, errOut)}, true
}

// Input implements Prompter.
func (s *Survey) Input(q Input) (string, error) {
	opts := []survey.AskOpt{s.stdio}
	if q.Validate != nil {
		opts = append(opts, survey.WithValidator(func(v any) error {
			str, _ := v.(string)
			return q.Validate(str)
		}))
	}
	var ans string
	err := survey.AskOne(&survey.Input{Message: q.Message, Default: q.Default, Help: q.Help}, &ans, opts...)
	return ans, surveyError(err)
}

// Select implements Prompter.
func (s *Survey) Select(q Select) (string, error) {
	values := make([]string, len(q.Options))
	for i, o := range q.Options {
		values[i] = o.Value
	}
	sel := &survey.Select{
		Message:     q.Message,
		Options:     values,
		Help:        q.Help,
		Description: func(_ string, i int) string { return q.Options[i].Title },
	}
	if q.Default != "" {
		sel.Default = q.Default
	}
	var ans string
	err := survey.AskOne(sel, &ans, s.stdio)
	return ans, surveyError(err)
}

// Confirm implements Prompter.
func (s *Survey) Confirm(q Confirm) (bool, error) {
	var ans bool
	err := survey.AskOne(&survey.Confirm{Message: q.Message, Default: q.Default, Help: q.Help}, &ans, s.stdio)
	return ans, surveyError(err)
}

func surveyError(err error) error {
	if errors.Is(err, terminal.InterruptErr) {
		return ErrInterrupted
	}
	return err
}
