package prompt

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/idweb-init/idweb-init/generator"
)

// Ask asks, in the order of generator.Model, for every option that
// applies to o and that given (by option name) does not report as set by
// a flag or an answers file, and fills o with the answers. It skips
// Advanced options (they keep their defaults) and options whose answer is
// forced (a one-of option with one value) or implied by a given option
// (see generator.Imply: --tenant-id answers --auth). A custom API's questions end
// with "Add another API?" (see askMoreAPIs). The output directory
// ("output") comes last. Ask returns the names of the options it asked
// for.
func Ask(p Prompter, o *generator.Options, given func(name string) bool) (asked []string, err error) {
	implied := generator.Imply(o, given)
	for i := range generator.Model {
		opt := &generator.Model[i]
		if given(opt.Name) || slices.Contains(implied, opt.Name) || !opt.Applies(o) || opt.Advanced || forced(opt) || namedAPIsGiven(opt, o, given) {
			continue
		}
		if opt.Name == "downstream-api" {
			if effective(generator.Lookup("api"), o) != "custom" {
				continue
			}
			err = askMoreAPIs(p, o)
		} else {
			err = askOption(p, opt, o)
		}
		if err != nil {
			return asked, err
		}
		asked = append(asked, opt.Name)
	}
	if !given("output") {
		if err := askOutput(p, o); err != nil {
			return asked, err
		}
		asked = append(asked, "output")
	}
	return asked, nil
}

// forced reports whether the option's answer allows no choice.
func forced(opt *generator.Option) bool {
	return opt.Kind == generator.OneOf && len(opt.Values) == 1
}

// namedAPIsGiven reports whether opt is a question about the single
// custom API while the APIs were given as --downstream-api: then there is
// no single API to ask about.
func namedAPIsGiven(opt *generator.Option, o *generator.Options, given func(string) bool) bool {
	switch opt.Name {
	case "api-name", "called-api-url", "called-api-scopes":
		return given("downstream-api") && len(o.DownstreamAPIs) > 0
	}
	return false
}

// Default is the answer an option takes when it is not given: its
// Default, except the module path, which defaults to the project name.
func Default(opt *generator.Option, o *generator.Options) string {
	if opt.Name == "module" {
		return o.Name
	}
	return opt.Default
}

// effective is the option's answer in o, or its default.
func effective(opt *generator.Option, o *generator.Options) string {
	if v := opt.Get(o); len(v) > 0 {
		return strings.Join(v, " ")
	}
	return Default(opt, o)
}

// askOption asks one option with the question its kind calls for.
func askOption(p Prompter, opt *generator.Option, o *generator.Options) error {
	msg := opt.Title + ":"
	switch opt.Kind {
	case generator.OneOf:
		opts := make([]Option, len(opt.Values))
		help := opt.Help
		for i, v := range opt.Values {
			opts[i] = Option{Value: v.Name, Title: v.Title}
			help += "\n  " + v.Name + ": " + v.Help
		}
		ans, err := p.Select(Select{Message: msg, Options: opts, Default: effective(opt, o), Help: help})
		if err != nil {
			return err
		}
		opt.Set(o, []string{ans})
	case generator.Choices:
		return askChoices(p, opt, o)
	case generator.Bool:
		ans, err := p.Confirm(Confirm{Message: opt.Title + "?", Default: effective(opt, o) == "true", Help: opt.Help})
		if err != nil {
			return err
		}
		opt.Set(o, []string{strconv.FormatBool(ans)})
	case generator.List:
		ans, err := p.Input(Input{
			Message:  opt.Title + " (space-separated):",
			Default:  effective(opt, o),
			Help:     opt.Help,
			Validate: func(s string) error { return check(opt, o, strings.Fields(s)) },
		})
		if err != nil {
			return err
		}
		opt.Set(o, strings.Fields(ans))
	default:
		ans, err := p.Input(Input{
			Message:  msg,
			Default:  effective(opt, o),
			Help:     opt.Help,
			Validate: func(s string) error { return check(opt, o, []string{s}) },
		})
		if err != nil {
			return err
		}
		opt.Set(o, []string{ans})
	}
	return nil
}

// check reports what is wrong with v as the answer to opt, the other
// answers being those of o: what the option's own check says, then what
// o.Validate says about this option (the scopes of a custom API must
// belong to one API, for example).
func check(opt *generator.Option, o *generator.Options, v []string) error {
	for _, item := range v {
		var err error
		switch {
		case opt.Kind == generator.OneOf || opt.Kind == generator.Choices:
			_, err = opt.Value(item)
		case opt.Check != nil:
			err = opt.Check(item)
		}
		if err != nil {
			return err
		}
	}
	c := *o
	opt.Set(&c, v)
	var fe *generator.FieldError
	if err := c.Validate(); errors.As(err, &fe) && fe.Field == opt.Name {
		return fe.Err
	}
	return nil
}

// askOutput asks for the output directory.
func askOutput(p Prompter, o *generator.Options) error {
	def := o.Output
	if def == "" {
		def = o.Name
	}
	force := o.Force
	ans, err := p.Input(Input{
		Message:  "Output directory:",
		Default:  def,
		Help:     "Where to create the project. It must not exist or be empty (unless --force).",
		Validate: func(s string) error { return checkOutput(s, force) },
	})
	if err != nil {
		return err
	}
	o.Output = ans
	return nil
}

// checkOutput reports whether dir can be the output directory: not a
// file, and missing or empty unless force.
func checkOutput(dir string, force bool) error {
	if err := CheckNotFile(dir); err != nil {
		return err
	}
	return generator.CheckOutput(dir, force)
}

// CheckNotFile rejects a path that is an existing file, not a directory.
func CheckNotFile(dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("%q is a file; want a directory to create", dir)
	}
	return nil
}

// oneOf reports whether s equals one of names, ignoring case.
func oneOf(s string, names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, s) })
}

// askChoices asks for the first of an ordered choice (the credential),
// then offers to add more, each tried when the ones before cannot be used
// (a managed identity in production, then a certificate file for local
// runs).
func askChoices(p Prompter, opt *generator.Option, o *generator.Options) error {
	var chosen []string
	for {
		var opts []Option
		help := opt.Help
		for _, v := range opt.Values {
			if !slices.Contains(chosen, v.Name) {
				opts = append(opts, Option{Value: v.Name, Title: v.Title})
				help += "\n  " + v.Name + ": " + v.Help
			}
		}
		msg, def := opt.Title+":", effective(opt, o)
		if len(chosen) > 0 {
			msg, def = "Next "+strings.ToLower(opt.Title)+" in the chain:", opts[0].Value
		}
		ans, err := p.Select(Select{Message: msg, Options: opts, Default: def, Help: help})
		if err != nil {
			return err
		}
		chosen = append(chosen, ans)
		if len(chosen) == len(opt.Values) {
			break
		}
		more, err := p.Confirm(Confirm{
			Message: "Add another " + strings.ToLower(opt.Title) + ", tried when this one cannot be used?",
			Help:    "The app tries the entries of AzureAd:ClientCredentials in order and uses the first that loads: e.g. a managed identity in production, a certificate file on a laptop.",
		})
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	opt.Set(o, chosen)
	return nil
}
