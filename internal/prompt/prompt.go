// Package prompt asks the questions of an interactive idweb-init run.
//
// Questions go through the small Prompter interface: Survey implements it
// with github.com/AlecAivazis/survey/v2 on a terminal, and tests implement
// it with scripted answers. Swapping the prompt library means writing one
// other Prompter.
package prompt

import (
	"errors"

	"github.com/idweb-init/idweb-init/generator"
)

// ErrInterrupted is returned when the user interrupts a question (Ctrl-C).
var ErrInterrupted = errors.New("interrupted")

// A Prompter asks one question and returns the answer.
type Prompter interface {
	Input(q Input) (string, error)
	Select(q Select) (string, error)
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

// options turns a registry of choices into select options.
func options[T ~string](choices []generator.Choice[T]) []Option {
	opts := make([]Option, len(choices))
	for i, c := range choices {
		opts[i] = Option{Value: string(c.Value), Title: c.Title}
	}
	return opts
}

// help joins the choices' help texts for a select's '?'.
func help[T ~string](intro string, choices []generator.Choice[T]) string {
	s := intro
	for _, c := range choices {
		s += "\n  " + string(c.Value) + ": " + c.Help
	}
	return s
}

// Ask asks, in order, for each option that given (which reports whether a
// flag was set, by flag name) says the command line did not set, and fills
// o with the answers. Defaults come from earlier answers (the module path
// and the output directory default to the project name). It returns the
// flags it asked for.
func Ask(p Prompter, o *generator.Options, given func(flag string) bool) (asked []string, err error) {
	input := func(flag string, dst *string, q Input) error {
		if given(flag) {
			return nil
		}
		ans, err := p.Input(q)
		if err != nil {
			return err
		}
		*dst = ans
		asked = append(asked, flag)
		return nil
	}
	steps := []func() error{
		func() error {
			return input("name", &o.Name, Input{
				Message:  "Project name:",
				Default:  o.Name,
				Help:     "Names the project; also the default module path and directory. Letters, digits, '-', '_' and '.'.",
				Validate: generator.ValidateName,
			})
		},
		func() error {
			def := o.Module
			if def == "" {
				def = o.Name
			}
			return input("module", &o.Module, Input{
				Message:  "Go module path:",
				Default:  def,
				Help:     "The path others import the project by, e.g. github.com/you/" + o.Name + ".",
				Validate: generator.ValidateModule,
			})
		},
		func() error {
			return input("tenant-id", &o.TenantID, Input{
				Message:  "Tenant ID:",
				Default:  o.TenantID,
				Help:     "Microsoft Entra admin center > Overview: the Directory (tenant) ID, or a verified domain (contoso.onmicrosoft.com), or common, organizations or consumers for multi-tenant apps.",
				Validate: generator.ValidateTenantID,
			})
		},
		func() error {
			return input("client-id", &o.ClientID, Input{
				Message:  "Application (client) ID:",
				Default:  o.ClientID,
				Help:     "App registrations > your app > Overview: the Application (client) ID, a GUID.",
				Validate: generator.ValidateGUID,
			})
		},
		func() error {
			if given("credential") {
				return nil
			}
			ans, err := p.Select(Select{
				Message: "Credential:",
				Options: options(generator.Credentials),
				Default: string(o.Credential),
				Help:    help("How the app proves its identity to Entra ID.", generator.Credentials),
			})
			o.Credential = generator.Credential(ans)
			asked = append(asked, "credential")
			return err
		},
		func() error {
			if given("cache") {
				return nil
			}
			ans, err := p.Select(Select{
				Message: "Token cache:",
				Options: options(generator.Caches),
				Default: string(o.Cache),
				Help:    help("Where the app keeps the tokens it gets.", generator.Caches),
			})
			o.Cache = generator.Cache(ans)
			asked = append(asked, "cache")
			return err
		},
		func() error {
			if given("calls-graph") {
				return nil
			}
			ans, err := p.Select(Select{
				Message: "API to call:",
				Options: options(generator.APIs),
				Default: string(o.API),
				Help:    help("The web API the app calls on the signed-in user's behalf.", generator.APIs),
			})
			o.API = generator.API(ans)
			asked = append(asked, "calls-graph")
			return err
		},
		func() error {
			def := o.Output
			if def == "" {
				def = o.Name
			}
			force := o.Force
			return input("output", &o.Output, Input{
				Message:  "Output directory:",
				Default:  def,
				Help:     "Where to create the project. It must not exist or be empty (unless --force).",
				Validate: func(s string) error { return generator.CheckOutput(s, force) },
			})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return asked, err
		}
	}
	return asked, nil
}
